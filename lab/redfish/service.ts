/**
 * The Redfish service of a simulated BMC: renders the resource tree from the machine's state in the
 * vendor's shape (profiles.ts), and implements what a driver writes: sessions, ComputerSystem.Reset,
 * boot override PATCH with ETag preconditions (or through @Redfish.Settings), SimpleUpdate with a Task.
 */
import { createHash } from "node:crypto";
import { seededUuid } from "./devices.ts";
import {
  actionParameter,
  addFirmwareRoutes,
  addSessionRoutes,
  answerBeforeAuthentication,
  collection,
  type Doc,
  firmwarePath,
  firmwareTaskDocument,
  firmwareTaskMonitor,
  LabRoutes,
  methodNotAllowed,
  REDFISH_ROOT as R,
  resourceMissing,
  SESSIONS_PATH,
  SIMPLE_UPDATE_PATH,
  serviceRoot,
  startSimpleUpdate,
  taskPath,
} from "./documents.ts";
import type { FaultController } from "./faults.ts";
import { type LabRequest, type LabResponse, redfishError } from "./https-server.ts";
import type { BootSettings, LabLogEntry, SimulatedMachine } from "./machine.ts";
import type { TemperatureSpec, VendorProfile } from "./profiles.ts";
import { header, type LabCredentials, LabSessions } from "./sessions.ts";

export type { LabCredentials } from "./sessions.ts";

/** Behaviours real BMCs differ in, switchable per simulated BMC. */
export interface RedfishLabQuirks {
  /** Offer SessionService login (default true); without it clients must use Basic. */
  readonly sessions?: boolean;
  /** Accept HTTP Basic authentication (default true). */
  readonly basicAuth?: boolean;
  /** The ComputerSystem refuses PATCH (405); boot changes go to its @Redfish.Settings object. */
  readonly bootOverrideViaSettings?: boolean;
  /** PATCH without If-Match is refused with 428. */
  readonly requireIfMatch?: boolean;
  /** No BootSourceOverrideMode property (a PATCH carrying it is refused). */
  readonly noBootMode?: boolean;
  /** Resets answer 202 with a task monitor that runs until the power transition ends (Retry-After: 1). */
  readonly resetTasks?: boolean;
  /** The chassis links no Sensors collection, only PowerSubsystem / ThermalSubsystem (bmcweb profile). */
  readonly noSensorsCollection?: boolean;
}

const ENABLED_VALUES = ["Disabled", "Once", "Continuous"];

export class SimulatedRedfishService {
  private readonly quirks: Required<RedfishLabQuirks>;
  /** Its logins; the lab expires them and counts them. */
  readonly sessions: LabSessions;
  /** Reset tasks (quirk resetTasks): done once the machine is no longer busy. */
  private readonly resetTasks = new Set<string>();
  private resetTaskSequence = 0;
  private readonly routes = new LabRoutes((path) => this.key(path));
  private readonly p: VendorProfile;
  private readonly paths: {
    system: string;
    chassis: string;
    manager: string;
    reset: string;
    settings: string;
    systemLog: string;
    managerLog: string;
  };

  constructor(
    private readonly machine: SimulatedMachine,
    private readonly faults: FaultController,
    credentials: LabCredentials,
    quirks: RedfishLabQuirks,
    private readonly sessionTimeoutMs: number,
  ) {
    this.p = machine.profile;
    this.quirks = {
      sessions: quirks.sessions ?? true,
      basicAuth: quirks.basicAuth ?? true,
      bootOverrideViaSettings: quirks.bootOverrideViaSettings ?? false,
      requireIfMatch: quirks.requireIfMatch ?? false,
      noBootMode: quirks.noBootMode ?? false,
      resetTasks: quirks.resetTasks ?? false,
      noSensorsCollection: quirks.noSensorsCollection ?? false,
    };
    const system = `${R}/Systems/${this.p.ids.system}`;
    const manager = `${R}/Managers/${this.p.ids.manager}`;
    this.paths = {
      system,
      chassis: `${R}/Chassis/${this.p.ids.chassis}`,
      manager,
      reset: `${system}/Actions/ComputerSystem.Reset`,
      settings: `${system}/Settings`,
      systemLog: `${system}/LogServices/${this.p.logs.system}`,
      managerLog: `${manager}/LogServices/${this.p.logs.manager}`,
    };
    this.sessions = new LabSessions({
      credentials,
      basicAuth: this.quirks.basicAuth,
      sessionTimeoutMs,
      collectionPath: SESSIONS_PATH,
      onLogin: (username) => machine.log("manager", this.p.logs.login(username), "OK", "SessionCreated"),
    });
    this.buildRoutes();
  }

