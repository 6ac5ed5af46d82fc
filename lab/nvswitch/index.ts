/**
 * Simulated NVSwitch trays for the lab. Each tray has a Redfish BMC (a lab BMC with the tray's identity and
 * firmware inventory: power, SimpleUpdate tasks) and the switch's own OS, an NVOS-like system reached over
 * SSH. The OS runs only while the tray's host is powered: a BMC power-off takes it down, a power-on or reset
 * boots it, an image install reboots it; while it is not up its SSH port refuses connections.
 *
 *   const lab = await startNvSwitchLab({ trays: 2 });
 *   const tray = lab.trays[0];
 *   tray.bmc.endpoint();   // the tray BMC, for a Redfish driver
 *   tray.nvosEndpoint();   // the NVOS shell: address, port, credentials, pinned host key
 *   await lab.stop();
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { LabTlsMaterial } from "../common/tls.ts";
import { checkDeviceCount, labCredentials, type StartedDevice, startDevices } from "../redfish/devices.ts";
import { type MachineTiming, type RedfishLabBmc, startRedfishLab } from "../redfish/index.ts";
import type { FirmwareSpec } from "../redfish/profiles.ts";
import type { LabCredentials } from "../redfish/sessions.ts";
import { type NvosAction, type NvosLifecycle, type NvosTiming, SimulatedNvos } from "./nvos.ts";
import { generateHostKey, NvosSshServer, type SshCredentials } from "./ssh-server.ts";

export type { NvosAction, NvosLifecycle, NvosTiming } from "./nvos.ts";
export type { SshCredentials } from "./ssh-server.ts";

export const DEFAULT_NVOS_TIMING: NvosTiming = {
  bootMs: 3_000,
  fetchMs: 500,
  installMs: 4_000,
  rebootDelayMs: 200,
};

export const DEFAULT_NVOS_VERSION = "25.02.2553";

const TRAY_FIRMWARE: readonly FirmwareSpec[] = [
  {
    id: "FW_BMC_0",
    name: "Switch tray BMC",
    description: "BMC image",
    version: "25.01-1",
    updateable: true,
    role: "bmc",
  },
  {
    id: "FW_CPLD_0",
    name: "Switch tray CPLD",
    description: "CPLD",
    version: "0.1.0.26",
    updateable: true,
    role: "other",
  },
  {
    id: "FW_ERoT_BMC_0",
    name: "BMC ERoT",
    description: "ERoT",
    version: "01.03.0183.0000",
    updateable: false,
    role: "other",
  },
];

export interface NvSwitchLabOptions {
  readonly trays: number;
  /** NVOS version the trays run (default 25.02.2553), or one per tray. */
  readonly nvosVersion?: string | ((index: number) => string);
  readonly nvosTiming?: Partial<NvosTiming>;
  /** Timing of the tray BMCs' power transitions and update tasks. */
  readonly bmcTiming?: Partial<MachineTiming>;
  /** Default On (and NVOS up once booted). */
  readonly initialPowerState?: "On" | "Off";
  /** The tray BMCs' Redfish login; default admin with a random password. */
  readonly credentials?: LabCredentials;
  /** The NVOS login; default admin with a random password. */
  readonly sshCredentials?: SshCredentials;
  readonly tls?: LabTlsMaterial;
  readonly seed?: number;
  readonly host?: string;
}

/** The NVOS shell of a tray in the shape of the managers' SshEndpoint. */
export interface NvosSshEndpoint {
  readonly address: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  readonly hostKey: { readonly mode: "pinned"; readonly sha256Fingerprint: string };
  readonly timeoutMs?: number;
}

export interface NvSwitchTrayState {
  readonly nvos: NvosLifecycle;
  readonly version: string;
  readonly nextVersion: string;
  readonly files: readonly string[];
  readonly actions: readonly NvosAction[];
  readonly asicFirmware: string;
  readonly sshLogins: number;
}

export interface LabNvSwitchTray {
  readonly index: number;
  readonly hostname: string;
  readonly bmc: RedfishLabBmc;
  readonly sshPort: number;
  readonly sshCredentials: SshCredentials;
  /** OpenSSH `SHA256:…` fingerprint of the host key generated at start. */
  readonly hostKeyFingerprint: string;
  nvosEndpoint(overrides?: Partial<NvosSshEndpoint>): NvosSshEndpoint;
  state(): NvSwitchTrayState;
  onNvosLifecycle(listener: (lifecycle: NvosLifecycle) => void): () => void;
  /** Waits until NVOS is `lifecycle` (with a deadline, default 30 s). */
  waitForNvos(lifecycle: NvosLifecycle, timeoutMs?: number): Promise<void>;
}

export interface NvSwitchLab {
  readonly trays: readonly LabNvSwitchTray[];
  readonly tls: LabTlsMaterial;
  stop(): Promise<void>;
}

