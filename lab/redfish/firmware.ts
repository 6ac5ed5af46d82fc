/**
 * Firmware inventory and SimpleUpdate tasks of a simulated Redfish device, shared by the lab's BMCs and
 * power shelves: a task runs for a while, then the targets take the version named in the image file, or the
 * task fails for an image whose name says it is bad. No HTTP here beyond the shapes of the documents.
 */
import { type LabResponse, redfishError } from "./https-server.ts";

export interface FirmwareState {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  version: string;
  readonly updateable: boolean;
  readonly role: "bmc" | "bios" | "other";
}

export interface LabTask {
  readonly id: string;
  readonly startedAt: number;
  readonly durationMs: number;
  readonly imageUri: string;
  readonly targets: readonly string[];
  state: "Running" | "Completed" | "Exception";
  endedAt: number | undefined;
  readonly messages: Array<{ MessageId: string; Message: string; Severity: string }>;
}

export interface FirmwareUpdateHooks {
  readonly now: () => number;
  /** Runs `action` after `delayMs` unless the device was stopped meanwhile. */
  readonly schedule: (delayMs: number, action: () => void) => void;
  /** The device's log line for a flashed component and for a failed task. */
  readonly flashed: (item: FirmwareState) => void;
  readonly failed: (names: string, task: LabTask) => string;
}

/** An image the lab refuses to flash: its name says so. */
const BAD_IMAGE = /corrupt|invalid|bad-image/i;

export class FirmwareUpdates {
  readonly tasks = new Map<string, LabTask>();
  private sequence = 0;

  constructor(
    readonly firmware: FirmwareState[],
    private readonly hooks: FirmwareUpdateHooks,
  ) {}

  start(imageUri: string, targets: readonly string[], durationMs: number): LabTask {
    const id = String(++this.sequence);
    const task: LabTask = {
      id,
      startedAt: this.hooks.now(),
      durationMs,
      imageUri,
      targets,
      state: "Running",
      endedAt: undefined,
      messages: [
        {
          MessageId: "TaskEvent.1.0.TaskStarted",
          Message: `The task with Id '${id}' has started.`,
          Severity: "OK",
        },
      ],
    };
    this.tasks.set(id, task);
    this.hooks.schedule(durationMs, () => this.finish(task));
    return task;
  }

  percent(task: LabTask, at: number = this.hooks.now()): number {
    if (task.state !== "Running") return 100;
    return Math.min(99, Math.floor(((at - task.startedAt) / Math.max(1, task.durationMs)) * 100));
  }

  private finish(task: LabTask): void {
    const targets = this.firmware.filter((item) => task.targets.includes(item.id));
    const names = targets.map((item) => item.name).join(", ") || "firmware";
    task.endedAt = this.hooks.now();
    if (BAD_IMAGE.test(task.imageUri)) {
      task.state = "Exception";
      task.messages.push({
        MessageId: "Update.1.0.VerificationFailed",
        Message: this.hooks.failed(names, task),
        Severity: "Critical",
      });
      return;
    }
    const version = versionFromImage(task.imageUri);
    for (const item of targets) {
      item.version = version ?? `${item.version}.1`;
      this.hooks.flashed(item);
    }
    task.state = "Completed";
    task.messages.push({
      MessageId: "TaskEvent.1.0.TaskCompletedOK",
      Message: `The task with Id '${task.id}' has completed.`,
      Severity: "OK",
    });
  }
}

export interface SimpleUpdateContext {
  readonly transferProtocols: readonly string[];
  readonly firmware: readonly FirmwareState[];
  /** The FirmwareInventory URI of an item. */
  readonly pathOf: (id: string) => string;
  /** How the device compares paths (case-insensitively on some). */
  readonly key: (path: string) => string;
  /** Targets when the request names none. */
  readonly defaultTargets: () => string[];
}

/** Checks an UpdateService.SimpleUpdate body: the image, its transfer protocol, updateable targets. */
export function parseSimpleUpdate(
  body: unknown,
  context: SimpleUpdateContext,
): { readonly imageUri: string; readonly targets: string[] } | LabResponse {
  const doc = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const imageUri = doc.ImageURI;
  if (typeof imageUri !== "string" || imageUri.trim() === "") {
    return redfishError(400, "Base.1.8.ActionParameterMissing", "ImageURI is required.");
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(imageUri)?.[1]?.toUpperCase();
  const protocol = typeof doc.TransferProtocol === "string" ? doc.TransferProtocol : scheme;
  if (protocol === undefined || !context.transferProtocols.includes(protocol)) {
    return redfishError(
      400,
      "Base.1.8.ActionParameterNotSupported",
      `TransferProtocol ${protocol ?? "(none)"} is not supported.`,
    );
  }
  if (doc.Targets === undefined) return { imageUri, targets: context.defaultTargets() };
  if (!Array.isArray(doc.Targets) || doc.Targets.some((target) => typeof target !== "string")) {
    return redfishError(400, "Base.1.8.PropertyValueTypeError", "Targets must be an array of URIs.");
  }
  const targets: string[] = [];
  for (const target of doc.Targets as string[]) {
    const item = context.firmware.find(
      (entry) => context.key(context.pathOf(entry.id)) === context.key(target),
    );
    if (item === undefined || !item.updateable) {
      return redfishError(400, "Base.1.8.ActionParameterValueError", `Target ${target} cannot be updated.`);
    }
    targets.push(item.id);
  }
  return { imageUri, targets };
}

/** The Task resource of a firmware update at `path`. */
export function taskDocument(task: LabTask, percent: number, path: string): Record<string, unknown> {
  return {
    "@odata.id": path,
    "@odata.type": "#Task.v1_4_3.Task",
    Id: task.id,
    Name: `Task ${task.id}`,
    TaskState: task.state,
    TaskStatus: task.state === "Exception" ? "Critical" : "OK",
    PercentComplete: percent,
    StartTime: new Date(task.startedAt).toISOString(),
    ...(task.endedAt !== undefined ? { EndTime: new Date(task.endedAt).toISOString() } : {}),
    TaskMonitor: `${path}/Monitor`,
    Messages: task.messages.map((message) => ({ ...message })),
  };
}

/** A task monitor answers 202 (Retry-After 1) while its task runs and the task itself once it has ended. */
export function taskMonitorResponse(task: LabTask, percent: number, path: string): LabResponse {
  const body = taskDocument(task, percent, path);
  return task.state === "Running"
    ? { status: 202, headers: { location: `${path}/Monitor`, "retry-after": "1" }, body }
    : { status: 200, body };
}

/** "https://repo/bmc-2.16.0.bin" → "2.16.0": the lab has no image to open, so the name says the version. */
export function versionFromImage(imageUri: string): string | undefined {
  let path = imageUri;
  try {
    path = new URL(imageUri).pathname;
  } catch {
    // Not a URL: read the name as given.
  }
  const name =
    path
      .split("/")
      .filter((part) => part !== "")
      .pop() ?? "";
  return /(\d+(?:\.\d+)+)/.exec(name)?.[1];
}
