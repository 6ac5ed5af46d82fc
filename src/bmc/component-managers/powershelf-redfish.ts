/**
 * `powershelf/redfish`: a power shelf controller (PMC) over Redfish. Shelves show up as a Chassis of type
 * PowerShelf (power through Chassis.Reset, supplies in its PowerSubsystem) and/or a PowerDistribution under
 * PowerEquipment/PowerShelves (Outlets with Outlet.PowerControl). Everything is found from the service root
 * and the actions and values the shelf advertises; nothing below /redfish/v1 is assumed.
 */
import { ValidationError } from "../../errors.ts";
import type { Logger } from "../../observability/logger.ts";
import { type BmcEndpoint, BmcError, type PowerAction, type PowerState } from "../driver.ts";
import { type FetchedDocument, mapLimit, RedfishClient } from "../redfish/client.ts";
import {
  arrayOf,
  documentOf,
  isDocument,
  linkOf,
  linksOf,
  normalizePath,
  numberOf,
  odataId,
  type RedfishDocument,
  stringOf,
  stringsOf,
} from "../redfish/json.ts";
import { mapPowerState, type PowerPlan, planPowerAction } from "../redfish/power.ts";
import { isTask, parseTask, transferProtocolFor } from "../redfish/tasks.ts";
import {
  DEFAULT_RETRY_POLICY,
  type RedfishRequest,
  RedfishTransport,
  type RetryPolicy,
} from "../redfish/transport.ts";
import { badHandle } from "./bmc-firmware.ts";
import {
  type BringUpResult,
  type ComponentExpectation,
  type ComponentFirmwareRequest,
  type ComponentFirmwareStatus,
  type ComponentManager,
  type ComponentPowerStatus,
  type ComponentTarget,
  decodeHandle,
  encodeHandle,
  type FirmwareConsistencyReport,
  type OutletPowerStatus,
} from "./model.ts";
import {
  type ComponentManagerOptions,
  describeTarget,
  firmwareConsistencyOf,
  installPhase,
  ManagerSupport,
  TargetConnections,
  verified,
} from "./support.ts";

export interface RedfishPowerShelfOptions extends ComponentManagerOptions {
  readonly retry?: Partial<RetryPolicy>;
}

interface ShelfTopology {
  /** The Chassis of type PowerShelf, if the shelf models itself as one. */
  readonly chassis: string | undefined;
  /** The PowerDistribution resource (EquipmentType PowerShelf), if any. */
  readonly distribution: string | undefined;
  readonly manager: string | undefined;
}

/** Outlet.PowerControl values in the vocabulary of ResetType, so planPowerAction can plan for outlets too. */
const OUTLET_TO_RESET: Readonly<Record<string, string>> = {
  On: "On",
  Off: "ForceOff",
  PowerCycle: "PowerCycle",
};
const RESET_TO_OUTLET: Readonly<Record<string, string>> = {
  On: "On",
  ForceOff: "Off",
  PowerCycle: "PowerCycle",
};

const POWER_ON_WORDS = { alreadyOn: "already on", requested: "power on requested", done: "output enabled" };

class ShelfConnection {
  readonly transport: RedfishTransport;
  readonly client: RedfishClient;
  private topology: Promise<ShelfTopology> | undefined;

  constructor(
    readonly endpoint: BmcEndpoint,
    retry: RetryPolicy,
    logger: Logger | undefined,
  ) {
    this.transport = new RedfishTransport(endpoint, {
      retry,
      maxConcurrentRequests: 4,
      ...(logger !== undefined
        ? { logger: logger.child({ bmc: endpoint.address, protocol: "redfish" }) }
        : {}),
    });
    this.client = new RedfishClient(this.transport, 4);
  }