  handle(request: LabRequest): LabResponse {
    const early = answerBeforeAuthentication(request, {
      key: (path) => this.key(path),
      sessions: this.sessions,
      login: this.quirks.sessions,
      root: () => this.document(request, this.root()),
    });
    if (early !== undefined) return early;
    const path = this.key(request.path);
    const method = request.method === "HEAD" ? "GET" : request.method;

    if (method === "GET") {
      const monitor = this.monitor(path);
      if (monitor !== undefined) return monitor;
      const doc = this.resolve(path);
      return doc !== undefined ? this.document(request, doc) : resourceMissing(request.path);
    }
    if (method === "POST" && path === this.key(this.paths.reset)) return this.reset(request);
    if (method === "POST" && path === this.key(SIMPLE_UPDATE_PATH)) {
      return startSimpleUpdate(request, this.machine, this.p.transferProtocols, (key) => this.key(key));
    }
    if (method === "POST" && path.endsWith(this.key("/Actions/LogService.ClearLog")))
      return this.clearLog(path);
    if (method === "PATCH" && path === this.key(this.paths.system)) return this.patchSystem(request);
    if (method === "PATCH" && path === this.key(this.paths.settings) && this.quirks.bootOverrideViaSettings) {
      return this.patchSettings(request);
    }
    if (method === "DELETE" && path.startsWith(this.key(`${SESSIONS_PATH}/`))) return this.logout(path);
    if (this.resolve(path) !== undefined) {
      return methodNotAllowed(`${request.method} is not allowed on ${request.path}.`);
    }
    return resourceMissing(request.path);
  }

  // ---------------------------------------------------------------- plumbing

  private key(path: string): string {
    return this.p.caseInsensitivePaths ? path.toLowerCase() : path;
  }

  private resolve(key: string): Doc | undefined {
    return this.routes.render(key) ?? this.resolveDynamic(key);
  }

  private etag(doc: Doc): string {
    const salt = doc["@odata.id"] === this.paths.system ? String(this.machine.generation) : "";
    const hash = createHash("sha1").update(JSON.stringify(doc)).update(salt).digest("hex");
    return `W/"${hash.slice(0, 8).toUpperCase()}"`;
  }

  private withEtag(doc: Doc): { doc: Doc; etag: string } {
    const etag = this.etag(doc);
    return { doc: this.p.etagInBody ? { "@odata.etag": etag, ...doc } : doc, etag };
  }

  private document(request: LabRequest, doc: Doc): LabResponse {
    let body = doc;
    if (this.p.expand && request.query.has("$expand") && Array.isArray(doc.Members)) {
      body = {
        ...doc,
        Members: doc.Members.map((member: unknown) => {
          const id = (member as Doc)["@odata.id"];
          const resolved = typeof id === "string" ? this.resolve(this.key(id)) : undefined;
          return resolved !== undefined ? this.withEtag(resolved).doc : member;
        }),
      };
    }
    const { doc: tagged, etag } = this.withEtag(body);
    return { status: 200, headers: { etag }, body: tagged };
  }

  private success(): LabResponse {
    // bmcweb answers 204; iLO answers 200 with a Base.Success message.
    if (this.p.vendor === "openbmc") return { status: 204 };
    return {
      status: 200,
      body: {
        error: {
          code: "iLO.0.10.ExtendedInfo",
          "@Message.ExtendedInfo": [{ MessageId: "Base.1.4.Success" }],
        },
      },
    };
  }

  // ---------------------------------------------------------------- sessions

  private logout(key: string): LabResponse {
    const id = key.slice(this.key(`${SESSIONS_PATH}/`).length);
    return this.sessions.logout(id) ? this.success() : resourceMissing(key);
  }

  // ---------------------------------------------------------------- writes

  private reset(request: LabRequest): LabResponse {
    const resetType = actionParameter(request, "ResetType");
    if (typeof resetType !== "string") return resetType;
    const window = this.faults.current().conflictAfterPowerOffMs;
    const offAt = this.machine.lastPowerOffAt;
    if (window > 0 && offAt !== undefined && Date.now() - offAt < window) {
      return redfishError(409, "Base.1.8.ResourceInUse", "The system is completing a power transition.");
    }
    const outcome = this.machine.reset(resetType);
    if (!outcome.ok) return redfishError(outcome.status, outcome.messageId, outcome.message);
    if (this.quirks.resetTasks) {
      const id = `reset-${++this.resetTaskSequence}`;
      this.resetTasks.add(id);
      return {
        status: 202,
        headers: { location: `${taskPath(id)}/Monitor`, "retry-after": "1" },
        body: this.resetTaskDoc(id),
      };
    }
    return this.success();
  }

  private resetTaskDoc(id: string): Doc {
    const running = this.machine.busy;
    return {
      "@odata.id": taskPath(id),
      "@odata.type": "#Task.v1_4_3.Task",
      Id: id,
      Name: "System reset",
      TaskState: running ? "Running" : "Completed",
      TaskStatus: "OK",
      TaskMonitor: `${taskPath(id)}/Monitor`,
      Messages: [],
    };
  }

  /** ETag precondition: 412 when If-Match is stale, 428 when it is required and missing. */
  private precondition(request: LabRequest, current: () => string): LabResponse | undefined {
    const ifMatch = header(request, "if-match");
    if (ifMatch === undefined) {
      return this.quirks.requireIfMatch
        ? redfishError(428, "Base.1.8.PreconditionRequired", "This resource requires If-Match.")
        : undefined;
    }
    if (this.faults.takeStaleEtag()) this.machine.generation++;
    if (ifMatch !== "*" && ifMatch !== current()) {
      return redfishError(
        412,
        "Base.1.8.PreconditionFailed",
        "The ETag supplied did not match the resource.",
      );
    }
    return undefined;
  }

  private patchSystem(request: LabRequest): LabResponse {
    if (this.quirks.bootOverrideViaSettings) {
      return methodNotAllowed("Changes go through the @Redfish.Settings object.");
    }
    const failed = this.precondition(request, () => this.etag(this.system()));
    if (failed !== undefined) return failed;
    const boot = this.validateBoot(request.body);
    if ("status" in boot) return boot;
    this.machine.boot = { ...this.machine.boot, ...boot };
    return this.success();
  }

