import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  type LabPowerShelf,
  machineLoad,
  type PowerShelfLab,
  startPowerShelfLab,
} from "../../../lab/powershelf/index.ts";
import { createLabTls, type RedfishLab, startRedfishLab } from "../../../lab/redfish/index.ts";
import type { ComponentManager } from "../../../src/bmc/component-managers/index.ts";
import type { ComponentManagerRegistry } from "../../../src/bmc/component-managers/registry.ts";
import { eventually } from "../../helpers/app.ts";
import { followUpdate, kindOf, labRegistry, signal, target } from "./helpers.ts";

describe("powershelf/redfish against lab power shelves", () => {
  let shelves: PowerShelfLab;
  let machines: RedfishLab;
  let registry: ComponentManagerRegistry;
  let manager: ComponentManager;
  const shelf = (index: number): LabPowerShelf => shelves.shelves[index] as LabPowerShelf;
  const unit = (index: number, outlets?: readonly string[]) =>
    target(`shelf-${index}`, shelf(index).endpoint(), outlets !== undefined ? { outlets } : {});

  before(async () => {
    const tls = await createLabTls();
    shelves = await startPowerShelfLab({
      shelves: 3,
      outlets: 4,
      tls,
      timing: {
        powerOnDelayMs: 300,
        powerOffDelayMs: 150,
        outletDelayMs: 100,
        cycleOffMs: 200,
        firmwareUpdateMs: 300,
      },
    });
    machines = await startRedfishLab({
      machines: 2,
      tls,
      initialPowerState: "On",
      timing: { powerOnDelayMs: 100 },
    });
    const [first, second] = machines.bmcs;
    assert.ok(first !== undefined && second !== undefined);
    shelf(0).connect(machineLoad(first, { on: 400, off: 20 }), "OUT1");
    shelf(0).connect(machineLoad(second, { on: 400, off: 20 }), "OUT2");
    registry = labRegistry();
    manager = registry.get("powershelf", "redfish");
  });
  after(async () => {
    await registry.close();
    await shelves.stop();
    await machines.stop();
  });

  test("reports the shelf's power, each outlet with its load, and the supplies' watts", async () => {
    const status = await manager.getPowerStatus(unit(0), signal());
    assert.equal(status.state, "on");
    assert.equal(status.drift, false);
    assert.deepEqual(
      status.outlets?.map((outlet) => [outlet.id, outlet.state, outlet.watts]),
      [
        ["OUT1", "on", 400],
        ["OUT2", "on", 400],
        ["OUT3", "on", 0],
        ["OUT4", "on", 0],
      ],
    );
    assert.ok(Math.abs((status.outputWatts ?? 0) - 845) < 1, `output ${status.outputWatts} W`);
    assert.ok((status.inputWatts ?? 0) > (status.outputWatts ?? 0));
  });

  test("switches the whole shelf through Chassis.Reset: off cuts the machines, on restores their BMCs", async () => {
    const whole = unit(0);
    manager.injectExpectation(whole, { power: "on" });
    await manager.powerControl(whole, "off", signal());
    await eventually(async () =>
      (await manager.getPowerStatus(whole, signal())).state === "off" ? true : undefined,
    );
    const off = await manager.getPowerStatus(whole, signal());
    assert.equal(off.drift, true, "off while on is expected");
    assert.ok(off.outlets?.every((outlet) => outlet.state === "off"));
    assert.equal(machines.bmcs[0]?.acPower, false);
    assert.equal(machines.bmcs[1]?.acPower, false);

    const result = await manager.bringUp?.(whole, signal());
    assert.deepEqual(result?.steps, ["power on requested", "output enabled"]);
    assert.equal(machines.bmcs[0]?.acPower, true);
    assert.equal((await manager.getPowerStatus(whole, signal())).drift, false);
  });

  test("switches only the outlets a target names, and cycles them", async () => {
    const outlet2 = unit(0, ["OUT2"]);
    await manager.powerControl(outlet2, "off", signal());
    await eventually(async () =>
      (await manager.getPowerStatus(outlet2, signal())).state === "off" ? true : undefined,
    );
    assert.equal(machines.bmcs[1]?.acPower, false);
    assert.equal(machines.bmcs[0]?.acPower, true, "the other outlet is left alone");
    assert.deepEqual(
      (await manager.getPowerStatus(outlet2, signal())).outlets?.map((outlet) => outlet.id),
      ["OUT2"],
    );

    const both = unit(0, ["OUT1", "OUT2"]);
    assert.equal((await manager.getPowerStatus(both, signal())).state, "unknown", "one on, one off");
    await manager.powerControl(both, "on", signal());
    await eventually(async () =>
      (await manager.getPowerStatus(both, signal())).state === "on" ? true : undefined,
    );

    const cuts: boolean[] = [];
    const unsubscribe = shelf(0).onPowerChange((event) => {
      if (event.source === "OUT1") cuts.push(event.state === "On");
    });
    await manager.powerControl(unit(0, ["OUT1"]), "cycle", signal());
    await eventually(async () => (cuts.at(-1) === true ? true : undefined), { what: "the outlet back on" });
    unsubscribe();
    assert.ok(cuts.includes(false), "a cycle switches the outlet off first");

    await assert.rejects(manager.powerControl(unit(0, ["OUT9"]), "off", signal()), {
      code: "component_manager.unknown_outlet",
    });
    await assert.rejects(
      manager.powerControl(unit(0), "graceful-shutdown", signal()),
      (error) => kindOf(error) === "unsupported",
    );
  });

  test("updates the controller firmware and verifies the version; consistency finds the odd shelf", async () => {
    const before = await manager.firmwareConsistency?.(
      [0, 1, 2].map((index) => unit(index)),
      signal(),
    );
    assert.equal(before?.consistent, true);
    assert.deepEqual(before?.distinctVersions, ["1.4.2"]);

    const started = await manager.firmwareControl(
      unit(1),
      { imageUri: "https://firmware.example/pmc-1.5.0.bin", version: "1.5.0" },
      signal(),
    );
    assert.equal(started.phase, "install");
    const { final, seen } = await followUpdate(manager, unit(1), started.handle);
    assert.equal(seen.at(-1), "completed/verify");
    assert.equal(final.version, "1.5.0");

    const after = await manager.firmwareConsistency?.(
      [0, 1, 2].map((index) => unit(index)),
      signal(),
    );
    assert.equal(after?.consistent, false);
    assert.deepEqual(after?.distinctVersions, ["1.4.2", "1.5.0"]);
    assert.deepEqual(after?.outliers, ["shelf-1"]);

    const psu = await manager.firmwareControl(
      unit(2),
      { imageUri: "https://firmware.example/psu-3.3.0.bin", components: ["PSU"], version: "3.4.0" },
      signal(),
    );
    const mismatch = await followUpdate(manager, unit(2), psu.handle);
    assert.equal(mismatch.final.state, "failed");
    assert.match(mismatch.final.messages.join(" "), /expected 3\.4\.0, the shelf reports 3\.3\.0/);
    assert.equal(
      shelf(2)
        .state()
        .firmware.find((item) => item.id === "PSU")?.version,
      "3.3.0",
    );
  });

  test("a call that outlives its deadline fails with a timeout", async () => {
    const slow = labRegistry(250);
    shelf(2).faults.setLatency(5_000);
    try {
      await assert.rejects(slow.get("powershelf", "redfish").getPowerStatus(unit(2), signal()), (error) => {
        assert.equal(kindOf(error), "timeout");
        assert.match((error as Error).message, /shelf-2.*did not finish within 250 ms/);
        return true;
      });
    } finally {
      shelf(2).faults.clear();
      await slow.close();
    }
  });
});
