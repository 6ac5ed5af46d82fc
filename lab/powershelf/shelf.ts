/**
 * The simulated power shelf behind a lab PMC: power supplies feeding a DC bus, outlets with relays, loads
 * (simulated machines) drawing from the shelf or from one outlet, power changes that take time, and
 * readings that follow what is switched on. No HTTP here; service.ts renders it as Redfish.
 */
import { DeviceTimers } from "../redfish/devices.ts";
import { type FirmwareState, FirmwareUpdates, type LabTask } from "../redfish/firmware.ts";

export type ShelfPowerState = "On" | "Off" | "PoweringOn" | "PoweringOff";

export interface PowerShelfTiming {
  /** Off → PoweringOn → On: the supplies' soft start. */
  readonly powerOnDelayMs: number;
  /** On → PoweringOff → Off. */
  readonly powerOffDelayMs: number;
  /** An outlet relay switching. */
  readonly outletDelayMs: number;
  /** How long a PowerCycle (shelf or outlet) stays off. */
  readonly cycleOffMs: number;
  readonly firmwareUpdateMs: number;
}

/** Something the shelf feeds: a simulated machine (its AC), or anything else that draws power. */
export interface PoweredLoad {
  readonly name: string;
  /** Called when the feed comes or goes; a machine loses power (and its BMC goes dark) without it. */
  setAcPower(present: boolean): void | Promise<void>;
  /** What the load draws now, in watts (default 0). */
  watts?(): number;
}

export interface ShelfPowerEvent {
  /** "shelf", or the outlet id. */
  readonly source: string;
  readonly state: ShelfPowerState;
  readonly cause: string;
}

export interface OutletState {
  readonly id: string;
  readonly name: string;
  /** The relay: closed (On), open (Off), or switching. */
  relay: ShelfPowerState;
}

export interface PsuState {
  readonly id: string;
  readonly serial: string;
  readonly capacityWatts: number;
  failed: boolean;
}

export type ShelfSwitch = "on" | "off" | "cycle";

/** The ResetType values of the shelf's Chassis.Reset, by what they do. */
export const SHELF_RESET_TYPES: ReadonlyMap<string, ShelfSwitch> = new Map([
  ["On", "on"],
  ["ForceOff", "off"],
  ["PowerCycle", "cycle"],
]);
/** The PowerState values of an outlet's Outlet.PowerControl, by what they do. */
export const OUTLET_POWER_STATES: ReadonlyMap<string, ShelfSwitch> = new Map([
  ["On", "on"],
  ["Off", "off"],
  ["PowerCycle", "cycle"],
]);

export type ShelfActionOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly status: number; readonly messageId: string; readonly message: string };

export interface ShelfSpec {
  readonly serial: string;
  readonly psus: number;
  readonly psuCapacityWatts: number;
  readonly outlets: number;
  /** AC input per supply, volts. */
  readonly inputVoltage: number;
  /** The DC bus, volts. */
  readonly outputVoltage: number;
  readonly firmware: readonly FirmwareState[];
}

/** What the shelf's own electronics draw (controller, fans), watts. */
const OWN_WATTS = 45;
const EFFICIENCY = 0.955;

export class SimulatedPowerShelf {
  readonly outlets: OutletState[];
  readonly psus: PsuState[];
  readonly firmware: FirmwareState[];
  readonly log: Array<{
    id: string;
    created: string;
    severity: "OK" | "Warning" | "Critical";
    message: string;
  }> = [];
  private readonly updates: FirmwareUpdates;
  private shelf: ShelfPowerState;
  private readonly loads = new Map<PoweredLoad, string | undefined>();
  /** The feed each load was last told about, so that it hears only changes. */
  private readonly fed = new Map<PoweredLoad, boolean>();
  private readonly listeners = new Set<(event: ShelfPowerEvent) => void>();
  private readonly timers = new DeviceTimers();
  private shelfTransition: NodeJS.Timeout | undefined;
  private readonly outletTransitions = new Map<string, NodeJS.Timeout>();
  private logSequence = 0;

