import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type IpmiLab, startIpmiLab } from "../../../lab/ipmi/index.ts";
import {
  createLabTls,
  type RedfishLab,
  type RedfishLabBmc,
  startRedfishLab,
} from "../../../lab/redfish/index.ts";
import type { ComponentManager } from "../../../src/bmc/component-managers/index.ts";
import type { ComponentManagerRegistry } from "../../../src/bmc/component-managers/registry.ts";
import { eventually } from "../../helpers/app.ts";
import { followUpdate, kindOf, labRegistry, signal, target } from "./helpers.ts";

describe("compute/redfish against lab Redfish BMCs", () => {
  let lab: RedfishLab;
  let registry: ComponentManagerRegistry;
  let manager: ComponentManager;
  const bmc = (index: number): RedfishLabBmc => lab.bmcs[index] as RedfishLabBmc;
  const tray = (index: number) => target(`compute-${index}`, bmc(index).endpoint());

  before(async () => {
    lab = await startRedfishLab({
      machines: 3,
      vendor: "mixed",
      tls: await createLabTls(),
      timing: { powerOnDelayMs: 300, powerOffDelayMs: 200, gracefulShutdownMs: 200, firmwareUpdateMs: 400 },
    });
    registry = labRegistry();
    manager = registry.get("compute", "redfish");
  });
  after(async () => {
    await registry.close();
    await lab.stop();
  });

  test("powers a tray on and off; the status carries the injected expectation and drift", async () => {
    const node = tray(0);
    assert.deepEqual(await manager.getPowerStatus(node, signal()), { state: "off", drift: false });
    manager.injectExpectation(node, { power: "on" });
    assert.deepEqual(await manager.getPowerStatus(node, signal()), {
      state: "off",
      expected: "on",
      drift: true,
    });

    await manager.powerControl(node, "on", signal());
    assert.equal((await manager.getPowerStatus(node, signal())).state, "powering-on");
    const on = await eventually(async () => {
      const status = await manager.getPowerStatus(node, signal());
      return status.state === "on" ? status : undefined;
    });
    assert.deepEqual(on, { state: "on", expected: "on", drift: false });
    assert.equal(bmc(0).state().powerState, "On");

    await manager.powerControl(node, "force-off", signal());
    await eventually(async () => (bmc(0).state().powerState === "Off" ? true : undefined));
    assert.equal((await manager.getPowerStatus(node, signal())).drift, true);
    manager.injectExpectation(node, { power: "off", firmwareVersion: "9.9" });
    assert.deepEqual(manager.expectationOf(node), { power: "off", firmwareVersion: "9.9" });
  });

  test("bring-up powers the tray on and waits until it is on", async () => {
    const node = tray(1);
    const result = await manager.bringUp?.(node, signal());
    assert.deepEqual(result?.steps, ["power on requested", "powered on"]);
    assert.equal(bmc(1).state().powerState, "On");
    assert.deepEqual((await manager.bringUp?.(node, signal()))?.steps, ["already on"]);
  });

  test("a firmware update is followed to its end and verified against the version the image carries", async () => {
    const node = tray(2);
    const started = await manager.firmwareControl(
      node,
      { imageUri: "https://firmware.example/bmc-2.16.0.bin", version: "2.16.0" },
      signal(),
    );
    assert.equal(started.state, "running");
    assert.equal(started.phase, "install");
    assert.equal(started.expectedVersion, "2.16.0");
    const { final, seen } = await followUpdate(manager, node, started.handle);
    assert.deepEqual(seen.at(-1), "completed/verify");
    assert.equal(final.version, "2.16.0");
    assert.equal(
      bmc(2)
        .state()
        .firmware.find((item) => item.id === "bmc_active")?.version,
      "2.16.0",
    );
  });

  test("an update whose result is not the expected version fails verification; a bad image fails the task", async () => {
    const node = tray(0);
    manager.injectExpectation(node, { firmwareVersion: "3.0.0" });
    // The image says 2.17.0 while the operator expects 3.0.0: the BMC reports success, verification does not.
    const started = await manager.firmwareControl(
      node,
      { imageUri: "https://firmware.example/bmc-2.17.0.bin" },
      signal(),
    );
    const mismatch = await followUpdate(manager, node, started.handle);
    assert.equal(mismatch.final.state, "failed");
    assert.equal(mismatch.final.phase, "verify");
    assert.match(
      mismatch.final.messages.join("\n"),
      /version mismatch: expected 3\.0\.0, the device reports 2\.17\.0/,
    );

    const corrupt = await manager.firmwareControl(
      node,
      { imageUri: "https://firmware.example/bmc-corrupt-2.18.0.bin", version: "2.18.0" },
      signal(),
    );
    const failed = await followUpdate(manager, node, corrupt.handle);
    assert.equal(failed.final.state, "failed");
    assert.equal(failed.final.phase, "install");
    await assert.rejects(manager.getFirmwareStatus(node, "not-a-handle", signal()), {
      code: "component_manager.bad_handle",
    });
  });

  test("firmware consistency detects the tray that runs another version", async () => {
    const nodes = [0, 2].map(tray);
    // Trays 0 and 2 share the OpenBMC profile; tray 2 was flashed to 2.16.0 above, tray 0 to 2.17.0.
    const report = await manager.firmwareConsistency?.(nodes, signal());
    assert.ok(report !== undefined);
    assert.equal(report.consistent, false);
    assert.deepEqual(report.distinctVersions, ["2.16.0", "2.17.0"]);
    assert.equal(report.outliers.length, 1);

    const started = await manager.firmwareControl(
      tray(0),
      { imageUri: "https://firmware.example/bmc-2.16.0.bin" },
      signal(),
    );
    await followUpdate(manager, tray(0), started.handle);
    const again = await manager.firmwareConsistency?.(nodes, signal());
    assert.deepEqual(again, {
      consistent: true,
      versions: [
        { targetId: "compute-0", version: "2.16.0" },
        { targetId: "compute-2", version: "2.16.0" },
      ],
      distinctVersions: ["2.16.0"],
      outliers: [],
    });
    const unreadable = await manager.firmwareConsistency?.(
      [...nodes, target("gone", { ...bmc(0).endpoint(), port: 1, timeoutMs: 2_000 })],
      signal(),
    );
    assert.equal(unreadable?.consistent, false);
    assert.deepEqual(unreadable?.outliers, ["gone"]);
    assert.match(unreadable?.versions[2]?.error ?? "", /cannot connect/);
  });

  test("every call honours its deadline and the caller's signal", async () => {
    const slow = labRegistry(300);
    try {
      const impatient = slow.get("compute", "redfish");
      bmc(1).faults.setLatency(5_000);
      // The BMC would answer (successfully) after 5 s; only the deadline can make this call fail.
      await assert.rejects(impatient.getPowerStatus(tray(1), signal()), (error) => {
        assert.equal(kindOf(error), "timeout");
        assert.match((error as Error).message, /power status did not finish within 300 ms/);
        return true;
      });

      const caller = new AbortController();
      const pending = manager.powerControl(tray(1), "force-off", caller.signal);
      caller.abort();
      await assert.rejects(pending, (error) => {
        assert.equal(kindOf(error), "timeout");
        assert.match((error as Error).message, /cancelled by the caller/);
        return true;
      });
    } finally {
      bmc(1).faults.clear();
      await slow.close();
    }
  });
});

