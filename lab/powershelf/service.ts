/**
 * The Redfish face of a simulated power shelf controller (PMC). It offers both models real shelves use:
 * a Chassis of type PowerShelf (Chassis.Reset, PowerSubsystem with supplies and their metrics, Sensors) and
 * a PowerDistribution under PowerEquipment/PowerShelves (Outlets with Outlet.PowerControl, Metrics), plus
 * UpdateService with SimpleUpdate tasks, a Manager, and sessions shared with the lab BMCs.
 */
import {
  actionParameter,
  addFirmwareRoutes,
  addSessionRoutes,
  answerBeforeAuthentication,
  collection,
  type Doc,
  firmwareTaskDocument,
  firmwareTaskMonitor,
  LabRoutes,
  methodNotAllowed,
  REDFISH_ROOT as R,
  resourceMissing,
  SESSIONS_PATH as SESSIONS,
  SIMPLE_UPDATE_PATH,
  serviceRoot,
  startSimpleUpdate,
} from "../redfish/documents.ts";
import { type LabRequest, type LabResponse, redfishError } from "../redfish/https-server.ts";
import { type LabCredentials, LabSessions } from "../redfish/sessions.ts";
import {
  OUTLET_POWER_STATES,
  type OutletState,
  type PsuState,
  SHELF_RESET_TYPES,
  type SimulatedPowerShelf,
} from "./shelf.ts";

const CHASSIS = `${R}/Chassis/PowerShelf`;
const SHELF = `${R}/PowerEquipment/PowerShelves/1`;
const MANAGER = `${R}/Managers/PMC`;
const RESET = `${CHASSIS}/Actions/Chassis.Reset`;
const TRANSFER_PROTOCOLS = ["HTTP", "HTTPS"];

export interface PowerShelfIdentity {
  readonly serial: string;
  readonly uuid: string;
  readonly manufacturer: string;
  readonly model: string;
}

export class PowerShelfRedfishService {
  /** Its logins; the lab expires them and counts them. */
  readonly sessions: LabSessions;
  private readonly routes = new LabRoutes();

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

  handle(request: LabRequest): LabResponse {
    const early = answerBeforeAuthentication(request, {
      key: (path) => path,
      sessions: this.sessions,
      login: true,
      root: () => ({ status: 200, body: this.root() }),
    });
    if (early !== undefined) return early;
    const method = request.method === "HEAD" ? "GET" : request.method;
    const path = request.path;

    if (method === "GET") {
      const monitor = /^\/redfish\/v1\/TaskService\/Tasks\/([^/]+)\/Monitor$/.exec(path);
      if (monitor !== null) {
        const task = this.shelf.tasks.get(monitor[1] as string);
        if (task !== undefined) return firmwareTaskMonitor(this.shelf, task);
      }
      const doc = this.resolve(path);
      return doc !== undefined ? { status: 200, body: doc } : resourceMissing(path);
    }
    if (method === "POST" && path === RESET) return this.reset(request);
    const outletAction =
      /^\/redfish\/v1\/PowerEquipment\/PowerShelves\/1\/Outlets\/([^/]+)\/Actions\/Outlet\.PowerControl$/.exec(
        path,
      );
    if (method === "POST" && outletAction !== null)
      return this.outletControl(outletAction[1] as string, request);
    if (method === "POST" && path === SIMPLE_UPDATE_PATH) {
      return startSimpleUpdate(request, this.shelf, TRANSFER_PROTOCOLS);
    }
    if (method === "DELETE" && path.startsWith(`${SESSIONS}/`)) {
      return this.sessions.logout(path.slice(SESSIONS.length + 1)) ? { status: 204 } : resourceMissing(path);
    }
    if (this.resolve(path) !== undefined) {
      return methodNotAllowed(`${request.method} is not allowed on ${path}.`);
    }
    return resourceMissing(path);
  }

  // ---------------------------------------------------------------- actions

  private reset(request: LabRequest): LabResponse {
    const resetType = actionParameter(request, "ResetType");
    if (typeof resetType !== "string") return resetType;
    const outcome = this.shelf.reset(resetType);
    return outcome.ok ? { status: 204 } : redfishError(outcome.status, outcome.messageId, outcome.message);
  }

  private outletControl(id: string, request: LabRequest): LabResponse {
    const powerState = actionParameter(request, "PowerState");
    if (typeof powerState !== "string") return powerState;
    const outcome = this.shelf.outletControl(id, powerState);
    return outcome.ok ? { status: 204 } : redfishError(outcome.status, outcome.messageId, outcome.message);
  }

  // ---------------------------------------------------------------- documents

  private resolve(path: string): Doc | undefined {
    const routed = this.routes.render(path);
    if (routed !== undefined) return routed;
    const session = path.startsWith(`${SESSIONS}/`)
      ? this.sessions.document(path.slice(SESSIONS.length + 1))
      : undefined;
    if (session !== undefined) return session;
    const task = /^\/redfish\/v1\/TaskService\/Tasks\/([^/]+)$/.exec(path);
    if (task !== null) {
      const found = this.shelf.tasks.get(task[1] as string);
      return found !== undefined ? firmwareTaskDocument(this.shelf, found) : undefined;
    }
    return undefined;
  }

