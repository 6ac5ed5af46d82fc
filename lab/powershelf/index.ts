/**
 * Simulated power shelves for the lab: each a Redfish power shelf controller (PMC) on its own HTTPS port on
 * loopback, with the lab BMCs' TLS, sessions and fault injection. Simulated machines connected to a shelf
 * (or to one of its outlets) lose AC power, BMC included, when the shelf or the outlet is switched off.
 *
 *   const lab = await startPowerShelfLab({ shelves: 1, outlets: 4 });
 *   const shelf = lab.shelves[0];
 *   shelf.connect(machineLoad(redfishBmc), "OUT1");   // that machine now depends on outlet 1
 *   shelf.endpoint();                                  // BmcEndpoint for the powershelf/redfish manager
 *   await lab.stop();
 */
import { randomInt } from "node:crypto";
import { createLabTls, type LabTlsMaterial } from "../common/tls.ts";
import {
  checkDeviceCount,
  type LabHttpsDevice,
  labCredentials,
  labHttpsDevice,
  type StartedDevice,
  seededUuid,
  startDevices,
} from "../redfish/devices.ts";
import { FaultController } from "../redfish/faults.ts";
import type { FirmwareState } from "../redfish/firmware.ts";
import { LabHttpsServer } from "../redfish/https-server.ts";
import type { RedfishLabBmc } from "../redfish/lab.ts";
import type { LabCredentials } from "../redfish/sessions.ts";
import { PowerShelfRedfishService } from "./service.ts";
import {
  type PoweredLoad,
  type PowerShelfTiming,
  type ShelfPowerEvent,
  type ShelfPowerState,
  SimulatedPowerShelf,
} from "./shelf.ts";

export type { PoweredLoad, PowerShelfTiming, ShelfPowerEvent, ShelfPowerState } from "./shelf.ts";

export const DEFAULT_SHELF_TIMING: PowerShelfTiming = {
  powerOnDelayMs: 2_000,
  powerOffDelayMs: 500,
  outletDelayMs: 300,
  cycleOffMs: 1_000,
  firmwareUpdateMs: 5_000,
};

const DEFAULT_FIRMWARE: readonly FirmwareState[] = [
  {
    id: "PMC",
    name: "Power Management Controller",
    description: "PMC firmware",
    version: "1.4.2",
    updateable: true,
    role: "bmc",
  },
  {
    id: "PSU",
    name: "Power Supply Units",
    description: "PSU firmware",
    version: "3.1.0",
    updateable: true,
    role: "other",
  },
];

export interface PowerShelfLabOptions {
  readonly shelves: number;
  /** Power supplies per shelf (default 6, 5.5 kW each, as an 33 kW rack shelf has). */
  readonly psus?: number;
  readonly psuCapacityWatts?: number;
  /** Outlets per shelf (default 8). */
  readonly outlets?: number;
  readonly timing?: Partial<PowerShelfTiming>;
  /** Default On: a shelf that ships powered. */
  readonly initialPowerState?: "On" | "Off";
  /** The PMC firmware version (default 1.4.2). */
  readonly firmwareVersion?: string;
  readonly credentials?: LabCredentials;
  readonly host?: string;
  readonly tls?: LabTlsMaterial;
  /** Makes serials and UUIDs reproducible. */
  readonly seed?: number;
  readonly sessionTimeoutMs?: number;
}

export interface PowerShelfLabState {
  readonly powerState: ShelfPowerState;
  readonly outlets: ReadonlyArray<{
    readonly id: string;
    readonly powerState: ShelfPowerState;
    readonly watts: number;
  }>;
  readonly psus: ReadonlyArray<{ readonly id: string; readonly failed: boolean }>;
  readonly inputWatts: number;
  readonly outputWatts: number;
  readonly firmware: ReadonlyArray<{ readonly id: string; readonly version: string }>;
  readonly tasks: ReadonlyArray<{ readonly id: string; readonly state: string; readonly percent: number }>;
  readonly log: ReadonlyArray<{ readonly message: string; readonly severity: string }>;
  readonly sessions: number;
}

