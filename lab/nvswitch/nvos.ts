/**
 * The switch OS of a simulated NVSwitch tray (an NVOS-like system): its version, image partitions, fetched
 * image files, firmware components, the actions it runs, and its life cycle (down, booting, up). Installing
 * an image takes time, reports progress, then reboots the switch into the new image; while it reboots the
 * switch is unreachable. The CLI that reads and drives this state is in cli.ts.
 */
import { DeviceTimers } from "../redfish/devices.ts";
import { versionFromImage } from "../redfish/firmware.ts";

export type NvosLifecycle = "down" | "booting" | "up";

export interface NvosTiming {
  /** Power on (or reboot) → the OS answers SSH. */
  readonly bootMs: number;
  /** `nv action fetch system image`. */
  readonly fetchMs: number;
  /** `nv action install system image files`: verify and write the image. */
  readonly installMs: number;
  /** After a successful install, before the switch goes down to reboot. */
  readonly rebootDelayMs: number;
}

export type NvosActionState = "action_executing" | "action_success" | "action_fail";

export interface NvosAction {
  readonly id: number;
  readonly command: string;
  state: NvosActionState;
  status: string;
  percentage: number;
}

export interface NvosFirmwareComponent {
  readonly id: string;
  actual: string;
  /** What takes effect at the next boot. */
  installed: string;
  readonly partNumber: string;
}

/** Progress the CLI prints while an action runs. */
export type ProgressListener = (line: string) => void;

const BAD_IMAGE = /corrupt|invalid|bad-image/i;

/** The ASIC firmware an image bundles: derived from the image version, so it moves with it. */
export function asicFirmwareFor(version: string): string {
  const [major = "0", minor = "0", build = "0"] = version.split(".");
  return `35.${major}${minor.padStart(2, "0")}.${build}`;
}

export class SimulatedNvos {
  lifecycle: NvosLifecycle;
  bootedAt: number;
  readonly partitions: [string, string];
  /** Index into `partitions` of the running image and of the one the next boot uses. */
  current: 0 | 1 = 0;
  next: 0 | 1 = 0;
  readonly files = new Map<string, { readonly path: string; readonly version: string | undefined }>();
  readonly actions: NvosAction[] = [];
  readonly firmware: NvosFirmwareComponent[];
  private actionSequence = 0;
  private readonly timers = new DeviceTimers();
  private bootTimer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(lifecycle: NvosLifecycle) => void>();

  constructor(
    readonly hostname: string,
    readonly platform: string,
    version: string,
    readonly timing: NvosTiming,
    initial: NvosLifecycle,
  ) {
    this.partitions = [version, previousVersion(version)];
    this.lifecycle = initial;
    this.bootedAt = Date.now();
    const asic = asicFirmwareFor(version);
    this.firmware = [
      { id: "ASIC", actual: asic, installed: asic, partNumber: "920-9K36F-00MV-7C0" },
      { id: "BIOS", actual: "0ACTV015", installed: "0ACTV015", partNumber: "N/A" },
      { id: "CPLD1", actual: "CPLD000210_REV0900", installed: "CPLD000210_REV0900", partNumber: "N/A" },
      { id: "SSD", actual: "0202-000", installed: "0202-000", partNumber: "N/A" },
    ];
  }

  get version(): string {
    return this.partitions[this.current];
  }

