/**
 * A simulated ingot-agent for a lab machine. When the machine boots from the network (the BMC's `onBoot`
 * with device "pxe"), it does what iPXE and the real agent do: ask `/boot/v1/ipxe` with the boot NIC's MAC,
 * serial and UUID; if the script boots the agent, take the boot token from its kernel command line and
 * POST an enrollment built from the machine's identity and hardware profile to `/agent/v1/enroll`; then
 * follow the instruction (power off through the BMC's view of the host, or stay up). A script that boots
 * the local disk ends it; one that says "try again later" is retried as iPXE would, while the machine is on.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Value } from "typebox/value";
import {
  ENROLL_PATH,
  type EnrollmentRequest,
  EnrollmentRequestSchema,
  type EnrollmentResponse,
  EnrollmentResponseSchema,
} from "../../src/protocol/enrollment.ts";
import type { Disk, HardwareInventory } from "../../src/protocol/inventory.ts";
import type { LabBootEvent, RedfishLabBmc } from "../redfish/index.ts";
import type { HardwareSpec } from "../redfish/profiles.ts";
import type { IngotClient } from "./api-client.ts";

export const SIMULATED_AGENT_VERSION = "lab-sim-1";

export interface SimulatedProduct {
  readonly manufacturer: string;
  readonly model: string;
  readonly sku: string | undefined;
}

export type AgentOutcome =
  | { readonly kind: "enrolled"; readonly machineId: string; readonly state: string; readonly next: string }
  | { readonly kind: "local-disk" }
  | { readonly kind: "failed"; readonly error: string };

export interface SimulatedAgentOptions {
  readonly bmc: RedfishLabBmc;
  readonly client: IngotClient;
  readonly hardware: HardwareSpec;
  readonly product: SimulatedProduct;
  /** Told about every boot the agent handled. */
  readonly onOutcome?: (outcome: AgentOutcome, bmc: RedfishLabBmc) => void;
  /** The server said to wait and ask again (no agent image built yet, for one): what it said, each time. */
  readonly onWait?: (message: string, bmc: RedfishLabBmc) => void;
}

const MIB = 1024 * 1024;

export class SimulatedAgent {
  private readonly stopping = new AbortController();
  private readonly outcomes: AgentOutcome[] = [];
  private detach: (() => void) | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly options: SimulatedAgentOptions) {}

  /** Starts listening for network boots. */
  start(): void {
    this.detach ??= this.options.bmc.onBoot((device, event) => {
      if (device !== "pxe") return;
      const run = this.netboot(event);
      this.running = this.running.then(() => run);
    });
  }

  /** Stops listening and abandons a boot in progress. */
  async stop(): Promise<void> {
    this.detach?.();
    this.detach = undefined;
    this.stopping.abort();
    await this.running;
  }

  /** What each handled boot led to, oldest first. */
  history(): readonly AgentOutcome[] {
    return [...this.outcomes];
  }

  /** The enrollment request this machine's agent sends (validated against the protocol schema). */
  enrollmentRequest(): EnrollmentRequest {
    const request = buildEnrollmentRequest(this.options.bmc, this.options.hardware, this.options.product);
    if (!Value.Check(EnrollmentRequestSchema, request)) {
      const first = [...Value.Errors(EnrollmentRequestSchema, request)][0];
      throw new Error(`the simulated enrollment does not validate: ${first?.instancePath} ${first?.message}`);
    }
    return request;
  }

  private async netboot(event: LabBootEvent): Promise<void> {
    const outcome = await this.bootOnce(event).catch(
      (error: unknown): AgentOutcome => ({
        kind: "failed",
        error: error instanceof Error ? error.message : String(error),
      }),
    );
    if (outcome === undefined) return;
    this.outcomes.push(outcome);
    this.options.onOutcome?.(outcome, this.options.bmc);
  }

  private stillBooting(event: LabBootEvent): boolean {
    const state = this.options.bmc.state();
    return !this.stopping.signal.aborted && state.powerState === "On" && state.bootCount === event.bootCount;
  }

  private async bootOnce(event: LabBootEvent): Promise<AgentOutcome | undefined> {
    const { bmc, client } = this.options;
    const { identity } = bmc;
    const bootMac = identity.nicMacs[0];
    if (bootMac === undefined) return { kind: "failed", error: "the machine has no NIC to boot from" };
    const query = new URLSearchParams({
      mac: bootMac,
      serial: identity.serial,
      uuid: identity.uuid,
      arch: "x86_64",
    });
    for (;;) {
      if (!this.stillBooting(event)) return undefined;
      const script = await client.text(`/boot/v1/ipxe?${query.toString()}`, { signal: this.stopping.signal });
      const token = /ingot\.token=(\S+)/.exec(script)?.[1];
      if (token !== undefined) return await this.enroll(token);
      if (/^exit$/m.test(script)) return { kind: "local-disk" };
      const wait = /^sleep (\d+)$/m.exec(script)?.[1];
      if (wait === undefined)
        return { kind: "failed", error: `the boot script is not one the agent knows:\n${script}` };
      // iPXE sleeps and asks again (the server has no agent image yet, or is busy).
      const said = [...script.matchAll(/^echo Ingot: (.*)$/gm)].map((match) => match[1]).join("; ");
      this.options.onWait?.(said === "" ? `wait ${wait} s` : said, this.options.bmc);
      await sleep(Number(wait) * 1000, undefined, { signal: this.stopping.signal }).catch(() => undefined);
    }
  }

  private async enroll(token: string): Promise<AgentOutcome> {
    const { bmc, client } = this.options;
    const response = await client.json<EnrollmentResponse>("POST", ENROLL_PATH, this.enrollmentRequest(), {
      bearer: token,
      signal: this.stopping.signal,
    });
    if (!Value.Check(EnrollmentResponseSchema, response)) {
      return { kind: "failed", error: "the server's enrollment answer does not validate" };
    }
    if (response.next.action === "poweroff") {
      // The real agent runs `poweroff`; the BMC sees its host go off without being asked.
      bmc.powerLost(`ingot-agent powered the machine off: ${response.next.message ?? "enrolled"}`);
    }
    return {
      kind: "enrolled",
      machineId: response.machineId,
      state: response.state,
      next: response.next.action,
    };
  }
}

