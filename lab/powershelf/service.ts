/**
 * The Redfish face of a simulated power shelf controller (PMC). It offers both models real shelves use:
 * a Chassis of type PowerShelf (Chassis.Reset, PowerSubsystem with supplies and their metrics, Sensors) and
 * a PowerDistribution under PowerEquipment/PowerShelves (Outlets with Outlet.PowerControl, Metrics), plus
 * UpdateService with SimpleUpdate tasks, a Manager, and sessions shared with the lab BMCs.
 */
import { parseSimpleUpdate, taskDocument, taskMonitorResponse } from "../redfish/firmware.ts";
import { type LabRequest, type LabResponse, redfishError } from "../redfish/https-server.ts";
import { type LabCredentials, LabSessions } from "../redfish/sessions.ts";
import type { OutletState, PsuState, SimulatedPowerShelf } from "./shelf.ts";

type Doc = Record<string, unknown>;

const R = "/redfish/v1";
const CHASSIS = `${R}/Chassis/PowerShelf`;
const SHELF = `${R}/PowerEquipment/PowerShelves/1`;
const MANAGER = `${R}/Managers/PMC`;
const SESSIONS = `${R}/SessionService/Sessions`;
const RESET = `${CHASSIS}/Actions/Chassis.Reset`;
const SIMPLE_UPDATE = `${R}/UpdateService/Actions/UpdateService.SimpleUpdate`;
const RESET_TYPES = ["On", "ForceOff", "PowerCycle"];
const OUTLET_STATES = ["On", "Off", "PowerCycle"];
const TRANSFER_PROTOCOLS = ["HTTP", "HTTPS"];

export interface PowerShelfIdentity {
  readonly serial: string;
  readonly uuid: string;
  readonly manufacturer: string;
  readonly model: string;
}

export class PowerShelfRedfishService {
  private readonly sessions: LabSessions;
  private readonly routes = new Map<string, () => Doc>();

  constructor(
    private readonly shelf: SimulatedPowerShelf,
    private readonly identity: PowerShelfIdentity,
    credentials: LabCredentials,
    sessionTimeoutMs: number,
  ) {
    this.sessions = new LabSessions({
      credentials,
      basicAuth: true,
      sessionTimeoutMs,
      collectionPath: SESSIONS,
    });
    this.buildRoutes();
  }

  expireSessions(): void {
    this.sessions.expire();
  }

  sessionCount(): number {
    return this.sessions.count;
  }

  handle(request: LabRequest): LabResponse {
    if (request.malformedBody)
      return redfishError(400, "Base.1.8.MalformedJSON", "The request body is not JSON.");
    const method = request.method === "HEAD" ? "GET" : request.method;
    const path = request.path;
    if (method === "GET" && path === "/redfish") return { status: 200, body: { v1: `${R}/` } };
    if (method === "GET" && path === R) return { status: 200, body: this.root() };
    if (method === "POST" && path === SESSIONS) return this.sessions.login(request);
    const denied = this.sessions.authenticate(request);
    if (denied !== undefined) return denied;

    if (method === "GET") {
      const monitor = /^\/redfish\/v1\/TaskService\/Tasks\/([^/]+)\/Monitor$/.exec(path);
      if (monitor !== null) {
        const task = this.shelf.tasks.get(monitor[1] as string);
        if (task !== undefined)
          return taskMonitorResponse(task, this.shelf.taskPercent(task), taskPath(task.id));
      }
      const doc = this.resolve(path);
      return doc !== undefined ? { status: 200, body: doc } : missing(path);
    }
    if (method === "POST" && path === RESET) return this.reset(request);
    const outletAction =
      /^\/redfish\/v1\/PowerEquipment\/PowerShelves\/1\/Outlets\/([^/]+)\/Actions\/Outlet\.PowerControl$/.exec(
        path,
      );
    if (method === "POST" && outletAction !== null)
      return this.outletControl(outletAction[1] as string, request);
    if (method === "POST" && path === SIMPLE_UPDATE) return this.simpleUpdate(request);
    if (method === "DELETE" && path.startsWith(`${SESSIONS}/`)) {
      return this.sessions.logout(path.slice(SESSIONS.length + 1)) ? { status: 204 } : missing(path);
    }
    if (this.resolve(path) !== undefined) {
      return {
        ...redfishError(405, "Base.1.8.OperationNotAllowed", `${request.method} is not allowed on ${path}.`),
        headers: { allow: "GET, HEAD" },
      };
    }
    return missing(path);
  }