  onLifecycle(listener: (lifecycle: NvosLifecycle) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The tray lost power: the OS is gone at once, whatever it was doing. */
  powerOff(): void {
    if (this.bootTimer !== undefined) clearTimeout(this.bootTimer);
    this.bootTimer = undefined;
    this.timers.cancel();
    for (const action of this.actions) {
      if (action.state === "action_executing") {
        action.state = "action_fail";
        action.status = "interrupted by power loss";
      }
    }
    this.setLifecycle("down");
  }

  /** The tray powered on or was reset: boot the image chosen for the next boot. */
  boot(): void {
    this.powerOff();
    this.setLifecycle("booting");
    this.bootTimer = setTimeout(() => {
      this.bootTimer = undefined;
      if (this.timers.stopped) return;
      this.current = this.next;
      const asic = this.firmware.find((item) => item.id === "ASIC");
      if (asic !== undefined) asic.actual = asic.installed;
      // Actions live in the running system's memory; a reboot starts with none.
      this.actions.length = 0;
      this.bootedAt = Date.now();
      this.setLifecycle("up");
    }, this.timing.bootMs);
  }

  fetchImage(url: string, progress: ProgressListener): Promise<NvosAction> {
    const action = this.startAction(`nv action fetch system image ${url}`);
    const name = imageName(url);
    return new Promise((resolve) => {
      if (!/^(https?|scp|sftp):\/\//i.test(url) || name === "") {
        this.fail(action, `Invalid remote URL '${url}'`);
        resolve(action);
        return;
      }
      progress(`Fetching ${url}`);
      this.timers.schedule(this.timing.fetchMs, () => {
        this.files.set(name, { path: `/host/fetched-images/${name}`, version: versionFromImage(name) });
        action.percentage = 100;
        action.state = "action_success";
        action.status = `Fetched ${name}`;
        progress(`Image ${name} fetched`);
        resolve(action);
      });
    });
  }

  /**
   * Verifies and writes an image to the other partition and makes it the next boot, reporting progress,
   * then reboots the switch. Resolves when the action ended (before the reboot).
   */
  installImage(file: string, command: string, progress: ProgressListener): Promise<NvosAction> {
    const action = this.startAction(command);
    const image = this.files.get(file);
    return new Promise((resolve) => {
      if (image === undefined) {
        this.fail(action, `File '${file}' not found`);
        resolve(action);
        return;
      }
      const steps = 5;
      const stepMs = this.timing.installMs / (steps + 1);
      progress(`Verifying image ${file}`);
      action.status = "Verifying image";
      this.timers.schedule(stepMs, () => {
        if (BAD_IMAGE.test(file) || image.version === undefined) {
          this.fail(
            action,
            image.version === undefined ? "the image carries no version" : "image verification failed",
          );
          resolve(action);
          return;
        }
        const version = image.version;
        const write = (step: number): void => {
          const percent = Math.round((step / steps) * 100);
          action.percentage = Math.min(99, percent);
          action.status = `Installing image: ${percent}%`;
          progress(action.status);
          if (step < steps) {
            this.timers.schedule(stepMs, () => write(step + 1));
            return;
          }
          const other: 0 | 1 = this.current === 0 ? 1 : 0;
          this.partitions[other] = version;
          this.next = other;
          const asic = this.firmware.find((item) => item.id === "ASIC");
          if (asic !== undefined) asic.installed = asicFirmwareFor(version);
          action.percentage = 100;
          action.state = "action_success";
          action.status = `Image ${version} installed; the system reboots to complete the installation`;
          progress(`Image installed: ${version}`);
          progress("The system will reboot to complete the installation.");
          resolve(action);
          this.timers.schedule(this.timing.rebootDelayMs, () => this.boot());
        };
        write(1);
      });
    });
  }

  stop(): void {
    this.timers.stop();
    this.powerOff();
    this.listeners.clear();
  }

  private startAction(command: string): NvosAction {
    const action: NvosAction = {
      id: ++this.actionSequence,
      command,
      state: "action_executing",
      status: "Action executing",
      percentage: 0,
    };
    this.actions.push(action);
    if (this.actions.length > 50) this.actions.splice(0, this.actions.length - 50);
    return action;
  }

  private fail(action: NvosAction, status: string): void {
    action.state = "action_fail";
    action.status = status;
  }

  private setLifecycle(lifecycle: NvosLifecycle): void {
    if (this.lifecycle === lifecycle) return;
    this.lifecycle = lifecycle;
    for (const listener of this.listeners) listener(lifecycle);
  }
}

/** The file name a fetched image is stored under: the last path segment of its URL. */
export function imageName(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.split("/").pop() ?? "");
  } catch {
    return "";
  }
}

/** The image in the other partition of a freshly installed switch: one release older. */
function previousVersion(version: string): string {
  const parts = version.split(".");
  const minor = Number(parts[1]);
  if (parts.length < 2 || !Number.isInteger(minor)) return version;
  return [
    parts[0],
    String(Math.max(0, minor - 1)).padStart(parts[1]?.length ?? 2, "0"),
    ...parts.slice(2),
  ].join(".");
}
