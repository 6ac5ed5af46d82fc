/**
 * Parsers for `ipmitool sdr elist` and `ipmitool sensor list`, and the mapping of their rows onto the
 * driver's SensorReport. Vendors differ in names (Dell "Temp" twice, HPE "Fan Block 1" in percent,
 * Supermicro "FAN1"), so the kind comes from the unit and the IPMI entity, never from the name alone.
 */
import type { Health, PowerSupplyStatus, SensorKind, SensorReading, SensorReport } from "../driver.ts";
import { columns, IpmitoolParseError } from "./parse-common.ts";

export interface SdrRow {
  readonly name: string;
  /** Status column: ok, ns, nc/cr/nr, or the extended lnc/unc/lcr/ucr/lnr/unr. */
  readonly status: string;
  readonly entityId?: number;
  readonly entityInstance?: number;
  /** Reading column as printed: "23 degrees C", "No Reading", "0 Watts, Presence detected". */
  readonly reading: string;
}

/** IPMI entity ids (IPMI v2.0 Table 43-13) the mapping cares about. */
const ENTITY_POWER_SUPPLY = 10;
const ENTITY_FAN_DEVICE = 29;
const ENTITY_COOLING_UNIT = 30;

/** `sdr elist [all|full|compact]`: `name | NNh | status | entity.instance | reading`. */
export function parseSdrElist(text: string): SdrRow[] {
  const rows: SdrRow[] = [];
  for (const line of text.split(/\r?\n/)) {
    const cols = columns(line);
    // Lines that are not sensor rows (warnings some BMCs provoke) are skipped, not fatal.
    if (cols.length < 5 || !/^[0-9A-F]{2}h$/i.test(cols[1] ?? "")) continue;
    const entity = /^(\d+)\.(\d+)$/.exec(cols[3] ?? "");
    rows.push({
      name: cols[0] ?? "",
      status: (cols[2] ?? "").toLowerCase(),
      ...(entity ? { entityId: Number(entity[1]), entityInstance: Number(entity[2]) } : {}),
      reading: cols.slice(4).join(" | "),
    });
  }
  if (rows.length === 0 && text.trim() !== "")
    throw new IpmitoolParseError("sdr elist printed no sensor rows");
  return rows;
}

/**
 * `sensor list`: `name | value | unit | status | lnr | lcr | lnc | unc | ucr | unr`. It has no entity
 * column; discrete sensors show a hex state in value and status.
 */
export function parseSensorList(text: string): SdrRow[] {
  const rows: SdrRow[] = [];
  for (const line of text.split(/\r?\n/)) {
    const cols = columns(line);
    if (cols.length < 4) continue;
    const [name = "", value = "", unit = "", status = ""] = cols;
    const numeric = /^-?\d+(\.\d+)?$/.test(value);
    const discrete = unit === "discrete" || /^0x/i.test(value);
    rows.push({
      name,
      status: discrete ? "discrete" : status.toLowerCase() === "na" ? "ns" : status.toLowerCase(),
      reading: numeric && !discrete ? `${Number(value)} ${unit}` : value === "na" ? "No Reading" : "",
    });
  }
  if (rows.length === 0 && text.trim() !== "")
    throw new IpmitoolParseError("sensor list printed no sensor rows");
  return rows;
}

interface Unit {
  readonly kind: SensorKind;
  readonly unit: string;
  readonly convert?: (value: number) => number;
}

const UNITS: Readonly<Record<string, Unit>> = {
  "degrees c": { kind: "temperature", unit: "°C" },
  "degrees f": {
    kind: "temperature",
    unit: "°C",
    convert: (f) => Math.round((((f - 32) * 5) / 9) * 100) / 100,
  },
  rpm: { kind: "fan", unit: "RPM" },
  volts: { kind: "voltage", unit: "V" },
  amps: { kind: "current", unit: "A" },
  watts: { kind: "power", unit: "W" },
  percent: { kind: "other", unit: "%" },
};

const STATUS_HEALTH: Readonly<Record<string, Health>> = {
  ok: "ok",
  nc: "warning",
  lnc: "warning",
  unc: "warning",
  cr: "critical",
  lcr: "critical",
  ucr: "critical",
  nr: "critical",
  lnr: "critical",
  unr: "critical",
};