  constructor(
    readonly spec: ShelfSpec,
    readonly timing: PowerShelfTiming,
    initialPowerState: "On" | "Off",
    private readonly onLoadError: (error: unknown) => void = (error) =>
      console.error("lab power shelf load failed", error),
  ) {
    this.shelf = initialPowerState;
    this.outlets = Array.from({ length: spec.outlets }, (_, i) => ({
      id: `OUT${i + 1}`,
      name: `Outlet ${i + 1}`,
      relay: "On" as ShelfPowerState,
    }));
    this.psus = Array.from({ length: spec.psus }, (_, i) => ({
      id: `PSU${i}`,
      serial: `${spec.serial}P${i}`,
      capacityWatts: spec.psuCapacityWatts,
      failed: false,
    }));
    this.firmware = spec.firmware.map((item) => ({ ...item }));
    this.updates = new FirmwareUpdates(this.firmware, {
      now: Date.now,
      schedule: (delayMs, action) => this.timers.schedule(delayMs, action),
      flashed: (item) => this.record("OK", `${item.name} updated to ${item.version}`),
      failed: (names) => {
        const message = `Firmware image for ${names} failed verification`;
        this.record("Warning", message);
        return message;
      },
    });
  }

  get power(): ShelfPowerState {
    return this.shelf;
  }

  get tasks(): ReadonlyMap<string, LabTask> {
    return this.updates.tasks;
  }

  /** The DC bus is live: the shelf is on and at least one supply works. */
  get energized(): boolean {
    return this.shelf === "On" && this.psus.some((psu) => !psu.failed);
  }

  outletEnergized(outlet: OutletState): boolean {
    return this.energized && outlet.relay === "On";
  }

  /** The effective output of an outlet as Redfish reports it. */
  outletPower(outlet: OutletState): ShelfPowerState {
    if (outlet.relay === "PoweringOn" || outlet.relay === "PoweringOff") return outlet.relay;
    return this.outletEnergized(outlet) ? "On" : "Off";
  }

