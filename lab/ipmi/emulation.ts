/**
 * What one simulated BMC is made of, as files ipmi_sim reads: the LAN configuration (address, user,
 * chassis and LAN hooks), the emulator command file (management controller, SEL, sensors with their
 * SDRs, FRU data) and the hook script through which ipmi_sim asks for and changes power and boot device.
 *
 * The hook keeps the machine's state in plain files under the machine's directory, so the lab (and a
 * test) observes exactly what `chassis power on/off` did: `power` holds 0/1, `boot` the boot device,
 * `events` one line per chassis action. Sensor values are files ipmi_sim polls; the "Power Unit" sensor
 * follows the power state, so power changes produce real SEL entries the way a BMC logs them.
 */
import { encodeFru, type FruData } from "./fru.ts";
import {
  type AnalogSensorRecord,
  compactSensorRecord,
  type DiscreteSensorRecord,
  ENTITY,
  fromRaw,
  fullSensorRecord,
  SENSOR_TYPE,
  toRaw,
} from "./sdr.ts";

export const BMC_ADDRESS = 0x20;

export interface AnalogSensor {
  readonly kind: "analog";
  readonly record: AnalogSensorRecord;
  /** Reading at start, in the sensor's unit. */
  readonly initial: number;
}

export interface DiscreteSensor {
  readonly kind: "discrete";
  readonly record: DiscreteSensorRecord;
  /** Asserted state bits at start. */
  readonly initial: number;
}

export type LabSensor = AnalogSensor | DiscreteSensor;

/** Power Supply sensor offsets (Table 42-3, sensor type 08h). */
export const PSU_STATE = { presence: 1 << 0, failure: 1 << 1, acLost: 1 << 3 } as const;
/** Power Unit offset 0: "Power off/down". */
const POWER_UNIT_OFF = 1 << 0;

export const POWER_UNIT_SENSOR = 10;

export function defaultSensors(powerOn: boolean): LabSensor[] {
  const celsius = { m: 1, b: 0, bExp: 0, rExp: 0 };
  const rpm = { m: 60, b: 0, bExp: 0, rExp: 0 };
  const volts12 = { m: 6, b: 0, bExp: 0, rExp: -2 };
  const volts3 = { m: 2, b: 0, bExp: 0, rExp: -2 };
  const watts = { m: 2, b: 0, bExp: 0, rExp: 0 };
  const analog = (record: AnalogSensorRecord, initial: number): AnalogSensor => ({
    kind: "analog",
    record,
    initial,
  });
  const psu = (number: number, instance: number): DiscreteSensor => ({
    kind: "discrete",
    record: {
      number,
      name: `PSU${instance} Status`,
      sensorType: SENSOR_TYPE.powerSupply,
      entityId: ENTITY.powerSupply,
      entityInstance: instance,
      stateMask: PSU_STATE.presence | PSU_STATE.failure | PSU_STATE.acLost,
    },
    initial: PSU_STATE.presence,
  });
  const temp = (number: number, name: string, entityId: number, limits: [number, number, number]) =>
    ({
      number,
      name,
      sensorType: SENSOR_TYPE.temperature,
      entityId,
      entityInstance: 1,
      unit: "celsius",
      conversion: celsius,
      thresholds: { unc: limits[0], ucr: limits[1], unr: limits[2] },
    }) satisfies AnalogSensorRecord;
  const fan = (number: number, instance: number) =>
    ({
      number,
      name: `FAN${instance}`,
      sensorType: SENSOR_TYPE.fan,
      entityId: ENTITY.fan,
      entityInstance: instance,
      unit: "rpm",
      conversion: rpm,
      thresholds: { lnc: toRaw(1200, rpm), lcr: toRaw(600, rpm), lnr: toRaw(300, rpm) },
    }) satisfies AnalogSensorRecord;
  return [
    analog(temp(1, "Inlet Temp", ENTITY.airInlet, [40, 45, 50]), 23),
    analog(temp(2, "CPU1 Temp", ENTITY.processor, [85, 90, 95]), 45),
    analog(fan(3, 1), 5400),
    analog(fan(4, 2), 5280),
    analog(
      {
        number: 5,
        name: "12V",
        sensorType: SENSOR_TYPE.voltage,
        entityId: ENTITY.systemBoard,
        entityInstance: 1,
        unit: "volts",
        conversion: volts12,
        thresholds: {
          lcr: toRaw(10.8, volts12),
          lnc: toRaw(11.4, volts12),
          unc: toRaw(12.6, volts12),
          ucr: toRaw(13.2, volts12),
        },
      },
      12,
    ),
    analog(
      {
        number: 6,
        name: "3.3V",
        sensorType: SENSOR_TYPE.voltage,
        entityId: ENTITY.systemBoard,
        entityInstance: 1,
        unit: "volts",
        conversion: volts3,
        thresholds: {
          lcr: toRaw(2.96, volts3),
          lnc: toRaw(3.14, volts3),
          unc: toRaw(3.46, volts3),
          ucr: toRaw(3.64, volts3),
        },
      },
      3.3,
    ),
    analog(
      {
        number: 7,
        name: "Pwr Consumption",
        sensorType: SENSOR_TYPE.current,
        entityId: ENTITY.systemBoard,
        entityInstance: 1,
        unit: "watts",
        conversion: watts,
        thresholds: { unc: toRaw(400, watts), ucr: toRaw(460, watts) },
      },
      220,
    ),
    psu(8, 1),
    psu(9, 2),
    {
      kind: "discrete",
      record: {
        number: POWER_UNIT_SENSOR,
        name: "Power Unit",
        sensorType: SENSOR_TYPE.powerUnit,
        entityId: ENTITY.powerUnit,
        entityInstance: 1,
        stateMask: POWER_UNIT_OFF,
      },
      initial: powerOn ? 0 : POWER_UNIT_OFF,
    },
  ];
}

