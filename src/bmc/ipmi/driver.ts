/**
 * The IPMI implementation of BmcDriver, over `ipmitool -I lanplus` (see ipmitool.ts for how each
 * command is run). Every method is one or a few ipmitool commands whose output goes through the pure
 * parsers next to this file; all of them share the call's deadline (BmcEndpoint.timeoutMs, 15 s).
 */
import type { Logger } from "../../observability/logger.ts";
import {
  type BmcDriver,
  type BmcEndpoint,
  BmcError,
  type BmcLogEntry,
  type BootDevice,
  type BootOverride,
  type BootOverrideState,
  type FirmwareUpdateStatus,
  type OutOfBandInventory,
  type PowerAction,
  type PowerState,
  type SensorReading,
  type SensorReport,
} from "../driver.ts";
import {
  classifyFailure,
  DEFAULT_IPMITOOL_SETTINGS,
  Ipmitool,
  type IpmitoolOutput,
  type IpmitoolSettings,
  sleep,
} from "./ipmitool.ts";
import {
  type ChassisStatus,
  parseBootdevConfirmation,
  parseBootParam5,
  parseChassisStatus,
  parsePowerControl,
} from "./parse-chassis.ts";
import { IpmitoolParseError } from "./parse-common.ts";
import { parseFruPrint, parseLanPrint, parseMcGuid, parseMcInfo, systemFru } from "./parse-inventory.ts";
import { parseSelList } from "./parse-sel.ts";
import { parseSdrElist, parseSensorList, toSensorReport } from "./parse-sensors.ts";

export interface IpmiDriverOptions extends Partial<IpmitoolSettings> {
  readonly logger?: Logger;
  /** Deadline of a graceful-restart (soft off, wait for the OS to stop, power on); default 5 minutes. */
  readonly gracefulRestartTimeoutMs?: number;
  /** How often a graceful-restart looks at the power state while the OS shuts down; default 2 s. */
  readonly powerPollIntervalMs?: number;
}

const DEFAULT_TIMEOUT_MS = 15_000;

/** ipmitool `chassis bootdev` names; IPMI has no HTTP boot. */
const BOOTDEV: Readonly<Record<Exclude<BootDevice, "http">, string>> = {
  pxe: "pxe",
  disk: "disk",
  cd: "cdrom",
  bios: "bios",
};

interface Call {
  readonly signal: AbortSignal;
  readonly deadline: number;
}

class IpmiDriver implements BmcDriver {
  readonly protocol = "ipmi" as const;
  readonly #ipmitool: Ipmitool;
  readonly #timeoutMs: number;
  readonly #gracefulRestartTimeoutMs: number;
  readonly #pollIntervalMs: number;