describe("compute/ipmi against lab ipmi_sim BMCs", () => {
  let lab: IpmiLab;
  let registry: ComponentManagerRegistry;

  before(async () => {
    lab = await startIpmiLab({
      machines: [{ firmware: "2.61" }, { firmware: "2.61" }, { firmware: "3.02" }],
    });
    registry = labRegistry();
  });
  after(async () => {
    await registry.close();
    await lab.stop();
  });

  const node = (index: number) => {
    const machine = lab.machines[index];
    assert.ok(machine !== undefined);
    return { machine, target: target(`ipmi-${index}`, { ...machine.endpoint, timeoutMs: 15_000 }) };
  };

  test("powers the machine on and off and reports its state", async () => {
    const manager = registry.get("compute", "ipmi");
    const { machine, target: ipmi } = node(0);
    manager.injectExpectation(ipmi, { power: "on" });
    assert.deepEqual(await manager.getPowerStatus(ipmi, signal()), {
      state: "off",
      expected: "on",
      drift: true,
    });
    await manager.powerControl(ipmi, "on", signal());
    assert.equal(machine.powerState(), "on");
    assert.deepEqual(await manager.getPowerStatus(ipmi, signal()), {
      state: "on",
      expected: "on",
      drift: false,
    });
    await manager.powerControl(ipmi, "off", signal());
    assert.equal(machine.powerState(), "off");
    assert.deepEqual(await manager.bringUp?.(ipmi, signal()), {
      steps: ["power on requested", "powered on"],
    });
    await manager.powerControl(ipmi, "off", signal());
  });

  test("says plainly that IPMI has no firmware update, and still compares BMC firmware versions", async () => {
    const manager = registry.get("compute", "ipmi");
    await assert.rejects(
      manager.firmwareControl(
        node(0).target,
        { imageUri: "https://firmware.example/bmc-2.70.bin" },
        signal(),
      ),
      (error) => kindOf(error) === "unsupported",
    );
    const report = await manager.firmwareConsistency?.(
      [0, 1, 2].map((index) => node(index).target),
      signal(),
    );
    assert.equal(report?.consistent, false);
    assert.deepEqual(report?.distinctVersions, ["2.61", "3.02"]);
    assert.deepEqual(report?.outliers, ["ipmi-2"]);
  });
});