  // ---------------------------------------------------------------- actions

  private reset(request: LabRequest): LabResponse {
    const resetType = (request.body as Doc | undefined)?.ResetType;
    if (typeof resetType !== "string") {
      return redfishError(400, "Base.1.8.ActionParameterMissing", "ResetType is required.");
    }
    const outcome = this.shelf.reset(resetType);
    return outcome.ok ? { status: 204 } : redfishError(outcome.status, outcome.messageId, outcome.message);
  }

  private outletControl(id: string, request: LabRequest): LabResponse {
    const powerState = (request.body as Doc | undefined)?.PowerState;
    if (typeof powerState !== "string") {
      return redfishError(400, "Base.1.8.ActionParameterMissing", "PowerState is required.");
    }
    const outcome = this.shelf.outletControl(id, powerState);
    return outcome.ok ? { status: 204 } : redfishError(outcome.status, outcome.messageId, outcome.message);
  }

  private simpleUpdate(request: LabRequest): LabResponse {
    const update = parseSimpleUpdate(request.body, {
      transferProtocols: TRANSFER_PROTOCOLS,
      firmware: this.shelf.firmware,
      pathOf: firmwarePath,
      key: (path) => path,
      defaultTargets: () => this.shelf.firmware.filter((item) => item.role === "bmc").map((item) => item.id),
    });
    if ("status" in update) return update;
    const task = this.shelf.startFirmwareUpdate(update.imageUri, update.targets);
    return {
      status: 202,
      headers: { location: `${taskPath(task.id)}/Monitor` },
      body: taskDocument(task, this.shelf.taskPercent(task), taskPath(task.id)),
    };
  }

  // ---------------------------------------------------------------- documents

  private resolve(path: string): Doc | undefined {
    const render = this.routes.get(path);
    if (render !== undefined) return render();
    const session = path.startsWith(`${SESSIONS}/`)
      ? this.sessions.document(path.slice(SESSIONS.length + 1))
      : undefined;
    if (session !== undefined) return session;
    const task = /^\/redfish\/v1\/TaskService\/Tasks\/([^/]+)$/.exec(path);
    if (task !== null) {
      const found = this.shelf.tasks.get(task[1] as string);
      return found !== undefined
        ? taskDocument(found, this.shelf.taskPercent(found), taskPath(found.id))
        : undefined;
    }
    return undefined;
  }

  private root(): Doc {
    return {
      "@odata.id": R,
      "@odata.type": "#ServiceRoot.v1_15_0.ServiceRoot",
      Id: "RootService",
      Name: "Power Shelf Controller",
      RedfishVersion: "1.17.0",
      UUID: this.identity.uuid,
      Vendor: this.identity.manufacturer,
      Product: this.identity.model,
      Chassis: { "@odata.id": `${R}/Chassis` },
      PowerEquipment: { "@odata.id": `${R}/PowerEquipment` },
      Managers: { "@odata.id": `${R}/Managers` },
      UpdateService: { "@odata.id": `${R}/UpdateService` },
      Tasks: { "@odata.id": `${R}/TaskService` },
      SessionService: { "@odata.id": `${R}/SessionService` },
      Links: { Sessions: { "@odata.id": SESSIONS } },
    };
  }