/** Discrete states whose wording says more than the status column (which stays "ok" for them). */
const STATE_RULES: ReadonlyArray<[RegExp, Health]> = [
  [
    /failure detected|ac lost|input lost|uncorrectable|fatal|non-recoverable|\bfault\b|\bfailed\b/i,
    "critical",
  ],
  [
    /predictive failure|correctable ecc|non-redundant|redundancy lost|redundancy degraded|degraded|limit reached/i,
    "warning",
  ],
];

interface Reading {
  readonly value: number | null;
  readonly unit?: Unit;
  readonly rawUnit: string;
  readonly states: string;
}

function interpret(reading: string): Reading {
  const match = /^(-?\d+(?:\.\d+)?)\s+([^,]+?)\s*(?:,\s*(.*))?$/.exec(reading);
  if (match === null) return { value: null, rawUnit: "", states: reading };
  const rawUnit = (match[2] ?? "").trim();
  const unit = UNITS[rawUnit.toLowerCase()];
  const number = Number(match[1]);
  const value = unit?.convert ? unit.convert(number) : number;
  return { value, ...(unit ? { unit } : {}), rawUnit, states: match[3] ?? "" };
}

function stateHealth(states: string): Health | undefined {
  return STATE_RULES.find(([pattern]) => pattern.test(states))?.[1];
}

function health(row: SdrRow, reading: Reading): Health {
  if (row.status === "ns" || /no reading|disabled|not readable/i.test(reading.states)) return "unknown";
  const fromStatus = STATUS_HEALTH[row.status] ?? "unknown";
  if (fromStatus !== "ok") return fromStatus;
  return stateHealth(reading.states) ?? "ok";
}

function isFanEntity(row: SdrRow): boolean {
  return row.entityId === ENTITY_FAN_DEVICE || row.entityId === ENTITY_COOLING_UNIT;
}

function isPowerSupply(row: SdrRow, reading: Reading): boolean {
  if (/redundan|supplies/i.test(row.name)) return false;
  const discrete = reading.states !== "" || reading.value === null;
  if (row.entityId === ENTITY_POWER_SUPPLY) return discrete && reading.unit?.kind !== "voltage";
  return discrete && /^(ps|psu|power supply)\s*\d*\b/i.test(row.name);
}

function powerSupplyName(row: SdrRow): string {
  if (/\bps\d*|psu|power supply/i.test(row.name)) return row.name;
  return `Power Supply ${row.entityInstance ?? ""}`.trim();
}

function sensorKind(row: SdrRow, reading: Reading): SensorKind {
  const fan = isFanEntity(row) || /\bfan/i.test(row.name);
  if (reading.unit === undefined) {
    // No reading to take the unit from (absent DIMM, stopped fan): the name is all there is.
    if (fan) return "fan";
    return /temp/i.test(row.name) && row.status === "ns" ? "temperature" : "other";
  }
  if (reading.unit.unit === "%") return fan ? "fan" : "other";
  return reading.unit.kind;
}

/** Rows → SensorReport: PSU state sensors become power supplies, everything else a sensor reading. */
export function toSensorReport(rows: readonly SdrRow[]): SensorReport {
  const sensors: SensorReading[] = [];
  const powerSupplies: PowerSupplyStatus[] = [];
  const counts = new Map<string, number>();
  for (const row of rows) counts.set(row.name, (counts.get(row.name) ?? 0) + 1);
  for (const row of rows) {
    const reading = interpret(row.reading);
    if (row.status === "discrete") {
      // `sensor list` prints discrete states as a bit mask with no meaning attached.
      const psu = /^(ps|psu|power supply)\s*\d*\b/i.test(row.name);
      if (psu) powerSupplies.push({ name: row.name, health: "unknown" });
      else
        sensors.push({
          name: row.name,
          kind: sensorKind(row, reading),
          value: null,
          unit: "",
          health: "unknown",
        });
      continue;
    }
    if (isPowerSupply(row, reading)) {
      const watts = reading.unit?.kind === "power" && reading.value !== null ? reading.value : undefined;
      powerSupplies.push({
        name: powerSupplyName(row),
        health: health(row, reading),
        ...(watts !== undefined ? { outputWatts: watts } : {}),
      });
      continue;
    }
    const duplicate = (counts.get(row.name) ?? 0) > 1 && row.entityId !== undefined;
    sensors.push({
      name: duplicate ? `${row.name} (${row.entityId}.${row.entityInstance})` : row.name,
      kind: sensorKind(row, reading),
      value: reading.value,
      unit: reading.unit?.unit ?? reading.rawUnit,
      health: health(row, reading),
    });
  }
  return { sensors, powerSupplies };
}
