/**
 * The Redfish BmcDriver. Everything it touches is found from the service root: the system, its manager
 * and chassis through their links, action targets and allowable values from the documents themselves,
 * `$expand` only where the root advertises it. Vendor differences are handled by what the BMC says about
 * itself, never by the vendor's name.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import {
  type BmcDriver,
  type BmcEndpoint,
  BmcError,
  type BmcLogEntry,
  type BootOverride,
  type BootOverrideState,
  type FirmwareUpdateRequest,
  type FirmwareUpdateStatus,
  type OutOfBandInventory,
  type PowerAction,
  type PowerState,
  type PowerSupplyStatus,
  type SensorReading,
  type SensorReport,
} from "../driver.ts";
import { parseBootOverride, planBootPatch } from "./boot.ts";
import { type FetchedDocument, mapLimit, RedfishClient } from "./client.ts";
import {
  memoryFromSummary,
  memoryModuleBytes,
  parseDrive,
  parseFirmware,
  parseNic,
  parseProcessor,
  pickBmcMac,
} from "./inventory.ts";
import {
  arrayOf,
  compact,
  documentOf,
  isAbsent,
  isDocument,
  linkOf,
  linksOf,
  mapHealth,
  normalizePath,
  numberOf,
  odataId,
  type RedfishDocument,
  statusOf,
  stringOf,
  stringsOf,
} from "./json.ts";
import { mapPowerState, planPowerAction } from "./power.ts";
import {
  parseLegacyPower,
  parseLegacyThermal,
  parsePowerSupply,
  parseSensor,
  uniqueNames,
} from "./sensors.ts";
import { joinShared } from "./shared.ts";
import { isTask, newestFirst, parseLogEntry, parseTask, transferProtocolFor } from "./tasks.ts";
import {
  DEFAULT_RETRY_POLICY,
  parseRetryAfter,
  type RedfishRequest,
  type RedfishResponse,
  RedfishTransport,
  type RetryPolicy,
} from "./transport.ts";

export interface RedfishDriverOptions {
  readonly logger?: Logger;
  readonly retry?: Partial<RetryPolicy>;
  /** Requests in flight to one BMC at once (default 4: small BMCs fall over beyond that). */
  readonly maxConcurrentRequests?: number;
  /** Longest wait for a power transition inside one call (Off before On) or a task monitor (default 180 s). */
  readonly transitionTimeoutMs?: number;
  /** Poll interval while waiting for a transition or a task monitor without Retry-After (default 2 s). */
  readonly pollIntervalMs?: number;
  readonly random?: () => number;
}

interface Topology {
  readonly system: string;
  readonly manager: string | undefined;
  readonly chassis: readonly string[];
}

/** ResetTypes whose repetition cannot hurt, so a dropped connection may re-send them. */
const REPEATABLE_RESETS = new Set(["On", "ForceOn", "ForceOff", "GracefulShutdown"]);
/** How a system resource says "not by PATCH here" (the fallback is its @Redfish.Settings object). */
const PATCH_REFUSED = new Set([400, 405, 501]);

export function createRedfishDriver(
  endpoint: BmcEndpoint,
  options: RedfishDriverOptions = {},
): RedfishDriver {
  return new RedfishDriver(endpoint, options);
}

export class RedfishDriver implements BmcDriver {
  readonly protocol = "redfish" as const;
  private readonly transport: RedfishTransport;
  private readonly client: RedfishClient;
  private readonly logger: Logger | undefined;
  private readonly transitionTimeoutMs: number;
  private readonly pollIntervalMs: number;
  private topology: Promise<Topology> | undefined;

  constructor(
    private readonly endpoint: BmcEndpoint,
    options: RedfishDriverOptions = {},
  ) {
    const concurrency = options.maxConcurrentRequests ?? 4;
    this.logger = options.logger?.child({ bmc: endpoint.address, protocol: "redfish" });
    this.transport = new RedfishTransport(endpoint, {
      retry: { ...DEFAULT_RETRY_POLICY, ...options.retry },
      maxConcurrentRequests: concurrency,
      ...(this.logger !== undefined ? { logger: this.logger } : {}),
      ...(options.random !== undefined ? { random: options.random } : {}),
    });
    this.client = new RedfishClient(this.transport, concurrency);
    this.transitionTimeoutMs = options.transitionTimeoutMs ?? 180_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 2_000;
  }