  onPowerChange(listener: (event: ShelfPowerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Feeds `load` from the shelf's bus, or from one outlet; it hears the current feed at once. */
  connect(load: PoweredLoad, outletId?: string): () => void {
    if (outletId !== undefined && this.outlet(outletId) === undefined) {
      throw new RangeError(
        `no outlet ${outletId}; the shelf has ${this.outlets.map((o) => o.id).join(", ")}`,
      );
    }
    this.loads.set(load, outletId);
    this.fed.delete(load);
    this.propagate();
    return () => {
      this.loads.delete(load);
      this.fed.delete(load);
    };
  }

  loadWatts(outletId?: string): number {
    let sum = 0;
    for (const [load, feed] of this.loads) {
      if (outletId !== undefined && feed !== outletId) continue;
      if (this.fed.get(load) === true) sum += Math.max(0, load.watts?.() ?? 0);
    }
    return sum;
  }

  /** Watts leaving the DC bus (loads plus the shelf's own electronics when live). */
  outputWatts(): number {
    return this.energized ? this.loadWatts() + OWN_WATTS : 0;
  }

  inputWatts(): number {
    return this.energized ? this.outputWatts() / EFFICIENCY : 4;
  }

  /** A Chassis.Reset on the whole shelf. */
  reset(resetType: string): ShelfActionOutcome {
    if (this.shelf === "PoweringOn" || this.shelf === "PoweringOff") {
      return busy(`the power shelf is ${this.shelf}; retry when the transition ends`);
    }
    const change = SHELF_RESET_TYPES.get(resetType);
    if (change === undefined) return notSupported(`ResetType ${resetType}`);
    this.apply(change, this.shelf, (to, then) => this.switchShelf(to, resetType, then));
    return { ok: true };
  }

  /** An Outlet.PowerControl. */
  outletControl(outletId: string, powerState: string): ShelfActionOutcome {
    const outlet = this.outlet(outletId);
    if (outlet === undefined) {
      return {
        ok: false,
        status: 404,
        messageId: "Base.1.8.ResourceMissingAtURI",
        message: `no outlet ${outletId}`,
      };
    }
    if (!this.energized) return busy("the power shelf is off; power the shelf on before switching outlets");
    if (outlet.relay === "PoweringOn" || outlet.relay === "PoweringOff") {
      return busy(`outlet ${outlet.id} is switching; retry when it is done`);
    }
    const change = OUTLET_POWER_STATES.get(powerState);
    if (change === undefined) return notSupported(`PowerState ${powerState}`);
    this.apply(change, outlet.relay, (to, then) => this.switchOutlet(outlet, to, powerState, then));
    return { ok: true };
  }

  /** Fault injection: a supply fails (or recovers); without any working supply the bus goes dead. */
  setPsuFailed(index: number, failed: boolean): void {
    const psu = this.psus[index];
    if (psu === undefined) throw new RangeError(`no power supply ${index}`);
    if (psu.failed === failed) return;
    psu.failed = failed;
    this.record(failed ? "Critical" : "OK", `${psu.id} ${failed ? "failed" : "recovered"}`);
    this.propagate();
  }

  startFirmwareUpdate(imageUri: string, targets: readonly string[]): LabTask {
    return this.updates.start(imageUri, targets, this.timing.firmwareUpdateMs);
  }

  taskPercent(task: LabTask): number {
    return this.updates.percent(task);
  }

  stop(): void {
    this.timers.stop();
    if (this.shelfTransition !== undefined) clearTimeout(this.shelfTransition);
    for (const timer of this.outletTransitions.values()) clearTimeout(timer);
    this.listeners.clear();
  }

  outlet(id: string): OutletState | undefined {
    return this.outlets.find((outlet) => outlet.id === id);
  }

  private switchShelf(to: "On" | "Off", cause: string, then?: () => void): void {
    this.setShelf(to === "On" ? "PoweringOn" : "PoweringOff", cause);
    // Cutting power is immediate for what the shelf feeds; the transition is the controller winding down.
    if (to === "Off") this.propagate();
    this.shelfTransition = setTimeout(
      () => {
        this.shelfTransition = undefined;
        if (this.timers.stopped) return;
        this.setShelf(to, cause);
        this.record("OK", `Power shelf ${to === "On" ? "output enabled" : "output disabled"} (${cause})`);
        this.propagate();
        then?.();
      },
      to === "On" ? this.timing.powerOnDelayMs : this.timing.powerOffDelayMs,
    );
  }

  private switchOutlet(outlet: OutletState, to: "On" | "Off", cause: string, then?: () => void): void {
    outlet.relay = to === "On" ? "PoweringOn" : "PoweringOff";
    this.emit({ source: outlet.id, state: outlet.relay, cause });
    if (to === "Off") this.propagate();
    this.outletTransitions.set(
      outlet.id,
      setTimeout(() => {
        this.outletTransitions.delete(outlet.id);
        if (this.timers.stopped) return;
        outlet.relay = to;
        this.emit({ source: outlet.id, state: to, cause });
        this.record("OK", `${outlet.name} switched ${to.toLowerCase()} (${cause})`);
        this.propagate();
        then?.();
      }, this.timing.outletDelayMs),
    );
  }

  private setShelf(state: ShelfPowerState, cause: string): void {
    if (this.shelf === state) return;
    this.shelf = state;
    this.emit({ source: "shelf", state, cause });
  }

  /** Tells every load whose feed changed. A relay opening or the shelf going down cuts power at once. */
  private propagate(): void {
    for (const [load, outletId] of this.loads) {
      const outlet = outletId !== undefined ? this.outlet(outletId) : undefined;
      const live = outlet !== undefined ? this.energized && outlet.relay === "On" : this.energized;
      if (this.fed.get(load) === live) continue;
      this.fed.set(load, live);
      try {
        const result = load.setAcPower(live);
        if (result instanceof Promise) result.catch(this.onLoadError);
      } catch (error) {
        this.onLoadError(error);
      }
    }
  }

  private emit(event: ShelfPowerEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.onLoadError(error);
      }
    }
  }

  /** Switches the shelf or an outlet (now in `current`) on, off, or off and after a pause on again. */
  private apply(
    change: ShelfSwitch,
    current: ShelfPowerState,
    switchTo: (to: "On" | "Off", then?: () => void) => void,
  ): void {
    switch (change) {
      case "on":
        if (current !== "On") switchTo("On");
        return;
      case "off":
        if (current !== "Off") switchTo("Off");
        return;
      case "cycle":
        if (current === "Off") switchTo("On");
        else switchTo("Off", () => this.timers.schedule(this.timing.cycleOffMs, () => switchTo("On")));
        return;
    }
  }

  private record(severity: "OK" | "Warning" | "Critical", message: string): void {
    this.log.push({ id: String(++this.logSequence), created: new Date().toISOString(), severity, message });
    if (this.log.length > 1000) this.log.splice(0, this.log.length - 1000);
  }
}

function busy(message: string): ShelfActionOutcome {
  return { ok: false, status: 409, messageId: "Base.1.8.ResourceInUse", message };
}

function notSupported(what: string): ShelfActionOutcome {
  return {
    ok: false,
    status: 400,
    messageId: "Base.1.8.ActionParameterNotSupported",
    message: `${what} is not supported`,
  };
}