  private root(): Doc {
    return serviceRoot({
      name: "Power Shelf Controller",
      redfishVersion: "1.17.0",
      uuid: this.identity.uuid,
      vendor: this.identity.manufacturer,
      product: this.identity.model,
      links: ["Chassis", "PowerEquipment", "Managers"],
      sessions: true,
    });
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

    this.routes.add(`${R}/Chassis`, () =>
      collection(`${R}/Chassis`, "Chassis Collection", "Chassis", [CHASSIS]),
    );
    this.routes.add(CHASSIS, () => ({
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
        "#Chassis.Reset": {
          target: RESET,
          "ResetType@Redfish.AllowableValues": [...SHELF_RESET_TYPES.keys()],
        },
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
    this.routes.add(power, () => ({
      "@odata.id": power,
      "@odata.type": "#PowerSubsystem.v1_1_0.PowerSubsystem",
      Id: "PowerSubsystem",
      Name: "Power Subsystem",
      CapacityWatts: s.psus.reduce((sum, psu) => sum + psu.capacityWatts, 0),
      PowerSupplies: { "@odata.id": `${power}/PowerSupplies` },
      Status: status(),
    }));
    this.routes.add(`${power}/PowerSupplies`, () =>
      collection(
        `${power}/PowerSupplies`,
        "Power Supply Collection",
        "PowerSupply",
        s.psus.map((psu) => `${power}/PowerSupplies/${psu.id}`),
      ),
    );
    for (const psu of s.psus) {
      const path = `${power}/PowerSupplies/${psu.id}`;
      this.routes.add(path, () => ({
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
      this.routes.add(`${path}/Metrics`, () => this.psuMetrics(psu, path));
    }

    this.routes.add(`${CHASSIS}/Sensors`, () =>
      collection(
        `${CHASSIS}/Sensors`,
        "Sensors",
        "Sensor",
        ["InputPower", "OutputPower", "OutputVoltage", "Temperature"].map((id) => `${CHASSIS}/Sensors/${id}`),
      ),
    );
    const sensor = (id: string, name: string, type: string, units: string, reading: () => number): void => {
      const path = `${CHASSIS}/Sensors/${id}`;
      this.routes.add(path, () => ({
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

    this.routes.add(`${R}/PowerEquipment`, () => ({
      "@odata.id": `${R}/PowerEquipment`,
      "@odata.type": "#PowerEquipment.v1_2_0.PowerEquipment",
      Id: "PowerEquipment",
      Name: "Power Equipment",
      PowerShelves: { "@odata.id": `${R}/PowerEquipment/PowerShelves` },
      Status: { Health: "OK", State: "Enabled" },
    }));
    this.routes.add(`${R}/PowerEquipment/PowerShelves`, () =>
      collection(`${R}/PowerEquipment/PowerShelves`, "Power Shelf Collection", "PowerDistribution", [SHELF]),
    );
    this.routes.add(SHELF, () => ({
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
    this.routes.add(`${SHELF}/Metrics`, () => ({
      "@odata.id": `${SHELF}/Metrics`,
      "@odata.type": "#PowerDistributionMetrics.v1_3_0.PowerDistributionMetrics",
      Id: "Metrics",
      Name: "Power Shelf Metrics",
      PowerWatts: { Reading: round(s.outputWatts()) },
    }));
    this.routes.add(`${SHELF}/Outlets`, () =>
      collection(
        `${SHELF}/Outlets`,
        "Outlet Collection",
        "Outlet",
        s.outlets.map((outlet) => `${SHELF}/Outlets/${outlet.id}`),
      ),
    );
    for (const outlet of s.outlets)
      this.routes.add(`${SHELF}/Outlets/${outlet.id}`, () => this.outletDoc(outlet));

    this.routes.add(`${R}/Managers`, () =>
      collection(`${R}/Managers`, "Manager Collection", "Manager", [MANAGER]),
    );
    this.routes.add(MANAGER, () => ({
      "@odata.id": MANAGER,
      "@odata.type": "#Manager.v1_14_0.Manager",
      Id: "PMC",
      Name: "Power Management Controller",
      ManagerType: "ManagementController",
      FirmwareVersion: s.firmware.find((item) => item.role === "bmc")?.version,
      Links: { ManagerForChassis: [{ "@odata.id": CHASSIS }] },
      Status: { Health: "OK", State: "Enabled" },
    }));

    addSessionRoutes(this.routes, this.sessions);
    addFirmwareRoutes(this.routes, s, TRANSFER_PROTOCOLS);
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
          "PowerState@Redfish.AllowableValues": [...OUTLET_POWER_STATES.keys()],
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

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