  /** "session" or "basic" once a call has authenticated: which one the BMC let us use. */
  get authMode(): "none" | "basic" | "session" {
    return this.transport.authMode;
  }

  async getPowerState(signal: AbortSignal): Promise<PowerState> {
    const { doc } = await this.system(signal);
    return mapPowerState(stringOf(doc, "PowerState"));
  }

  async setPower(action: PowerAction, signal: AbortSignal): Promise<void> {
    const { doc, path } = await this.system(signal);
    const reset = documentOf(documentOf(doc, "Actions"), "#ComputerSystem.Reset");
    const target = stringOf(reset, "target");
    if (target === undefined) {
      throw new BmcError(
        "unsupported",
        `BMC ${this.endpoint.address}: ${path} offers no ComputerSystem.Reset action`,
      );
    }
    const allowed = await this.allowableValues(reset, "ResetType", signal);
    const plan = planPowerAction(action, mapPowerState(stringOf(doc, "PowerState")), allowed);
    switch (plan.kind) {
      case "none":
        return;
      case "unsupported":
        throw new BmcError("unsupported", `BMC ${this.endpoint.address}: cannot ${action}: ${plan.reason}`);
      case "reset":
        await this.reset(normalizePath(target), plan.resetType, signal);
        return;
      case "off-then-on":
        await this.reset(normalizePath(target), plan.off, signal);
        await this.waitForPowerState("off", signal);
        await this.reset(normalizePath(target), plan.on, signal);
        return;
    }
  }

  async getBootOverride(signal: AbortSignal): Promise<BootOverrideState> {
    const { doc } = await this.system(signal);
    return parseBootOverride(documentOf(doc, "Boot"));
  }

  async setBootOverride(override: BootOverride, signal: AbortSignal): Promise<void> {
    const system = await this.system(signal);
    const body = (fetched: FetchedDocument): RedfishDocument => {
      const plan = planBootPatch(override, documentOf(fetched.doc, "Boot"));
      if (plan.kind === "unsupported") {
        throw new BmcError(
          "unsupported",
          `BMC ${this.endpoint.address}: cannot set the boot override: ${plan.reason}`,
        );
      }
      return plan.body;
    };
    const direct = await this.patchWithEtag(system, body, signal);
    if (direct.kind === "applied") return;
    const settingsPath = linkOf(documentOf(system.doc, "@Redfish.Settings"), "SettingsObject");
    if (settingsPath === undefined || !PATCH_REFUSED.has(direct.response.status)) {
      throw this.client.rejection({ method: "PATCH", path: system.path }, direct.response);
    }
    // The system resource is read-only here; its settings object takes the change at the next reset.
    this.logger?.debug({ path: settingsPath }, "boot override goes through the @Redfish.Settings object");
    const settings = await this.client.get(settingsPath, signal);
    const pending = await this.patchWithEtag(
      settings,
      (fetched) => body({ ...fetched, doc: mergeBoot(system, fetched) }),
      signal,
    );
    if (pending.kind !== "applied") {
      throw this.client.rejection({ method: "PATCH", path: settingsPath }, pending.response);
    }
  }

  async getInventory(signal: AbortSignal): Promise<OutOfBandInventory> {
    const topology = await this.discover(signal);
    const { doc: system } = await this.client.get(topology.system, signal);
    const [cpus, memoryBytes, nics, drives, firmware, manager] = await Promise.all([
      this.optional("processors", [], () => this.cpus(system, signal)),
      this.optional("memory", undefined, () => this.memory(system, signal)),
      this.optional("network interfaces", [], () => this.nics(system, signal)),
      this.optional("storage", [], () => this.drives(system, signal)),
      this.optional("firmware inventory", [], () => this.firmware(signal)),
      this.optional("manager", {}, () => this.manager(topology, signal)),
    ]);
    return compact({
      manufacturer: stringOf(system, "Manufacturer"),
      model: stringOf(system, "Model"),
      serial: stringOf(system, "SerialNumber"),
      uuid: stringOf(system, "UUID"),
      sku: stringOf(system, "SKU"),
      biosVersion: stringOf(system, "BiosVersion"),
      bmcFirmwareVersion: manager.firmwareVersion,
      bmcMac: manager.mac,
      powerState: mapPowerState(stringOf(system, "PowerState")),
      cpus,
      memoryBytes,
      nics,
      drives,
      firmware,
    });
  }

