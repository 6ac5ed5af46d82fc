import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { acquireProcessLock, LockHeldError } from "../src/process-lock.ts";

describe("process lock files", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "ingot-lock-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("refuses a second holder while the first lives, and frees the file on release", () => {
    const file = path.join(dir, "a.lock");
    const release = acquireProcessLock(file);
    assert.throws(
      () => acquireProcessLock(file),
      (error: unknown) => {
        assert.ok(error instanceof LockHeldError);
        assert.equal(error.holderPid, process.pid);
        return true;
      },
    );
    release();
    acquireProcessLock(file)();
  });

  it("takes over a lock whose pid was reused by another process since the holder died", () => {
    const file = path.join(dir, "b.lock");
    // Our own pid, but a start time that is not ours: what a container restarted as the same pid finds.
    writeFileSync(file, `${process.pid}:1`);
    const release = acquireProcessLock(file);
    assert.notEqual(readFileSync(file, "utf8"), `${process.pid}:1`);
    release();
  });

  it("takes over a lock of a process that no longer exists", () => {
    const file = path.join(dir, "c.lock");
    writeFileSync(file, "4194303:12345");
    acquireProcessLock(file)();
  });
});
