/**
 * Compute trays through their BMC: `compute/redfish` and `compute/ipmi` are the same manager over a
 * different BmcDriver. Power goes straight to the driver, firmware through the BMC's update service (IPMI
 * has none and says so), bring-up powers the tray on and waits for it to report On.
 */
import type { BmcDriver, PowerAction } from "../driver.ts";
import { BMC_DRIVER_PROTOCOLS, type BmcDriverFactory } from "../driver-factory.ts";
import {
  badHandle,
  bmcFirmwareStatus,
  parseBmcTaskHandle,
  readBmcFirmwareVersion,
  startBmcFirmwareUpdate,
} from "./bmc-firmware.ts";
import type {
  BringUpResult,
  ComponentExpectation,
  ComponentFirmwareRequest,
  ComponentFirmwareStatus,
  ComponentManager,
  ComponentPowerStatus,
  ComponentTarget,
  FirmwareConsistencyReport,
} from "./model.ts";
import {
  type ComponentManagerOptions,
  firmwareConsistencyOf,
  ManagerSupport,
  TargetConnections,
} from "./support.ts";

const POWER_ON_WORDS = { alreadyOn: "already on", requested: "power on requested", done: "powered on" };

export class BmcComputeManager implements ComponentManager {
  readonly type = "compute" as const;
  private readonly support: ManagerSupport;
  private readonly drivers: TargetConnections<BmcDriver>;

  /** `createDriver` gets the protocol the implementation is named after (Redfish for any other name). */
  constructor(
    readonly implementation: string,
    createDriver: BmcDriverFactory,
    options: ComponentManagerOptions = {},
  ) {
    this.support = new ManagerSupport(options);
    const protocol = BMC_DRIVER_PROTOCOLS.find((name) => name === implementation) ?? "redfish";
    this.drivers = new TargetConnections(this.support, protocol, createDriver, options);
  }

  async powerControl(target: ComponentTarget, action: PowerAction, signal: AbortSignal): Promise<void> {
    await this.drivers.use(target, `power ${action}`, signal, (driver, call) =>
      driver.setPower(action, call),
    );
  }

  async getPowerStatus(target: ComponentTarget, signal: AbortSignal): Promise<ComponentPowerStatus> {
    const state = await this.drivers.use(target, "power status", signal, (driver, call) =>
      driver.getPowerState(call),
    );
    return this.support.powerStatus(target, state);
  }

  async firmwareControl(
    target: ComponentTarget,
    request: ComponentFirmwareRequest,
    signal: AbortSignal,
  ): Promise<ComponentFirmwareStatus> {
    return await this.drivers.use(target, "firmware update", signal, (driver, call) =>
      startBmcFirmwareUpdate(driver, request, this.expectationOf(target), call),
    );
  }

  async getFirmwareStatus(
    target: ComponentTarget,
    handle: string,
    signal: AbortSignal,
  ): Promise<ComponentFirmwareStatus> {
    const parsed = parseBmcTaskHandle(handle);
    if (parsed === undefined) throw badHandle(handle);
    return await this.drivers.use(target, "firmware status", signal, (driver, call) =>
      bmcFirmwareStatus(driver, handle, parsed, call),
    );
  }

  injectExpectation(target: ComponentTarget, expectation: ComponentExpectation): void {
    this.support.inject(target, expectation);
  }

  expectationOf(target: ComponentTarget): ComponentExpectation {
    return this.support.expectationOf(target);
  }

  async bringUp(target: ComponentTarget, signal: AbortSignal): Promise<BringUpResult> {
    return await this.support.bringUp(target, signal, async (call) => ({
      steps: await this.support.powerOn(this, target, POWER_ON_WORDS, call),
    }));
  }

  async firmwareConsistency(
    targets: readonly ComponentTarget[],
    signal: AbortSignal,
  ): Promise<FirmwareConsistencyReport> {
    return await firmwareConsistencyOf(targets, (target) => this.firmwareVersion(target, signal));
  }

  /** The version of the expected firmware component, or of the BMC itself. */
  async firmwareVersion(target: ComponentTarget, signal: AbortSignal): Promise<string> {
    return await this.drivers.use(target, "firmware version", signal, (driver, call) =>
      readBmcFirmwareVersion(driver, this.expectationOf(target).firmwareComponent, call),
    );
  }

  async close(): Promise<void> {
    await this.drivers.close();
  }
}
