import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { OutOfBandInventory } from "../../src/bmc/driver.ts";
import {
  componentDiffsOf,
  computeDrift,
  type DriftBmc,
  type DriftInput,
  expectedDiffs,
  identityDiffs,
} from "../../src/inventory/drift-model.ts";

const ORG = "org-a";
const OTHER_ORG = "org-b";
const MAC = "02:00:00:00:00:01";

function inventory(overrides: Partial<OutOfBandInventory> = {}): OutOfBandInventory {
  return {
    manufacturer: "Ingot Lab",
    model: "OpenBMC Reference Server",
    serial: "SN-1",
    uuid: "AAAAAAAA-0000-4000-8000-000000000001",
    bmcFirmwareVersion: "2.15.0",
    biosVersion: "1.4.2",
    powerState: "off",
    cpus: [
      { model: "Intel(R) Xeon(R) Gold 6338", cores: 32, threads: 64 },
      { model: "Intel(R) Xeon(R) Gold 6338", cores: 32, threads: 64 },
    ],
    memoryBytes: 512 * 2 ** 30,
    nics: [{ mac: "02:00:00:00:01:00" }, { mac: "02:00:00:00:01:01" }],
    drives: [
      { sizeBytes: 3_840_000_000_000, mediaType: "nvme" },
      { sizeBytes: 960_000_000_000, mediaType: "ssd" },
    ],
    firmware: [{ id: "bmc", name: "BMC", version: "2.15.0" }],
    ...overrides,
  };
}

function bmc(overrides: Partial<DriftBmc> = {}): DriftBmc {
  return {
    mac: MAC,
    orgId: ORG,
    address: "10.0.0.1",
    machineId: null,
    componentId: null,
    reading: { kind: "answered", inventory: inventory() },
    ...overrides,
  };
}

const empty: DriftInput = { bmcs: [], machines: [], expected: [], components: [] };

describe("drift: what is compared", () => {
  it("finds nothing when the BMC reports what is expected", () => {
    const records = computeDrift({
      ...empty,
      bmcs: [bmc()],
      expected: [
        {
          id: "e1",
          orgId: ORG,
          serial: "sn-1 ",
          bmcMac: MAC.toUpperCase(),
          spec: { memory: { minBytes: 512 * 2 ** 30 }, cpu: { minCores: 64, modelPattern: "xeon" } },
        },
      ],
    });
    assert.deepEqual(records, []);
  });

  it("checks the spec's minimums, CPU model pattern, NICs, disks per kind and the BMC MAC", () => {
    const diffs = expectedDiffs(
      {
        id: "e1",
        orgId: ORG,
        serial: "SN-1",
        bmcMac: "02:00:00:00:00:99",
        spec: {
          memory: { minBytes: 1024 * 2 ** 30 },
          cpu: { minCores: 96, minThreads: 128, modelPattern: "^AMD EPYC" },
          nics: { count: 4 },
          disks: { nvme: { count: 2 }, ssd: { count: 1, minSizeBytes: 1_000_000_000_000 } },
        },
      },
      inventory(),
      MAC,
    );
    assert.deepEqual(
      diffs.map((diff) => [diff.field, diff.rule, diff.expected, diff.actual]),
      [
        ["bmcMac", "equal", "02:00:00:00:00:99", MAC],
        ["memoryBytes", "at_least", 1024 * 2 ** 30, 512 * 2 ** 30],
        ["cpu.cores", "at_least", 96, 64],
        ["cpu.model", "matches", "^AMD EPYC", "Intel(R) Xeon(R) Gold 6338"],
        ["nics.count", "at_least", 4, 2],
        ["disks.ssd.count", "at_least", 1, 0],
        ["disks.nvme.count", "at_least", 2, 1],
      ],
    );
  });

  it("checks only what the BMC reports: an IPMI BMC lists no CPUs, NICs or drives", () => {
    const diffs = expectedDiffs(
      {
        id: "e1",
        orgId: ORG,
        serial: null,
        bmcMac: null,
        spec: {
          cpu: { minCores: 96 },
          nics: { count: 4 },
          disks: { nvme: { count: 8 } },
          memory: { minBytes: 1 },
        },
      },
      inventory({ cpus: [], nics: [], drives: [], memoryBytes: undefined }),
      MAC,
    );
    assert.deepEqual(diffs, []);
  });

  it("holds the recorded machine identity against the BMC, ignoring case and what is unknown", () => {
    assert.deepEqual(
      identityDiffs(
        {
          id: "m1",
          orgId: ORG,
          serial: "SN-1",
          systemUuid: "aaaaaaaa-0000-4000-8000-000000000001",
          model: null,
          expectedMachineId: null,
        },
        inventory(),
      ),
      [],
    );
    assert.deepEqual(
      identityDiffs(
        { id: "m1", orgId: ORG, serial: "SN-OLD", systemUuid: null, model: "Other", expectedMachineId: null },
        inventory(),
      ).map((diff) => diff.field),
      ["machine.serial", "machine.model"],
    );
  });

  it("accepts any firmware version the BMC reports for a component", () => {
    const component = {
      id: "c1",
      orgId: ORG,
      type: "compute",
      name: null,
      serial: "SN-1",
      model: null,
      firmwareVersion: "1.4.2",
      machineId: null,
    };
    assert.deepEqual(componentDiffsOf(component, inventory()), []);
    assert.deepEqual(componentDiffsOf({ ...component, firmwareVersion: "3.0" }, inventory())[0]?.actual, [
      "2.15.0",
      "1.4.2",
    ]);
  });
});

