/**
 * Firmware work through a BmcDriver (compute trays, the BMC of an NVSwitch tray): start the BMC's update,
 * follow its task, and once it ends verify that the device runs the version the image carries, as the
 * seed's NVSwitch flow does (VERIFY: a version mismatch fails the update instead of passing silently).
 */
import { ValidationError } from "../../errors.ts";
import { type BmcDriver, BmcError } from "../driver.ts";
import {
  type ComponentExpectation,
  type ComponentFirmwareRequest,
  type ComponentFirmwareStatus,
  decodeHandle,
  encodeHandle,
  versionMatches,
} from "./model.ts";
import { installPhase, verified } from "./support.ts";

/** The version of one firmware component (inventory id or name), or of the BMC itself. */
export async function readBmcFirmwareVersion(
  driver: BmcDriver,
  component: string | undefined,
  signal: AbortSignal,
): Promise<string> {
  const inventory = await driver.getInventory(signal);
  if (component !== undefined) {
    const item = inventory.firmware.find((entry) => entry.id === component || entry.name === component);
    if (item === undefined) {
      throw new BmcError("rejected", `the BMC lists no firmware component "${component}"`);
    }
    return item.version;
  }
  const version = inventory.bmcFirmwareVersion ?? inventory.firmware[0]?.version;
  if (version === undefined) throw new BmcError("protocol", "the BMC reports no firmware version");
  return version;
}

export async function startBmcFirmwareUpdate(
  driver: BmcDriver,
  request: ComponentFirmwareRequest,
  expectation: ComponentExpectation,
  signal: AbortSignal,
): Promise<ComponentFirmwareStatus> {
  const expectedVersion = request.version ?? expectation.firmwareVersion;
  const component = request.components?.[0] ?? expectation.firmwareComponent;
  const started = await driver.startFirmwareUpdate(
    {
      imageUri: request.imageUri,
      ...(request.components !== undefined ? { targets: request.components } : {}),
    },
    signal,
  );
  const handle = encodeHandle({
    kind: "bmc-task",
    task: started.handle,
    version: expectedVersion,
    component,
  });
  return {
    handle,
    state: started.state === "completed" ? "running" : started.state,
    phase: "install",
    ...(started.percent !== undefined ? { percent: started.percent } : {}),
    ...(expectedVersion !== undefined ? { expectedVersion } : {}),
    messages: started.messages,
  };
}

export interface BmcTaskHandle {
  readonly task: string;
  readonly version: string | undefined;
  readonly component: string | undefined;
}

export function parseBmcTaskHandle(handle: string): BmcTaskHandle | undefined {
  const payload = decodeHandle(handle);
  if (payload?.kind !== "bmc-task" || typeof payload.task !== "string") return undefined;
  return {
    task: payload.task,
    version: typeof payload.version === "string" ? payload.version : undefined,
    component: typeof payload.component === "string" ? payload.component : undefined,
  };
}

export function badHandle(handle: string): ValidationError {
  return new ValidationError(
    "component_manager.bad_handle",
    `"${handle.slice(0, 80)}" is not a firmware handle this manager issued`,
    "handle",
  );
}

/** Polls the BMC's task; once it completed, reads the version back and compares it with the expected one. */
export async function bmcFirmwareStatus(
  driver: BmcDriver,
  handle: string,
  parsed: BmcTaskHandle,
  signal: AbortSignal,
): Promise<ComponentFirmwareStatus> {
  // A BMC that accepted the update without a task: only the version can say when it is done.
  if (parsed.task === "") {
    const expected = parsed.version !== undefined ? { expectedVersion: parsed.version } : {};
    const version = await readBmcFirmwareVersion(driver, parsed.component, signal);
    const done = parsed.version !== undefined && versionMatches(version, parsed.version);
    return {
      handle,
      state: done ? "completed" : "running",
      phase: done ? "verify" : "install",
      version,
      ...expected,
      messages: done ? [] : ["the BMC gave no task to follow; waiting for the new version to show"],
    };
  }
  const task = await driver.getFirmwareUpdateStatus(parsed.task, signal);
  if (task.state !== "completed") return installPhase(handle, task, parsed.version);
  const version = await readBmcFirmwareVersion(driver, parsed.component, signal);
  return verified(handle, version, parsed.version, task.messages, "the device reports");
}
