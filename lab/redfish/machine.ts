/**
 * The simulated machine behind a lab BMC: power that takes time to change, a boot override consumed by
 * the next boot, pending @Redfish.Settings applied at reset, firmware that a task updates, sensors that
 * warm and cool with the power state, and an event log. No HTTP here; the Redfish service renders it.
 */
import { DeviceTimers } from "./devices.ts";
import { type FirmwareState, FirmwareUpdates, type LabTask } from "./firmware.ts";
import type { HardwareSpec, VendorProfile } from "./profiles.ts";

export { type FirmwareState, type LabTask, versionFromImage } from "./firmware.ts";

export type RedfishPowerState = "On" | "Off" | "PoweringOn" | "PoweringOff";

/** The boot device a booting machine ends up on, in driver terms where one exists. */
export type LabBootDevice = "pxe" | "disk" | "http" | "cd" | "bios" | "usb" | "diags" | "other";

export interface MachineIdentity {
  readonly index: number;
  readonly serial: string;
  readonly uuid: string;
  readonly sku: string | undefined;
  readonly hostName: string;
  /** Host NIC MACs in port order; the first is the one a PXE boot uses. */
  readonly nicMacs: readonly string[];
  readonly bmcMac: string;
}

export interface LabBootEvent {
  readonly bootDevice: LabBootDevice;
  /** The Redfish BootSourceOverrideTarget (or the default device) that was used. */
  readonly target: string;
  readonly bootMode: "uefi" | "legacy";
  readonly reason: "power-on" | "reset";
  readonly bootCount: number;
  readonly machine: MachineIdentity;
}

/** Called when the simulated machine boots (power on or reset), with the effective boot device. */
export type BootListener = (bootDevice: LabBootDevice, event: LabBootEvent) => void | Promise<void>;

export interface PowerChange {
  readonly state: RedfishPowerState;
  readonly previous: RedfishPowerState;
  /** The ResetType that caused it, or "power-lost" when the host went off by itself (AC loss, VM exit). */
  readonly cause: string;
}

/** Called on every change of the host's power state, e.g. to stop a VM or a switch OS behind the BMC. */
export type PowerChangeListener = (change: PowerChange) => void | Promise<void>;

/**
 * Who carries out a graceful shutdown: the simulation (the "OS" is off after gracefulShutdownMs), or
 * something behind the BMC that hears `onShutdownRequest` and reports the result with `powerLost` (a VM).
 */
export type OsShutdown = "simulated" | "delegated";

export interface MachineTiming {
  /** Off → PoweringOn → On. */
  readonly powerOnDelayMs: number;
  /** On → PoweringOff → Off for ForceOff, and the pause of a forced restart or power cycle. */
  readonly powerOffDelayMs: number;
  /** How long the "OS" takes to honour GracefulShutdown / GracefulRestart. */
  readonly gracefulShutdownMs: number;
  readonly firmwareUpdateMs: number;
  /** Time constant of the temperatures following the power state. */
  readonly thermalTimeConstantMs: number;
}

export interface BootSettings {
  readonly BootSourceOverrideEnabled: string;
  readonly BootSourceOverrideTarget: string;
  readonly BootSourceOverrideMode: string;
}

export interface LabLogEntry {
  readonly id: string;
  readonly created: string;
  readonly severity: "OK" | "Warning" | "Critical";
  readonly message: string;
  readonly messageId: string;
}

export type ResetOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly status: number; readonly messageId: string; readonly message: string };

const TARGET_DEVICES: Readonly<Record<string, LabBootDevice>> = {
  Pxe: "pxe",
  Hdd: "disk",
  UefiHttp: "http",
  Cd: "cd",
  BiosSetup: "bios",
  Usb: "usb",
  Diags: "diags",
};

const MAX_LOG_ENTRIES = 1000;

export interface MachineOptions {
  readonly profile: VendorProfile;
  readonly identity: MachineIdentity;
  readonly hardware: HardwareSpec;
  readonly timing: MachineTiming;
  readonly initialPowerState: "On" | "Off";
  /** What the machine boots from without an override. */
  readonly defaultBootTarget: string;
  /** The ResetType values this BMC offers; default the profile's. */
  readonly resetTypes?: readonly string[];
  /** Default "simulated". */
  readonly osShutdown?: OsShutdown;
  readonly now?: () => number;
  readonly onListenerError?: (error: unknown) => void;
}