  private buildRoutes(): void {
    const s = this.shelf;
    const status = (): Doc => ({
      Health: s.psus.every((psu) => !psu.failed)
        ? "OK"
        : s.psus.some((psu) => !psu.failed)
          ? "Warning"
          : "Critical",
      State: "Enabled",
    });

    this.route(`${R}/Chassis`, () => collection(`${R}/Chassis`, "Chassis Collection", "Chassis", [CHASSIS]));
    this.route(CHASSIS, () => ({
      "@odata.id": CHASSIS,
      "@odata.type": "#Chassis.v1_22_0.Chassis",
      Id: "PowerShelf",
      Name: "Power Shelf",
      ChassisType: "PowerShelf",
      Manufacturer: this.identity.manufacturer,
      Model: this.identity.model,
      SerialNumber: this.identity.serial,
      PowerState: s.power,
      Actions: {
        "#Chassis.Reset": { target: RESET, "ResetType@Redfish.AllowableValues": [...RESET_TYPES] },
      },
      PowerSubsystem: { "@odata.id": `${CHASSIS}/PowerSubsystem` },
      Sensors: { "@odata.id": `${CHASSIS}/Sensors` },
      Links: {
        ManagedBy: [{ "@odata.id": MANAGER }],
        PowerDistribution: { "@odata.id": SHELF },
      },
      Status: status(),
    }));

    const power = `${CHASSIS}/PowerSubsystem`;
    this.route(power, () => ({
      "@odata.id": power,
      "@odata.type": "#PowerSubsystem.v1_1_0.PowerSubsystem",
      Id: "PowerSubsystem",
      Name: "Power Subsystem",
      CapacityWatts: s.psus.reduce((sum, psu) => sum + psu.capacityWatts, 0),
      PowerSupplies: { "@odata.id": `${power}/PowerSupplies` },
      Status: status(),
    }));
    this.route(`${power}/PowerSupplies`, () =>
      collection(
        `${power}/PowerSupplies`,
        "Power Supply Collection",
        "PowerSupply",
        s.psus.map((psu) => `${power}/PowerSupplies/${psu.id}`),
      ),
    );
    for (const psu of s.psus) {
      const path = `${power}/PowerSupplies/${psu.id}`;
      this.route(path, () => ({
        "@odata.id": path,
        "@odata.type": "#PowerSupply.v1_5_0.PowerSupply",
        Id: psu.id,
        Name: `Power Supply ${psu.id.slice(3)}`,
        Model: "PSU-5500W-48V",
        SerialNumber: psu.serial,
        PowerCapacityWatts: psu.capacityWatts,
        PowerSupplyType: "ACorDC",
        Metrics: { "@odata.id": `${path}/Metrics` },
        Status: psu.failed
          ? { Health: "Critical", State: "UnavailableOffline" }
          : { Health: "OK", State: "Enabled" },
      }));
      this.route(`${path}/Metrics`, () => this.psuMetrics(psu, path));
    }

    this.route(`${CHASSIS}/Sensors`, () =>
      collection(
        `${CHASSIS}/Sensors`,
        "Sensors",
        "Sensor",
        ["InputPower", "OutputPower", "OutputVoltage", "Temperature"].map((id) => `${CHASSIS}/Sensors/${id}`),
      ),
    );
    const sensor = (id: string, name: string, type: string, units: string, reading: () => number): void => {
      const path = `${CHASSIS}/Sensors/${id}`;
      this.route(path, () => ({
        "@odata.id": path,
        "@odata.type": "#Sensor.v1_2_0.Sensor",
        Id: id,
        Name: name,
        Reading: reading(),
        ReadingType: type,
        ReadingUnits: units,
        Status: { Health: "OK", State: "Enabled" },
      }));
    };
    sensor("InputPower", "Shelf Input Power", "Power", "W", () => round(s.inputWatts()));
    sensor("OutputPower", "Shelf Output Power", "Power", "W", () => round(s.outputWatts()));
    sensor("OutputVoltage", "DC Bus Voltage", "Voltage", "V", () => (s.energized ? s.spec.outputVoltage : 0));
    sensor("Temperature", "Shelf Inlet Temperature", "Temperature", "Cel", () =>
      round(24 + s.outputWatts() / 2_000),
    );

    this.route(`${R}/PowerEquipment`, () => ({
      "@odata.id": `${R}/PowerEquipment`,
      "@odata.type": "#PowerEquipment.v1_2_0.PowerEquipment",
      Id: "PowerEquipment",
      Name: "Power Equipment",
      PowerShelves: { "@odata.id": `${R}/PowerEquipment/PowerShelves` },
      Status: { Health: "OK", State: "Enabled" },
    }));
    this.route(`${R}/PowerEquipment/PowerShelves`, () =>
      collection(`${R}/PowerEquipment/PowerShelves`, "Power Shelf Collection", "PowerDistribution", [SHELF]),
    );
    this.route(SHELF, () => ({
      "@odata.id": SHELF,
      "@odata.type": "#PowerDistribution.v1_3_0.PowerDistribution",
      Id: "1",
      Name: "Power Shelf",
      EquipmentType: "PowerShelf",
      Manufacturer: this.identity.manufacturer,
      Model: this.identity.model,
      SerialNumber: this.identity.serial,
      UUID: this.identity.uuid,
      FirmwareVersion: s.firmware.find((item) => item.role === "bmc")?.version,
      Outlets: { "@odata.id": `${SHELF}/Outlets` },
      PowerSupplies: { "@odata.id": `${power}/PowerSupplies` },
      Metrics: { "@odata.id": `${SHELF}/Metrics` },
      Sensors: { "@odata.id": `${CHASSIS}/Sensors` },
      Links: { Chassis: [{ "@odata.id": CHASSIS }], ManagedBy: [{ "@odata.id": MANAGER }] },
      Status: status(),
    }));
    this.route(`${SHELF}/Metrics`, () => ({
      "@odata.id": `${SHELF}/Metrics`,
      "@odata.type": "#PowerDistributionMetrics.v1_3_0.PowerDistributionMetrics",
      Id: "Metrics",
      Name: "Power Shelf Metrics",
      PowerWatts: { Reading: round(s.outputWatts()) },
    }));
    this.route(`${SHELF}/Outlets`, () =>
      collection(
        `${SHELF}/Outlets`,
        "Outlet Collection",
        "Outlet",
        s.outlets.map((outlet) => `${SHELF}/Outlets/${outlet.id}`),
      ),
    );
    for (const outlet of s.outlets) this.route(`${SHELF}/Outlets/${outlet.id}`, () => this.outletDoc(outlet));

    this.route(`${R}/Managers`, () =>
      collection(`${R}/Managers`, "Manager Collection", "Manager", [MANAGER]),
    );
    this.route(MANAGER, () => ({
      "@odata.id": MANAGER,
      "@odata.type": "#Manager.v1_14_0.Manager",
      Id: "PMC",
      Name: "Power Management Controller",
      ManagerType: "ManagementController",
      FirmwareVersion: s.firmware.find((item) => item.role === "bmc")?.version,
      Links: { ManagerForChassis: [{ "@odata.id": CHASSIS }] },
      Status: { Health: "OK", State: "Enabled" },
    }));

    this.route(`${R}/SessionService`, () => ({
      "@odata.id": `${R}/SessionService`,
      "@odata.type": "#SessionService.v1_0_2.SessionService",
      Id: "SessionService",
      Name: "Session Service",
      ServiceEnabled: true,
      Sessions: { "@odata.id": SESSIONS },
    }));
    this.route(SESSIONS, () => collection(SESSIONS, "Session Collection", "Session", this.sessions.paths()));

    this.route(`${R}/UpdateService`, () => ({
      "@odata.id": `${R}/UpdateService`,
      "@odata.type": "#UpdateService.v1_11_1.UpdateService",
      Id: "UpdateService",
      Name: "Update Service",
      ServiceEnabled: true,
      FirmwareInventory: { "@odata.id": `${R}/UpdateService/FirmwareInventory` },
      Actions: {
        "#UpdateService.SimpleUpdate": {
          target: SIMPLE_UPDATE,
          "TransferProtocol@Redfish.AllowableValues": [...TRANSFER_PROTOCOLS],
        },
      },
    }));
    this.route(`${R}/UpdateService/FirmwareInventory`, () =>
      collection(
        `${R}/UpdateService/FirmwareInventory`,
        "Firmware Inventory Collection",
        "SoftwareInventory",
        s.firmware.map((item) => firmwarePath(item.id)),
      ),
    );
    for (const item of s.firmware) {
      this.route(firmwarePath(item.id), () => ({
        "@odata.id": firmwarePath(item.id),
        "@odata.type": "#SoftwareInventory.v1_2_0.SoftwareInventory",
        Id: item.id,
        Name: item.name,
        Description: item.description,
        Version: item.version,
        Updateable: item.updateable,
        Status: { Health: "OK", State: "Enabled" },
      }));
    }
    this.route(`${R}/TaskService`, () => ({
      "@odata.id": `${R}/TaskService`,
      "@odata.type": "#TaskService.v1_1_4.TaskService",
      Id: "TaskService",
      Name: "Task Service",
      ServiceEnabled: true,
      Tasks: { "@odata.id": `${R}/TaskService/Tasks` },
    }));
    this.route(`${R}/TaskService/Tasks`, () =>
      collection(`${R}/TaskService/Tasks`, "Task Collection", "Task", [...s.tasks.keys()].map(taskPath)),
    );
  }

