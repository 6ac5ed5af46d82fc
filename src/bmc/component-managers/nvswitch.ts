/**
 * `nvswitch/redfish+ssh`: an NVSwitch tray through its Redfish BMC (power, BMC-side firmware) and the
 * switch's own OS, NVOS, over SSH (its version, the NVOS image install). The seed's two firmware paths:
 * "redfish" follows the BMC's SimpleUpdate task and skips WAIT_REACHABLE; "ssh" copies the image onto the
 * switch (`nv action fetch system image`), installs it, and then sees the switch go away while it reboots
 * (wait-reachable) before the version is verified.
 */

import { type BmcDriver, type BmcEndpoint, BmcError, type PowerAction } from "../driver.ts";
import { createRedfishDriver } from "../redfish/index.ts";
import {
  badHandle,
  bmcFirmwareStatus,
  parseBmcTaskHandle,
  readBmcFirmwareVersion,
  startBmcFirmwareUpdate,
} from "./bmc-firmware.ts";
import { type DriverFactory, readAll } from "./compute.ts";
import {
  type BringUpResult,
  type ComponentExpectation,
  type ComponentFirmwareRequest,
  type ComponentFirmwareStatus,
  type ComponentManager,
  type ComponentPowerStatus,
  type ComponentTarget,
  consistencyOf,
  decodeHandle,
  encodeHandle,
  endpointKey,
  type FirmwareConsistencyReport,
  type SshEndpoint,
  versionMatches,
} from "./model.ts";
import { type NvosSession, refused, safeArgument, withNvos } from "./nvos-ssh.ts";
import { type ComponentManagerOptions, ConnectionCache, describeTarget, ManagerSupport } from "./support.ts";

export interface NvSwitchManagerOptions extends ComponentManagerOptions {
  /** The tray BMC's driver; default the Redfish driver. */
  readonly createDriver?: DriverFactory;
}

/** NVOS prints this when an action has been accepted and starts running. */
const ACTION_STARTED = /Action executing/i;

export class NvSwitchManager implements ComponentManager {
  readonly type = "nvswitch" as const;
  readonly implementation = "redfish+ssh";
  private readonly support: ManagerSupport;
  private readonly drivers: ConnectionCache<BmcDriver>;
  private readonly createDriver: DriverFactory;

  constructor(options: NvSwitchManagerOptions = {}) {
    this.support = new ManagerSupport(options);
    this.drivers = new ConnectionCache(options.maxCachedConnections ?? 256, options.logger);
    this.createDriver =
      options.createDriver ??
      ((endpoint: BmcEndpoint) =>
        createRedfishDriver(endpoint, options.logger !== undefined ? { logger: options.logger } : {}));
  }

  async powerControl(target: ComponentTarget, action: PowerAction, signal: AbortSignal): Promise<void> {
    await this.support.call(target, `power ${action}`, signal, (call) =>
      this.driver(target).setPower(action, call),
    );
  }

  async getPowerStatus(target: ComponentTarget, signal: AbortSignal): Promise<ComponentPowerStatus> {
    const state = await this.support.call(target, "power status", signal, (call) =>
      this.driver(target).getPowerState(call),
    );
    return this.support.powerStatus(target, state);
  }

  async firmwareControl(
    target: ComponentTarget,
    request: ComponentFirmwareRequest,
    signal: AbortSignal,
  ): Promise<ComponentFirmwareStatus> {
    const strategy = request.strategy ?? (target.nvos !== undefined ? "ssh" : "redfish");
    if (strategy === "redfish") {
      return await this.support.call(target, "firmware update (redfish)", signal, (call) =>
        startBmcFirmwareUpdate(this.driver(target), request, this.expectationOf(target), call),
      );
    }
    const nvos = this.nvos(target);
    const url = safeArgument(request.imageUri, "request.imageUri");
    const file = safeArgument(fileName(url), "request.imageUri");
    const version = request.version ?? this.expectationOf(target).firmwareVersion;
    return await this.support.call(target, "firmware update (ssh)", signal, (call) =>
      withNvos(nvos, call, async (session) => {
        // COPY: the image goes onto the switch first; NVOS installs only files it holds.
        const fetch = `nv action fetch system image ${url}`;
        const fetched = await session.run(fetch, call);
        if (fetched.code !== 0) throw refused(nvos, fetch, fetched);
        // INSTALL: detach once NVOS runs the action; it goes on (and reboots the switch) without us.
        const install = `nv action install system image files ${file} force`;
        const started = await session.run(install, call, { until: (output) => ACTION_STARTED.test(output) });
        if (!ACTION_STARTED.test(started.stdout)) throw refused(nvos, install, started);
        return {
          handle: encodeHandle({ kind: "nvos-install", file, version }),
          state: "running",
          phase: "install",
          ...(version !== undefined ? { expectedVersion: version } : {}),
          messages: [`NVOS is installing ${file}`],
        } satisfies ComponentFirmwareStatus;
      }),
    );
  }

  async getFirmwareStatus(
    target: ComponentTarget,
    handle: string,
    signal: AbortSignal,
  ): Promise<ComponentFirmwareStatus> {
    const task = parseBmcTaskHandle(handle);
    if (task !== undefined) {
      return await this.support.call(target, "firmware status (redfish)", signal, (call) =>
        bmcFirmwareStatus(this.driver(target), handle, task, call),
      );
    }
    const payload = decodeHandle(handle);
    if (payload?.kind !== "nvos-install" || typeof payload.file !== "string") throw badHandle(handle);
    const file = payload.file;
    const expectedVersion = typeof payload.version === "string" ? payload.version : undefined;
    const nvos = this.nvos(target);
    return await this.support.call(target, "firmware status (ssh)", signal, (call) =>
      installStatus(nvos, handle, file, expectedVersion, call),
    );
  }

