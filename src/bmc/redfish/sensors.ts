/**
 * Sensor documents in both Redfish models: the Sensor resources of a chassis `Sensors` collection (with
 * PowerSubsystem for supplies), and the legacy `Power` / `Thermal` arrays most shipping BMCs still use.
 */
import type { PowerSupplyStatus, SensorKind, SensorReading } from "../driver.ts";
import {
  arrayOf,
  compact,
  documentOf,
  isAbsent,
  isDocument,
  mapHealth,
  numberOf,
  type RedfishDocument,
  statusOf,
  stringOf,
} from "./json.ts";

const UNITS: Readonly<Record<string, string>> = {
  Cel: "°C",
  "{rev}/min": "RPM",
  RPM: "RPM",
  Percent: "%",
  "%": "%",
  W: "W",
  V: "V",
  A: "A",
};

function unitOf(units: string | undefined, fallback: string): string {
  if (units === undefined) return fallback;
  return UNITS[units] ?? units;
}

function readingOf(doc: RedfishDocument, key: string): number | null {
  return numberOf(doc, key) ?? null;
}

function nameOf(doc: RedfishDocument, fallback: string): string {
  return stringOf(doc, "Name") ?? stringOf(doc, "FanName") ?? stringOf(doc, "MemberId") ?? fallback;
}

/** One Sensor resource (Redfish Sensor schema). Absent sensors are not readings. */
export function parseSensor(doc: RedfishDocument): SensorReading | undefined {
  if (isAbsent(doc)) return undefined;
  const type = stringOf(doc, "ReadingType");
  const units = stringOf(doc, "ReadingUnits");
  const context = stringOf(doc, "PhysicalContext");
  let kind: SensorKind;
  let fallbackUnit: string;
  switch (type) {
    case "Temperature":
      kind = "temperature";
      fallbackUnit = "°C";
      break;
    case "Rotational":
      kind = "fan";
      fallbackUnit = "RPM";
      break;
    case "Power":
      kind = "power";
      fallbackUnit = "W";
      break;
    case "Voltage":
      kind = "voltage";
      fallbackUnit = "V";
      break;
    case "Current":
      kind = "current";
      fallbackUnit = "A";
      break;
    default:
      kind = type === "Percent" && context === "Fan" ? "fan" : "other";
      fallbackUnit = type === "Percent" ? "%" : "";
  }
  return {
    name: nameOf(doc, stringOf(doc, "Id") ?? "sensor"),
    kind,
    value: readingOf(doc, "Reading"),
    unit: unitOf(units, fallbackUnit),
    health: mapHealth(statusOf(doc).health),
  };
}

export function parseLegacyThermal(doc: RedfishDocument): SensorReading[] {
  const readings: SensorReading[] = [];
  for (const item of arrayOf(doc, "Temperatures")) {
    if (!isDocument(item) || isAbsent(item)) continue;
    readings.push({
      name: nameOf(item, "temperature"),
      kind: "temperature",
      value: readingOf(item, "ReadingCelsius"),
      unit: "°C",
      health: mapHealth(statusOf(item).health),
    });
  }
  for (const item of arrayOf(doc, "Fans")) {
    if (!isDocument(item) || isAbsent(item)) continue;
    readings.push({
      name: nameOf(item, "fan"),
      kind: "fan",
      value: readingOf(item, "Reading"),
      unit: unitOf(stringOf(item, "ReadingUnits"), "RPM"),
      health: mapHealth(statusOf(item).health),
    });
  }
  return readings;
}

export function parseLegacyPower(doc: RedfishDocument): {
  sensors: SensorReading[];
  powerSupplies: PowerSupplyStatus[];
} {
  const sensors: SensorReading[] = [];
  for (const [index, item] of arrayOf(doc, "PowerControl").entries()) {
    if (!isDocument(item)) continue;
    const consumed = numberOf(item, "PowerConsumedWatts");
    if (consumed === undefined) continue;
    sensors.push({
      name: stringOf(item, "Name") ?? `Power consumed ${stringOf(item, "MemberId") ?? index}`,
      kind: "power",
      value: consumed,
      unit: "W",
      health: mapHealth(statusOf(item).health),
    });
  }
  for (const item of arrayOf(doc, "Voltages")) {
    if (!isDocument(item) || isAbsent(item)) continue;
    sensors.push({
      name: nameOf(item, "voltage"),
      kind: "voltage",
      value: readingOf(item, "ReadingVolts"),
      unit: "V",
      health: mapHealth(statusOf(item).health),
    });
  }
  const powerSupplies: PowerSupplyStatus[] = [];
  for (const [index, item] of arrayOf(doc, "PowerSupplies").entries()) {
    if (!isDocument(item) || isAbsent(item)) continue;
    powerSupplies.push(
      compact({
        name: nameOf(item, `Power supply ${index}`),
        health: mapHealth(statusOf(item).health),
        inputWatts: numberOf(item, "PowerInputWatts"),
        outputWatts: numberOf(item, "PowerOutputWatts") ?? numberOf(item, "LastPowerOutputWatts"),
        capacityWatts: numberOf(item, "PowerCapacityWatts"),
      }),
    );
  }
  return {
    sensors,
    powerSupplies: uniqueNames(powerSupplies, (supply, index) => `${supply.name} ${index + 1}`),
  };
}

/** A PowerSupply resource of a PowerSubsystem, with its PowerSupplyMetrics when the BMC links one. */
export function parsePowerSupply(
  doc: RedfishDocument,
  metrics: RedfishDocument | undefined,
): PowerSupplyStatus {
  const reading = (key: string): number | undefined => numberOf(documentOf(metrics, key), "Reading");
  return compact({
    name: nameOf(doc, stringOf(doc, "Id") ?? "power supply"),
    health: mapHealth(statusOf(doc).health),
    inputWatts: reading("InputPowerWatts"),
    outputWatts: reading("OutputPowerWatts"),
    capacityWatts: numberOf(doc, "PowerCapacityWatts"),
  });
}

/** BMCs name every supply alike ("HpeServerPowerSupply"); operators need to tell them apart. */
export function uniqueNames<T extends { readonly name: string }>(
  items: readonly T[],
  rename: (item: T, index: number) => string,
): T[] {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item.name, (counts.get(item.name) ?? 0) + 1);
  return items.map((item, index) =>
    (counts.get(item.name) ?? 0) > 1 ? { ...item, name: rename(item, index) } : item,
  );
}
