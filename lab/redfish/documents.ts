/**
 * What every lab Redfish service (the BMCs, the power shelves) renders and answers alike: the standard
 * errors, collections, the table of resources, UpdateService with its FirmwareInventory and SimpleUpdate
 * tasks, TaskService, and SessionService with its Sessions.
 */
import {
  type FirmwareState,
  type LabTask,
  parseSimpleUpdate,
  taskDocument,
  taskMonitorResponse,
} from "./firmware.ts";
import { type LabRequest, type LabResponse, redfishError } from "./https-server.ts";
import type { LabSessions } from "./sessions.ts";

export type Doc = Record<string, unknown>;

export const REDFISH_ROOT = "/redfish/v1";
const R = REDFISH_ROOT;
export const SESSIONS_PATH = `${R}/SessionService/Sessions`;
export const SIMPLE_UPDATE_PATH = `${R}/UpdateService/Actions/UpdateService.SimpleUpdate`;

/** A device whose firmware SimpleUpdate tasks update (a simulated machine, a power shelf). */
export interface FirmwareDevice {
  readonly firmware: readonly FirmwareState[];
  readonly tasks: ReadonlyMap<string, LabTask>;
  startFirmwareUpdate(imageUri: string, targets: readonly string[]): LabTask;
  taskPercent(task: LabTask): number;
}

export function firmwarePath(id: string): string {
  return `${R}/UpdateService/FirmwareInventory/${id}`;
}

export function taskPath(id: string): string {
  return `${R}/TaskService/Tasks/${id}`;
}

export function collection(path: string, name: string, type: string, members: readonly string[]): Doc {
  return {
    "@odata.id": path,
    "@odata.type": `#${type}Collection.${type}Collection`,
    Name: name,
    Members: members.map((id) => ({ "@odata.id": id })),
    "Members@odata.count": members.length,
  };
}

export function malformedBody(): LabResponse {
  return redfishError(400, "Base.1.8.MalformedJSON", "The request body is not JSON.");
}

export function resourceMissing(path: string): LabResponse {
  return redfishError(404, "Base.1.8.ResourceMissingAtURI", `The resource at the URI ${path} was not found.`);
}

/** 405 for a resource that only reads. */
export function methodNotAllowed(message: string): LabResponse {
  return {
    ...redfishError(405, "Base.1.8.OperationNotAllowed", message),
    headers: { allow: "GET, HEAD" },
  };
}

/** A string parameter of an action's body, or the 400 that says it is missing. */
export function actionParameter(request: LabRequest, name: string): string | LabResponse {
  const value = (request.body as Doc | undefined)?.[name];
  return typeof value === "string"
    ? value
    : redfishError(400, "Base.1.8.ActionParameterMissing", `${name} is required.`);
}

export interface ServiceEntry {
  /** How the device compares paths (case-insensitively on some). */
  readonly key: (path: string) => string;
  readonly sessions: LabSessions;
  /** The device offers SessionService login. */
  readonly login: boolean;
  readonly root: (request: LabRequest) => LabResponse;
}

/**
 * What a device answers before it knows who asks: a body that is not JSON, /redfish and the service root,
 * a login, and the 401 of a request without valid credentials. undefined: the request may go on.
 */
export function answerBeforeAuthentication(
  request: LabRequest,
  entry: ServiceEntry,
): LabResponse | undefined {
  if (request.malformedBody) return malformedBody();
  const path = entry.key(request.path);
  const method = request.method === "HEAD" ? "GET" : request.method;
  if (method === "GET" && path === entry.key("/redfish")) return { status: 200, body: { v1: `${R}/` } };
  if (method === "GET" && path === entry.key(R)) return entry.root(request);
  if (method === "POST" && path === entry.key(SESSIONS_PATH) && entry.login) {
    return entry.sessions.login(request);
  }
  return entry.sessions.authenticate(request);
}

export interface ServiceRootFields {
  readonly name: string;
  readonly redfishVersion: string;
  readonly uuid: string;
  readonly vendor: string;
  readonly product?: string;
  /** Top-level collections and services besides UpdateService and TaskService, e.g. Systems, Chassis. */
  readonly links: readonly string[];
  /** Links SessionService and the Sessions collection. */
  readonly sessions: boolean;
}

export function serviceRoot(fields: ServiceRootFields): Doc {
  return {
    "@odata.id": R,
    "@odata.type": "#ServiceRoot.v1_15_0.ServiceRoot",
    Id: "RootService",
    Name: fields.name,
    RedfishVersion: fields.redfishVersion,
    UUID: fields.uuid,
    ...(fields.product !== undefined ? { Product: fields.product } : {}),
    Vendor: fields.vendor,
    ...Object.fromEntries(fields.links.map((name) => [name, { "@odata.id": `${R}/${name}` }])),
    UpdateService: { "@odata.id": `${R}/UpdateService` },
    Tasks: { "@odata.id": `${R}/TaskService` },
    ...(fields.sessions
      ? {
          SessionService: { "@odata.id": `${R}/SessionService` },
          Links: { Sessions: { "@odata.id": SESSIONS_PATH } },
        }
      : {}),
  };
}