/** What ingot-agent would report for a lab machine: its identity, NICs and the hardware of its profile. */
export function buildEnrollmentRequest(
  bmc: Pick<RedfishLabBmc, "identity" | "host">,
  hardware: HardwareSpec,
  product: SimulatedProduct,
): EnrollmentRequest {
  const { identity } = bmc;
  const bootMac = identity.nicMacs[0] ?? identity.bmcMac;
  const installed = hardware.dimmsMiB.filter((size) => size > 0);
  const memoryBytes = installed.reduce((total, size) => total + size * MIB, 0);
  let nvme = 0;
  let scsi = 0;
  const disks: Disk[] = hardware.drives.map((drive, index) => {
    const name = drive.protocol === "NVMe" ? `nvme${nvme++}n1` : `sd${String.fromCharCode(97 + scsi++)}`;
    return {
      name,
      model: drive.model,
      serialNumber: `${identity.serial}-D${index}`,
      sizeBytes: drive.sizeBytes,
      rotational: drive.media === "HDD",
      transport: drive.protocol.toLowerCase(),
      kind: drive.protocol === "NVMe" ? "nvme" : drive.media === "HDD" ? "hdd" : "ssd",
      smart: { passed: true, powerOnHours: 1000 + identity.index, temperatureCelsius: 35 },
    };
  });
  const cpu = hardware.cpus[0];
  const inventory: HardwareInventory = {
    system: {
      manufacturer: product.manufacturer,
      productName: product.model,
      serialNumber: identity.serial,
      uuid: identity.uuid.toLowerCase(),
      ...(product.sku !== undefined ? { sku: product.sku } : {}),
    },
    cpu: {
      ...(cpu !== undefined ? { model: cpu.model, mhz: cpu.maxSpeedMhz } : {}),
      vendor: cpu?.model.startsWith("AMD") ? "AuthenticAMD" : "GenuineIntel",
      architecture: "x86_64",
      sockets: hardware.cpus.length,
      cores: hardware.cpus.reduce((total, item) => total + item.cores, 0),
      threads: hardware.cpus.reduce((total, item) => total + item.threads, 0),
    },
    memory: {
      totalBytes: memoryBytes,
      installedBytes: memoryBytes,
      slotCount: hardware.dimmsMiB.length,
      dimms: hardware.dimmsMiB.flatMap((size, slot) =>
        size > 0 ? [{ locator: `DIMM${slot}`, sizeBytes: size * MIB, type: "DDR4" }] : [],
      ),
    },
    disks,
    nics: identity.nicMacs.map((mac, index) => ({
      name: `eno${index + 1}`,
      macAddress: mac,
      speedMbps: hardware.nicSpeedsMbps[index] ?? 1000,
      driver: "mlx5_core",
      linkUp: index === 0,
      addresses:
        index === 0 ? [`10.0.${Math.floor(identity.index / 250)}.${(identity.index % 250) + 2}/16`] : [],
    })),
    gpus: [],
    pciDevices: [],
    bmc: {
      macAddress: identity.bmcMac,
      ...(/^\d+(\.\d+){3}$/.test(bmc.host) ? { ipAddress: bmc.host } : {}),
    },
  };
  return {
    agentVersion: SIMULATED_AGENT_VERSION,
    bootMac,
    bootMacSource: "cmdline",
    collectedAt: new Date().toISOString(),
    inventory,
    probes: {
      dmidecode: { status: "ok", durationMs: 12, warnings: [] },
      lscpu: { status: "ok", durationMs: 4, warnings: [] },
      lsblk: { status: "ok", durationMs: 6, warnings: [] },
    },
  };
}