export class SimulatedMachine {
  readonly profile: VendorProfile;
  readonly identity: MachineIdentity;
  readonly hardware: HardwareSpec;
  readonly timing: MachineTiming;
  readonly resetTypes: readonly string[];
  boot: BootSettings;
  /** Boot settings PATCHed into the @Redfish.Settings object, applied at the next boot. */
  pendingBoot: Partial<BootSettings> | undefined;
  readonly firmware: FirmwareState[];
  private readonly updates: FirmwareUpdates;
  readonly systemLog: LabLogEntry[] = [];
  readonly managerLog: LabLogEntry[] = [];
  bootCount = 0;
  lastBoot: LabBootEvent | undefined;
  lastPowerOffAt: number | undefined;
  /** Bumped when something outside the API changes the system (and its ETag). */
  generation = 0;
  private readonly defaultBootTarget: string;
  private readonly now: () => number;
  private readonly listeners = new Set<BootListener>();
  private readonly powerListeners = new Set<PowerChangeListener>();
  private readonly shutdownListeners = new Set<() => void | Promise<void>>();
  private readonly osShutdown: OsShutdown;
  private currentPower: RedfishPowerState;
  /** Bumped when power is lost, so that a restart scheduled before it does not boot the machine. */
  private powerEpoch = 0;
  private readonly onListenerError: (error: unknown) => void;
  private transition: NodeJS.Timeout | undefined;
  private readonly timers = new DeviceTimers();
  private heatFrom: number;
  private heatAt: number;
  private heatTarget: number;
  private restarting = 0;
  private logSequence = 0;

  constructor(options: MachineOptions) {
    this.profile = options.profile;
    this.identity = options.identity;
    this.hardware = options.hardware;
    this.timing = options.timing;
    this.resetTypes = options.resetTypes ?? options.profile.resetTypes;
    this.now = options.now ?? Date.now;
    this.defaultBootTarget = options.defaultBootTarget;
    this.onListenerError =
      options.onListenerError ?? ((error) => console.error("lab boot listener failed", error));
    this.currentPower = options.initialPowerState;
    this.osShutdown = options.osShutdown ?? "simulated";
    this.boot = {
      BootSourceOverrideEnabled: "Disabled",
      BootSourceOverrideTarget: "None",
      BootSourceOverrideMode: "UEFI",
    };
    this.firmware = options.profile.firmware.map((item) => ({ ...item }));
    this.updates = new FirmwareUpdates(this.firmware, {
      now: this.now,
      schedule: (delayMs, action) => this.timers.schedule(delayMs, action),
      flashed: (item) =>
        this.log(
          "manager",
          this.profile.logs.firmware(item.name, item.version),
          "OK",
          "FirmwareUpdateCompleted",
        ),
      failed: (names) => {
        const message = this.profile.logs.firmwareFailed(names);
        this.log("manager", message, "Warning", "FirmwareUpdateFailed");
        return message;
      },
    });
    const on = this.power === "On" ? 1 : 0;
    this.heatFrom = on;
    this.heatTarget = on;
    this.heatAt = this.now();
  }

  get power(): RedfishPowerState {
    return this.currentPower;
  }