  async getSensors(signal: AbortSignal): Promise<SensorReport> {
    const topology = await this.discover(signal);
    const reports = await mapLimit(topology.chassis, 2, (path) => this.chassisSensors(path, signal));
    return {
      sensors: reports.flatMap((report) => report.sensors),
      powerSupplies: uniqueNames(
        reports.flatMap((report) => report.powerSupplies),
        (supply, index) => `${supply.name} ${index + 1}`,
      ),
    };
  }

  async getLogEntries(limit: number, signal: AbortSignal): Promise<BmcLogEntry[]> {
    if (limit <= 0) return [];
    const topology = await this.discover(signal);
    const owners = [topology.system, ...(topology.manager !== undefined ? [topology.manager] : [])];
    const services: RedfishDocument[] = [];
    for (const owner of owners) {
      const { doc } = await this.client.get(owner, signal);
      const link = linkOf(doc, "LogServices");
      if (link === undefined) continue;
      services.push(
        ...(await this.optional(`log services of ${owner}`, [], () => this.client.members(link, signal))),
      );
    }
    const entries = await mapLimit(services, 2, async (service) => {
      const link = linkOf(service, "Entries");
      if (link === undefined) return [];
      const docs = await this.optional(`log entries of ${odataId(service) ?? "a log service"}`, [], () =>
        // Services list entries oldest first; when only links come back, fetch just the newest.
        this.client.members(link, signal, { select: (links) => links.slice(-limit) }),
      );
      return docs.map(parseLogEntry).filter((entry): entry is BmcLogEntry => entry !== undefined);
    });
    return newestFirst(entries.flat()).slice(0, limit);
  }

  async startFirmwareUpdate(
    request: FirmwareUpdateRequest,
    signal: AbortSignal,
  ): Promise<FirmwareUpdateStatus> {
    const service = await this.updateService(signal);
    const action = documentOf(documentOf(service.doc, "Actions"), "#UpdateService.SimpleUpdate");
    const target = stringOf(action, "target");
    if (target === undefined) {
      throw new BmcError(
        "unsupported",
        `BMC ${this.endpoint.address}: the UpdateService offers no SimpleUpdate action`,
      );
    }
    const protocol = request.transferProtocol?.toUpperCase() ?? transferProtocolFor(request.imageUri);
    const protocols = await this.allowableValues(action, "TransferProtocol", signal);
    if (protocols !== undefined && protocol !== undefined && !protocols.includes(protocol)) {
      throw new BmcError(
        "unsupported",
        `BMC ${this.endpoint.address}: transfer protocol ${protocol} is not offered; the BMC offers ${protocols.join(", ")}`,
      );
    }
    const targets =
      request.targets !== undefined && request.targets.length > 0
        ? await this.firmwareTargets(service.doc, request.targets, signal)
        : undefined;
    const body = compact({ ImageURI: request.imageUri, TransferProtocol: protocol, Targets: targets });
    const post: RedfishRequest = { method: "POST", path: normalizePath(target), body, idempotent: false };
    const response = await this.transport.send(post, signal);
    if (response.status < 200 || response.status >= 300) throw this.client.rejection(post, response);
    const taskPath = isTask(response.body) ? odataId(response.body) : undefined;
    const location = response.header("location");
    const handle = taskPath ?? (location !== undefined ? normalizePath(location) : undefined);
    if (handle === undefined) {
      return {
        handle: "",
        state: "pending",
        messages: ["the BMC accepted the update without a task to follow; check the firmware inventory"],
      };
    }
    if (isTask(response.body)) return { handle, ...parseTask(response.body) };
    return await this.getFirmwareUpdateStatus(handle, signal);
  }

