import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { buildAgentBundle, forbiddenAgentInputs } from "../../agent/build.ts";
import packageJson from "../../package.json" with { type: "json" };
import { type EnrollmentRequest, EnrollmentRequestSchema } from "../../src/protocol/enrollment.ts";
import { serverValidator } from "./helpers.ts";
import { json, type ScriptedServer, startScriptedServer } from "./server.ts";

const run = promisify(execFile);

/** Like the boot image: the bundle alone in a folder, no package.json, no node_modules. */
const imageDir = mkdtempSync(path.join(tmpdir(), "ingot-agent-image-"));
const bundle = path.join(imageDir, "ingot-agent.js");
let built: Awaited<ReturnType<typeof buildAgentBundle>>;
const servers: ScriptedServer[] = [];

before(async () => {
  const outDir = mkdtempSync(path.join(tmpdir(), "ingot-agent-build-"));
  const outFile = path.join(outDir, "ingot-agent.js");
  built = await buildAgentBundle(outFile);
  copyFileSync(outFile, bundle);
  rmSync(outDir, { recursive: true, force: true });
});

after(async () => {
  await Promise.all(servers.map((server) => server.close()));
  rmSync(imageDir, { recursive: true, force: true });
});

describe("agent bundle", () => {
  it("is one file holding only agent/, src/protocol/ and packages", () => {
    assert.ok(built.bytes > 10_000);
    assert.equal(readFileSync(bundle).length, built.bytes);
    assert.deepEqual(forbiddenAgentInputs(built.inputs), []);
    assert.ok(built.inputs.includes("agent/main.ts"));
    assert.ok(built.inputs.includes("src/protocol/enrollment.ts"));
    assert.ok(!built.inputs.some((input) => input.startsWith("src/") && !input.startsWith("src/protocol/")));
    const text = readFileSync(bundle, "utf8");
    assert.ok(text.startsWith("#!/usr/bin/env node\n"));
    assert.doesNotMatch(text, /^import .* from "(?!node:)/m, "no import left but Node built-ins");
  });

  it("recognizes server code as forbidden", () => {
    assert.deepEqual(
      forbiddenAgentInputs(["agent/main.ts", "src/db/database.ts", "src/protocol/inventory.ts", "lab/x.ts"]),
      ["src/db/database.ts", "lab/x.ts"],
    );
  });

  it("runs standalone: --version and --help", async () => {
    const version = await run(process.execPath, [bundle, "--version"], { cwd: imageDir });
    assert.equal(version.stdout, `ingot-agent ${packageJson.version}\n`);
    const help = await run(process.execPath, [bundle, "--help"], { cwd: imageDir });
    assert.match(help.stdout, /^Usage: ingot-agent \[options\]/);
    assert.match(help.stdout, /ingot\.token=<token>/);
    await assert.rejects(run(process.execPath, [bundle, "--bogus"], { cwd: imageDir }), (error: unknown) => {
      assert.equal((error as { code?: number }).code, 2);
      return true;
    });
  });

  it("enrolls end to end from a kernel command line file, and does not power off outside the image", async () => {
    const validate = serverValidator(EnrollmentRequestSchema);
    const server = await startScriptedServer([
      json(200, { machineId: "m-9", state: "enrolled", next: { action: "poweroff" } }),
    ]);
    servers.push(server);
    const cmdline = path.join(imageDir, "cmdline");
    writeFileSync(
      cmdline,
      `ingot.url=${server.url} ingot.token=bundle-token ingot.mode=enroll ingot.mac=aa:bb:cc:00:11:22\n`,
    );
    const { stdout } = await run(process.execPath, [bundle, "--cmdline", cmdline], {
      cwd: imageDir,
      timeout: 300_000,
    });
    assert.equal(server.received.length, 1);
    const body = JSON.parse(server.received[0]?.body ?? "{}") as EnrollmentRequest;
    assert.ok(validate(body), JSON.stringify(validate.errors));
    assert.equal(server.received[0]?.headers.authorization, "Bearer bundle-token");
    assert.match(stdout, /ingot-agent: enrolled: machine m-9, state enrolled, next: poweroff/);
    assert.match(stdout, /WARNING: not running under the boot image's init: skipping "poweroff -f"/);
  });
});
