/**
 * `nvswitch/redfish+ssh`: an NVSwitch tray through its Redfish BMC (power, BMC-side firmware) and the
 * switch's own OS, NVOS, over SSH (its version, the NVOS image install). The seed's two firmware paths:
 * "redfish" follows the BMC's SimpleUpdate task and skips WAIT_REACHABLE; "ssh" copies the image onto the
 * switch (`nv action fetch system image`), installs it, and then sees the switch go away while it reboots
 * (wait-reachable) before the version is verified.
 */

import { BmcError, type PowerAction } from "../driver.ts";
import { type BmcDriverFactory, bmcDriverFactory } from "../driver-factory.ts";
import { badHandle, parseBmcTaskHandle } from "./bmc-firmware.ts";
import { BmcComputeManager } from "./compute.ts";
import {
  type BringUpResult,
  type ComponentExpectation,
  type ComponentFirmwareRequest,
  type ComponentFirmwareStatus,
  type ComponentManager,
  type ComponentPowerStatus,
  type ComponentTarget,
  decodeHandle,
  encodeHandle,
  type FirmwareConsistencyReport,
  type SshEndpoint,
} from "./model.ts";
import { type NvosSession, refused, safeArgument, withNvos } from "./nvos-ssh.ts";
import {
  type ComponentManagerOptions,
  describeTarget,
  firmwareConsistencyOf,
  installPhase,
  ManagerSupport,
  verified,
} from "./support.ts";

export interface NvSwitchManagerOptions extends ComponentManagerOptions {
  /** Makes the tray BMC's driver (asked for Redfish); default createBmcDriver with the manager's logger. */
  readonly createDriver?: BmcDriverFactory;
}

/** NVOS prints this when an action has been accepted and starts running. */
const ACTION_STARTED = /Action executing/i;

const POWER_ON_WORDS = {
  alreadyOn: "tray already on",
  requested: "tray power on requested",
  done: "tray powered on",
};

export class NvSwitchManager implements ComponentManager {
  readonly type = "nvswitch" as const;
  readonly implementation = "redfish+ssh";
  private readonly support: ManagerSupport;
  /** The tray's BMC is driven as a compute tray's is: power, its SimpleUpdate, the expectations. */
  private readonly tray: BmcComputeManager;

  constructor(options: NvSwitchManagerOptions = {}) {
    this.support = new ManagerSupport(options);
    const createDriver =
      options.createDriver ??
      bmcDriverFactory(options.logger !== undefined ? { logger: options.logger } : {});
    this.tray = new BmcComputeManager("redfish", createDriver, options);
  }

  async powerControl(target: ComponentTarget, action: PowerAction, signal: AbortSignal): Promise<void> {
    await this.tray.powerControl(target, action, signal);
  }

  async getPowerStatus(target: ComponentTarget, signal: AbortSignal): Promise<ComponentPowerStatus> {
    return await this.tray.getPowerStatus(target, signal);
  }

  async firmwareControl(
    target: ComponentTarget,
    request: ComponentFirmwareRequest,
    signal: AbortSignal,
  ): Promise<ComponentFirmwareStatus> {
    const strategy = request.strategy ?? (target.nvos !== undefined ? "ssh" : "redfish");
    if (strategy === "redfish") return await this.tray.firmwareControl(target, request, signal);
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
    if (parseBmcTaskHandle(handle) !== undefined) {
      return await this.tray.getFirmwareStatus(target, handle, signal);
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
    this.tray.injectExpectation(target, expectation);
  }

  expectationOf(target: ComponentTarget): ComponentExpectation {
    return this.tray.expectationOf(target);
  }

  async bringUp(target: ComponentTarget, signal: AbortSignal): Promise<BringUpResult> {
    return await this.support.bringUp(target, signal, async (call) => {
      const steps = await this.support.powerOn(this.tray, target, POWER_ON_WORDS, call);
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
    });
  }

  /** NVOS versions over SSH where the target has NVOS; the BMC's firmware otherwise. */
  async firmwareConsistency(
    targets: readonly ComponentTarget[],
    signal: AbortSignal,
  ): Promise<FirmwareConsistencyReport> {
    return await firmwareConsistencyOf(targets, (target) => {
      const nvos = target.nvos;
      return nvos !== undefined
        ? this.support.call(target, "firmware version", signal, (call) =>
            withNvos(nvos, call, (session) => nvosVersion(session, call)),
          )
        : this.tray.firmwareVersion(target, signal);
    });
  }

  async close(): Promise<void> {
    await this.tray.close();
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
          return installPhase(
            handle,
            { state: "running", ...(percent !== undefined ? { percent } : {}), messages: [status] },
            expectedVersion,
          );
        }
        if (install.state === "action_fail") {
          return installPhase(
            handle,
            { state: "failed", messages: [`NVOS install failed: ${status}`] },
            expectedVersion,
          );
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
      return verified(handle, await nvosVersion(session, signal), expectedVersion, [], "NVOS runs");
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