  constructor(endpoint: BmcEndpoint, options: IpmiDriverOptions) {
    const { logger, gracefulRestartTimeoutMs, powerPollIntervalMs, ...settings } = options;
    this.#ipmitool = new Ipmitool(
      endpoint,
      { ...DEFAULT_IPMITOOL_SETTINGS, ...settings },
      logger?.child({ bmc: `${endpoint.address}:${endpoint.port ?? 623}`, protocol: "ipmi" }),
    );
    this.#timeoutMs = endpoint.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#gracefulRestartTimeoutMs = gracefulRestartTimeoutMs ?? 300_000;
    this.#pollIntervalMs = powerPollIntervalMs ?? 2_000;
  }

  async getPowerState(signal: AbortSignal): Promise<PowerState> {
    return (await this.#chassisStatus(this.#call(signal))).powerState;
  }

  async setPower(action: PowerAction, signal: AbortSignal): Promise<void> {
    if (action === "graceful-restart") {
      await this.#gracefulRestart({ signal, deadline: Date.now() + this.#gracefulRestartTimeoutMs });
      return;
    }
    const call = this.#call(signal);
    switch (action) {
      case "on":
        return this.#powerControl("on", true, call);
      case "off":
      case "force-off":
        return this.#powerControl("off", true, call);
      case "graceful-shutdown":
        return this.#powerControl("soft", true, call);
      case "cycle":
      case "restart":
      case "force-restart": {
        // A BMC refuses cycle and reset for a machine that is off; what is asked for is a running machine.
        const state = (await this.#chassisStatus(call)).powerState;
        if (state === "off") return this.#powerControl("on", true, call);
        return this.#powerControl(action === "cycle" ? "cycle" : "reset", false, call);
      }
    }
  }

  async getBootOverride(signal: AbortSignal): Promise<BootOverrideState> {
    return this.#bootOverride(this.#call(signal));
  }

  async setBootOverride(override: BootOverride, signal: AbortSignal): Promise<void> {
    if (override.device === "http") {
      throw new BmcError("unsupported", "IPMI has no HTTP boot device; use Redfish for HTTP boot");
    }
    const call = this.#call(signal);
    const mode = override.mode ?? (await this.#bootOverride(call)).mode;
    const options = [
      ...(override.persistence === "continuous" ? ["persistent"] : []),
      ...(mode === "uefi" ? ["efiboot"] : []),
    ];
    const command = ["chassis", "bootdev", BOOTDEV[override.device]];
    if (options.length > 0) command.push(`options=${options.join(",")}`);
    this.#parse(command, await this.#run(command, true, call), parseBootdevConfirmation);
  }

  async getInventory(signal: AbortSignal): Promise<OutOfBandInventory> {
    const call = this.#call(signal);
    // One command at a time: BMCs allow only a handful of concurrent sessions.
    const mcCommand = ["mc", "info"];
    const mc = this.#parse(mcCommand, await this.#run(mcCommand, true, call), parseMcInfo);
    const fru = systemFru((await this.#optional(["fru", "print", "0"], parseFruPrint, call)) ?? []);
    const lan = await this.#optional(["lan", "print"], parseLanPrint, call);
    const uuid = await this.#optional(["mc", "guid"], parseMcGuid, call);
    const power = (await this.#chassisStatus(call)).powerState;
    const manufacturer = fru.manufacturer ?? mc.manufacturerName;
    return {
      ...(manufacturer !== undefined ? { manufacturer } : {}),
      ...(fru.model !== undefined ? { model: fru.model } : {}),
      ...(fru.serial !== undefined ? { serial: fru.serial } : {}),
      ...(uuid !== undefined ? { uuid } : {}),
      ...(fru.sku !== undefined ? { sku: fru.sku } : {}),
      bmcFirmwareVersion: mc.firmwareRevision,
      ...(lan?.macAddress !== undefined ? { bmcMac: lan.macAddress } : {}),
      powerState: power,
      cpus: [],
      nics: [],
      drives: [],
      firmware: [{ id: "bmc", name: "BMC firmware", version: mc.firmwareRevision, updateable: false }],
    };
  }

  async getSensors(signal: AbortSignal): Promise<SensorReport> {
    const call = this.#call(signal);
    const sdrCommand = ["sdr", "elist"];
    let report: SensorReport;
    try {
      report = toSensorReport(
        this.#parse(sdrCommand, await this.#run(sdrCommand, true, call), parseSdrElist),
      );
    } catch (error) {
      // Some BMCs fail the extended SDR listing but answer the plainer `sensor list`.
      if (!(error instanceof BmcError && (error.kind === "rejected" || error.kind === "unsupported")))
        throw error;
      const listCommand = ["sensor", "list"];
      report = toSensorReport(
        this.#parse(listCommand, await this.#run(listCommand, true, call), parseSensorList),
      );
    }
    const chassis = await this.#chassisStatus(call);
    return { sensors: [...report.sensors, ...chassisFaults(chassis)], powerSupplies: report.powerSupplies };
  }

  async getLogEntries(limit: number, signal: AbortSignal): Promise<BmcLogEntry[]> {
    if (!Number.isInteger(limit) || limit < 1) return [];
    const command = ["sel", "elist", "last", String(limit)];
    const output = await this.#run(command, true, this.#call(signal));
    // Newest first, as an operator reads a log.
    return this.#parse(command, output, parseSelList).reverse().slice(0, limit);
  }

  async startFirmwareUpdate(): Promise<FirmwareUpdateStatus> {
    throw new BmcError(
      "unsupported",
      "IPMI offers no standard firmware update; use the BMC's Redfish service",
    );
  }

  async getFirmwareUpdateStatus(): Promise<FirmwareUpdateStatus> {
    throw new BmcError(
      "unsupported",
      "IPMI offers no standard firmware update; use the BMC's Redfish service",
    );
  }

  async close(): Promise<void> {
    // Each command opens and closes its own RMCP+ session: nothing is held between calls.
  }

  #call(signal: AbortSignal): Call {
    return { signal, deadline: Date.now() + this.#timeoutMs };
  }

  #run(command: readonly string[], idempotent: boolean, call: Call): Promise<IpmitoolOutput> {
    return this.#ipmitool.run({ command, idempotent, deadline: call.deadline, signal: call.signal });
  }

  /** Parses stdout; a shape the parser does not know is the BMC's refusal if stderr says so, else "protocol". */
  #parse<T>(command: readonly string[], output: IpmitoolOutput, parser: (text: string) => T): T {
    try {
      return parser(output.stdout);
    } catch (error) {
      if (!(error instanceof IpmitoolParseError)) throw error;
      if (output.stderr.trim() !== "") {
        const failure = classifyFailure(output.stderr);
        if (failure.kind === "final") throw failure.error;
      }
      throw new BmcError("protocol", `ipmitool ${command.join(" ")}: ${error.message}`);
    }
  }

  /** Inventory parts a BMC may not implement: absent when it refuses, still fatal when it is unreachable. */
  async #optional<T>(
    command: readonly string[],
    parser: (text: string) => T,
    call: Call,
  ): Promise<T | undefined> {
    try {
      return this.#parse(command, await this.#run(command, true, call), parser);
    } catch (error) {
      if (error instanceof BmcError && (error.kind === "rejected" || error.kind === "unsupported"))
        return undefined;
      throw error;
    }
  }

  async #chassisStatus(call: Call): Promise<ChassisStatus> {
    const command = ["chassis", "status"];
    return this.#parse(command, await this.#run(command, true, call), parseChassisStatus);
  }

  async #bootOverride(call: Call): Promise<BootOverrideState> {
    const command = ["chassis", "bootparam", "get", "5"];
    return this.#parse(command, await this.#run(command, true, call), parseBootParam5);
  }

  async #powerControl(verb: string, idempotent: boolean, call: Call): Promise<void> {
    const command = ["chassis", "power", verb];
    this.#parse(command, await this.#run(command, idempotent, call), parsePowerControl);
  }

  /** Soft off (ACPI), wait until the OS has powered the machine down, then power on. */
  async #gracefulRestart(call: Call): Promise<void> {
    const step = (): Call => ({
      signal: call.signal,
      deadline: Math.min(call.deadline, Date.now() + this.#timeoutMs),
    });
    if ((await this.#chassisStatus(step())).powerState === "off") {
      await this.#powerControl("on", true, step());
      return;
    }
    await this.#powerControl("soft", true, step());
    for (;;) {
      if ((await this.#chassisStatus(step())).powerState === "off") break;
      if (Date.now() + this.#pollIntervalMs >= call.deadline) {
        throw new BmcError("timeout", "the host did not shut down after the ACPI soft-off request");
      }
      await sleep(this.#pollIntervalMs, call.signal);
    }
    await this.#powerControl("on", true, step());
  }
}

/** Chassis-level faults the BMC reports outside the SDR, as readings so they show up in health. */
function chassisFaults(status: ChassisStatus): SensorReading[] {
  const faults: Array<[string, boolean, SensorReading["kind"]]> = [
    ["Chassis Power Overload", status.powerOverload, "power"],
    ["Chassis Main Power Fault", status.mainPowerFault, "power"],
    ["Chassis Power Control Fault", status.powerControlFault, "power"],
    ["Chassis Drive Fault", status.driveFault, "other"],
    ["Chassis Cooling/Fan Fault", status.coolingFault, "fan"],
  ];
  return faults
    .filter(([, active]) => active)
    .map(([name, , kind]) => ({ name, kind, value: null, unit: "", health: "critical" }));
}

/** A BmcDriver for one BMC over IPMI 2.0 (RMCP+), through the ipmitool binary. */
export function createIpmiDriver(endpoint: BmcEndpoint, options: IpmiDriverOptions = {}): BmcDriver {
  return new IpmiDriver(endpoint, options);
}