  async discover(signal: AbortSignal): Promise<ShelfTopology> {
    if (this.topology === undefined) {
      const pending = this.findTopology(signal);
      this.topology = pending;
      pending.catch(() => {
        if (this.topology === pending) this.topology = undefined;
      });
    }
    return await this.topology;
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  private async findTopology(signal: AbortSignal): Promise<ShelfTopology> {
    const root = await this.client.serviceRoot(signal);
    let chassis: string | undefined;
    let linkedDistribution: string | undefined;
    const chassisCollection = linkOf(root, "Chassis");
    if (chassisCollection !== undefined) {
      const members = await this.client.members(chassisCollection, signal);
      const shelf = members.find((doc) =>
        ["PowerShelf", "PowerDistribution"].includes(stringOf(doc, "ChassisType") ?? ""),
      );
      if (shelf !== undefined) {
        chassis = odataId(shelf);
        linkedDistribution = linkOf(documentOf(shelf, "Links"), "PowerDistribution");
      }
    }
    let distribution: string | undefined;
    const equipment = linkOf(root, "PowerEquipment");
    if (equipment !== undefined) {
      const shelves = linkOf((await this.client.get(equipment, signal)).doc, "PowerShelves");
      if (shelves !== undefined)
        distribution = linksOf((await this.client.get(shelves, signal)).doc, "Members")[0];
    }
    distribution ??= linkedDistribution;
    if (chassis === undefined && distribution === undefined) {
      throw new BmcError(
        "unsupported",
        `power shelf ${this.endpoint.address}: no Chassis of type PowerShelf and no PowerEquipment/PowerShelves`,
      );
    }
    const managers = linkOf(root, "Managers");
    const manager =
      managers !== undefined
        ? linksOf((await this.client.get(managers, signal)).doc, "Members")[0]
        : undefined;
    return { chassis, distribution, manager };
  }
}

export class RedfishPowerShelfManager implements ComponentManager {
  readonly type = "powershelf" as const;
  readonly implementation = "redfish";
  private readonly support: ManagerSupport;
  private readonly shelves: TargetConnections<ShelfConnection>;

  constructor(options: RedfishPowerShelfOptions = {}) {
    this.support = new ManagerSupport(options);
    const retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.shelves = new TargetConnections(
      this.support,
      "redfish",
      (target) => new ShelfConnection(target.endpoint, retry, options.logger),
      options,
    );
  }

  async powerControl(target: ComponentTarget, action: PowerAction, signal: AbortSignal): Promise<void> {
    await this.shelves.use(target, `power ${action}`, signal, async (shelf, call) => {
      const topology = await shelf.discover(call);
      if (target.outlets !== undefined) {
        const outlets = await this.outlets(shelf, topology, target, call);
        // Outlets switch independently; do them together, as a PDU operator would.
        await mapLimit(outlets, 4, (outlet) => this.controlOutlet(shelf, outlet, action, call));
        return;
      }
      if (topology.chassis === undefined) {
        throw new BmcError("unsupported", `${describeTarget(target)}: the shelf has no Chassis to reset`);
      }
      await this.resetChassis(shelf, topology.chassis, action, call);
    });
  }

  async getPowerStatus(target: ComponentTarget, signal: AbortSignal): Promise<ComponentPowerStatus> {
    return await this.shelves.use(target, "power status", signal, async (shelf, call) => {
      const topology = await shelf.discover(call);
      const [chassis, outlets, watts] = await Promise.all([
        topology.chassis !== undefined
          ? shelf.client.get(topology.chassis, call)
          : Promise.resolve(undefined),
        topology.distribution !== undefined
          ? this.outlets(shelf, topology, target, call)
          : Promise.resolve([]),
        this.supplyWatts(shelf, topology, call),
      ]);
      const outletStatus: OutletPowerStatus[] = outlets.map((outlet) => ({
        id: stringOf(outlet.doc, "Id") ?? outlet.path,
        ...(stringOf(outlet.doc, "Name") !== undefined ? { name: stringOf(outlet.doc, "Name") } : {}),
        state: mapPowerState(stringOf(outlet.doc, "PowerState")),
        ...(numberOf(documentOf(outlet.doc, "PowerWatts"), "Reading") !== undefined
          ? { watts: numberOf(documentOf(outlet.doc, "PowerWatts"), "Reading") }
          : {}),
      }));
      const state =
        target.outlets !== undefined || chassis === undefined
          ? combined(outletStatus.map((outlet) => outlet.state))
          : mapPowerState(stringOf(chassis.doc, "PowerState"));
      return this.support.powerStatus(target, state, { outlets: outletStatus, ...watts });
    });
  }

