import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  BmcComputeManager,
  ComponentManagerRegistry,
  consistencyOf,
  createComponentManagerRegistry,
  implementationFor,
  UnknownComponentManagerError,
  versionMatches,
} from "../../../src/bmc/component-managers/index.ts";
import type { BmcDriver } from "../../../src/bmc/driver.ts";

describe("component manager registry", () => {
  test("offers the built-in managers by type and implementation, one instance each", async () => {
    const registry = createComponentManagerRegistry();
    assert.deepEqual(registry.keys(), [
      "compute/ipmi",
      "compute/redfish",
      "nvswitch/redfish+ssh",
      "powershelf/redfish",
    ]);
    const compute = registry.get("compute", "redfish");
    assert.equal(compute.type, "compute");
    assert.equal(compute.implementation, "redfish");
    assert.equal(registry.get("compute", "redfish"), compute, "sessions are reused through one instance");
    assert.equal(registry.get("nvswitch", "redfish+ssh").type, "nvswitch");
    assert.equal(registry.get("powershelf", "redfish").type, "powershelf");
    await registry.close();
  });

  test("an unknown type or implementation is a clear not-found error naming what exists", () => {
    const registry = createComponentManagerRegistry();
    assert.throws(
      () => registry.get("cdu", "redfish"),
      (error: unknown) => {
        assert.ok(error instanceof UnknownComponentManagerError);
        assert.equal(error.code, "component_manager.unknown");
        assert.equal(
          error.message,
          'no component manager "cdu/redfish"; known: compute/ipmi, compute/redfish, nvswitch/redfish+ssh, powershelf/redfish',
        );
        return true;
      },
    );
    assert.throws(() => registry.get("powershelf", "snmp"), {
      message: 'no component manager "powershelf/snmp"; known: powershelf/redfish',
    });
    assert.equal(registry.has("powershelf", "snmp"), false);
  });

  test("takes new implementations, but not the same key twice", async () => {
    const registry = new ComponentManagerRegistry();
    let created = 0;
    registry.register("compute", "fake", () => {
      created++;
      return new BmcComputeManager("fake", () => {
        throw new Error("no driver in this test");
      });
    });
    assert.throws(
      () => registry.register("compute", "fake", () => registry.get("compute", "fake")),
      /already registered/,
    );
    assert.equal(registry.get("compute", "fake").implementation, "fake");
    registry.get("compute", "fake");
    assert.equal(created, 1);
    await registry.close();
    registry.get("compute", "fake");
    assert.equal(created, 2, "close() drops the instances; the next get builds a fresh one");
  });

  test("chooses the implementation for an inventory row", () => {
    assert.equal(implementationFor("compute", "ipmi"), "ipmi");
    assert.equal(implementationFor("compute", "redfish"), "redfish");
    assert.equal(implementationFor("powershelf", "redfish"), "redfish");
    assert.equal(implementationFor("nvswitch", "redfish"), "redfish+ssh");
  });

  test("expectations merge per target and leave other targets alone", async () => {
    const driver: BmcDriver = {
      protocol: "redfish",
      getPowerState: async () => "on",
      setPower: async () => undefined,
      getBootOverride: async () => ({ device: "none", persistence: "disabled", mode: "unknown" }),
      setBootOverride: async () => undefined,
      getInventory: async () => ({ powerState: "on", cpus: [], nics: [], drives: [], firmware: [] }),
      getSensors: async () => ({ sensors: [], powerSupplies: [] }),
      getLogEntries: async () => [],
      startFirmwareUpdate: async () => ({ handle: "", state: "pending", messages: [] }),
      getFirmwareUpdateStatus: async () => ({ handle: "", state: "pending", messages: [] }),
      close: async () => undefined,
    };
    const manager = new BmcComputeManager("stub", () => driver);
    const a = { id: "a", bmc: { address: "127.0.0.1", username: "u", password: "p" } };
    const b = { ...a, id: "b" };
    manager.injectExpectation(a, { power: "off" });
    manager.injectExpectation(a, { firmwareVersion: "1.2" });
    manager.injectExpectation(a, { power: undefined });
    assert.deepEqual(manager.expectationOf(a), { power: "off", firmwareVersion: "1.2" });
    assert.deepEqual(manager.expectationOf(b), {});
    assert.deepEqual(await manager.getPowerStatus(a, AbortSignal.timeout(1_000)), {
      state: "on",
      expected: "off",
      drift: true,
    });
    assert.deepEqual(await manager.getPowerStatus(b, AbortSignal.timeout(1_000)), {
      state: "on",
      drift: false,
    });
    await manager.close();
  });
});

describe("firmware versions", () => {
  test("a version matches a whole word of what the device prints", () => {
    assert.ok(versionMatches("2.72", "2.72"));
    assert.ok(versionMatches("iLO 5 v2.72", "2.72"));
    assert.ok(versionMatches("v2.72", "2.72"));
    assert.ok(versionMatches("2.46 May 11 2021", "2.46"));
    assert.ok(!versionMatches("2.72.1", "2.72"));
    assert.ok(!versionMatches("12.72", "2.72"));
    assert.ok(!versionMatches("2.72", ""));
  });

  test("consistency names the targets off the most common version, and those that could not be read", () => {
    assert.deepEqual(
      consistencyOf([
        { targetId: "a", version: "1.0" },
        { targetId: "b", version: "1.1" },
        { targetId: "c", version: "1.0" },
        { targetId: "d", error: "unreachable" },
      ]),
      {
        consistent: false,
        versions: [
          { targetId: "a", version: "1.0" },
          { targetId: "b", version: "1.1" },
          { targetId: "c", version: "1.0" },
          { targetId: "d", error: "unreachable" },
        ],
        distinctVersions: ["1.0", "1.1"],
        outliers: ["b", "d"],
      },
    );
    assert.equal(consistencyOf([{ targetId: "a", version: "1.0" }]).consistent, true);
    assert.equal(consistencyOf([{ targetId: "a", error: "auth" }]).consistent, false);
  });
});