  onBoot(listener: BootListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onPowerChange(listener: PowerChangeListener): () => void {
    this.powerListeners.add(listener);
    return () => this.powerListeners.delete(listener);
  }

  /** With osShutdown "delegated": called for GracefulShutdown (and the power button) while on. */
  onShutdownRequest(listener: () => void | Promise<void>): () => void {
    this.shutdownListeners.add(listener);
    return () => this.shutdownListeners.delete(listener);
  }

  /**
   * The host lost power without the BMC asking: its AC feed was cut, or the VM behind it exited. Any
   * transition or restart under way is abandoned.
   */
  powerLost(reason: string): void {
    if (this.transition !== undefined) clearTimeout(this.transition);
    this.transition = undefined;
    this.powerEpoch++;
    if (this.currentPower === "Off") return;
    this.lastPowerOffAt = this.now();
    this.setHeatTarget(0);
    this.log("system", reason, "Warning", "PowerLost");
    this.setPower("Off", "power-lost");
  }

  /** A ComputerSystem.Reset. Redundant requests are accepted or refused as the vendor does. */
  reset(resetType: string): ResetOutcome {
    const refuse = (message: string): ResetOutcome => ({
      ok: false,
      status: 400,
      messageId: this.profile.invalidStateMessageId,
      message,
    });
    if (!this.resetTypes.includes(resetType)) {
      return {
        ok: false,
        status: 400,
        messageId: "Base.1.8.ActionParameterNotSupported",
        message: `ResetType ${resetType} is not supported`,
      };
    }
    if (this.power === "PoweringOn" || this.power === "PoweringOff") {
      return {
        ok: false,
        status: 409,
        messageId: "Base.1.8.ResourceInUse",
        message: `the system is ${this.power}; retry when the transition ends`,
      };
    }
    const on = this.power === "On";
    switch (resetType) {
      case "On":
      case "ForceOn":
        if (on) return this.profile.rejectsRedundantPower ? refuse("the system is already on") : { ok: true };
        this.startPowerOn("power-on", resetType);
        return { ok: true };
      case "ForceOff":
        if (!on)
          return this.profile.rejectsRedundantPower ? refuse("the system is already off") : { ok: true };
        this.startPowerOff(this.timing.powerOffDelayMs, resetType);
        return { ok: true };
      case "GracefulShutdown":
        if (!on)
          return this.profile.rejectsRedundantPower ? refuse("the system is already off") : { ok: true };
        this.startShutdown(resetType);
        return { ok: true };
      case "PushPowerButton":
        if (on) this.startShutdown(resetType);
        else this.startPowerOn("power-on", resetType);
        return { ok: true };
      case "ForceRestart":
      case "GracefulRestart":
        if (!on) return refuse("the system is off");
        this.log("system", this.profile.logs.reset, "OK", "Reset");
        this.restarting++;
        {
          const epoch = this.powerEpoch;
          this.timers.schedule(
            resetType === "ForceRestart" ? this.timing.powerOffDelayMs : this.timing.gracefulShutdownMs,
            () => {
              this.restarting--;
              if (epoch === this.powerEpoch) this.booted("reset");
            },
          );
        }
        return { ok: true };
      case "PowerCycle":
        if (!on) {
          this.startPowerOn("power-on", resetType);
          return { ok: true };
        }
        this.startPowerOff(this.timing.powerOffDelayMs, resetType, () =>
          this.startPowerOn("power-on", resetType),
        );
        return { ok: true };
      case "Nmi":
        this.log("system", "NMI button pressed", "Warning", "Nmi");
        return { ok: true };
      default:
        return refuse(`ResetType ${resetType} is not simulated`);
    }
  }

  /** True while a power transition or a restart is under way. */
  get busy(): boolean {
    return this.transition !== undefined || this.restarting > 0;
  }

  /** Heat in [0, 1]: 0 cold and off, 1 at full load; follows the power state exponentially. */
  heat(at: number = this.now()): number {
    const elapsed = Math.max(0, at - this.heatAt);
    return (
      this.heatTarget +
      (this.heatFrom - this.heatTarget) * Math.exp(-elapsed / this.timing.thermalTimeConstantMs)
    );
  }

  /** A small deterministic wobble so that readings move between polls. */
  wobble(phase: number, amplitude: number, at: number = this.now()): number {
    return amplitude * Math.sin(at / 7_000 + phase + this.identity.index);
  }

  get tasks(): ReadonlyMap<string, LabTask> {
    return this.updates.tasks;
  }

  startFirmwareUpdate(imageUri: string, targets: readonly string[]): LabTask {
    return this.updates.start(imageUri, targets, this.timing.firmwareUpdateMs);
  }

  taskPercent(task: LabTask, at: number = this.now()): number {
    return this.updates.percent(task, at);
  }

  log(which: "system" | "manager", message: string, severity: LabLogEntry["severity"], event: string): void {
    const entries = which === "system" ? this.systemLog : this.managerLog;
    entries.push({
      id: String(++this.logSequence),
      // bmcweb stamps entries with sub-second precision, iLO to the second.
      created:
        this.profile.vendor === "ilo5"
          ? new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, "Z")
          : new Date(this.now()).toISOString().replace("Z", "+00:00"),
      severity,
      message,
      messageId: `${this.profile.vendor === "ilo5" ? "iLOEvents.2.3" : "OpenBMC.0.1"}.${event}`,
    });
    if (entries.length > MAX_LOG_ENTRIES) entries.splice(0, entries.length - MAX_LOG_ENTRIES);
  }