  async getFirmwareUpdateStatus(handle: string, signal: AbortSignal): Promise<FirmwareUpdateStatus> {
    if (handle.trim() === "") {
      throw new BmcError("unsupported", `BMC ${this.endpoint.address}: this update has no task to follow`);
    }
    const request: RedfishRequest = { method: "GET", path: normalizePath(handle) };
    const response = await this.transport.send(request, signal);
    if (response.status === 200 || response.status === 202 || response.status === 201) {
      if (isTask(response.body)) return { handle, ...parseTask(response.body) };
      // A task monitor answers 202 while running and the operation's own result once done.
      return { handle, state: response.status === 202 ? "running" : "completed", messages: [] };
    }
    if (response.status === 204) return { handle, state: "completed", messages: [] };
    throw this.client.rejection(request, response);
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  private async discover(signal: AbortSignal): Promise<Topology> {
    if (this.topology === undefined) {
      const pending = this.findTopology(this.transport.sharedSignal());
      this.topology = pending;
      pending.catch(() => {
        if (this.topology === pending) this.topology = undefined;
      });
    }
    return await joinShared(this.topology, signal, `BMC ${this.endpoint.address}: discovering the system`);
  }

  private async findTopology(signal: AbortSignal): Promise<Topology> {
    const root = await this.client.serviceRoot(signal);
    const systems = linkOf(root, "Systems");
    if (systems === undefined) {
      throw new BmcError("unsupported", `BMC ${this.endpoint.address}: the service root links no Systems`);
    }
    const system = linksOf((await this.client.get(systems, signal)).doc, "Members")[0];
    if (system === undefined) {
      throw new BmcError("unsupported", `BMC ${this.endpoint.address}: the Systems collection is empty`);
    }
    const { doc } = await this.client.get(system, signal);
    const links = documentOf(doc, "Links");
    let manager = linksOf(links, "ManagedBy")[0];
    let chassis = linksOf(links, "Chassis");
    if (manager === undefined) manager = await this.firstMember(root, "Managers", signal);
    if (chassis.length === 0) {
      const collection = linkOf(root, "Chassis");
      chassis =
        collection !== undefined ? linksOf((await this.client.get(collection, signal)).doc, "Members") : [];
    }
    return { system, manager, chassis };
  }

  private async firstMember(
    root: RedfishDocument,
    key: string,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    const collection = linkOf(root, key);
    if (collection === undefined) return undefined;
    return linksOf((await this.client.get(collection, signal)).doc, "Members")[0];
  }

  private async system(signal: AbortSignal): Promise<FetchedDocument> {
    const topology = await this.discover(signal);
    return await this.client.get(topology.system, signal);
  }

  /** Inline `<Parameter>@Redfish.AllowableValues`, else the action's ActionInfo; undefined when unadvertised. */
  private async allowableValues(
    action: RedfishDocument | undefined,
    parameter: string,
    signal: AbortSignal,
  ): Promise<string[] | undefined> {
    const inline = stringsOf(action, `${parameter}@Redfish.AllowableValues`);
    if (inline !== undefined) return inline;
    const info = stringOf(action, "@Redfish.ActionInfo");
    if (info === undefined) return undefined;
    const { doc } = await this.client.get(normalizePath(info), signal);
    const entry = arrayOf(doc, "Parameters").find(
      (item): item is RedfishDocument => isDocument(item) && stringOf(item, "Name") === parameter,
    );
    return stringsOf(entry, "AllowableValues");
  }

  private async reset(target: string, resetType: string, signal: AbortSignal): Promise<void> {
    const request: RedfishRequest = {
      method: "POST",
      path: target,
      body: { ResetType: resetType },
      idempotent: REPEATABLE_RESETS.has(resetType),
    };
    const response = await this.transport.send(request, signal);
    if (response.status === 202) {
      await this.followTaskMonitor(response, request, signal);
      return;
    }
    if (response.status >= 200 && response.status < 300) return;
    // iLO and others refuse On for a machine that is on (and ForceOff for one that is off): that is success.
    const reached =
      resetType === "ForceOff" ? "off" : resetType === "On" || resetType === "ForceOn" ? "on" : undefined;
    if (reached !== undefined && response.status >= 400 && response.status < 500) {
      if ((await this.getPowerState(signal)) === reached) return;
    }
    throw this.client.rejection(request, response);
  }

  private async waitForPowerState(wanted: PowerState, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + this.transitionTimeoutMs;
    for (;;) {
      if ((await this.getPowerState(signal)) === wanted) return;
      if (Date.now() >= deadline) {
        throw new BmcError(
          "timeout",
          `BMC ${this.endpoint.address}: the system did not reach "${wanted}" within ${this.transitionTimeoutMs} ms`,
        );
      }
      await this.pause(this.pollIntervalMs, signal);
    }
  }

  /** Polls a 202's task monitor, honouring Retry-After, until the operation ends. */
  private async followTaskMonitor(
    accepted: RedfishResponse,
    origin: RedfishRequest,
    signal: AbortSignal,
  ): Promise<void> {
    const location = accepted.header("location");
    if (location === undefined) return;
    const monitor: RedfishRequest = { method: "GET", path: normalizePath(location) };
    const deadline = Date.now() + this.transitionTimeoutMs;
    let last = accepted;
    for (;;) {
      if (isTask(last.body)) {
        const task = parseTask(last.body);
        if (task.state === "completed") return;
        if (task.state === "failed" || task.state === "cancelled") {
          throw new BmcError(
            "rejected",
            `${this.transport.describe(origin)}: the BMC's task ended ${task.state}${task.messages.length > 0 ? ` (${task.messages.join("; ")})` : ""}`,
          );
        }
      } else if (last !== accepted && last.status !== 202) {
        return;
      }
      if (Date.now() >= deadline) {
        throw new BmcError(
          "timeout",
          `${this.transport.describe(origin)}: the BMC's task did not finish within ${this.transitionTimeoutMs} ms`,
        );
      }
      const wait = parseRetryAfter(last.header("retry-after")) ?? this.pollIntervalMs;
      await this.pause(Math.min(wait, this.transitionTimeoutMs), signal);
      last = await this.transport.send(monitor, signal);
      // Monitors commonly vanish once their task is done and reaped.
      if (last.status === 404) return;
      if (last.status >= 400) throw this.client.rejection(monitor, last);
    }
  }

  /**
   * PATCH with If-Match set to the resource's ETag. A 412 means someone changed the resource since we read
   * it: read it again (recomputing the body from the fresh document) and try once more.
   */
  private async patchWithEtag(
    fetched: FetchedDocument,
    body: (fetched: FetchedDocument) => RedfishDocument,
    signal: AbortSignal,
  ): Promise<{ kind: "applied" } | { kind: "refused"; response: RedfishResponse }> {
    let current = fetched;
    for (let attempt = 1; ; attempt++) {
      const request: RedfishRequest = {
        method: "PATCH",
        path: current.path,
        body: body(current),
        ...(current.etag !== undefined ? { headers: { "if-match": current.etag } } : {}),
      };
      const response = await this.transport.send(request, signal);
      if (response.status === 202) {
        await this.followTaskMonitor(response, request, signal);
        return { kind: "applied" };
      }
      if (response.status >= 200 && response.status < 300) return { kind: "applied" };
      if ((response.status === 412 || response.status === 428) && attempt === 1) {
        this.logger?.debug({ path: current.path, status: response.status }, "ETag was stale, reading again");
        current = await this.client.get(current.path, signal);
        continue;
      }
      return { kind: "refused", response };
    }
  }

  private async cpus(system: RedfishDocument, signal: AbortSignal): Promise<OutOfBandInventory["cpus"]> {
    const link = linkOf(system, "Processors");
    const parsed = link !== undefined ? (await this.client.members(link, signal)).map(parseProcessor) : [];
    const cpus = parsed.filter((cpu) => cpu !== undefined);
    if (cpus.length > 0) return cpus;
    // Some BMCs list no Processor resources but do fill in the summary.
    const summary = documentOf(system, "ProcessorSummary");
    const count = numberOf(summary, "Count") ?? 0;
    const model = stringOf(summary, "Model");
    return Array.from({ length: count }, () => compact({ model }));
  }

  private async memory(system: RedfishDocument, signal: AbortSignal): Promise<number | undefined> {
    const summary = memoryFromSummary(system);
    if (summary !== undefined) return summary;
    const link = linkOf(system, "Memory");
    if (link === undefined) return undefined;
    const total = (await this.client.members(link, signal)).reduce(
      (sum, doc) => sum + memoryModuleBytes(doc),
      0,
    );
    return total > 0 ? total : undefined;
  }

  private async nics(system: RedfishDocument, signal: AbortSignal): Promise<OutOfBandInventory["nics"]> {
    const link = linkOf(system, "EthernetInterfaces");
    if (link === undefined) return [];
    return (await this.client.members(link, signal)).map(parseNic).filter((nic) => nic !== undefined);
  }

  private async drives(system: RedfishDocument, signal: AbortSignal): Promise<OutOfBandInventory["drives"]> {
    const link = linkOf(system, "Storage");
    if (link === undefined) return [];
    const storages = await this.client.members(link, signal);
    const drivePaths = storages.flatMap((storage) => linksOf(storage, "Drives"));
    const docs = await mapLimit(drivePaths, 4, async (path) => (await this.client.get(path, signal)).doc);
    return docs.map(parseDrive).filter((drive) => drive !== undefined);
  }

  private async updateService(signal: AbortSignal): Promise<FetchedDocument> {
    const root = await this.client.serviceRoot(signal);
    const link = linkOf(root, "UpdateService");
    if (link === undefined) {
      throw new BmcError(
        "unsupported",
        `BMC ${this.endpoint.address}: the service root links no UpdateService`,
      );
    }
    return await this.client.get(link, signal);
  }

  private async firmware(signal: AbortSignal): Promise<OutOfBandInventory["firmware"]> {
    const service = await this.updateService(signal);
    const link = linkOf(service.doc, "FirmwareInventory");
    if (link === undefined) return [];
    return (await this.client.members(link, signal)).map(parseFirmware).filter((item) => item !== undefined);
  }

  /** Firmware inventory ids (or resource paths) → the resource URIs SimpleUpdate's Targets takes. */
  private async firmwareTargets(
    service: RedfishDocument,
    targets: readonly string[],
    signal: AbortSignal,
  ): Promise<string[]> {
    const link = linkOf(service, "FirmwareInventory");
    const inventory = link !== undefined ? await this.client.members(link, signal) : [];
    return targets.map((target) => {
      if (target.startsWith("/redfish/")) return normalizePath(target);
      const match = inventory.find((doc) => stringOf(doc, "Id") === target);
      const path = match !== undefined ? odataId(match) : undefined;
      if (path === undefined) {
        throw new BmcError(
          "rejected",
          `BMC ${this.endpoint.address}: no firmware inventory entry "${target}"`,
        );
      }
      return path;
    });
  }

  private async manager(
    topology: Topology,
    signal: AbortSignal,
  ): Promise<{ firmwareVersion?: string; mac?: string }> {
    if (topology.manager === undefined) return {};
    const { doc } = await this.client.get(topology.manager, signal);
    const link = linkOf(doc, "EthernetInterfaces");
    const interfaces = link !== undefined ? await this.client.members(link, signal) : [];
    return compact({ firmwareVersion: stringOf(doc, "FirmwareVersion"), mac: pickBmcMac(interfaces) });
  }

  /**
   * The Sensors collection when the chassis has a populated one; otherwise temperatures and fans from
   * ThermalSubsystem (or legacy Thermal) and power readings from legacy Power. Supplies come from
   * PowerSubsystem, or legacy Power where that has none.
   */
  private async chassisSensors(path: string, signal: AbortSignal): Promise<SensorReport> {
    const { doc } = await this.client.get(path, signal);
    const read = async <T>(key: string, fallback: T, parse: (link: string) => Promise<T>): Promise<T> => {
      const link = linkOf(doc, key);
      return link === undefined
        ? fallback
        : await this.optional(`${key} of ${path}`, fallback, () => parse(link));
    };
    let legacyPower: Promise<ReturnType<typeof parseLegacyPower>> | undefined;
    const power = (): Promise<ReturnType<typeof parseLegacyPower>> => {
      legacyPower ??= read("Power", { sensors: [], powerSupplies: [] }, async (link) =>
        parseLegacyPower((await this.client.get(link, signal)).doc),
      );
      return legacyPower;
    };
    let sensors = await read("Sensors", [], async (link) =>
      (await this.client.members(link, signal)).map(parseSensor).filter((reading) => reading !== undefined),
    );
    if (sensors.length === 0) {
      let thermal = await read("ThermalSubsystem", [], (link) => this.thermalSubsystem(link, signal));
      if (thermal.length === 0) {
        thermal = await read("Thermal", [], async (link) =>
          parseLegacyThermal((await this.client.get(link, signal)).doc),
        );
      }
      sensors = [...thermal, ...(await power()).sensors];
    }
    let powerSupplies = await read("PowerSubsystem", [], (link) => this.powerSubsystem(link, signal));
    if (powerSupplies.length === 0) powerSupplies = (await power()).powerSupplies;
    return { sensors, powerSupplies };
  }

  private async thermalSubsystem(path: string, signal: AbortSignal): Promise<SensorReading[]> {
    const { doc } = await this.client.get(path, signal);
    const readings: SensorReading[] = [];
    const metricsLink = linkOf(doc, "ThermalMetrics");
    if (metricsLink !== undefined) {
      const { doc: metrics } = await this.client.get(metricsLink, signal);
      for (const item of arrayOf(metrics, "TemperatureReadingsCelsius")) {
        if (!isDocument(item)) continue;
        const source = stringOf(item, "DataSourceUri");
        readings.push({
          name: stringOf(item, "DeviceName") ?? source?.split("/").pop() ?? "temperature",
          kind: "temperature",
          value: numberOf(item, "Reading") ?? null,
          unit: "°C",
          health: "unknown",
        });
      }
    }
    const fansLink = linkOf(doc, "Fans");
    if (fansLink !== undefined) {
      for (const fan of await this.client.members(fansLink, signal)) {
        if (isAbsent(fan)) continue;
        const speed = documentOf(fan, "SpeedPercent");
        readings.push({
          name: stringOf(fan, "Name") ?? stringOf(fan, "Id") ?? "fan",
          kind: "fan",
          value: numberOf(speed, "Reading") ?? null,
          unit: "%",
          health: mapHealth(statusOf(fan).health),
        });
      }
    }
    return readings;
  }

  private async powerSubsystem(path: string, signal: AbortSignal): Promise<PowerSupplyStatus[]> {
    const { doc } = await this.client.get(path, signal);
    const suppliesLink = linkOf(doc, "PowerSupplies");
    if (suppliesLink === undefined) return [];
    const supplies = (await this.client.members(suppliesLink, signal)).filter((supply) => !isAbsent(supply));
    return await mapLimit(supplies, 2, async (supply) => {
      const metricsLink = linkOf(supply, "Metrics");
      const metrics =
        metricsLink !== undefined ? (await this.client.get(metricsLink, signal)).doc : undefined;
      return parsePowerSupply(supply, metrics);
    });
  }

  /**
   * An inventory or sensor section the BMC fails to serve (a 500 on Storage, a malformed document) is
   * left out rather than failing the whole call; losing the BMC or the credentials still fails it.
   */
  private async optional<T>(what: string, fallback: T, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      if (error instanceof BmcError && (error.kind === "rejected" || error.kind === "protocol")) {
        this.logger?.warn(
          { section: what, kind: error.kind, status: error.status },
          "BMC section unavailable",
        );
        return fallback;
      }
      throw error;
    }
  }

  private async pause(ms: number, signal: AbortSignal): Promise<void> {
    try {
      await sleep(ms, undefined, { signal });
    } catch {
      throw new BmcError("timeout", `BMC ${this.endpoint.address}: cancelled by the caller`);
    }
  }
}

/**
 * A settings object may carry only the pending changes; the Boot fields it lacks (Mode, AllowableValues)
 * are read from the system resource so validation and "keep the current mode" still work.
 */
function mergeBoot(system: FetchedDocument, settings: FetchedDocument): RedfishDocument {
  const systemBoot = documentOf(system.doc, "Boot") ?? {};
  const pendingBoot = documentOf(settings.doc, "Boot") ?? {};
  return { ...settings.doc, Boot: { ...systemBoot, ...pendingBoot } };
}