  async firmwareControl(
    target: ComponentTarget,
    request: ComponentFirmwareRequest,
    signal: AbortSignal,
  ): Promise<ComponentFirmwareStatus> {
    return await this.shelves.use(target, "firmware update", signal, async (shelf, call) => {
      const expectation = this.expectationOf(target);
      const version = request.version ?? expectation.firmwareVersion;
      const component = request.components?.[0] ?? expectation.firmwareComponent;
      const service = await this.updateService(shelf, call);
      const action = documentOf(documentOf(service.doc, "Actions"), "#UpdateService.SimpleUpdate");
      const actionTarget = stringOf(action, "target");
      if (actionTarget === undefined) {
        throw new BmcError(
          "unsupported",
          `${describeTarget(target)}: the UpdateService offers no SimpleUpdate`,
        );
      }
      let targets: string[] | undefined;
      if (request.components !== undefined && request.components.length > 0) {
        const inventory = await this.firmwareInventory(shelf, service.doc, call);
        targets = request.components.map((id) => {
          const path = odataId(inventory.find((doc) => stringOf(doc, "Id") === id) ?? {});
          if (path === undefined)
            throw new BmcError("rejected", `${describeTarget(target)}: no firmware "${id}"`);
          return path;
        });
      }
      const post: RedfishRequest = {
        method: "POST",
        path: normalizePath(actionTarget),
        body: {
          ImageURI: request.imageUri,
          TransferProtocol: transferProtocolFor(request.imageUri),
          ...(targets !== undefined ? { Targets: targets } : {}),
        },
        idempotent: false,
      };
      const response = await shelf.transport.send(post, call);
      if (response.status < 200 || response.status >= 300) throw shelf.client.rejection(post, response);
      const location = response.header("location");
      const task = isTask(response.body) ? odataId(response.body) : undefined;
      const monitor = location !== undefined ? normalizePath(location) : task;
      if (monitor === undefined) {
        throw new BmcError(
          "protocol",
          `${describeTarget(target)}: the shelf accepted the update but gave no task`,
        );
      }
      const handle = encodeHandle({ kind: "shelf-task", monitor, version, component });
      return {
        handle,
        state: "running",
        phase: "install",
        ...(version !== undefined ? { expectedVersion: version } : {}),
        messages: isTask(response.body) ? parseTask(response.body).messages : [],
      };
    });
  }

  async getFirmwareStatus(
    target: ComponentTarget,
    handle: string,
    signal: AbortSignal,
  ): Promise<ComponentFirmwareStatus> {
    const payload = decodeHandle(handle);
    if (payload?.kind !== "shelf-task" || typeof payload.monitor !== "string") throw badHandle(handle);
    const monitor = payload.monitor;
    const expectedVersion = typeof payload.version === "string" ? payload.version : undefined;
    const component = typeof payload.component === "string" ? payload.component : undefined;
    return await this.shelves.use(target, "firmware status", signal, async (shelf, call) => {
      const request: RedfishRequest = { method: "GET", path: monitor };
      const response = await shelf.transport.send(request, call);
      if (response.status >= 400 && response.status !== 404) throw shelf.client.rejection(request, response);
      const task = isTask(response.body) ? parseTask(response.body) : undefined;
      if (task !== undefined && task.state !== "completed") {
        return installPhase(handle, task, expectedVersion);
      }
      // Completed, or the monitor was reaped after completing: the version decides.
      const version = await this.readVersion(shelf, component, call);
      return verified(handle, version, expectedVersion, task?.messages ?? [], "the shelf reports");
    });
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
    return await firmwareConsistencyOf(targets, (target) =>
      this.shelves.use(target, "firmware version", signal, (shelf, call) =>
        this.readVersion(shelf, this.expectationOf(target).firmwareComponent, call),
      ),
    );
  }

  async close(): Promise<void> {
    await this.shelves.close();
  }

  private async resetChassis(
    shelf: ShelfConnection,
    chassisPath: string,
    action: PowerAction,
    signal: AbortSignal,
  ): Promise<void> {
    const chassis = await shelf.client.get(chassisPath, signal);
    const reset = documentOf(documentOf(chassis.doc, "Actions"), "#Chassis.Reset");
    const resetTarget = stringOf(reset, "target");
    if (resetTarget === undefined) {
      throw new BmcError(
        "unsupported",
        `power shelf ${shelf.endpoint.address}: ${chassisPath} offers no Chassis.Reset`,
      );
    }
    const allowed = await allowableValues(shelf, reset, "ResetType", signal);
    const current = mapPowerState(stringOf(chassis.doc, "PowerState"));
    await this.carryOut(
      shelf,
      chassisPath,
      planPowerAction(action, current, allowed),
      (resetType) => ({ path: normalizePath(resetTarget), body: { ResetType: resetType } }),
      `power shelf ${shelf.endpoint.address}: cannot ${action}`,
      signal,
    );
  }

