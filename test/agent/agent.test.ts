import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { type AgentDependencies, EXIT, fitRequest, runAgent } from "../../agent/agent.ts";
import { DEFAULT_SETTINGS } from "../../agent/cli.ts";
import { LineConsole } from "../../agent/console.ts";
import { DEFAULT_RETRY_POLICY } from "../../agent/enroll-client.ts";
import { type PowerAction, SystemPowerControl } from "../../agent/power.ts";
import { ExecFileRunner, RootedFileReader } from "../../agent/probes/exec.ts";
import { type EnrollmentRequest, EnrollmentRequestSchema } from "../../src/protocol/enrollment.ts";
import { exited, ReplayRunner, serverValidator } from "./helpers.ts";
import { type Answer, json, problem, type ScriptedServer, startScriptedServer } from "./server.ts";

const validate = serverValidator(EnrollmentRequestSchema);
const workDir = mkdtempSync(path.join(tmpdir(), "ingot-agent-test-"));
const servers: ScriptedServer[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
  rmSync(workDir, { recursive: true, force: true });
});

function cmdlineFile(content: string): string {
  const file = path.join(workDir, `cmdline-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, content);
  return file;
}

interface Harness {
  readonly dependencies: AgentDependencies;
  readonly lines: string[];
  readonly powerActions: PowerAction[];
  readonly idled: () => boolean;
}

/** The real agent (real probes on this machine, real HTTP) with power, idling and sleeping injected. */
function harness(cmdlinePath: string): Harness {
  const lines: string[] = [];
  const powerActions: PowerAction[] = [];
  let idled = false;
  const dependencies: AgentDependencies = {
    version: "0.1.0",
    settings: {
      ...DEFAULT_SETTINGS,
      cmdlinePath,
      inventoryDeadlineMs: 120_000,
      retry: { ...DEFAULT_RETRY_POLICY, maxAttempts: 4, requestTimeoutMs: 10_000 },
    },
    console: new LineConsole((line) => lines.push(line)),
    runner: new ExecFileRunner(),
    files: new RootedFileReader("/"),
    power: {
      perform: async (action) => {
        powerActions.push(action);
      },
    },
    idle: async () => {
      idled = true;
    },
    sleep: async () => {},
    random: () => 0.5,
    clock: () => new Date(),
    signal: new AbortController().signal,
  };
  return { dependencies, lines, powerActions, idled: () => idled };
}

async function serve(...answers: Answer[]): Promise<ScriptedServer> {
  const server = await startScriptedServer(answers);
  servers.push(server);
  return server;
}

const ENROLLED = (action: string) => json(200, { machineId: "m-7", state: "enrolled", next: { action } });

describe("ingot-agent end to end (real probes on this machine, real HTTP on 127.0.0.1)", () => {
  it("collects, posts a schema-valid enrollment with the boot token, and powers off when told", async () => {
    const server = await serve(problem(503, "Service Unavailable", "starting up"), ENROLLED("poweroff"));
    const cmdline = cmdlineFile(
      `BOOT_IMAGE=/vmlinuz console=ttyS0 ingot.url=${server.url}/ ingot.token=bt-e2e-token ingot.mode=enroll ingot.mac=AA:BB:CC:00:11:22\n`,
    );
    const run = harness(cmdline);
    assert.equal(await runAgent(run.dependencies), EXIT.ok);

    assert.equal(server.received.length, 2);
    const last = server.received[1];
    assert.equal(last?.path, "/agent/v1/enroll");
    assert.equal(last?.headers.authorization, "Bearer bt-e2e-token");
    const body = JSON.parse(last?.body ?? "{}") as EnrollmentRequest;
    assert.ok(validate(body), JSON.stringify(validate.errors));
    assert.equal(body.bootMac, "aa:bb:cc:00:11:22");
    assert.equal(body.bootMacSource, "cmdline");
    assert.ok((body.inventory.memory.totalBytes ?? 0) > 0, "meminfo read on this machine");
    assert.ok((body.inventory.cpu.threads ?? 0) > 0, "CPU read on this machine");
    assert.ok(Object.keys(body.probes).includes("meminfo"));
    assert.deepEqual(run.powerActions, ["poweroff"]);

    const output = run.lines.join("");
    assert.match(output, /ingot-agent: collecting inventory/);
    assert.match(output, /ingot-agent: WARNING: attempt 1 failed: server answered 503/);
    assert.match(output, /ingot-agent: enrolled: machine m-7, state enrolled, next: poweroff/);
    assert.doesNotMatch(output, /bt-e2e-token/, "the token never reaches the console");
  });

  it("idles when told to idle and reboots when told to reboot", async () => {
    for (const action of ["idle", "reboot"] as const) {
      const server = await serve(ENROLLED(action));
      const run = harness(cmdlineFile(`ingot.url=${server.url} ingot.token=t ingot.mac=aa:bb:cc:00:11:22`));
      assert.equal(await runAgent(run.dependencies), EXIT.ok);
      assert.equal(run.idled(), action === "idle");
      assert.deepEqual(run.powerActions, action === "reboot" ? ["reboot"] : []);
    }
  });

  it("takes the boot NIC the image's init configured when the command line names none", async () => {
    const server = await serve(ENROLLED("idle"));
    const run = harness(cmdlineFile(`ingot.url=${server.url} ingot.token=t`));
    const outcome = await runAgent({ ...run.dependencies, initBootMac: "52:54:00:AB:CD:EF" });
    assert.equal(outcome, EXIT.ok);
    const body = JSON.parse(server.received[0]?.body ?? "{}") as EnrollmentRequest;
    assert.equal(body.bootMac, "52:54:00:ab:cd:ef");
    assert.equal(body.bootMacSource, "detected");
    assert.match(run.lines.join(""), /boot interface 52:54:00:ab:cd:ef \(detected\)/);
  });

  it("gives up on a refused boot token with a clear console message, without retrying", async () => {
    const server = await serve(problem(401, "Unauthorized", "boot token expired"));
    const run = harness(cmdlineFile(`ingot.url=${server.url} ingot.token=old ingot.mac=aa:bb:cc:00:11:22`));
    assert.equal(await runAgent(run.dependencies), EXIT.failed);
    assert.equal(server.received.length, 1);
    const output = run.lines.join("");
    assert.match(
      output,
      /ERROR: the server refused the enrollment \(401 Unauthorized: Unauthorized: boot token expired\)/,
    );
    assert.match(
      output,
      /ERROR: the boot token was not accepted: it may have expired; PXE-boot the machine again/,
    );
    assert.match(output, /ERROR: giving up/);
    assert.deepEqual(run.powerActions, []);
  });

  it("refuses to start without its parameters and says which", async () => {
    const run = harness(cmdlineFile("BOOT_IMAGE=/vmlinuz quiet"));
    assert.equal(await runAgent(run.dependencies), EXIT.usage);
    assert.match(run.lines.join(""), /ERROR: ingot\.url is missing/);
    const unreadable = harness(path.join(workDir, "does-not-exist"));
    assert.equal(await runAgent(unreadable.dependencies), EXIT.usage);
    assert.match(unreadable.lines.join(""), /ERROR: cannot read the kernel command line/);
  });
});

describe("request size and power actions", () => {
  it("drops the largest raw outputs first when the request would exceed the body limit", () => {
    const output = (size: number) => ({
      contentType: "text/plain" as const,
      text: "x".repeat(size),
      truncated: false,
    });
    const request: EnrollmentRequest = {
      agentVersion: "0.1.0",
      bootMac: "aa:bb:cc:dd:ee:ff",
      bootMacSource: "cmdline",
      collectedAt: "2026-11-23T16:40:10.000Z",
      inventory: {
        system: {},
        cpu: {},
        memory: { dimms: [] },
        disks: [],
        nics: [],
        gpus: [],
        pciDevices: [],
      },
      probes: {
        big: { status: "ok", durationMs: 1, warnings: [], output: output(30_000) },
        small: { status: "ok", durationMs: 1, warnings: [], output: output(1_000) },
      },
    };
    const fitted = fitRequest(request, 20_000);
    assert.equal(fitted.probes.big?.output, undefined);
    assert.deepEqual(fitted.probes.big?.warnings, ["raw output left out: the request was too large"]);
    assert.equal(fitted.probes.small?.output?.text.length, 1_000);
    assert.ok(validate(fitted));

    const full = {
      status: "ok" as const,
      durationMs: 1,
      warnings: Array.from({ length: 32 }, (_, index) => `w${index}`),
      output: output(30_000),
    };
    const crowded = fitRequest({ ...request, probes: { big: full } }, 20_000);
    assert.equal(crowded.probes.big?.warnings.length, 32, "never more warnings than the schema allows");
    assert.ok(validate(crowded));
  });

  it("runs poweroff -f / reboot -f only under the image's init", async () => {
    const lines: string[] = [];
    const console = new LineConsole((line) => lines.push(line));
    const runner = new ReplayRunner({
      "poweroff -f": exited(""),
      "reboot -f": exited("", 1, "reboot: not permitted"),
    });
    const signal = new AbortController().signal;
    await new SystemPowerControl(runner, console, () => true).perform("poweroff", signal);
    await new SystemPowerControl(runner, console, () => true).perform("reboot", signal);
    await new SystemPowerControl(runner, console, () => false).perform("poweroff", signal);
    assert.deepEqual(runner.calls, ["poweroff -f", "reboot -f"]);
    const output = lines.join("");
    assert.match(output, /ERROR: reboot -f failed \(exit 1: reboot: not permitted\)/);
    assert.match(output, /WARNING: not running under the boot image's init: skipping "poweroff -f"/);
  });
});
