/**
 * Compute trays through their BMC: `compute/redfish` and `compute/ipmi` are the same manager over a
 * different BmcDriver. Power goes straight to the driver, firmware through the BMC's update service (IPMI
 * has none and says so), bring-up powers the tray on and waits for it to report On.
 */
import type { BmcDriver, BmcEndpoint, PowerAction } from "../driver.ts";
import {
  badHandle,
  bmcFirmwareStatus,
  parseBmcTaskHandle,
  readBmcFirmwareVersion,
  startBmcFirmwareUpdate,
} from "./bmc-firmware.ts";
import {
  type BringUpResult,
  type ComponentExpectation,
  type ComponentFirmwareRequest,
  type ComponentFirmwareStatus,
  type ComponentManager,
  type ComponentPowerStatus,
  type ComponentTarget,
  consistencyOf,
  endpointKey,
  type FirmwareConsistencyReport,
  type FirmwareVersionReading,
} from "./model.ts";
import { type ComponentManagerOptions, ConnectionCache, ManagerSupport } from "./support.ts";

export type DriverFactory = (endpoint: BmcEndpoint) => BmcDriver;

/** Reads of many targets at once stay below this, so a rack's BMCs are not all hit together. */
const CONSISTENCY_PARALLELISM = 8;

export class BmcComputeManager implements ComponentManager {
  readonly type = "compute" as const;
  private readonly support: ManagerSupport;
  private readonly drivers: ConnectionCache<BmcDriver>;

  constructor(
    readonly implementation: string,
    private readonly createDriver: DriverFactory,
    options: ComponentManagerOptions = {},
  ) {
    this.support = new ManagerSupport(options);
    this.drivers = new ConnectionCache(options.maxCachedConnections ?? 256, options.logger);
  }

  async powerControl(target: ComponentTarget, action: PowerAction, signal: AbortSignal): Promise<void> {
    await this.support.call(target, `power ${action}`, signal, (call) =>
      this.driver(target).setPower(action, call),
    );
  }

  async getPowerStatus(target: ComponentTarget, signal: AbortSignal): Promise<ComponentPowerStatus> {
    const state = await this.support.call(target, "power status", signal, (call) =>
      this.driver(target).getPowerState(call),
    );
    return this.support.powerStatus(target, state);
  }

  async firmwareControl(
    target: ComponentTarget,
    request: ComponentFirmwareRequest,
    signal: AbortSignal,
  ): Promise<ComponentFirmwareStatus> {
    return await this.support.call(target, "firmware update", signal, (call) =>
      startBmcFirmwareUpdate(this.driver(target), request, this.expectationOf(target), call),
    );
  }

  async getFirmwareStatus(
    target: ComponentTarget,
    handle: string,
    signal: AbortSignal,
  ): Promise<ComponentFirmwareStatus> {
    const parsed = parseBmcTaskHandle(handle);
    if (parsed === undefined) throw badHandle(handle);
    return await this.support.call(target, "firmware status", signal, (call) =>
      bmcFirmwareStatus(this.driver(target), handle, parsed, call),
    );
  }

  injectExpectation(target: ComponentTarget, expectation: ComponentExpectation): void {
    this.support.inject(target, expectation);
  }

  expectationOf(target: ComponentTarget): ComponentExpectation {
    return this.support.expectationOf(target);
  }

  async bringUp(target: ComponentTarget, signal: AbortSignal): Promise<BringUpResult> {
    return await this.support.call(
      target,
      "bring-up",
      signal,
      async (call) => {
        const driver = this.driver(target);
        const steps: string[] = [];
        let state = await driver.getPowerState(call);
        if (state === "on") return { steps: ["already on"] };
        if (state !== "powering-on") {
          await driver.setPower("on", call);
          steps.push("power on requested");
        }
        while (state !== "on") {
          await this.support.pause(this.support.pollIntervalMs, call);
          state = await driver.getPowerState(call);
        }
        steps.push("powered on");
        return { steps };
      },
      this.support.bringUpTimeoutMs,
    );
  }

  async firmwareConsistency(
    targets: readonly ComponentTarget[],
    signal: AbortSignal,
  ): Promise<FirmwareConsistencyReport> {
    const readings = await readAll(targets, async (target) => {
      const component = this.expectationOf(target).firmwareComponent;
      return await this.support.call(target, "firmware version", signal, (call) =>
        readBmcFirmwareVersion(this.driver(target), component, call),
      );
    });
    return consistencyOf(readings);
  }

  async close(): Promise<void> {
    await this.drivers.closeAll();
  }

  private driver(target: ComponentTarget): BmcDriver {
    return this.drivers.get(endpointKey(target.id, target.bmc), () => this.createDriver(target.bmc));
  }
}

/** Reads one version per target, a few at a time; a target that fails is reported, not thrown. */
export async function readAll(
  targets: readonly ComponentTarget[],
  read: (target: ComponentTarget) => Promise<string>,
): Promise<FirmwareVersionReading[]> {
  const readings = new Array<FirmwareVersionReading>(targets.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < targets.length) {
      const index = next++;
      const target = targets[index] as ComponentTarget;
      try {
        readings[index] = { targetId: target.id, version: await read(target) };
      } catch (error) {
        readings[index] = {
          targetId: target.id,
          error: error instanceof Error ? error.message : String(error),
        };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONSISTENCY_PARALLELISM, targets.length) }, worker));
  return readings;
}