  injectExpectation(target: ComponentTarget, expectation: ComponentExpectation): void {
    this.support.inject(target, expectation);
  }

  expectationOf(target: ComponentTarget): ComponentExpectation {
    return this.support.expectationOf(target);
  }

  async bringUp(target: ComponentTarget, signal: AbortSignal): Promise<BringUpResult> {
    return await this.support.call(
      target,
      "bring-up",
      signal,
      async (call) => {
        const driver = this.driver(target);
        const steps: string[] = [];
        let state = await driver.getPowerState(call);
        if (state === "on") {
          steps.push("tray already on");
        } else {
          if (state !== "powering-on") {
            await driver.setPower("on", call);
            steps.push("tray power on requested");
          }
          while (state !== "on") {
            await this.support.pause(this.support.pollIntervalMs, call);
            state = await driver.getPowerState(call);
          }
          steps.push("tray powered on");
        }
        if (target.nvos === undefined) return { steps };
        // The switch OS boots after the tray: wait until it answers on its shell.
        for (;;) {
          try {
            const version = await withNvos(target.nvos, call, (session) => nvosVersion(session, call));
            steps.push(`NVOS ${version} reachable`);
            return { steps };
          } catch (error) {
            if (
              !(error instanceof BmcError) ||
              !["unreachable", "timeout"].includes(error.kind) ||
              call.aborted
            ) {
              throw error;
            }
          }
          await this.support.pause(this.support.pollIntervalMs, call);
        }
      },
      this.support.bringUpTimeoutMs,
    );
  }

  /** NVOS versions over SSH where the target has NVOS; the BMC's firmware otherwise. */
  async firmwareConsistency(
    targets: readonly ComponentTarget[],
    signal: AbortSignal,
  ): Promise<FirmwareConsistencyReport> {
    const readings = await readAll(targets, async (target) => {
      const nvos = target.nvos;
      return await this.support.call(target, "firmware version", signal, (call) =>
        nvos !== undefined
          ? withNvos(nvos, call, (session) => nvosVersion(session, call))
          : readBmcFirmwareVersion(this.driver(target), this.expectationOf(target).firmwareComponent, call),
      );
    });
    return consistencyOf(readings);
  }

  async close(): Promise<void> {
    await this.drivers.closeAll();
  }

  private driver(target: ComponentTarget): BmcDriver {
    return this.drivers.get(endpointKey(target.id, target.bmc), () => this.createDriver(target.bmc));
  }

  private nvos(target: ComponentTarget): SshEndpoint {
    if (target.nvos === undefined) {
      throw new BmcError(
        "unsupported",
        `${describeTarget(target)}: no NVOS SSH endpoint for the ssh strategy`,
      );
    }
    return target.nvos;
  }
}

/**
 * Where an NVOS install stands, from what the switch says now: its action list while the action runs, the
 * absence of an answer while it reboots, its running version once it is back (actions do not survive a
 * reboot, so an up switch without the action has rebooted).
 */
async function installStatus(
  nvos: SshEndpoint,
  handle: string,
  file: string,
  expectedVersion: string | undefined,
  signal: AbortSignal,
): Promise<ComponentFirmwareStatus> {
  const expected = expectedVersion !== undefined ? { expectedVersion } : {};
  const unreachable = (why: string): ComponentFirmwareStatus => ({
    handle,
    state: "running",
    phase: "wait-reachable",
    ...expected,
    messages: [why],
  });
  try {
    return await withNvos(nvos, signal, async (session) => {
      const actions = await session.json("nv show action -o json", signal);
      const install = Object.values(actions)
        .filter((item): item is Record<string, unknown> => typeof item === "object" && item !== null)
        .filter(
          (item) =>
            typeof item.command === "string" && item.command.includes(`install system image files ${file}`),
        )
        .at(-1);
      if (install !== undefined) {
        const status = typeof install.status === "string" ? install.status : "";
        const percent = typeof install.percentage === "number" ? install.percentage : undefined;
        if (install.state === "action_executing") {
          return {
            handle,
            state: "running",
            phase: "install",
            ...(percent !== undefined ? { percent } : {}),
            ...expected,
            messages: [status],
          };
        }
        if (install.state === "action_fail") {
          return {
            handle,
            state: "failed",
            phase: "install",
            ...expected,
            messages: [`NVOS install failed: ${status}`],
          };
        }
        return {
          handle,
          state: "running",
          phase: "wait-reachable",
          percent: 100,
          ...expected,
          messages: [status],
        };
      }
      const version = await nvosVersion(session, signal);
      const mismatch = expectedVersion !== undefined && !versionMatches(version, expectedVersion);
      return {
        handle,
        state: mismatch ? "failed" : "completed",
        phase: "verify",
        percent: 100,
        version,
        ...expected,
        messages: mismatch ? [`version mismatch: expected ${expectedVersion}, NVOS runs ${version}`] : [],
      };
    });
  } catch (error) {
    // A switch rebooting into its new image refuses or drops SSH: that is progress, not failure.
    if (
      error instanceof BmcError &&
      !signal.aborted &&
      (error.kind === "unreachable" || error.kind === "timeout")
    ) {
      return unreachable(
        `the switch does not answer over SSH (${error.message}); it reboots into the new image`,
      );
    }
    throw error;
  }
}

async function nvosVersion(session: NvosSession, signal: AbortSignal): Promise<string> {
  const version = await session.json("nv show system version -o json", signal);
  const image = version.image ?? version["product-release"];
  if (typeof image !== "string" || image === "") {
    throw new BmcError("protocol", "NVOS reported no image version");
  }
  return image;
}

function fileName(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.split("/").pop() ?? "");
  } catch {
    return "";
  }
}