describe("drift: kinds", () => {
  it("never matches across orgs", () => {
    const records = computeDrift({
      ...empty,
      bmcs: [bmc()],
      expected: [{ id: "e1", orgId: OTHER_ORG, serial: "SN-1", bmcMac: MAC, spec: null }],
    });
    assert.deepEqual(
      records.map((record) => [record.kind, record.orgId]),
      [
        ["missing_in_actual", OTHER_ORG],
        ["missing_in_expected", ORG],
      ],
    );
  });

  it("reports an unexpected BMC that does not answer as unexpected, an expected one as missing", () => {
    const down = { kind: "failed", error: "connection refused" } as const;
    assert.deepEqual(
      computeDrift({ ...empty, bmcs: [bmc({ reading: down })] }).map((record) => record.kind),
      ["missing_in_expected"],
    );
    const records = computeDrift({
      ...empty,
      bmcs: [bmc({ reading: down, componentId: "c1" })],
      expected: [{ id: "e1", orgId: ORG, serial: null, bmcMac: MAC, spec: null }],
      components: [
        {
          id: "c1",
          orgId: ORG,
          type: "compute",
          name: "tray-1",
          serial: "SN-1",
          model: null,
          firmwareVersion: null,
          machineId: null,
        },
      ],
    });
    assert.deepEqual(
      records.map((record) => [record.key, record.message]),
      [
        [
          "missing_in_actual:bmc:02:00:00:00:00:01",
          `BMC ${MAC} at 10.0.0.1 does not answer: connection refused`,
        ],
        [
          `missing_in_actual:component:c1:bmc:${MAC}`,
          `BMC ${MAC} at 10.0.0.1 does not answer: connection refused`,
        ],
      ],
    );
  });

  it("keeps one record per BMC when two BMCs belong to one component", () => {
    const second = "02:00:00:00:00:02";
    const records = computeDrift({
      ...empty,
      bmcs: [
        bmc({ reading: { kind: "failed", error: "connection refused" }, componentId: "c1" }),
        bmc({ mac: second, reading: { kind: "failed", error: "connection refused" }, componentId: "c1" }),
      ],
      components: [
        {
          id: "c1",
          orgId: ORG,
          type: "powershelf",
          name: "shelf-1",
          serial: "PS-1",
          model: null,
          firmwareVersion: null,
          machineId: null,
        },
      ],
    });
    const keys = records.map((record) => record.key);
    assert.equal(new Set(keys).size, keys.length, `keys are unique: ${keys.join(", ")}`);
  });

  it("holds a machine without a BMC against its expected machine in-band, and reports one nobody expects", () => {
    const records = computeDrift({
      ...empty,
      machines: [
        { id: "m1", orgId: ORG, serial: "SN-9", systemUuid: null, model: null, expectedMachineId: "e1" },
        { id: "m2", orgId: ORG, serial: "SN-2", systemUuid: null, model: null, expectedMachineId: null },
      ],
      expected: [{ id: "e1", orgId: ORG, serial: "SN-1", bmcMac: null, spec: null }],
    });
    assert.deepEqual(
      records.map((record) => [record.key, record.diffs.map((diff) => diff.field)]),
      [
        ["mismatch:machine:m1", ["serial"]],
        ["missing_in_expected:machine:m2", []],
      ],
    );
  });
});
