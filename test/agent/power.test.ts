import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runsUnderInit } from "../../agent/power.ts";

describe("when the agent may power the machine off", () => {
  it("only as init or its child, and only where the image's /init left its mark", () => {
    const marked = () => true;
    const unmarked = () => false;
    assert.equal(runsUnderInit({ pid: 1, ppid: 0 }, marked), true);
    assert.equal(runsUnderInit({ pid: 312, ppid: 1 }, marked), true);
    assert.equal(runsUnderInit({ pid: 312, ppid: 1 }, unmarked), false, "a systemd service or orphaned job");
    assert.equal(runsUnderInit({ pid: 312, ppid: 4001 }, marked), false, "started from a shell");
  });
});
