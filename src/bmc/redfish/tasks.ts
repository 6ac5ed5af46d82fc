/** Redfish Task documents (firmware updates, long actions) and log entries. */
import type { BmcLogEntry, FirmwareUpdateState } from "../driver.ts";
import { arrayOf, isDocument, mapHealth, numberOf, odataId, type RedfishDocument, stringOf } from "./json.ts";

export interface TaskView {
  readonly state: FirmwareUpdateState;
  readonly percent?: number;
  readonly messages: readonly string[];
}

export function isTask(doc: unknown): doc is RedfishDocument {
  return isDocument(doc) && typeof doc.TaskState === "string";
}

export function parseTask(doc: RedfishDocument): TaskView {
  const taskState = stringOf(doc, "TaskState");
  const taskStatus = stringOf(doc, "TaskStatus");
  let state: FirmwareUpdateState;
  switch (taskState) {
    case "New":
    case "Pending":
    case "Starting":
    case "Suspended":
      state = "pending";
      break;
    case "Completed":
      // Some BMCs finish a failed task as Completed with a Critical status.
      state = taskStatus === "Critical" ? "failed" : "completed";
      break;
    case "Exception":
      state = "failed";
      break;
    case "Killed":
    case "Cancelled":
      state = "cancelled";
      break;
    default:
      state = "running";
  }
  const messages = arrayOf(doc, "Messages")
    .filter(isDocument)
    .map((message) => stringOf(message, "Message") ?? stringOf(message, "MessageId"))
    .filter((text): text is string => text !== undefined);
  const percent = numberOf(doc, "PercentComplete");
  return { state, ...(percent !== undefined ? { percent } : {}), messages };
}

/** The Redfish TransferProtocol for an image URI (`https://…` → HTTPS). */
export function transferProtocolFor(imageUri: string): string | undefined {
  const match = /^([a-z][a-z0-9+.-]*):\/\//i.exec(imageUri.trim());
  return match?.[1]?.toUpperCase();
}

export function parseLogEntry(doc: RedfishDocument): BmcLogEntry | undefined {
  const id = odataId(doc) ?? stringOf(doc, "Id");
  const message = stringOf(doc, "Message");
  if (id === undefined || message === undefined) return undefined;
  // iLO writes "0000-00-00T00:00:00Z" for events logged before its clock was set: that is no time at all.
  const stamp = stringOf(doc, "Created");
  const created = stamp !== undefined && !Number.isNaN(Date.parse(stamp)) ? stamp : undefined;
  return {
    id,
    ...(created !== undefined ? { created } : {}),
    severity: mapHealth(stringOf(doc, "Severity")),
    message,
  };
}

/** Newest first; entries without a time keep their relative order after the dated ones. */
export function newestFirst(entries: readonly BmcLogEntry[]): BmcLogEntry[] {
  return entries
    .map((entry, index) => ({
      entry,
      index,
      time: entry.created !== undefined ? Date.parse(entry.created) : NaN,
    }))
    .sort((a, b) => {
      const aKnown = !Number.isNaN(a.time);
      const bKnown = !Number.isNaN(b.time);
      if (aKnown && bKnown && a.time !== b.time) return b.time - a.time;
      if (aKnown !== bKnown) return aKnown ? -1 : 1;
      return b.index - a.index;
    })
    .map(({ entry }) => entry);
}