  private async controlOutlet(
    shelf: ShelfConnection,
    outlet: FetchedDocument,
    action: PowerAction,
    signal: AbortSignal,
  ): Promise<void> {
    const control = documentOf(documentOf(outlet.doc, "Actions"), "#Outlet.PowerControl");
    const controlTarget = stringOf(control, "target");
    if (controlTarget === undefined) {
      throw new BmcError(
        "unsupported",
        `power shelf ${shelf.endpoint.address}: ${outlet.path} offers no Outlet.PowerControl`,
      );
    }
    const allowed = (await allowableValues(shelf, control, "PowerState", signal))?.flatMap((value) => {
      const mapped = OUTLET_TO_RESET[value];
      return mapped !== undefined ? [mapped] : [];
    });
    await this.carryOut(
      shelf,
      outlet.path,
      planPowerAction(action, mapPowerState(stringOf(outlet.doc, "PowerState")), allowed),
      (resetType) => ({
        path: normalizePath(controlTarget),
        body: { PowerState: RESET_TO_OUTLET[resetType] },
      }),
      `power shelf ${shelf.endpoint.address}: outlet ${stringOf(outlet.doc, "Id")} cannot ${action}`,
      signal,
    );
  }

  /**
   * Carries out a power plan on one resource (the chassis, an outlet), posting `request(resetType)` for
   * each step; `cannot` begins the message of a plan the resource does not support.
   */
  private async carryOut(
    shelf: ShelfConnection,
    resource: string,
    plan: PowerPlan,
    request: (resetType: string) => { readonly path: string; readonly body: RedfishDocument },
    cannot: string,
    signal: AbortSignal,
  ): Promise<void> {
    const post = async (resetType: string): Promise<void> => {
      // Switching power twice by accident is what must not happen; a dropped request is not re-sent.
      const sent: RedfishRequest = { method: "POST", ...request(resetType), idempotent: false };
      const response = await shelf.transport.send(sent, signal);
      if (response.status < 200 || response.status >= 300) throw shelf.client.rejection(sent, response);
    };
    switch (plan.kind) {
      case "none":
        return;
      case "unsupported":
        throw new BmcError("unsupported", `${cannot}: ${plan.reason}`);
      case "reset":
        await post(plan.resetType);
        return;
      case "off-then-on":
        await post(plan.off);
        await this.waitFor(shelf, resource, "off", signal);
        await post(plan.on);
        return;
    }
  }

  private async waitFor(
    shelf: ShelfConnection,
    path: string,
    wanted: PowerState,
    signal: AbortSignal,
  ): Promise<void> {
    for (;;) {
      const { doc } = await shelf.client.get(path, signal);
      if (mapPowerState(stringOf(doc, "PowerState")) === wanted) return;
      await this.support.pause(this.support.pollIntervalMs, signal);
    }
  }

  /** The outlets of the shelf, or those the target names (each must exist). */
  private async outlets(
    shelf: ShelfConnection,
    topology: ShelfTopology,
    target: ComponentTarget,
    signal: AbortSignal,
  ): Promise<FetchedDocument[]> {
    if (topology.distribution === undefined) {
      throw new BmcError(
        "unsupported",
        `${describeTarget(target)}: the shelf has no PowerDistribution with outlets`,
      );
    }
    const { doc } = await shelf.client.get(topology.distribution, signal);
    const link = linkOf(doc, "Outlets");
    if (link === undefined) {
      if (target.outlets === undefined) return [];
      throw new BmcError("unsupported", `${describeTarget(target)}: the shelf lists no outlets`);
    }
    const members = linksOf((await shelf.client.get(link, signal)).doc, "Members");
    const wanted =
      target.outlets === undefined
        ? members
        : target.outlets.map((id) => {
            const path = members.find((member) => member.split("/").pop() === id);
            if (path === undefined) {
              throw new ValidationError(
                "component_manager.unknown_outlet",
                `${describeTarget(target)}: no outlet "${id}"; the shelf has ${members.map((m) => m.split("/").pop()).join(", ")}`,
                "target.outlets",
              );
            }
            return path;
          });
    return await mapLimit(wanted, 4, (path) => shelf.client.get(path, signal));
  }