/** A lab power shelf; its endpoint is for the powershelf/redfish manager. */
export interface LabPowerShelf extends LabHttpsDevice {
  readonly index: number;
  readonly serial: string;
  state(): PowerShelfLabState;
  /** Feeds `load` from the shelf (every outlet's bus) or from one outlet; returns a disconnect. */
  connect(load: PoweredLoad, outlet?: string): () => void;
  onPowerChange(listener: (event: ShelfPowerEvent) => void): () => void;
  /** Fault injection: a power supply fails or recovers. */
  setPsuFailed(index: number, failed: boolean): void;
  expireSessions(): void;
}

export interface PowerShelfLab {
  readonly shelves: readonly LabPowerShelf[];
  readonly tls: LabTlsMaterial;
  stop(): Promise<void>;
}

/** A lab Redfish machine as a shelf load: AC to its BMC and host, drawing more when its host is on. */
export function machineLoad(
  bmc: RedfishLabBmc,
  watts: { readonly on?: number; readonly off?: number } = {},
): PoweredLoad {
  return {
    name: bmc.identity.hostName,
    setAcPower: (present) => bmc.setAcPower(present),
    watts: () => {
      const power = bmc.state().powerState;
      return power === "Off" ? (watts.off ?? 18) : (watts.on ?? 420);
    },
  };
}

export async function startPowerShelfLab(options: PowerShelfLabOptions): Promise<PowerShelfLab> {
  checkDeviceCount(options.shelves, "shelves");
  const tls = options.tls ?? (await createLabTls());
  const host = options.host ?? "127.0.0.1";
  const seed = options.seed ?? randomInt(0, 65_536);
  const credentials = labCredentials(options.credentials);
  const timing = { ...DEFAULT_SHELF_TIMING, ...options.timing };
  const group = await startDevices(
    options.shelves,
    async (index): Promise<StartedDevice<LabPowerShelf>> => {
      const serial = `PS${String(seed % 1000).padStart(3, "0")}${String(index).padStart(4, "0")}`;
      const simulated = new SimulatedPowerShelf(
        {
          serial,
          psus: options.psus ?? 6,
          psuCapacityWatts: options.psuCapacityWatts ?? 5_500,
          outlets: options.outlets ?? 8,
          inputVoltage: 277,
          outputVoltage: 50,
          firmware: DEFAULT_FIRMWARE.map((item) =>
            item.role === "bmc" && options.firmwareVersion !== undefined
              ? { ...item, version: options.firmwareVersion }
              : item,
          ),
        },
        timing,
        options.initialPowerState ?? "On",
      );
      const service = new PowerShelfRedfishService(
        simulated,
        {
          serial,
          uuid: seededUuid(`ingot-lab-shelf/${seed}/${index}`),
          manufacturer: "Ingot Lab",
          model: "PS-33KW-ORV3",
        },
        credentials,
        options.sessionTimeoutMs ?? 30 * 60_000,
      );
      const faults = new FaultController(seed * 1_000 + 500 + index);
      const server = new LabHttpsServer(tls, (request) => service.handle(request), faults);
      const close = async (): Promise<void> => {
        simulated.stop();
        await server.close();
      };
      let port: number;
      try {
        port = await server.listen(host, 0);
      } catch (error) {
        await close();
        throw error;
      }
      return {
        close,
        device: {
          ...labHttpsDevice({ server, host, port, credentials, faults, tls }),
          index,
          serial,
          state: () => ({
            powerState: simulated.power,
            outlets: simulated.outlets.map((outlet) => ({
              id: outlet.id,
              powerState: simulated.outletPower(outlet),
              watts: simulated.outletEnergized(outlet) ? simulated.loadWatts(outlet.id) : 0,
            })),
            psus: simulated.psus.map((psu) => ({ id: psu.id, failed: psu.failed })),
            inputWatts: simulated.inputWatts(),
            outputWatts: simulated.outputWatts(),
            firmware: simulated.firmware.map((item) => ({ id: item.id, version: item.version })),
            tasks: [...simulated.tasks.values()].map((task) => ({
              id: task.id,
              state: task.state,
              percent: simulated.taskPercent(task),
            })),
            log: simulated.log.map((entry) => ({ message: entry.message, severity: entry.severity })),
            sessions: service.sessions.count,
          }),
          connect: (load, outlet) => simulated.connect(load, outlet),
          onPowerChange: (listener) => simulated.onPowerChange(listener),
          setPsuFailed: (psu, failed) => simulated.setPsuFailed(psu, failed),
          expireSessions: () => service.sessions.expire(),
        },
      };
    },
    "sequential",
  );
  return { shelves: group.devices, tls, stop: group.stop };
}