  stop(): void {
    this.timers.stop();
    if (this.transition !== undefined) clearTimeout(this.transition);
    this.listeners.clear();
    this.powerListeners.clear();
    this.shutdownListeners.clear();
  }

  private startPowerOn(reason: LabBootEvent["reason"], cause: string): void {
    this.setPower("PoweringOn", cause);
    this.setTransition(this.timing.powerOnDelayMs, () => {
      this.setPower("On", cause);
      this.setHeatTarget(1);
      this.log("system", this.profile.logs.powerOn, "OK", "PowerOn");
      this.booted(reason);
    });
  }

  /** A graceful shutdown: simulated, or asked of whatever runs behind the BMC (which reports powerLost). */
  private startShutdown(cause: string): void {
    if (this.osShutdown === "simulated") {
      this.startPowerOff(this.timing.gracefulShutdownMs, cause);
      return;
    }
    this.log("system", "Graceful shutdown requested (ACPI power button)", "OK", "PowerButtonPressed");
    this.notify(this.shutdownListeners, (listener) => listener());
  }

  private startPowerOff(delayMs: number, cause: string, then?: () => void): void {
    this.setPower("PoweringOff", cause);
    this.setTransition(delayMs, () => {
      this.setPower("Off", cause);
      this.lastPowerOffAt = this.now();
      this.setHeatTarget(0);
      this.log("system", this.profile.logs.powerOff, "OK", "PowerOff");
      then?.();
    });
  }

  private setPower(state: RedfishPowerState, cause: string): void {
    const previous = this.currentPower;
    if (previous === state) return;
    this.currentPower = state;
    this.notify(this.powerListeners, (listener) => listener({ state, previous, cause }));
  }

  /** Runs listeners so that one failing (or rejecting) neither stops the others nor the machine. */
  private notify<L>(listeners: ReadonlySet<L>, call: (listener: L) => void | Promise<void>): void {
    for (const listener of listeners) {
      try {
        const result = call(listener);
        if (result instanceof Promise) result.catch(this.onListenerError);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }

  private setTransition(delayMs: number, done: () => void): void {
    if (this.transition !== undefined) clearTimeout(this.transition);
    this.transition = setTimeout(() => {
      this.transition = undefined;
      if (!this.timers.stopped) done();
    }, delayMs);
  }

  private setHeatTarget(target: number): void {
    const at = this.now();
    this.heatFrom = this.heat(at);
    this.heatAt = at;
    this.heatTarget = target;
  }

  /** The firmware's view of a boot: pending settings apply, a Once override is used up. */
  private booted(reason: LabBootEvent["reason"]): void {
    if (this.pendingBoot !== undefined) {
      this.boot = { ...this.boot, ...this.pendingBoot };
      this.pendingBoot = undefined;
    }
    const { BootSourceOverrideEnabled: enabled, BootSourceOverrideTarget: target } = this.boot;
    const overridden = enabled !== "Disabled" && target !== "None";
    const used = overridden ? target : this.defaultBootTarget;
    if (overridden && enabled === "Once") {
      this.boot = { ...this.boot, BootSourceOverrideEnabled: "Disabled", BootSourceOverrideTarget: "None" };
    }
    this.bootCount++;
    const event: LabBootEvent = {
      bootDevice: TARGET_DEVICES[used] ?? "other",
      target: used,
      bootMode: this.boot.BootSourceOverrideMode === "Legacy" ? "legacy" : "uefi",
      reason,
      bootCount: this.bootCount,
      machine: this.identity,
    };
    this.lastBoot = event;
    this.notify(this.listeners, (listener) => listener(event.bootDevice, event));
  }
}
