import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { collectInventory } from "../../agent/inventory.ts";
import type { CommandOptions, CommandResult } from "../../agent/probes/exec.ts";
import { exited, MapFileReader, ReplayRunner, shared } from "./helpers.ts";

const vm = (file: string): string => shared("probes", "h100-vm", file);

/** A command that runs until the inventory deadline kills it, as ExecFileRunner reports it. */
function untilKilled(options: CommandOptions): Promise<CommandResult> {
  return new Promise((resolve) => {
    options.signal.addEventListener(
      "abort",
      () => resolve({ kind: "aborted", message: "smartctl: stopped at the inventory deadline" }),
      { once: true },
    );
  });
}

describe("inventory deadline", () => {
  it("keeps what finished: disks without SMART when smartctl hangs; a probe ignoring the abort is cut off", async () => {
    const runner = new ReplayRunner({
      "lscpu -J": exited(vm("lscpu.json")),
      "lsblk -J -O -b": exited(vm("lsblk.json")),
      "smartctl -j -a /dev/vda": untilKilled,
      "smartctl -j -a /dev/vdb": untilKilled,
      // Ignores the abort entirely: only the grace period ends the wait for it.
      "lspci -vmm -nn -k -D": () => new Promise<CommandResult>(() => {}),
    });
    const { inventory, probes } = await collectInventory({
      runner,
      files: new MapFileReader({ "/proc/meminfo": vm("meminfo.txt") }),
      deadlineMs: 300,
      graceMs: 100,
      timeouts: { commandMs: 60_000, slowCommandMs: 60_000 },
      outputBudgetBytes: 1024 * 1024,
    });
    assert.deepEqual(
      inventory.disks.map((disk) => [disk.name, disk.smart]),
      [
        ["vda", undefined],
        ["vdb", undefined],
      ],
    );
    assert.equal(inventory.cpu.threads, 16);
    assert.equal(inventory.memory.totalBytes, 131981020 * 1024);
    assert.deepEqual(inventory.pciDevices, []);
    assert.equal(probes["smartctl:vda"]?.status, "timeout");
    assert.deepEqual(probes["smartctl:vda"]?.warnings, ["smartctl: stopped at the inventory deadline"]);
    assert.equal(probes.lspci?.status, "timeout");
    assert.deepEqual(probes.lspci?.warnings, ["lspci: unfinished at the inventory deadline"]);
    assert.equal(probes.lsblk?.status, "ok");
  });

  it("records a probe that throws (a bug) as failed and carries on", async () => {
    const runner = new ReplayRunner({
      "lscpu -J": () => Promise.reject(new Error("boom")),
      "lsblk -J -O -b": exited(vm("lsblk.json")),
    });
    const { inventory, probes } = await collectInventory({
      runner,
      files: new MapFileReader({}),
      deadlineMs: 10_000,
      timeouts: { commandMs: 1_000, slowCommandMs: 1_000 },
      outputBudgetBytes: 1024,
    });
    assert.equal(probes.lscpu?.status, "failed");
    assert.deepEqual(probes.lscpu?.warnings, ["lscpu: probe failed unexpectedly: boom"]);
    assert.equal(inventory.disks.length, 2);
    assert.equal(probes.lsblk?.output, undefined, "over the 1 KiB raw budget");
    assert.match(probes.lsblk?.warnings.at(-1) ?? "", /budget for raw outputs is spent/);
  });
});
