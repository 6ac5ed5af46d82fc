/**
 * Inventory drift (seeds 000/001): what differs between what is expected and what the BMCs report.
 * Pure: `computeDrift` takes one cycle's readings and the recorded inventory and returns the records the
 * sync stores. What is compared:
 *
 * - expected machines (serial, and the hardware spec they must meet: memory, CPU cores and threads, CPU
 *   model, NIC count, disks per kind) against what the BMC reports out of band;
 * - the identity recorded for the machine behind a BMC (serial, system UUID, model) against the BMC's view;
 * - components linked to a BMC or its machine (serial, model, firmware version) against the BMC's view.
 *
 * Kinds: `missing_in_expected` (present, but no expected machine or component accounts for it),
 * `missing_in_actual` (expected, but no BMC or machine answers for it), `mismatch` (both, with field-level
 * diffs). Only what the BMC reports is checked: IPMI tells no CPUs, so no CPU check fails on an IPMI BMC.
 */
import { type Static, Type } from "typebox";
import type { OutOfBandInventory } from "../bmc/driver.ts";
import { PageQueryFields } from "../http/pagination.ts";
import { StrictObject, Timestamp } from "../http/schema.ts";
import { systemUuidOf } from "./bmc-explore-model.ts";
import { NullableUuid, Uuid } from "./inventory-schema.ts";
import { normalizeMac } from "./mac-address.ts";
import type { HardwareSpec } from "./spec-profile-model.ts";

export const DRIFT_KINDS = ["missing_in_expected", "missing_in_actual", "mismatch"] as const;
export type DriftKind = (typeof DRIFT_KINDS)[number];

/** How `actual` was held against `expected`. */
export const DIFF_RULES = ["equal", "at_least", "matches", "one_of"] as const;
export type DiffRule = (typeof DIFF_RULES)[number];

export interface FieldDiff {
  /** `serial`, `systemUuid`, `memoryBytes`, `cpu.cores`, `disks.nvme.count`, `firmwareVersion`, … */
  readonly field: string;
  readonly expected: string | number | readonly string[];
  readonly actual: string | number | readonly string[] | null;
  readonly rule: DiffRule;
}

/** One drift record as the sync stores it. */
export interface DriftRecord {
  /** `<kind>:<subject key>`, stable from cycle to cycle. */
  readonly key: string;
  readonly orgId: string;
  readonly kind: DriftKind;
  /** Operator words for what drifted: "machine MXQ0010001 (BMC 02:…)". */
  readonly subject: string;
  readonly machineId: string | null;
  readonly componentId: string | null;
  readonly expectedMachineId: string | null;
  readonly bmcMac: string | null;
  readonly diffs: readonly FieldDiff[];
  readonly message: string;
}

export type BmcReading =
  | { readonly kind: "answered"; readonly inventory: OutOfBandInventory }
  | { readonly kind: "failed"; readonly error: string };

export interface DriftBmc {
  readonly mac: string;
  readonly orgId: string;
  readonly address: string;
  readonly machineId: string | null;
  readonly componentId: string | null;
  readonly reading: BmcReading;
}

export interface DriftMachine {
  readonly id: string;
  readonly orgId: string;
  readonly serial: string | null;
  readonly systemUuid: string | null;
  readonly model: string | null;
  readonly expectedMachineId: string | null;
}

export interface DriftExpected {
  readonly id: string;
  readonly orgId: string;
  readonly serial: string | null;
  readonly bmcMac: string | null;
  readonly spec: HardwareSpec | null;
}

export interface DriftComponent {
  readonly id: string;
  readonly orgId: string;
  readonly type: string;
  readonly name: string | null;
  readonly serial: string;
  readonly model: string | null;
  readonly firmwareVersion: string | null;
  readonly machineId: string | null;
}

export interface DriftInput {
  readonly bmcs: readonly DriftBmc[];
  readonly machines: readonly DriftMachine[];
  readonly expected: readonly DriftExpected[];
  readonly components: readonly DriftComponent[];
}

/** Text compared as people mean it: trimmed, case-insensitive. */
function same(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}

function known(value: string | null | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === "" ? undefined : trimmed;
}

/** An index of items by org and a key, so nothing is ever matched across orgs. */
function indexBy<T extends { orgId: string }>(
  items: readonly T[],
  key: (item: T) => string | null | undefined,
): Map<string, T> {
  const index = new Map<string, T>();
  for (const item of items) {
    const value = key(item);
    if (value !== null && value !== undefined && !index.has(`${item.orgId}/${value}`)) {
      index.set(`${item.orgId}/${value}`, item);
    }
  }
  return index;
}

function lookup<T>(index: Map<string, T>, orgId: string, value: string | null | undefined): T | undefined {
  return value === null || value === undefined ? undefined : index.get(`${orgId}/${value}`);
}