  private route(path: string, render: () => Doc): void {
    this.routes.set(path, render);
  }

  private outletDoc(outlet: OutletState): Doc {
    const path = `${SHELF}/Outlets/${outlet.id}`;
    const watts = this.shelf.outletEnergized(outlet) ? this.shelf.loadWatts(outlet.id) : 0;
    const volts = this.shelf.outletEnergized(outlet) ? this.shelf.spec.outputVoltage : 0;
    return {
      "@odata.id": path,
      "@odata.type": "#Outlet.v1_4_0.Outlet",
      Id: outlet.id,
      Name: outlet.name,
      VoltageType: "DC",
      NominalVoltage: "DC48V",
      PowerEnabled: this.shelf.energized,
      PowerState: this.shelf.outletPower(outlet),
      PowerWatts: { Reading: round(watts) },
      Voltage: { Reading: volts },
      CurrentAmps: { Reading: volts > 0 ? round(watts / volts) : 0 },
      Actions: {
        "#Outlet.PowerControl": {
          target: `${path}/Actions/Outlet.PowerControl`,
          "PowerState@Redfish.AllowableValues": [...OUTLET_STATES],
        },
      },
      Status: { Health: "OK", State: "Enabled" },
    };
  }

  private psuMetrics(psu: PsuState, path: string): Doc {
    const working = this.shelf.psus.filter((item) => !item.failed).length;
    const share = psu.failed || working === 0 ? 0 : 1 / working;
    const output = this.shelf.outputWatts() * share;
    const input = this.shelf.energized
      ? this.shelf.inputWatts() * share
      : psu.failed
        ? 0
        : 4 / this.shelf.psus.length;
    const outputVolts = this.shelf.energized && !psu.failed ? this.shelf.spec.outputVoltage : 0;
    return {
      "@odata.id": `${path}/Metrics`,
      "@odata.type": "#PowerSupplyMetrics.v1_0_1.PowerSupplyMetrics",
      Id: "Metrics",
      Name: `${psu.id} Metrics`,
      InputPowerWatts: { Reading: round(input) },
      OutputPowerWatts: { Reading: round(output) },
      InputVoltage: { Reading: psu.failed ? 0 : this.shelf.spec.inputVoltage },
      OutputVoltage: { Reading: outputVolts },
      OutputCurrentAmps: { Reading: outputVolts > 0 ? round(output / outputVolts) : 0 },
      TemperatureCelsius: { Reading: round(26 + output / 400) },
    };
  }
}

function firmwarePath(id: string): string {
  return `${R}/UpdateService/FirmwareInventory/${id}`;
}

function taskPath(id: string): string {
  return `${R}/TaskService/Tasks/${id}`;
}

function missing(path: string): LabResponse {
  return redfishError(404, "Base.1.8.ResourceMissingAtURI", `The resource at the URI ${path} was not found.`);
}

function collection(path: string, name: string, type: string, members: readonly string[]): Doc {
  return {
    "@odata.id": path,
    "@odata.type": `#${type}Collection.${type}Collection`,
    Name: name,
    Members: members.map((id) => ({ "@odata.id": id })),
    "Members@odata.count": members.length,
  };
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