export function fruFile(dir: string): string {
  return `${dir}/fru.bin`;
}

export function sensorFile(dir: string, number: number): string {
  return `${dir}/sensor-${number}.val`;
}

/** The raw value ipmi_sim reads from a sensor's poll file. */
export function sensorFileValue(sensor: LabSensor, value: number): string {
  return `${sensor.kind === "analog" ? toRaw(value, sensor.record.conversion) : value}\n`;
}

/** The reading ipmitool will show for a value, after the 8-bit round trip. */
export function representable(sensor: AnalogSensor, value: number): number {
  return fromRaw(toRaw(value, sensor.record.conversion), sensor.record.conversion);
}

export interface MachineEmulation {
  readonly name: string;
  readonly dir: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  /** 32 hex digits, the GUID the BMC reports. */
  readonly guidHex: string;
  readonly bmcMac: string;
  /** "major.minor", minor as two decimal digits (BCD on the wire). */
  readonly firmware: string;
  readonly manufacturerId: number;
  readonly productId: number;
  readonly fru: FruData;
  readonly sensors: readonly LabSensor[];
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, "0")}`;
}

function quoted(text: string): string {
  if (/["\\\n]/.test(text)) throw new RangeError(`"${text}" cannot be quoted for ipmi_sim`);
  return `"${text}"`;
}

export function lanConf(m: MachineEmulation, hookPath: string): string {
  return [
    `name ${quoted(m.name)}`,
    `set_working_mc ${hex(BMC_ADDRESS)}`,
    "  startlan 1",
    `    addr 127.0.0.1 ${m.port}`,
    "    priv_limit admin",
    "    allowed_auths_callback md5",
    "    allowed_auths_user md5",
    "    allowed_auths_operator md5",
    "    allowed_auths_admin md5",
    `    guid ${m.guidHex}`,
    `    lan_config_program ${quoted(`${hookPath} lan`)}`,
    "  endlan",
    `  chassis_control ${quoted(`${hookPath} chassis`)}`,
    `  user 2 true ${quoted(m.username)} ${quoted(m.password)} admin 10 md5`,
    "",
  ].join("\n");
}

export function emulatorCommands(m: MachineEmulation): string {
  const [major = "1", minor = "0"] = m.firmware.split(".");
  const minorBcd = Number.parseInt(minor.padEnd(2, "0").slice(0, 2), 16);
  const lines = [
    `mc_setbmc ${hex(BMC_ADDRESS)}`,
    // device id, no device SDRs, revision, firmware, support: sensor, SDR, SEL, FRU, event receiver, chassis
    `mc_add ${hex(BMC_ADDRESS)} 0x20 no-device-sdrs 0x01 ${hex(Number(major))} ${hex(minorBcd)} 0x9f ${hex(m.manufacturerId)} ${hex(m.productId)}`,
    `sel_enable ${hex(BMC_ADDRESS)} 1000 0x0a`,
  ];
  // ipmi_sim reads commands into a fixed-size line buffer, so the FRU image goes in as a file.
  lines.push(
    `mc_add_fru_data ${hex(BMC_ADDRESS)} 0 ${encodeFru(m.fru).length} file 0 ${quoted(fruFile(m.dir))}`,
  );
  // SDRs go in before the sensors: ipmi_sim initialises a sensor's thresholds and events from its SDR.
  m.sensors.forEach((s, i) => {
    const bytes =
      s.kind === "analog"
        ? fullSensorRecord(i + 1, BMC_ADDRESS, s.record)
        : compactSensorRecord(i + 1, BMC_ADDRESS, s.record);
    lines.push(`main_sdr_add ${hex(BMC_ADDRESS)} ${bytes.map(hex).join(" ")}`);
  });
  // The watchdog sensor must be sensor 0 (as in OpenIPMI's example configuration).
  lines.push(`sensor_add ${hex(BMC_ADDRESS)} 0 0 ${hex(SENSOR_TYPE.watchdog2)} 0x6f event-only`);
  for (const s of m.sensors) {
    const r = s.record;
    const file = quoted(sensorFile(m.dir, r.number));
    if (s.kind === "analog") {
      lines.push(
        `sensor_add ${hex(BMC_ADDRESS)} 0 ${r.number} ${hex(r.sensorType)} 0x01 poll 500 file ${file}`,
      );
      lines.push(
        `sensor_set_value ${hex(BMC_ADDRESS)} 0 ${r.number} ${hex(toRaw(s.initial, s.record.conversion))} 0`,
      );
    } else {
      lines.push(
        `sensor_add ${hex(BMC_ADDRESS)} 0 ${r.number} ${hex(r.sensorType)} 0x6f poll 250 file ${file}`,
      );
      // Start with the initial states already asserted, so ipmi_sim's first poll logs no event for them.
      for (let bit = 0; bit < 15; bit++) {
        if (s.initial & (1 << bit)) lines.push(`sensor_set_bit ${hex(BMC_ADDRESS)} 0 ${r.number} ${bit} 1 0`);
      }
    }
  }
  lines.push(`mc_enable ${hex(BMC_ADDRESS)}`, "");
  return lines.join("\n");
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'"'"'`)}'`;
}

