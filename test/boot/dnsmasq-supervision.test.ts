/**
 * Supervision of Ingot's dnsmasq: restart with backoff after a crash, nothing left behind by stop(),
 * configuration rejected by `dnsmasq --test` with the setting named, orphans and double starts handled.
 * Runs dnsmasq in a network namespace; needs root (CI runs as root); fails, not skips, without it.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type DnsmasqSettings, DnsmasqSupervisor, ipxeChainUrl } from "../../src/boot/dnsmasq.ts";
import type { FullDhcpConfig } from "../../src/config/dhcp-config.ts";
import { ConfigError } from "../../src/config/options.ts";
import { runCommand } from "../../src/images/command.ts";
import { type Netns, NetworkLab } from "../helpers/netns.ts";
import {
  ARCH,
  type CapturedLogs,
  captureLogs,
  dnsmasqProcessesFor,
  processExists,
  udhcpc,
  waitFor,
} from "./dnsmasq-clients.ts";

const DHCP: FullDhcpConfig = {
  mode: "full",
  interface: "eth0",
  allowlist: false,
  uefiBinary: "ipxe.efi",
  range: { start: "10.94.0.100", end: "10.94.0.150" },
  subnet: undefined,
  router: undefined,
  dns: [],
  leaseSeconds: 3600,
};
const FAST = { backoffInitialMs: 100, backoffMaxMs: 1_000, stopTimeoutMs: 2_000 };

describe("dnsmasq supervisor: supervision", () => {
  let lab: NetworkLab | undefined;
  let srv: Netns | undefined;
  let cli: Netns | undefined;
  const dataDirs: string[] = [];
  const supervisors: DnsmasqSupervisor[] = [];

  before(async () => {
    lab = await NetworkLab.create();
    srv = await lab.namespace("srv");
    cli = await lab.namespace("cli");
    await lab.veth({ ns: srv, name: "eth0", address: "10.94.0.1/24" }, { ns: cli, name: "eth0" });
  });

  after(async () => {
    for (const supervisor of supervisors) await supervisor.stop();
    await lab?.dispose();
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  });

  function newDataDir(): string {
    const dir = mkdtempSync(path.join(tmpdir(), "ingot-dnsmasq-sup-"));
    chmodSync(dir, 0o755);
    dataDirs.push(dir);
    return dir;
  }

  function supervisor(
    options: {
      dataDir?: string;
      dhcp?: FullDhcpConfig;
      timing?: DnsmasqSettings["timing"];
      ipxeDir?: string;
    } = {},
  ): { supervisor: DnsmasqSupervisor; logs: CapturedLogs } {
    const logs = captureLogs();
    const created = new DnsmasqSupervisor({
      logger: logs.logger,
      settings: {
        dhcp: options.dhcp ?? DHCP,
        chainUrl: ipxeChainUrl("http://10.94.0.1:8080"),
        timing: options.timing ?? FAST,
      },
      allowlist: async () => [],
      paths: {
        dataDir: options.dataDir ?? newDataDir(),
        launcher: srv?.wrap([]) ?? [],
        ipxeDir: options.ipxeDir,
      },
    });
    supervisors.push(created);
    return { supervisor: created, logs };
  }

  function runningPid(target: DnsmasqSupervisor): number | undefined {
    const status = target.status;
    return status.kind === "running" ? status.pid : undefined;
  }

  it("restarts dnsmasq killed with SIGKILL, logs how it ended, backs off, and serves again", async () => {
    const { supervisor: target, logs } = supervisor();
    await target.start();
    let pid = runningPid(target) ?? assert.fail("not running");
    for (let kill = 1; kill <= 2; kill++) {
      process.kill(pid, "SIGKILL");
      const killed = pid;
      pid = await waitFor("a restarted dnsmasq", () => {
        const next = runningPid(target);
        return next !== undefined && next !== killed ? next : undefined;
      });
      assert.ok(!processExists(killed));
    }
    const exits = logs.records.filter((record) => record.msg === "dnsmasq exited unexpectedly");
    assert.equal(exits.length, 2);
    for (const exit of exits) {
      assert.equal(exit.signal, "SIGKILL");
      assert.equal(exit.level, "error");
      assert.ok(
        Array.isArray(exit.stderr) && exit.stderr.some((line) => /started, version/.test(String(line))),
      );
    }
    const delays = logs.records.filter((record) => record.msg === "restarting dnsmasq after a delay");
    assert.deepEqual(
      delays.map((record) => record.delayMs),
      [100, 200],
      "the delay doubles while dnsmasq keeps dying",
    );
    const status = target.status;
    assert.ok(status.kind === "running" && status.restarts === 2, JSON.stringify(status));
    const lease = await udhcpc({ ns: cli ?? assert.fail("no lab"), interface: "eth0", arch: ARCH.bios });
    assert.ok(lease.kind === "bound" && lease.bootFile === "undionly.kpxe", JSON.stringify(lease));
    await target.stop();
  });

  it("stop() leaves no dnsmasq process and no pid file behind, and can be called twice", async () => {
    const { supervisor: target } = supervisor();
    await target.start();
    const pid = runningPid(target) ?? assert.fail("not running");
    assert.deepEqual(dnsmasqProcessesFor(target.files.configFile), [pid]);
    await target.stop();
    await target.stop();
    assert.deepEqual(target.status, { kind: "stopped" });
    assert.ok(!processExists(pid));
    assert.deepEqual(dnsmasqProcessesFor(target.files.configFile), []);
    const left = await runCommand("ip", ["netns", "pids", srv?.name ?? ""]);
    assert.equal(left.stdout, "", "nothing runs in the server namespace");
    assert.ok(!existsSync(target.files.pidFile));
  });

  it("stop() during the backoff cancels the pending restart", async () => {
    const { supervisor: target } = supervisor({ timing: { ...FAST, backoffInitialMs: 60_000 } });
    await target.start();
    process.kill(runningPid(target) ?? assert.fail("not running"), "SIGKILL");
    await waitFor("the restart to be scheduled", () =>
      target.status.kind === "restarting" ? true : undefined,
    );
    await target.stop();
    assert.deepEqual(target.status, { kind: "stopped" });
    assert.deepEqual(dnsmasqProcessesFor(target.files.configFile), []);
  });

  it("rejects a setting dnsmasq --test refuses, naming it, and starts nothing", async () => {
    const dataDir = newDataDir();
    const { supervisor: bad } = supervisor({ dataDir, dhcp: { ...DHCP, router: "10.94.0.256" } });
    await assert.rejects(bad.start(), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.deepEqual(error.problems, [
        '--dhcp-router: dnsmasq rejects "dhcp-option=option:router,10.94.0.256": bad IPv4 address',
      ]);
      return true;
    });
    assert.deepEqual(bad.status, { kind: "stopped" });
    assert.deepEqual(dnsmasqProcessesFor(bad.files.configFile), []);
    const { supervisor: good } = supervisor({ dataDir });
    await good.start();
    assert.equal(good.status.kind, "running", "the failed start released the data directory");
    await good.stop();
  });

  it("fails to start with dnsmasq's own words when the interface is missing, or iPXE is not installed", async () => {
    const { supervisor: noInterface } = supervisor({ dhcp: { ...DHCP, interface: "nosuch0" } });
    await assert.rejects(
      noInterface.start(),
      /exited during start \(exit code 2\):[\s\S]*unknown interface nosuch0/,
    );
    assert.deepEqual(noInterface.status, { kind: "stopped" });
    const { supervisor: noIpxe } = supervisor({ ipxeDir: newDataDir() });
    await assert.rejects(
      noIpxe.start(),
      /iPXE binary .*\/undionly.kpxe is missing: install Debian's ipxe package/,
    );
  });

  it("stops a dnsmasq orphaned by a killed Ingot server before starting its own", async () => {
    const dataDir = newDataDir();
    const { supervisor: first } = supervisor({ dataDir });
    await first.start();
    await first.stop();
    // What a SIGKILLed server leaves: its dnsmasq still running, its lock naming a dead process.
    const ns = srv ?? assert.fail("no lab");
    const [file, ...args] = ns.wrap([
      "/usr/sbin/dnsmasq",
      "--keep-in-foreground",
      "-C",
      first.files.configFile,
    ]);
    const orphan = spawn(file ?? "ip", args, { stdio: "ignore" });
    const orphanPid = orphan.pid ?? assert.fail("no orphan");
    await waitFor("the orphan's pid file", () =>
      existsSync(first.files.pidFile) &&
      readFileSync(first.files.pidFile, "utf8").trim() === String(orphanPid)
        ? true
        : undefined,
    );
    writeFileSync(first.files.lockFile, "2147483646");

    const { supervisor: second, logs } = supervisor({ dataDir });
    await second.start();
    await waitFor("the orphan to exit", () => (processExists(orphanPid) ? undefined : true));
    assert.ok(
      logs.records.some(
        (record) => record.msg === "stopping a dnsmasq left behind by a previous Ingot server",
      ),
    );
    assert.deepEqual(dnsmasqProcessesFor(second.files.configFile), [runningPid(second)]);
    await second.stop();
  });

  it("refuses a second supervisor on the same data directory", async () => {
    const dataDir = newDataDir();
    const { supervisor: first } = supervisor({ dataDir });
    await first.start();
    const pid = runningPid(first);
    const { supervisor: second } = supervisor({ dataDir });
    await assert.rejects(
      second.start(),
      new RegExp(`in use by another Ingot server \\(pid ${process.pid}\\)`),
    );
    assert.equal(runningPid(first), pid);
    assert.equal(readFileSync(first.files.pidFile, "utf8").trim(), String(pid));
  });
});
