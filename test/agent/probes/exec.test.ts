import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ExecFileRunner, RootedFileReader } from "../../../agent/probes/exec.ts";
import { AGENT_FIXTURES } from "../helpers.ts";

const runner = new ExecFileRunner({ PATH: process.env.PATH ?? "" });
const options = (timeoutMs = 10_000, signal = new AbortController().signal) => ({ timeoutMs, signal });

describe("ExecFileRunner (real subprocesses)", () => {
  it("returns output and exit status, also for a non-zero exit, in the C locale", async () => {
    assert.deepEqual(await runner.run("sh", ["-c", "echo $LC_ALL; echo err >&2; exit 64"], options()), {
      kind: "exited",
      exitCode: 64,
      stdout: "C\n",
      stderr: "err\n",
    });
  });

  it("reports a tool that is not installed as missing", async () => {
    assert.deepEqual(await runner.run("ingot-no-such-tool", [], options()), {
      kind: "missing",
      message: "ingot-no-such-tool: not installed",
    });
  });

  it("kills a tool at its timeout, and one running at the inventory deadline", async () => {
    assert.deepEqual(await runner.run("sleep", ["30"], options(100)), {
      kind: "timeout",
      message: "sleep: no answer within 100 ms",
    });
    const deadline = new AbortController();
    const running = runner.run("sleep", ["30"], options(60_000, deadline.signal));
    deadline.abort();
    assert.deepEqual(await running, { kind: "aborted", message: "sleep: stopped at the inventory deadline" });
    assert.equal((await runner.run("true", [], options(1_000, deadline.signal))).kind, "aborted");
  });
});

describe("RootedFileReader", () => {
  it("reads below its root and reports missing files", async () => {
    const files = new RootedFileReader(`${AGENT_FIXTURES}/sysfs-dmi`);
    const signal = new AbortController().signal;
    assert.deepEqual(await files.read("/sys/class/dmi/id/product_serial", signal), {
      kind: "ok",
      text: "9KD3QF3\n",
    });
    assert.equal((await files.read("/sys/class/dmi/id/nothing", signal)).kind, "missing");
    assert.equal((await files.read("/sys/class/dmi/id/product_serial/x", signal)).kind, "missing");
  });
});