  /** Input and output watts summed over the supplies' metrics, where the shelf reports them. */
  private async supplyWatts(
    shelf: ShelfConnection,
    topology: ShelfTopology,
    signal: AbortSignal,
  ): Promise<{ inputWatts?: number; outputWatts?: number }> {
    if (topology.chassis === undefined) return {};
    const { doc } = await shelf.client.get(topology.chassis, signal);
    const subsystem = linkOf(doc, "PowerSubsystem");
    if (subsystem === undefined) return {};
    const suppliesLink = linkOf((await shelf.client.get(subsystem, signal)).doc, "PowerSupplies");
    if (suppliesLink === undefined) return {};
    const supplies = await shelf.client.members(suppliesLink, signal);
    const metrics = await mapLimit(supplies, 4, async (supply) => {
      const link = linkOf(supply, "Metrics");
      return link !== undefined ? (await shelf.client.get(link, signal)).doc : undefined;
    });
    let input: number | undefined;
    let output: number | undefined;
    for (const doc of metrics) {
      const inWatts = numberOf(documentOf(doc, "InputPowerWatts"), "Reading");
      const outWatts = numberOf(documentOf(doc, "OutputPowerWatts"), "Reading");
      if (inWatts !== undefined) input = (input ?? 0) + inWatts;
      if (outWatts !== undefined) output = (output ?? 0) + outWatts;
    }
    return {
      ...(input !== undefined ? { inputWatts: Math.round(input * 10) / 10 } : {}),
      ...(output !== undefined ? { outputWatts: Math.round(output * 10) / 10 } : {}),
    };
  }

  private async updateService(shelf: ShelfConnection, signal: AbortSignal): Promise<FetchedDocument> {
    const root = await shelf.client.serviceRoot(signal);
    const link = linkOf(root, "UpdateService");
    if (link === undefined) {
      throw new BmcError(
        "unsupported",
        `power shelf ${shelf.endpoint.address}: the service root links no UpdateService`,
      );
    }
    return await shelf.client.get(link, signal);
  }

  private async firmwareInventory(
    shelf: ShelfConnection,
    service: RedfishDocument,
    signal: AbortSignal,
  ): Promise<RedfishDocument[]> {
    const link = linkOf(service, "FirmwareInventory");
    return link !== undefined ? await shelf.client.members(link, signal) : [];
  }

  /** A firmware inventory item's version, or the controller's own (its Manager's FirmwareVersion). */
  private async readVersion(
    shelf: ShelfConnection,
    component: string | undefined,
    signal: AbortSignal,
  ): Promise<string> {
    if (component !== undefined) {
      const inventory = await this.firmwareInventory(
        shelf,
        (await this.updateService(shelf, signal)).doc,
        signal,
      );
      const item = inventory.find(
        (doc) => stringOf(doc, "Id") === component || stringOf(doc, "Name") === component,
      );
      const version = stringOf(item, "Version");
      if (version === undefined) {
        throw new BmcError(
          "rejected",
          `power shelf ${shelf.endpoint.address}: no firmware component "${component}"`,
        );
      }
      return version;
    }
    const topology = await shelf.discover(signal);
    for (const path of [topology.manager, topology.distribution]) {
      if (path === undefined) continue;
      const version = stringOf((await shelf.client.get(path, signal)).doc, "FirmwareVersion");
      if (version !== undefined) return version;
    }
    throw new BmcError("protocol", `power shelf ${shelf.endpoint.address}: reports no firmware version`);
  }
}

/** Inline `<Parameter>@Redfish.AllowableValues`, else the action's ActionInfo; undefined when unadvertised. */
async function allowableValues(
  shelf: ShelfConnection,
  action: RedfishDocument | undefined,
  parameter: string,
  signal: AbortSignal,
): Promise<string[] | undefined> {
  const inline = stringsOf(action, `${parameter}@Redfish.AllowableValues`);
  if (inline !== undefined) return inline;
  const info = stringOf(action, "@Redfish.ActionInfo");
  if (info === undefined) return undefined;
  const { doc } = await shelf.client.get(normalizePath(info), signal);
  const entry = arrayOf(doc, "Parameters").find(
    (item): item is RedfishDocument => isDocument(item) && stringOf(item, "Name") === parameter,
  );
  return stringsOf(entry, "AllowableValues");
}

/** The state of several outlets together: the same for all, a transition if one is under way, else unknown. */
function combined(states: readonly PowerState[]): PowerState {
  if (states.length === 0) return "unknown";
  if (states.every((state) => state === states[0])) return states[0] as PowerState;
  if (states.includes("powering-on")) return "powering-on";
  if (states.includes("powering-off")) return "powering-off";
  return "unknown";
}
