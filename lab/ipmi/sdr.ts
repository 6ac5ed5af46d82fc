/**
 * Sensor Data Records (IPMI v2.0 section 43) for the simulated BMC. ipmi_sim keeps whatever bytes it is
 * given with `main_sdr_add`, and `ipmitool sdr elist` renders names, units and readings from them, so the
 * records are encoded here byte for byte: a Full Sensor Record for analog sensors, a Compact Sensor Record
 * for discrete ones.
 */

/** IPMI base unit codes (Table 43-15) for the units the lab uses. */
export const SENSOR_UNIT = {
  none: 0,
  celsius: 1,
  volts: 4,
  amps: 5,
  watts: 6,
  rpm: 18,
} as const;
export type SensorUnit = keyof typeof SENSOR_UNIT;

/** Sensor type codes (Table 42-3). */
export const SENSOR_TYPE = {
  temperature: 0x01,
  voltage: 0x02,
  current: 0x03,
  fan: 0x04,
  powerSupply: 0x08,
  powerUnit: 0x09,
  watchdog2: 0x23,
} as const;

/** Entity ids (Table 43-13). */
export const ENTITY = {
  processor: 0x03,
  systemBoard: 0x07,
  powerSupply: 0x0a,
  powerUnit: 0x13,
  fan: 0x1d,
  airInlet: 0x37,
} as const;

/** Raw threshold values; absent thresholds are neither readable nor checked. */
export interface RawThresholds {
  readonly lnc?: number;
  readonly lcr?: number;
  readonly lnr?: number;
  readonly unc?: number;
  readonly ucr?: number;
  readonly unr?: number;
}

/** y = (m * raw + b * 10^bExp) * 10^rExp, the linear conversion of section 36.3. */
export interface Conversion {
  readonly m: number;
  readonly b: number;
  readonly bExp: number;
  readonly rExp: number;
}

export interface AnalogSensorRecord {
  readonly number: number;
  readonly name: string;
  readonly sensorType: number;
  readonly entityId: number;
  readonly entityInstance: number;
  readonly unit: SensorUnit;
  readonly conversion: Conversion;
  readonly thresholds: RawThresholds;
}

export interface DiscreteSensorRecord {
  readonly number: number;
  readonly name: string;
  readonly sensorType: number;
  readonly entityId: number;
  readonly entityInstance: number;
  /** Offsets (bits 0-14) the sensor reports and raises events for. */
  readonly stateMask: number;
}

const SDR_VERSION = 0x51;
const MAX_NAME = 16;
/** init scanning, init events, init thresholds, init hysteresis, init type, events on, scanning on */
const SENSOR_INIT_ALL = 0x7f;
const THRESHOLD_ORDER = ["lnc", "lcr", "lnr", "unc", "ucr", "unr"] as const;

export function toRaw(value: number, c: Conversion): number {
  const raw = Math.round((value / 10 ** c.rExp - c.b * 10 ** c.bExp) / c.m);
  if (raw < 0 || raw > 255) throw new RangeError(`value ${value} does not fit the sensor's 8-bit range`);
  return raw;
}

export function fromRaw(raw: number, c: Conversion): number {
  return (c.m * raw + c.b * 10 ** c.bExp) * 10 ** c.rExp;
}

function idString(name: string): number[] {
  if (name.length === 0 || name.length > MAX_NAME || !/^[\x20-\x7e]+$/.test(name)) {
    throw new RangeError(`sensor name "${name}" must be 1-${MAX_NAME} printable ASCII characters`);
  }
  return [0xc0 | name.length, ...Buffer.from(name, "latin1")];
}

function nibble(value: number): number {
  if (value < -8 || value > 7) throw new RangeError(`exponent ${value} out of range`);
  return value & 0x0f;
}

function withHeader(recordId: number, type: number, body: number[]): number[] {
  return [recordId & 0xff, recordId >> 8, SDR_VERSION, type, body.length, ...body];
}

/** Full Sensor Record (type 01h) for a threshold-based analog sensor, owned by the BMC at `owner`. */
export function fullSensorRecord(recordId: number, owner: number, s: AnalogSensorRecord): number[] {
  let readable = 0;
  THRESHOLD_ORDER.forEach((key, bit) => {
    if (s.thresholds[key] !== undefined) readable |= 1 << bit;
  });
  // Event bits per threshold: "going low" for lower thresholds, "going high" for upper ones (Table 42-2).
  const eventBits = [0, 2, 4, 7, 9, 11];
  let events = 0;
  THRESHOLD_ORDER.forEach((key, bit) => {
    if (s.thresholds[key] !== undefined) events |= 1 << (eventBits[bit] ?? 0);
  });
  const assertion = events | ((readable & 0x07) << 12);
  const deassertion = events | (((readable >> 3) & 0x07) << 12);
  const { m, b, bExp, rExp } = s.conversion;
  const t = s.thresholds;
  const body = [
    owner,
    0x00,
    s.number,
    s.entityId,
    s.entityInstance,
    SENSOR_INIT_ALL,
    // auto re-arm, hysteresis readable, thresholds readable and settable, per-threshold event control
    0x40 | 0x10 | 0x08,
    s.sensorType,
    0x01,
    assertion & 0xff,
    assertion >> 8,
    deassertion & 0xff,
    deassertion >> 8,
    readable,
    readable,
    0x00,
    SENSOR_UNIT[s.unit],
    0x00,
    0x00,
    m & 0xff,
    (m >> 2) & 0xc0,
    b & 0xff,
    (b >> 2) & 0xc0,
    0x00,
    (nibble(rExp) << 4) | nibble(bExp),
    0x00,
    0x00,
    0x00,
    0x00,
    0xff,
    0x00,
    t.unr ?? 0,
    t.ucr ?? 0,
    t.unc ?? 0,
    t.lnr ?? 0,
    t.lcr ?? 0,
    t.lnc ?? 0,
    0x01,
    0x01,
    0x00,
    0x00,
    0x00,
    ...idString(s.name),
  ];
  return withHeader(recordId, 0x01, body);
}

/** Compact Sensor Record (type 02h) for a sensor-specific discrete sensor. */
export function compactSensorRecord(recordId: number, owner: number, s: DiscreteSensorRecord): number[] {
  const mask = s.stateMask & 0x7fff;
  const body = [
    owner,
    0x00,
    s.number,
    s.entityId,
    s.entityInstance,
    SENSOR_INIT_ALL,
    0x40,
    s.sensorType,
    0x6f,
    mask & 0xff,
    mask >> 8,
    mask & 0xff,
    mask >> 8,
    mask & 0xff,
    mask >> 8,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    ...idString(s.name),
  ];
  return withHeader(recordId, 0x02, body);
}