/** The drift records of one cycle, sorted by key. */
export function computeDrift(input: DriftInput): DriftRecord[] {
  const records: DriftRecord[] = [];
  const machinesById = new Map(input.machines.map((machine) => [machine.id, machine]));
  const expectedById = new Map(input.expected.map((expected) => [expected.id, expected]));
  const expectedBySerial = indexBy(input.expected, (expected) => known(expected.serial)?.toLowerCase());
  const expectedByBmcMac = indexBy(input.expected, (expected) =>
    expected.bmcMac === null ? undefined : normalizeMac(expected.bmcMac),
  );
  const componentsById = new Map(input.components.map((component) => [component.id, component]));
  const componentsByMachine = new Map(
    input.components.flatMap((component) =>
      component.machineId === null ? [] : [[component.machineId, component] as const],
    ),
  );
  const claimed = new Set<string>();
  const machinesWithBmc = new Set<string>();

  for (const bmc of input.bmcs) {
    const machine = bmc.machineId === null ? undefined : machinesById.get(bmc.machineId);
    if (machine !== undefined) machinesWithBmc.add(machine.id);
    const answered = bmc.reading.kind === "answered" ? bmc.reading.inventory : undefined;
    const expected =
      lookup(expectedByBmcMac, bmc.orgId, bmc.mac) ??
      (machine?.expectedMachineId != null ? expectedById.get(machine.expectedMachineId) : undefined) ??
      lookup(expectedBySerial, bmc.orgId, known(answered?.serial)?.toLowerCase()) ??
      lookup(expectedBySerial, bmc.orgId, known(machine?.serial)?.toLowerCase());
    if (expected !== undefined) claimed.add(expected.id);
    const component =
      (bmc.componentId !== null ? componentsById.get(bmc.componentId) : undefined) ??
      (machine !== undefined ? componentsByMachine.get(machine.id) : undefined);
    const serial = known(answered?.serial) ?? known(machine?.serial) ?? known(expected?.serial);
    const subjectKey = machine !== undefined ? `machine:${machine.id}` : `bmc:${bmc.mac}`;
    const subject = `machine ${serial ?? "without a serial"} (BMC ${bmc.mac} at ${bmc.address})`;
    const refs = {
      orgId: bmc.orgId,
      machineId: machine?.id ?? null,
      expectedMachineId: expected?.id ?? null,
      bmcMac: bmc.mac,
    };

    if (bmc.reading.kind === "failed") {
      const why = `BMC ${bmc.mac} at ${bmc.address} does not answer: ${bmc.reading.error}`;
      if (expected !== undefined || component !== undefined || machine !== undefined) {
        records.push({
          key: `missing_in_actual:${subjectKey}`,
          kind: "missing_in_actual",
          subject,
          componentId: null,
          diffs: [],
          message: why,
          ...refs,
        });
      } else {
        records.push({
          key: `missing_in_expected:${subjectKey}`,
          kind: "missing_in_expected",
          subject,
          componentId: null,
          diffs: [],
          message: `no expected machine or component accounts for BMC ${bmc.mac}, which does not answer either`,
          ...refs,
        });
      }
      if (component !== undefined) {
        records.push({
          key: `missing_in_actual:component:${component.id}:bmc:${bmc.mac}`,
          kind: "missing_in_actual",
          subject: describeComponent(component),
          diffs: [],
          message: why,
          ...refs,
          componentId: component.id,
        });
      }
      continue;
    }

    const inventory = bmc.reading.inventory;
    if (expected === undefined && component === undefined) {
      records.push({
        key: `missing_in_expected:${subjectKey}`,
        kind: "missing_in_expected",
        subject,
        componentId: null,
        diffs: [],
        message: `BMC ${bmc.mac} answers for a machine no expected machine or component accounts for`,
        ...refs,
      });
    }
    const diffs = [
      ...(expected !== undefined ? expectedDiffs(expected, inventory, bmc.mac) : []),
      ...(machine !== undefined ? identityDiffs(machine, inventory) : []),
    ];
    if (diffs.length > 0) {
      records.push({
        key: `mismatch:${subjectKey}`,
        kind: "mismatch",
        subject,
        componentId: null,
        diffs,
        message: `${diffs.length} field${diffs.length === 1 ? "" : "s"} differ from what is expected: ${diffs.map((diff) => diff.field).join(", ")}`,
        ...refs,
      });
    }
    if (component !== undefined) {
      const componentDiffs = componentDiffsOf(component, inventory);
      if (componentDiffs.length > 0) {
        records.push({
          key: `mismatch:component:${component.id}:bmc:${bmc.mac}`,
          kind: "mismatch",
          subject: describeComponent(component),
          diffs: componentDiffs,
          message: `the component record differs from what BMC ${bmc.mac} reports: ${componentDiffs.map((diff) => diff.field).join(", ")}`,
          ...refs,
          componentId: component.id,
        });
      }
    }
  }

  // Machines no BMC speaks for (enrolled over PXE only): held against their expected machine in-band.
  for (const machine of input.machines) {
    if (machinesWithBmc.has(machine.id)) continue;
    const expected =
      (machine.expectedMachineId !== null ? expectedById.get(machine.expectedMachineId) : undefined) ??
      lookup(expectedBySerial, machine.orgId, known(machine.serial)?.toLowerCase());
    const subject = `machine ${known(machine.serial) ?? machine.id} (no BMC)`;
    const refs = { orgId: machine.orgId, machineId: machine.id, componentId: null, bmcMac: null };
    if (expected === undefined) {
      records.push({
        key: `missing_in_expected:machine:${machine.id}`,
        kind: "missing_in_expected",
        subject,
        expectedMachineId: null,
        diffs: [],
        message: `machine ${machine.id} enrolled, but no expected machine accounts for it`,
        ...refs,
      });
      continue;
    }
    claimed.add(expected.id);
    const expectedSerial = known(expected.serial);
    const actualSerial = known(machine.serial);
    if (expectedSerial !== undefined && actualSerial !== undefined && !same(expectedSerial, actualSerial)) {
      records.push({
        key: `mismatch:machine:${machine.id}`,
        kind: "mismatch",
        subject,
        expectedMachineId: expected.id,
        diffs: [{ field: "serial", expected: expectedSerial, actual: actualSerial, rule: "equal" }],
        message: "1 field differs from what is expected: serial",
        ...refs,
      });
    }
  }

  for (const expected of input.expected) {
    if (claimed.has(expected.id)) continue;
    const name = known(expected.serial) ?? expected.bmcMac ?? expected.id;
    records.push({
      key: `missing_in_actual:expected:${expected.id}`,
      orgId: expected.orgId,
      kind: "missing_in_actual",
      subject: `expected machine ${name}`,
      machineId: null,
      componentId: null,
      expectedMachineId: expected.id,
      bmcMac: null,
      diffs: [],
      message:
        expected.bmcMac !== null
          ? `no BMC ${expected.bmcMac} is registered and no machine answers for expected machine ${name}`
          : `no BMC or machine answers for expected machine ${name}`,
    });
  }
  return records.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function describeComponent(component: DriftComponent): string {
  return `${component.type} component ${component.name ?? component.serial}`;
}

/**
 * The expected machine's serial, BMC MAC and spec held against the BMC's view (and the MAC it is
 * registered under); only what the BMC reports is checked.
 */
export function expectedDiffs(
  expected: DriftExpected,
  inventory: OutOfBandInventory,
  bmcMac: string,
): FieldDiff[] {
  const diffs: FieldDiff[] = [];
  const expectedSerial = known(expected.serial);
  const actualSerial = known(inventory.serial);
  if (expectedSerial !== undefined && actualSerial !== undefined && !same(expectedSerial, actualSerial)) {
    diffs.push({ field: "serial", expected: expectedSerial, actual: actualSerial, rule: "equal" });
  }
  const expectedMac = expected.bmcMac === null ? undefined : normalizeMac(expected.bmcMac);
  if (expectedMac !== undefined && expectedMac !== bmcMac) {
    diffs.push({ field: "bmcMac", expected: expectedMac, actual: bmcMac, rule: "equal" });
  }
  const spec = expected.spec;
  if (spec === null) return diffs;
  const atLeast = (field: string, minimum: number | undefined, actual: number | undefined): void => {
    if (minimum !== undefined && actual !== undefined && actual < minimum)
      diffs.push({ field, expected: minimum, actual, rule: "at_least" });
  };
  atLeast("memoryBytes", spec.memory?.minBytes, inventory.memoryBytes);
  const cpus = inventory.cpus;
  if (cpus.length > 0) {
    const total = (values: ReadonlyArray<number | undefined>): number | undefined =>
      values.every((value) => value !== undefined)
        ? values.reduce<number>((sum, value) => sum + (value ?? 0), 0)
        : undefined;
    atLeast("cpu.cores", spec.cpu?.minCores, total(cpus.map((cpu) => cpu.cores)));
    atLeast("cpu.threads", spec.cpu?.minThreads, total(cpus.map((cpu) => cpu.threads)));
    const pattern = spec.cpu?.modelPattern;
    if (pattern !== undefined) {
      const expression = new RegExp(pattern, "i");
      const wrong = cpus
        .map((cpu) => cpu.model?.trim())
        .find((model) => model !== undefined && !expression.test(model));
      if (wrong !== undefined)
        diffs.push({ field: "cpu.model", expected: pattern, actual: wrong, rule: "matches" });
    }
  }
  // An empty list means the BMC did not say (IPMI lists no NICs or drives), not that there are none.
  if (inventory.nics.length > 0) atLeast("nics.count", spec.nics?.count, inventory.nics.length);
  if (inventory.drives.length > 0 && spec.disks !== undefined) {
    for (const kind of ["hdd", "ssd", "nvme"] as const) {
      const requirement = spec.disks[kind];
      if (requirement === undefined) continue;
      const fitting = inventory.drives.filter(
        (drive) =>
          drive.mediaType === kind &&
          (requirement.minSizeBytes === undefined || (drive.sizeBytes ?? 0) >= requirement.minSizeBytes),
      );
      atLeast(`disks.${kind}.count`, requirement.count, fitting.length);
    }
  }
  return diffs;
}

/** The machine's recorded identity held against the BMC's view: a swapped board or a re-cabled BMC. */
export function identityDiffs(machine: DriftMachine, inventory: OutOfBandInventory): FieldDiff[] {
  const diffs: FieldDiff[] = [];
  const pairs: Array<[string, string | undefined, string | undefined]> = [
    ["machine.serial", known(machine.serial), known(inventory.serial)],
    ["machine.systemUuid", known(machine.systemUuid), systemUuidOf(inventory.uuid)],
    ["machine.model", known(machine.model), known(inventory.model)],
  ];
  for (const [field, recorded, actual] of pairs) {
    if (recorded !== undefined && actual !== undefined && !same(recorded, actual))
      diffs.push({ field, expected: recorded, actual, rule: "equal" });
  }
  return diffs;
}

/** A component's recorded serial, model and firmware version held against the BMC's view. */
export function componentDiffsOf(component: DriftComponent, inventory: OutOfBandInventory): FieldDiff[] {
  const diffs: FieldDiff[] = [];
  const actualSerial = known(inventory.serial);
  if (actualSerial !== undefined && !same(component.serial, actualSerial)) {
    diffs.push({ field: "serial", expected: component.serial, actual: actualSerial, rule: "equal" });
  }
  const model = known(component.model);
  const actualModel = known(inventory.model);
  if (model !== undefined && actualModel !== undefined && !same(model, actualModel)) {
    diffs.push({ field: "model", expected: model, actual: actualModel, rule: "equal" });
  }
  const firmware = known(component.firmwareVersion);
  if (firmware !== undefined) {
    const versions = [
      ...new Set(
        [
          inventory.bmcFirmwareVersion,
          inventory.biosVersion,
          ...inventory.firmware.map((item) => item.version),
        ]
          .map(known)
          .filter((version) => version !== undefined),
      ),
    ];
    if (versions.length > 0 && !versions.some((version) => same(version, firmware))) {
      diffs.push({ field: "firmwareVersion", expected: firmware, actual: versions, rule: "one_of" });
    }
  }
  return diffs;
}

// ---- API ----

const DiffValue = Type.Union([Type.String(), Type.Number(), Type.Array(Type.String())]);

export const FieldDiffSchema = Type.Object({
  field: Type.String(),
  expected: DiffValue,
  actual: Type.Union([DiffValue, Type.Null()]),
  rule: Type.Enum(DIFF_RULES, {
    description:
      "equal; at_least (a minimum of the spec); matches (a pattern); one_of (the BMC reports several)",
  }),
});

export const DriftSchema = Type.Object({
  key: Type.String({ description: "stable identity of the record from one sync cycle to the next" }),
  kind: Type.Enum(DRIFT_KINDS),
  subject: Type.String(),
  machineId: NullableUuid,
  componentId: NullableUuid,
  expectedMachineId: NullableUuid,
  bmcMacAddress: Type.Union([Type.String(), Type.Null()]),
  diffs: Type.Array(FieldDiffSchema),
  message: Type.String(),
  firstSeenAt: Timestamp,
  detectedAt: Timestamp,
});
export type Drift = Static<typeof DriftSchema>;

export const DriftListQuerySchema = StrictObject({
  ...PageQueryFields,
  kind: Type.Optional(Type.Enum(DRIFT_KINDS)),
  machine: Type.Optional(Uuid),
  component: Type.Optional(Uuid),
});
export type DriftListQuery = Static<typeof DriftListQuerySchema>;

export const DriftSummarySchema = Type.Object({
  lastCycle: Type.Union([
    Type.Object({ replica: Type.String(), startedAt: Timestamp, finishedAt: Timestamp }),
    Type.Null(),
  ]),
  counts: Type.Object({
    missing_in_expected: Type.Integer(),
    missing_in_actual: Type.Integer(),
    mismatch: Type.Integer(),
  }),
});
export type DriftSummary = Static<typeof DriftSummarySchema>;