/**
 * The hook ipmi_sim runs (through popen) as `<hook> chassis get|set <name> "<value>"...` and
 * `<hook> lan get <name>...`; it answers `name:value` lines. Power and the Power Unit sensor file change
 * together, and every action is appended to `events` for the lab to observe.
 */
export function hookScript(m: MachineEmulation): string {
  const dir = shellQuote(m.dir);
  const powerUnit = shellQuote(sensorFile(m.dir, POWER_UNIT_SENSOR));
  return `#!/bin/sh
# Chassis and LAN hook for the simulated BMC ${m.name}; generated by lab/ipmi, rewritten at each start.
dir=${dir}
log() { printf '%s %s\\n' "$(date +%s%3N)" "$*" >> "$dir/events"; }
put() { printf '%s\\n' "$2" > "$dir/$1.tmp" && mv "$dir/$1.tmp" "$dir/$1"; }
set_power() {
  put power "$1"
  if [ "$1" = 1 ]; then printf '0\\n' > ${powerUnit}.tmp; else printf '${POWER_UNIT_OFF}\\n' > ${powerUnit}.tmp; fi
  mv ${powerUnit}.tmp ${powerUnit}
  log power "$1"
}
area="$1"; op="$2"; shift 2
case "$area:$op" in
chassis:get)
  for name in "$@"; do
    case "$name" in
      power) printf 'power:%s\\n' "$(cat "$dir/power")" ;;
      boot) printf 'boot:%s\\n' "$(cat "$dir/boot")" ;;
      *) exit 1 ;;
    esac
  done ;;
chassis:set)
  while [ "$#" -ge 2 ]; do
    name="$1"; value="$2"; shift 2
    case "$name" in
      power) set_power "$value" ;;
      boot) put boot "$value"; log boot "$value" ;;
      reset) log reset ;;
      shutdown)
        if [ "$(cat "$dir/acpi")" = honour ]; then log shutdown; set_power 0; else log shutdown-ignored; fi ;;
      identify) log identify "$value" ;;
      *) exit 1 ;;
    esac
  done ;;
lan:get)
  for name in "$@"; do
    case "$name" in
      ip_addr_src) echo "ip_addr_src:static" ;;
      ip_addr) echo "ip_addr:127.0.0.1" ;;
      subnet_mask) echo "subnet_mask:255.0.0.0" ;;
      mac_addr) echo "mac_addr:${m.bmcMac}" ;;
      default_gw_ip_addr|backup_gw_ip_addr) echo "$name:0.0.0.0" ;;
      default_gw_mac_addr|backup_gw_mac_addr) echo "$name:00:00:00:00:00:00" ;;
      *) exit 1 ;;
    esac
  done ;;
*) exit 1 ;;
esac
`;
}