export async function startNvSwitchLab(options: NvSwitchLabOptions): Promise<NvSwitchLab> {
  checkDeviceCount(options.trays, "trays");
  const host = options.host ?? "127.0.0.1";
  const timing = { ...DEFAULT_NVOS_TIMING, ...options.nvosTiming };
  const sshCredentials = labCredentials(options.sshCredentials);
  const initialPowerState = options.initialPowerState ?? "On";
  const redfish = await startRedfishLab({
    machines: options.trays,
    vendor: "openbmc",
    host,
    initialPowerState,
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
    ...(options.tls !== undefined ? { tls: options.tls } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.bmcTiming !== undefined ? { timing: options.bmcTiming } : {}),
    // The tray's host is the switch: it has no disks or CPUs to speak of, and boots from its own flash.
    hardware: { nicSpeedsMbps: [1000], drives: [] },
    product: {
      manufacturer: "NVIDIA",
      model: "NVLink Switch Tray",
      product: "NVLink Switch Tray",
      sku: "920-9K36F-00MV-7C0",
      serialPrefix: "NVSW",
      managerModel: "AST2600",
      firmware: TRAY_FIRMWARE,
    },
  });
  const startTray = async (bmc: RedfishLabBmc): Promise<StartedDevice<LabNvSwitchTray>> => {
    const version =
      typeof options.nvosVersion === "function"
        ? options.nvosVersion(bmc.index)
        : (options.nvosVersion ?? DEFAULT_NVOS_VERSION);
    const hostname = `nvsw-tray-${bmc.index}`;
    const nvos = new SimulatedNvos(
      hostname,
      "N5400_LD",
      version,
      timing,
      initialPowerState === "On" ? "up" : "down",
    );
    const hostKey = generateHostKey();
    const server = new NvosSshServer(nvos, hostKey, sshCredentials);
    const sshPort = await server.listen(host, 0);
    if (nvos.lifecycle !== "up") await server.follow(false);
    const unsubscribers = [
      nvos.onLifecycle((lifecycle) => {
        server.follow(lifecycle === "up").catch((error: unknown) => {
          console.error(
            `lab NVSwitch ${hostname}: cannot ${lifecycle === "up" ? "open" : "close"} its SSH port`,
            error,
          );
        });
      }),
      // The switch OS runs on the tray's host: it stops when the host loses power and boots when it starts.
      bmc.onPowerChange((change) => {
        if (change.state === "Off" || change.state === "PoweringOff") nvos.powerOff();
      }),
      bmc.onBoot(() => nvos.boot()),
    ];
    const tray: LabNvSwitchTray = {
      index: bmc.index,
      hostname,
      bmc,
      sshPort,
      sshCredentials,
      hostKeyFingerprint: hostKey.fingerprint,
      nvosEndpoint: (overrides = {}) => ({
        address: host,
        port: sshPort,
        username: sshCredentials.username,
        password: sshCredentials.password,
        hostKey: { mode: "pinned", sha256Fingerprint: hostKey.fingerprint },
        ...overrides,
      }),
      state: () => ({
        nvos: nvos.lifecycle,
        version: nvos.version,
        nextVersion: nvos.partitions[nvos.next],
        files: [...nvos.files.keys()],
        actions: nvos.actions.map((action) => ({ ...action })),
        asicFirmware: nvos.firmware.find((item) => item.id === "ASIC")?.actual ?? "",
        sshLogins: server.loginCount,
      }),
      onNvosLifecycle: (listener) => nvos.onLifecycle(listener),
      waitForNvos: async (lifecycle, timeoutMs = 30_000) => {
        const deadline = Date.now() + timeoutMs;
        while (nvos.lifecycle !== lifecycle) {
          if (Date.now() > deadline) {
            throw new Error(
              `NVOS of ${hostname} did not become ${lifecycle} within ${timeoutMs} ms (it is ${nvos.lifecycle})`,
            );
          }
          await sleep(20);
        }
        // The port follows the lifecycle asynchronously; let it settle before the caller connects.
        await server.follow(lifecycle === "up");
      },
    };
    return {
      device: tray,
      close: async () => {
        for (const unsubscribe of unsubscribers) unsubscribe();
        nvos.stop();
        await server.close();
      },
    };
  };
  // Trays that did start are closed by startDevices; their BMCs go with the Redfish lab.
  const group = await startDevices(
    redfish.bmcs.length,
    (index) => startTray(redfish.bmcs[index] as RedfishLabBmc),
    "sequential",
  ).catch(async (error: unknown) => {
    await redfish.stop();
    throw error;
  });
  return {
    trays: group.devices,
    tls: redfish.tls,
    stop: async () => {
      await group.stop();
      await redfish.stop();
    },
  };
}