  private patchSettings(request: LabRequest): LabResponse {
    const failed = this.precondition(request, () => this.etag(this.settingsDoc()));
    if (failed !== undefined) return failed;
    const boot = this.validateBoot(request.body);
    if ("status" in boot) return boot;
    this.machine.pendingBoot = { ...this.machine.pendingBoot, ...boot };
    return this.success();
  }

  private validateBoot(body: unknown): Partial<BootSettings> | LabResponse {
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      return redfishError(400, "Base.1.8.MalformedJSON", "The body must be a JSON object.");
    }
    const unknown = Object.keys(body).filter((key) => key !== "Boot");
    if (unknown.length > 0) {
      return redfishError(400, "Base.1.8.PropertyUnknown", `The property ${unknown[0]} is not known.`);
    }
    const boot = (body as Doc).Boot;
    if (typeof boot !== "object" || boot === null) {
      return redfishError(400, "Base.1.8.PropertyValueTypeError", "Boot must be an object.");
    }
    const allowed: Record<string, readonly string[]> = {
      BootSourceOverrideEnabled: ENABLED_VALUES,
      BootSourceOverrideTarget: this.p.bootTargets,
      ...(this.quirks.noBootMode ? {} : { BootSourceOverrideMode: this.p.bootModes }),
    };
    const result: Record<string, string> = {};
    for (const [name, value] of Object.entries(boot)) {
      const values = allowed[name];
      if (values === undefined) {
        return redfishError(400, "Base.1.8.PropertyUnknown", `The property Boot/${name} is not known.`);
      }
      if (typeof value !== "string" || !values.includes(value)) {
        return redfishError(
          400,
          "Base.1.8.PropertyValueNotInList",
          `The value ${JSON.stringify(value)} for Boot/${name} is not in the list of acceptable values.`,
        );
      }
      result[name] = value;
    }
    return result as Partial<BootSettings>;
  }

  /** A task monitor answers 202 while its task runs and the task itself once it has ended. */
  private monitor(key: string): LabResponse | undefined {
    const match = /\/tasks\/([^/]+)\/monitor$/i.exec(key);
    if (match === null || !key.startsWith(this.key(`${R}/TaskService/Tasks/`))) return undefined;
    const id = match[1] as string;
    if (this.resetTasks.has(id)) {
      const doc = this.resetTaskDoc(id);
      return doc.TaskState === "Running"
        ? {
            status: 202,
            headers: { location: `${taskPath(id)}/Monitor`, "retry-after": "1" },
            body: doc,
          }
        : { status: 200, body: doc };
    }
    const task = this.machine.tasks.get(id);
    if (task === undefined) return undefined;
    return firmwareTaskMonitor(this.machine, task);
  }

  private clearLog(key: string): LabResponse {
    for (const [path, log] of [
      [this.paths.systemLog, this.machine.systemLog],
      [this.paths.managerLog, this.machine.managerLog],
    ] as const) {
      if (key === this.key(`${path}/Actions/LogService.ClearLog`)) {
        log.length = 0;
        return this.success();
      }
    }
    return resourceMissing(key);
  }

  // ---------------------------------------------------------------- documents

  private resolveDynamic(key: string): Doc | undefined {
    for (const [base, entries] of [
      [this.paths.systemLog, this.machine.systemLog],
      [this.paths.managerLog, this.machine.managerLog],
    ] as const) {
      const prefix = this.key(`${base}/Entries/`);
      if (key.startsWith(prefix)) {
        const entry = entries.find((item) => item.id === key.slice(prefix.length));
        return entry !== undefined ? this.logEntryDoc(base, entry) : undefined;
      }
    }
    const sessionPrefix = this.key(`${SESSIONS_PATH}/`);
    if (key.startsWith(sessionPrefix)) {
      return this.sessions.document(key.slice(sessionPrefix.length));
    }
    const taskPrefix = this.key(`${R}/TaskService/Tasks/`);
    if (key.startsWith(taskPrefix)) {
      const [id, monitor] = key.slice(taskPrefix.length).split("/");
      if (id !== undefined && monitor === undefined && this.resetTasks.has(id)) return this.resetTaskDoc(id);
      const task = id !== undefined ? this.machine.tasks.get(id) : undefined;
      if (task === undefined || (monitor !== undefined && monitor !== this.key("Monitor"))) return undefined;
      return firmwareTaskDocument(this.machine, task);
    }
    return undefined;
  }

  private root(): Doc {
    const expand = this.p.expand
      ? { ExpandAll: false, Levels: true, Links: false, MaxLevels: 1, NoLinks: true }
      : { ExpandAll: false, Levels: false, Links: false, NoLinks: false };
    return {
      ...serviceRoot({
        name: "Root Service",
        redfishVersion: this.p.redfishVersion,
        uuid: seededUuid(`${this.machine.identity.uuid}/service`, "a"),
        vendor: this.p.vendor === "ilo5" ? "HPE" : "OpenBMC",
        ...(this.p.product !== undefined ? { product: this.p.product } : {}),
        links: ["Systems", "Chassis", "Managers"],
        sessions: this.quirks.sessions,
      }),
      ProtocolFeaturesSupported: {
        ExpandQuery: expand,
        FilterQuery: false,
        OnlyMemberQuery: true,
        SelectQuery: false,
      },
    };
  }

  private system(): Doc {
    const m = this.machine;
    const sys = this.paths.system;
    const bios = m.firmware.find((item) => item.role === "bios");
    const reset = this.p.resetValuesInline
      ? { "ResetType@Redfish.AllowableValues": [...m.resetTypes], target: this.paths.reset }
      : { "@Redfish.ActionInfo": `${sys}/ResetActionInfo`, target: this.paths.reset };
    const boot: Doc = {
      BootSourceOverrideEnabled: m.boot.BootSourceOverrideEnabled,
      BootSourceOverrideTarget: m.boot.BootSourceOverrideTarget,
      "BootSourceOverrideTarget@Redfish.AllowableValues": [...this.p.bootTargets],
    };
    if (!this.quirks.noBootMode) {
      boot.BootSourceOverrideMode = m.boot.BootSourceOverrideMode;
      boot["BootSourceOverrideMode@Redfish.AllowableValues"] = [...this.p.bootModes];
    }
    const memoryMiB = m.hardware.dimmsMiB.reduce((sum, mib) => sum + mib, 0);
    return {
      "@odata.id": sys,
      "@odata.type": "#ComputerSystem.v1_16_0.ComputerSystem",
      Id: this.p.ids.system,
      Name: this.p.vendor === "ilo5" ? "Computer System" : "system",
      ...(this.quirks.bootOverrideViaSettings
        ? {
            "@Redfish.Settings": {
              "@odata.type": "#Settings.v1_3_5.Settings",
              SettingsObject: { "@odata.id": this.paths.settings },
            },
          }
        : {}),
      Actions: { "#ComputerSystem.Reset": reset },
      Bios: { "@odata.id": this.p.biosLink },
      BiosVersion: bios?.version,
      Boot: boot,
      EthernetInterfaces: { "@odata.id": `${sys}/EthernetInterfaces` },
      HostName: m.identity.hostName,
      Links: {
        Chassis: [{ "@odata.id": this.paths.chassis }],
        ManagedBy: [{ "@odata.id": this.paths.manager }],
      },
      LogServices: { "@odata.id": `${sys}/LogServices` },
      Manufacturer: this.p.manufacturer,
      Memory: { "@odata.id": `${sys}/Memory` },
      MemorySummary: { TotalSystemMemoryGiB: memoryMiB / 1024, Status: { HealthRollup: "OK" } },
      Model: this.p.model,
      PowerState: m.power,
      ProcessorSummary: { Count: m.hardware.cpus.length, Model: m.hardware.cpus[0]?.model },
      Processors: { "@odata.id": `${sys}/Processors` },
      ...(m.identity.sku !== undefined ? { SKU: m.identity.sku } : {}),
      SerialNumber: m.identity.serial,
      Status: { Health: "OK", HealthRollup: "OK", State: m.power === "Off" ? "Disabled" : "Enabled" },
      Storage: { "@odata.id": `${sys}/Storage` },
      SystemType: "Physical",
      UUID: m.identity.uuid,
    };
  }

  private settingsDoc(): Doc {
    const m = this.machine;
    return {
      "@odata.id": this.paths.settings,
      "@odata.type": "#ComputerSystem.v1_16_0.ComputerSystem",
      Id: "Settings",
      Name: "Pending system settings",
      Boot: { ...m.boot, ...m.pendingBoot },
    };
  }

  private buildRoutes(): void {
    const m = this.machine;
    const p = this.p;
    const { system: sys, chassis: ch, manager: mgr } = this.paths;

    this.routes.add(`${R}/Systems`, () =>
      collection(`${R}/Systems`, "Computer Systems", "ComputerSystem", [sys]),
    );
    this.routes.add(sys, () => this.system());
    if (!p.resetValuesInline) {
      this.routes.add(`${sys}/ResetActionInfo`, () => ({
        "@odata.id": `${sys}/ResetActionInfo`,
        "@odata.type": "#ActionInfo.v1_1_2.ActionInfo",
        Id: "ResetActionInfo",
        Name: "Reset Action Info",
        Parameters: [
          { AllowableValues: [...m.resetTypes], DataType: "String", Name: "ResetType", Required: true },
        ],
      }));
    }
    if (this.quirks.bootOverrideViaSettings) this.routes.add(this.paths.settings, () => this.settingsDoc());
    this.routes.add(p.biosLink, () => ({
      "@odata.id": p.biosLink,
      "@odata.type": "#Bios.v1_1_0.Bios",
      Id: "Bios",
      Name: "BIOS Configuration",
      Attributes: { BootMode: m.boot.BootSourceOverrideMode === "Legacy" ? "LegacyBios" : "Uefi" },
    }));

    const cpuIds = m.hardware.cpus.map((_, i) => (p.vendor === "ilo5" ? String(i + 1) : `cpu${i}`));
    this.routes.add(`${sys}/Processors`, () =>
      collection(
        `${sys}/Processors`,
        "Processor Collection",
        "Processor",
        cpuIds.map((id) => `${sys}/Processors/${id}`),
      ),
    );
    m.hardware.cpus.forEach((cpu, i) => {
      const path = `${sys}/Processors/${cpuIds[i]}`;
      this.routes.add(path, () => ({
        "@odata.id": path,
        "@odata.type": "#Processor.v1_7_2.Processor",
        Id: cpuIds[i],
        Name: "Processor",
        ProcessorType: "CPU",
        ProcessorArchitecture: "x86",
        InstructionSet: "x86-64",
        Manufacturer: cpu.model.startsWith("AMD") ? "Advanced Micro Devices, Inc." : "Intel(R) Corporation",
        Model: cpu.model,
        MaxSpeedMHz: cpu.maxSpeedMhz,
        TotalCores: cpu.cores,
        TotalThreads: cpu.threads,
        Socket: `Proc ${i + 1}`,
        Status: { Health: "OK", State: "Enabled" },
      }));
    });

    const dimmIds = m.hardware.dimmsMiB.map((_, i) =>
      p.vendor === "ilo5" ? `proc1dimm${i + 1}` : `dimm${i}`,
    );
    this.routes.add(`${sys}/Memory`, () =>
      collection(
        `${sys}/Memory`,
        "Memory Module Collection",
        "Memory",
        dimmIds.map((id) => `${sys}/Memory/${id}`),
      ),
    );
    m.hardware.dimmsMiB.forEach((mib, i) => {
      const path = `${sys}/Memory/${dimmIds[i]}`;
      this.routes.add(path, () => ({
        "@odata.id": path,
        "@odata.type": "#Memory.v1_7_1.Memory",
        Id: dimmIds[i],
        Name: dimmIds[i],
        CapacityMiB: mib,
        MemoryDeviceType: "DDR4",
        ...(mib > 0 ? { Manufacturer: "Hynix", SerialNumber: `${m.identity.serial}M${i}` } : {}),
        Status: { Health: "OK", State: mib > 0 ? "Enabled" : "Absent" },
      }));
    });

    const nicIds = m.identity.nicMacs.map((_, i) => (p.vendor === "ilo5" ? String(i + 1) : `eth${i}`));
    this.routes.add(`${sys}/EthernetInterfaces`, () =>
      collection(
        `${sys}/EthernetInterfaces`,
        "System Ethernet Interfaces",
        "EthernetInterface",
        nicIds.map((id) => `${sys}/EthernetInterfaces/${id}`),
      ),
    );
    m.identity.nicMacs.forEach((mac, i) => {
      const path = `${sys}/EthernetInterfaces/${nicIds[i]}`;
      this.routes.add(path, () => ({
        "@odata.id": path,
        "@odata.type": "#EthernetInterface.v1_4_1.EthernetInterface",
        Id: nicIds[i],
        Name: p.vendor === "ilo5" ? `Port ${i + 1}` : nicIds[i],
        MACAddress: mac,
        PermanentMACAddress: mac,
        SpeedMbps: m.hardware.nicSpeedsMbps[i] ?? 1000,
        LinkStatus: m.power === "On" ? "LinkUp" : "LinkDown",
        InterfaceEnabled: true,
        Status: { Health: "OK", State: "Enabled" },
      }));
    });

    const storageId = p.vendor === "ilo5" ? "DA000000" : "1";
    const storagePath = `${sys}/Storage/${storageId}`;
    const drivePaths = m.hardware.drives.map((_, i) =>
      p.vendor === "ilo5" ? `${storagePath}/Drives/${i}` : `${storagePath}/Drives/drive${i}`,
    );
    this.routes.add(`${sys}/Storage`, () =>
      collection(`${sys}/Storage`, "Storage Collection", "Storage", [storagePath]),
    );
    this.routes.add(storagePath, () => ({
      "@odata.id": storagePath,
      "@odata.type": "#Storage.v1_9_0.Storage",
      Id: storageId,
      Name: "Storage Controller",
      Drives: drivePaths.map((path) => ({ "@odata.id": path })),
      "Drives@odata.count": drivePaths.length,
      Status: { Health: "OK", State: "Enabled" },
    }));
    m.hardware.drives.forEach((drive, i) => {
      const path = drivePaths[i] as string;
      this.routes.add(path, () => ({
        "@odata.id": path,
        "@odata.type": "#Drive.v1_12_0.Drive",
        Id: path.split("/").pop(),
        Name: `Drive ${i}`,
        Model: drive.model,
        SerialNumber: `${m.identity.serial}D${i}`,
        CapacityBytes: drive.sizeBytes,
        MediaType: drive.media,
        Protocol: drive.protocol,
        Status: { Health: "OK", State: "Enabled" },
      }));
    });

    this.logRoutes(sys, this.paths.systemLog, "System Event Log", () => m.systemLog, p.vendor === "openbmc");
    this.logRoutes(
      mgr,
      this.paths.managerLog,
      "Manager Event Log",
      () => m.managerLog,
      p.vendor === "openbmc",
    );

    this.routes.add(`${R}/Chassis`, () => collection(`${R}/Chassis`, "Chassis Collection", "Chassis", [ch]));
    this.routes.add(ch, () => ({
      "@odata.id": ch,
      "@odata.type": "#Chassis.v1_22_0.Chassis",
      Id: p.ids.chassis,
      Name: p.vendor === "ilo5" ? "Computer System Chassis" : "chassis",
      ChassisType: "RackMount",
      Manufacturer: p.manufacturer,
      Model: p.model,
      SerialNumber: m.identity.serial,
      PowerState: m.power,
      Links: { ComputerSystems: [{ "@odata.id": sys }], ManagedBy: [{ "@odata.id": mgr }] },
      Power: { "@odata.id": `${ch}/Power` },
      Thermal: { "@odata.id": `${ch}/Thermal` },
      ...(p.sensorModel === "sensors" && !this.quirks.noSensorsCollection
        ? { Sensors: { "@odata.id": `${ch}/Sensors` } }
        : {}),
      ...(p.sensorModel === "sensors"
        ? {
            PowerSubsystem: { "@odata.id": `${ch}/PowerSubsystem` },
            ThermalSubsystem: { "@odata.id": `${ch}/ThermalSubsystem` },
          }
        : {}),
      Status: { Health: "OK", State: "Enabled" },
    }));
    this.routes.add(`${ch}/Thermal`, () => this.legacyThermal());
    this.routes.add(`${ch}/Power`, () => this.legacyPower());
    if (p.sensorModel === "sensors") this.sensorRoutes();

    this.routes.add(`${R}/Managers`, () =>
      collection(`${R}/Managers`, "Manager Collection", "Manager", [mgr]),
    );
    const bmcFirmware = m.firmware.find((item) => item.role === "bmc");
    this.routes.add(mgr, () => ({
      "@odata.id": mgr,
      "@odata.type": "#Manager.v1_14_0.Manager",
      Id: p.ids.manager,
      Name: p.vendor === "ilo5" ? "Manager" : "OpenBmc Manager",
      ManagerType: "BMC",
      Model: p.managerModel,
      FirmwareVersion: p.managerFirmwareVersion(bmcFirmware?.version ?? "unknown"),
      UUID: seededUuid(`${m.identity.uuid}/manager`, "a"),
      PowerState: "On",
      EthernetInterfaces: { "@odata.id": `${mgr}/EthernetInterfaces` },
      LogServices: { "@odata.id": `${mgr}/LogServices` },
      Links: {
        ManagerForServers: [{ "@odata.id": sys }],
        ManagerForChassis: [{ "@odata.id": ch }],
        ...(bmcFirmware !== undefined
          ? { ActiveSoftwareImage: { "@odata.id": firmwarePath(bmcFirmware.id) } }
          : {}),
      },
      Actions: {
        "#Manager.Reset": {
          "ResetType@Redfish.AllowableValues": ["ForceRestart", "GracefulRestart"],
          target: `${mgr}/Actions/Manager.Reset`,
        },
      },
      Status: { Health: "OK", State: "Enabled" },
    }));
    const bmcNics =
      p.vendor === "ilo5"
        ? [
            {
              id: "1",
              name: "Manager Dedicated Network Interface",
              mac: m.identity.bmcMac.toUpperCase(),
              host: false,
            },
            { id: "3", name: "Manager Virtual Network Interface", mac: "0A:CA:FE:F0:0D:04", host: true },
          ]
        : [{ id: "eth0", name: "Manager Ethernet Interface", mac: m.identity.bmcMac, host: false }];
    this.routes.add(`${mgr}/EthernetInterfaces`, () =>
      collection(
        `${mgr}/EthernetInterfaces`,
        "Manager Network Interfaces",
        "EthernetInterface",
        bmcNics.map((nic) => `${mgr}/EthernetInterfaces/${nic.id}`),
      ),
    );
    for (const nic of bmcNics) {
      const path = `${mgr}/EthernetInterfaces/${nic.id}`;
      this.routes.add(path, () => ({
        "@odata.id": path,
        "@odata.type": "#EthernetInterface.v1_4_1.EthernetInterface",
        Id: nic.id,
        Name: nic.name,
        MACAddress: nic.mac,
        PermanentMACAddress: nic.mac,
        InterfaceEnabled: true,
        LinkStatus: "LinkUp",
        SpeedMbps: 1000,
        ...(nic.host ? { Links: { HostInterface: { "@odata.id": `${mgr}/HostInterfaces/1` } } } : {}),
        Status: { Health: "OK", State: "Enabled" },
      }));
    }

    if (this.quirks.sessions) {
      addSessionRoutes(this.routes, this.sessions, {
        trailingSlash: p.sessionServiceTrailingSlash,
        sessionTimeoutMs: this.sessionTimeoutMs,
      });
    }
    addFirmwareRoutes(this.routes, m, p.transferProtocols);
  }

  /** LogServices → LogService → Entries; bmcweb answers with the entries inline, iLO with links. */
  private logRoutes(
    owner: string,
    servicePath: string,
    name: string,
    entries: () => readonly LabLogEntry[],
    inline: boolean,
  ): void {
    this.routes.add(`${owner}/LogServices`, () =>
      collection(`${owner}/LogServices`, "Log Service Collection", "LogService", [servicePath]),
    );
    this.routes.add(servicePath, () => ({
      "@odata.id": servicePath,
      "@odata.type": "#LogService.v1_1_0.LogService",
      Id: servicePath.split("/").pop(),
      Name: name,
      OverWritePolicy: "WrapsWhenFull",
      Entries: { "@odata.id": `${servicePath}/Entries` },
      Actions: { "#LogService.ClearLog": { target: `${servicePath}/Actions/LogService.ClearLog` } },
    }));
    this.routes.add(`${servicePath}/Entries`, () => {
      const list = entries();
      return {
        "@odata.id": `${servicePath}/Entries`,
        "@odata.type": "#LogEntryCollection.LogEntryCollection",
        Name: `${name} Entries`,
        Members: list.map((entry) =>
          inline
            ? this.logEntryDoc(servicePath, entry)
            : { "@odata.id": `${servicePath}/Entries/${entry.id}` },
        ),
        "Members@odata.count": list.length,
      };
    });
  }

  private logEntryDoc(servicePath: string, entry: LabLogEntry): Doc {
    return {
      "@odata.id": `${servicePath}/Entries/${entry.id}`,
      "@odata.type": "#LogEntry.v1_9_0.LogEntry",
      Id: entry.id,
      Name: "Log Entry",
      Created: entry.created,
      EntryType: "Event",
      Message: entry.message,
      MessageId: entry.messageId,
      Severity: entry.severity,
    };
  }

  // ---------------------------------------------------------------- sensors

  private temperature(spec: TemperatureSpec, index: number): number {
    const value = spec.idle + spec.rise * this.machine.heat() + this.machine.wobble(index, 0.4);
    return this.p.vendor === "ilo5" ? Math.round(value) : Math.round(value * 100) / 100;
  }

  private fanReading(index: number): number {
    if (this.machine.power !== "On") return 0;
    const heat = this.machine.heat();
    if (this.p.fanUnits === "Percent") return Math.round(20 + 40 * heat + this.machine.wobble(index, 1));
    return Math.round(3000 + 9000 * heat + this.machine.wobble(index, 60));
  }

  private powerWatts(): number {
    switch (this.machine.power) {
      case "Off":
        return 9;
      case "PoweringOn":
        return 60;
      default:
        return Math.round(95 + 230 * this.machine.heat() + this.machine.wobble(0.5, 3));
    }
  }

  private fanName(index: number): string {
    return this.p.vendor === "ilo5" ? `Fan ${index + 1}` : `Fan${index}`;
  }

  private legacyThermal(): Doc {
    const ch = this.paths.chassis;
    const fans = Array.from({ length: this.p.fanCount }, (_, i) => ({
      "@odata.id": `${ch}/Thermal#/Fans/${i}`,
      MemberId: String(i),
      Name: this.fanName(i),
      Reading: this.fanReading(i),
      ReadingUnits: this.p.fanUnits,
      Status: { Health: "OK", State: "Enabled" },
    }));
    if (this.p.vendor === "ilo5") {
      // iLO lists empty fan bays too.
      fans.push({
        "@odata.id": `${ch}/Thermal#/Fans/${fans.length}`,
        MemberId: String(fans.length),
        Name: this.fanName(fans.length),
        Reading: 0,
        ReadingUnits: this.p.fanUnits,
        Status: { State: "Absent" } as { Health: string; State: string },
      });
    }
    return {
      "@odata.id": `${ch}/Thermal`,
      "@odata.type": "#Thermal.v1_6_2.Thermal",
      Id: "Thermal",
      Name: "Thermal",
      Temperatures: this.p.temperatures.map((spec, i) => ({
        "@odata.id": `${ch}/Thermal#/Temperatures/${i}`,
        MemberId: String(i),
        Name: spec.name,
        PhysicalContext: spec.context,
        ReadingCelsius: spec.absent ? 0 : this.temperature(spec, i),
        SensorNumber: i + 1,
        UpperThresholdCritical: spec.critical,
        Status: spec.absent ? { State: "Absent" } : { Health: "OK", State: "Enabled" },
      })),
      Fans: fans,
    };
  }

  private legacyPower(): Doc {
    const ch = this.paths.chassis;
    const watts = this.powerWatts();
    return {
      "@odata.id": `${ch}/Power`,
      "@odata.type": "#Power.v1_5_2.Power",
      Id: "Power",
      Name: "Power",
      PowerControl: [
        {
          "@odata.id": `${ch}/Power#/PowerControl/0`,
          MemberId: "0",
          ...(this.p.vendor === "openbmc" ? { Name: "Chassis Power Control" } : {}),
          PowerCapacityWatts: 1600,
          PowerConsumedWatts: watts,
        },
      ],
      PowerSupplies: [0, 1].map((i) => ({
        "@odata.id": `${ch}/Power#/PowerSupplies/${i}`,
        MemberId: String(i),
        Name: this.p.vendor === "ilo5" ? "HpeServerPowerSupply" : `PSU${i}`,
        PowerCapacityWatts: 800,
        LastPowerOutputWatts: Math.round(watts / 2),
        LineInputVoltage: 230,
        Model: this.p.vendor === "ilo5" ? "865408-B21" : "PSU-800W",
        SerialNumber: `${this.machine.identity.serial}P${i}`,
        Status: { Health: "OK", State: "Enabled" },
      })),
      ...(this.p.vendor === "openbmc"
        ? {
            Voltages: [
              {
                "@odata.id": `${ch}/Power#/Voltages/0`,
                MemberId: "0",
                Name: "P12V",
                ReadingVolts: this.voltage(),
                Status: { Health: "OK", State: "Enabled" },
              },
            ],
          }
        : {}),
    };
  }

  private voltage(): number {
    return this.machine.power === "On" ? Math.round((12.05 + this.machine.wobble(2, 0.03)) * 1000) / 1000 : 0;
  }

  /** bmcweb's newer model: one Sensor resource per reading, plus PowerSubsystem and ThermalSubsystem. */
  private sensorRoutes(): void {
    const ch = this.paths.chassis;
    const sensorPath = (id: string): string => `${ch}/Sensors/${id}`;
    const sensors: Array<{ id: string; render: () => Doc }> = [];
    this.p.temperatures.forEach((spec, i) => {
      const id = `temperature_${spec.id}`;
      sensors.push({
        id,
        render: () => ({
          Name: spec.name,
          Reading: this.temperature(spec, i),
          ReadingType: "Temperature",
          ReadingUnits: "Cel",
          PhysicalContext: spec.context,
          Thresholds: { UpperCritical: { Reading: spec.critical } },
        }),
      });
    });
    for (let i = 0; i < this.p.fanCount; i++) {
      sensors.push({
        id: `fantach_Fan${i}`,
        render: () => ({
          Name: `${this.fanName(i)} Speed`,
          Reading: this.fanReading(i),
          ReadingType: "Rotational",
          ReadingUnits: "RPM",
          PhysicalContext: "Fan",
        }),
      });
    }
    sensors.push({
      id: "power_total_power",
      render: () => ({
        Name: "Total Power",
        Reading: this.powerWatts(),
        ReadingType: "Power",
        ReadingUnits: "W",
      }),
    });
    sensors.push({
      id: "voltage_P12V",
      render: () => ({ Name: "P12V", Reading: this.voltage(), ReadingType: "Voltage", ReadingUnits: "V" }),
    });
    this.routes.add(`${ch}/Sensors`, () =>
      collection(
        `${ch}/Sensors`,
        "Sensors",
        "Sensor",
        sensors.map((sensor) => sensorPath(sensor.id)),
      ),
    );
    for (const sensor of sensors) {
      this.routes.add(sensorPath(sensor.id), () => ({
        "@odata.id": sensorPath(sensor.id),
        "@odata.type": "#Sensor.v1_2_0.Sensor",
        Id: sensor.id,
        ...sensor.render(),
        Status: { Health: "OK", State: "Enabled" },
      }));
    }

    const power = `${ch}/PowerSubsystem`;
    this.routes.add(power, () => ({
      "@odata.id": power,
      "@odata.type": "#PowerSubsystem.v1_1_0.PowerSubsystem",
      Id: "PowerSubsystem",
      Name: "Power Subsystem",
      CapacityWatts: 1600,
      PowerSupplies: { "@odata.id": `${power}/PowerSupplies` },
      Status: { Health: "OK", State: "Enabled" },
    }));
    const psuIds = ["PSU0", "PSU1"];
    this.routes.add(`${power}/PowerSupplies`, () =>
      collection(
        `${power}/PowerSupplies`,
        "Power Supply Collection",
        "PowerSupply",
        psuIds.map((id) => `${power}/PowerSupplies/${id}`),
      ),
    );
    for (const id of psuIds) {
      const path = `${power}/PowerSupplies/${id}`;
      this.routes.add(path, () => ({
        "@odata.id": path,
        "@odata.type": "#PowerSupply.v1_5_0.PowerSupply",
        Id: id,
        Name: id,
        Model: "PSU-800W",
        PowerCapacityWatts: 800,
        Metrics: { "@odata.id": `${path}/Metrics` },
        Status: { Health: "OK", State: "Enabled" },
      }));
      this.routes.add(`${path}/Metrics`, () => {
        const output = this.powerWatts() / 2;
        return {
          "@odata.id": `${path}/Metrics`,
          "@odata.type": "#PowerSupplyMetrics.v1_0_1.PowerSupplyMetrics",
          Id: "Metrics",
          Name: `${id} Metrics`,
          InputPowerWatts: { Reading: Math.round((output / 0.94) * 10) / 10 },
          OutputPowerWatts: { Reading: Math.round(output * 10) / 10 },
          InputVoltage: { Reading: 230 },
        };
      });
    }

    const thermal = `${ch}/ThermalSubsystem`;
    this.routes.add(thermal, () => ({
      "@odata.id": thermal,
      "@odata.type": "#ThermalSubsystem.v1_0_0.ThermalSubsystem",
      Id: "ThermalSubsystem",
      Name: "Thermal Subsystem",
      Fans: { "@odata.id": `${thermal}/Fans` },
      ThermalMetrics: { "@odata.id": `${thermal}/ThermalMetrics` },
      Status: { Health: "OK", State: "Enabled" },
    }));
    const fanIds = Array.from({ length: this.p.fanCount }, (_, i) => `Fan${i}`);
    this.routes.add(`${thermal}/Fans`, () =>
      collection(
        `${thermal}/Fans`,
        "Fan Collection",
        "Fan",
        fanIds.map((id) => `${thermal}/Fans/${id}`),
      ),
    );
    fanIds.forEach((id, i) => {
      const path = `${thermal}/Fans/${id}`;
      this.routes.add(path, () => ({
        "@odata.id": path,
        "@odata.type": "#Fan.v1_3_0.Fan",
        Id: id,
        Name: id,
        SpeedPercent: {
          DataSourceUri: sensorPath(`fantach_Fan${i}`),
          Reading: Math.round((this.fanReading(i) / 12000) * 100),
          SpeedRPM: this.fanReading(i),
        },
        Status: { Health: "OK", State: "Enabled" },
      }));
    });
    this.routes.add(`${thermal}/ThermalMetrics`, () => ({
      "@odata.id": `${thermal}/ThermalMetrics`,
      "@odata.type": "#ThermalMetrics.v1_0_0.ThermalMetrics",
      Id: "ThermalMetrics",
      Name: "Thermal Metrics",
      TemperatureReadingsCelsius: this.p.temperatures.map((spec, i) => ({
        DataSourceUri: sensorPath(`temperature_${spec.id}`),
        DeviceName: spec.name,
        Reading: this.temperature(spec, i),
      })),
    }));
  }
}
