/** Parsers for `ipmitool chassis status`, `chassis power …` and `chassis bootparam get 5`. */
import type { BootOverrideState, PowerState } from "../driver.ts";
import { IpmitoolParseError, keyValues } from "./parse-common.ts";

export interface ChassisStatus {
  readonly powerState: PowerState;
  readonly powerOverload: boolean;
  readonly mainPowerFault: boolean;
  readonly powerControlFault: boolean;
  readonly driveFault: boolean;
  readonly coolingFault: boolean;
  readonly lastPowerEvent?: string;
}

function flag(values: Map<string, string>, key: string): boolean {
  return (values.get(key) ?? "").toLowerCase() === "true";
}

/** `chassis status`: "System Power : on" plus the fault flags. */
export function parseChassisStatus(text: string): ChassisStatus {
  const values = keyValues(text);
  const power = values.get("System Power")?.toLowerCase();
  if (power !== "on" && power !== "off") {
    throw new IpmitoolParseError(`chassis status has no "System Power : on|off" line`);
  }
  const lastPowerEvent = values.get("Last Power Event");
  return {
    powerState: power,
    powerOverload: flag(values, "Power Overload"),
    mainPowerFault: flag(values, "Main Power Fault"),
    powerControlFault: flag(values, "Power Control Fault"),
    driveFault: flag(values, "Drive Fault"),
    coolingFault: flag(values, "Cooling/Fan Fault"),
    ...(lastPowerEvent ? { lastPowerEvent } : {}),
  };
}

/** `chassis power on|off|cycle|reset|soft` prints "Chassis Power Control: Up/On" when the BMC accepted it. */
export function parsePowerControl(text: string): string {
  const match = /^Chassis Power Control:\s*(.+?)\s*$/m.exec(text);
  if (match?.[1] === undefined) throw new IpmitoolParseError('no "Chassis Power Control:" confirmation');
  return match[1];
}

/** `chassis bootdev <device>` prints "Set Boot Device to <device>" when the BMC accepted it. */
export function parseBootdevConfirmation(text: string): string {
  const match = /^Set Boot Device to\s+(\S+)/m.exec(text);
  if (match?.[1] === undefined) throw new IpmitoolParseError('no "Set Boot Device to" confirmation');
  return match[1];
}

const SELECTORS: ReadonlyArray<[RegExp, BootOverrideState["device"]]> = [
  [/no override/i, "none"],
  [/pxe/i, "pxe"],
  [/hard-?drive|hard disk/i, "disk"],
  [/cd\/dvd|cdrom/i, "cd"],
  [/bios setup/i, "bios"],
];

/**
 * `chassis bootparam get 5` (boot flags). Device from "Boot Device Selector", persistence from "Options
 * apply to all future boots", mode from "BIOS EFI boot" / "BIOS PC Compatible (legacy) boot".
 *
 * The "Boot Flag Invalid" line is not taken to mean "no override": many BMCs (and ipmi_sim) leave the
 * valid bit clear while honouring the selector, which is also how Ironic reads this parameter.
 */
export function parseBootParam5(text: string): BootOverrideState {
  const selector = /Boot Device Selector\s*:\s*(.+?)\s*$/m.exec(text)?.[1];
  if (selector === undefined) throw new IpmitoolParseError('boot parameter 5 has no "Boot Device Selector"');
  const device = SELECTORS.find(([pattern]) => pattern.test(selector))?.[1] ?? "other";
  const mode = /BIOS EFI boot|EFI boot/i.test(text)
    ? "uefi"
    : /PC Compatible \(legacy\)/i.test(text)
      ? "legacy"
      : "unknown";
  if (device === "none") return { device, persistence: "disabled", mode };
  const persistence = /Options apply to all future boots/i.test(text) ? "continuous" : "once";
  return { device, persistence, mode };
}