/** The resources of a device, rendered on each read, under the keys the device compares paths by. */
export class LabRoutes {
  private readonly routes = new Map<string, () => Doc>();

  constructor(private readonly key: (path: string) => string = (path) => path) {}

  add(path: string, render: () => Doc): void {
    this.routes.set(this.key(path), render);
  }

  /** The document at `key` (a path as the device keys it), if one is routed there. */
  render(key: string): Doc | undefined {
    return this.routes.get(key)?.();
  }
}

/** UpdateService with SimpleUpdate, its FirmwareInventory, and TaskService with the firmware tasks. */
export function addFirmwareRoutes(
  routes: LabRoutes,
  device: FirmwareDevice,
  transferProtocols: readonly string[],
): void {
  routes.add(`${R}/UpdateService`, () => ({
    "@odata.id": `${R}/UpdateService`,
    "@odata.type": "#UpdateService.v1_11_1.UpdateService",
    Id: "UpdateService",
    Name: "Update Service",
    ServiceEnabled: true,
    FirmwareInventory: { "@odata.id": `${R}/UpdateService/FirmwareInventory` },
    Actions: {
      "#UpdateService.SimpleUpdate": {
        "TransferProtocol@Redfish.AllowableValues": [...transferProtocols],
        target: SIMPLE_UPDATE_PATH,
      },
    },
  }));
  routes.add(`${R}/UpdateService/FirmwareInventory`, () =>
    collection(
      `${R}/UpdateService/FirmwareInventory`,
      "Firmware Inventory Collection",
      "SoftwareInventory",
      device.firmware.map((item) => firmwarePath(item.id)),
    ),
  );
  for (const item of device.firmware) {
    routes.add(firmwarePath(item.id), () => ({
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
  routes.add(`${R}/TaskService`, () => ({
    "@odata.id": `${R}/TaskService`,
    "@odata.type": "#TaskService.v1_1_4.TaskService",
    Id: "TaskService",
    Name: "Task Service",
    ServiceEnabled: true,
    Tasks: { "@odata.id": `${R}/TaskService/Tasks` },
  }));
  routes.add(`${R}/TaskService/Tasks`, () =>
    collection(`${R}/TaskService/Tasks`, "Task Collection", "Task", [...device.tasks.keys()].map(taskPath)),
  );
}

export interface SessionRouteOptions {
  /** Some BMCs name their SessionService with a trailing slash. */
  readonly trailingSlash?: boolean;
  /** Advertised as SessionTimeout (seconds) where given. */
  readonly sessionTimeoutMs?: number;
}

/** SessionService and its Sessions collection (the sessions themselves: LabSessions.document). */
export function addSessionRoutes(
  routes: LabRoutes,
  sessions: LabSessions,
  options: SessionRouteOptions = {},
): void {
  const path = `${R}/SessionService`;
  routes.add(path, () => ({
    "@odata.id": options.trailingSlash === true ? `${path}/` : path,
    "@odata.type": "#SessionService.v1_0_2.SessionService",
    Id: "SessionService",
    Name: "Session Service",
    ServiceEnabled: true,
    ...(options.sessionTimeoutMs !== undefined
      ? { SessionTimeout: Math.round(options.sessionTimeoutMs / 1000) }
      : {}),
    Sessions: { "@odata.id": SESSIONS_PATH },
  }));
  routes.add(SESSIONS_PATH, () =>
    collection(SESSIONS_PATH, "Session Collection", "Session", sessions.paths()),
  );
}

/**
 * UpdateService.SimpleUpdate: checks the request against the device's firmware, starts its task and
 * answers 202 with the task's monitor. Without Targets the device's own (BMC) firmware is updated.
 */
export function startSimpleUpdate(
  request: LabRequest,
  device: FirmwareDevice,
  transferProtocols: readonly string[],
  key: (path: string) => string = (path) => path,
): LabResponse {
  const update = parseSimpleUpdate(request.body, {
    transferProtocols,
    firmware: device.firmware,
    pathOf: firmwarePath,
    key,
    defaultTargets: () => device.firmware.filter((item) => item.role === "bmc").map((item) => item.id),
  });
  if ("status" in update) return update;
  const task = device.startFirmwareUpdate(update.imageUri, update.targets);
  return {
    status: 202,
    headers: { location: `${taskPath(task.id)}/Monitor` },
    body: firmwareTaskDocument(device, task),
  };
}

export function firmwareTaskDocument(device: FirmwareDevice, task: LabTask): Doc {
  return taskDocument(task, device.taskPercent(task), taskPath(task.id));
}

export function firmwareTaskMonitor(device: FirmwareDevice, task: LabTask): LabResponse {
  return taskMonitorResponse(task, device.taskPercent(task), taskPath(task.id));
}
