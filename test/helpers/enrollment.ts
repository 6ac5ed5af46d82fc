import type { QemuVm } from "../../lab/qemu/vm.ts";
import { AGENT_IMAGE_CURRENT, agentImageArtifactNames } from "../../src/images/agent-image.ts";
import { ArtifactStore } from "../../src/images/artifact-store.ts";
import type { EnrollmentRequest } from "../../src/protocol/enrollment.ts";
import { eventually, type TestApp } from "./app.ts";

export interface MachineSketch {
  readonly serial?: string;
  readonly uuid?: string;
  readonly bootMac: string;
  readonly otherMacs?: readonly string[];
  readonly disks?: ReadonlyArray<{ name: string; serial: string; sizeBytes: number }>;
  readonly memoryBytes?: number;
  readonly threads?: number;
  readonly bmcMac?: string;
}

/** An enrollment request as an agent would send it for a machine with this hardware. */
export function enrollmentRequest(machine: MachineSketch): EnrollmentRequest {
  const nics = [machine.bootMac, ...(machine.otherMacs ?? [])].map((mac, index) => ({
    name: `eth${index}`,
    macAddress: mac,
    speedMbps: 25_000,
    driver: "mlx5_core",
    linkUp: index === 0,
    addresses: index === 0 ? ["10.0.0.5/24"] : [],
  }));
  return {
    agentVersion: "0.1.0",
    bootMac: machine.bootMac,
    bootMacSource: "cmdline",
    collectedAt: new Date().toISOString(),
    inventory: {
      system: {
        manufacturer: "Dell Inc.",
        productName: "PowerEdge R760",
        ...(machine.serial !== undefined ? { serialNumber: machine.serial } : {}),
        ...(machine.uuid !== undefined ? { uuid: machine.uuid } : {}),
      },
      cpu: {
        model: "Intel(R) Xeon(R) Gold 6430",
        vendor: "GenuineIntel",
        architecture: "x86_64",
        sockets: 2,
        cores: 64,
        threads: machine.threads ?? 128,
        mhz: 2100,
      },
      memory: { totalBytes: machine.memoryBytes ?? 512 * 2 ** 30, dimms: [] },
      disks: (
        machine.disks ?? [{ name: "nvme0n1", serial: "S6CKNE0R100001", sizeBytes: 3_840_755_982_336 }]
      ).map((disk) => ({
        name: disk.name,
        model: "SAMSUNG MZQL23T8HCLS-00A07",
        serialNumber: disk.serial,
        sizeBytes: disk.sizeBytes,
        rotational: false,
        transport: "nvme",
        kind: "nvme" as const,
        smart: { passed: true, powerOnHours: 1234, temperatureCelsius: 35 },
      })),
      nics,
      gpus: [],
      pciDevices: [],
      ...(machine.bmcMac !== undefined ? { bmc: { ipAddress: "10.1.0.5", macAddress: machine.bmcMac } } : {}),
    },
    probes: {
      lscpu: { status: "ok", durationMs: 12, warnings: [] },
      dmidecode: { status: "ok", durationMs: 30, warnings: [] },
    },
  };
}

/** Stores a (tiny, unbootable) agent image so boot scripts can name it; QEMU tests build the real one. */
export async function storeFakeAgentImage(dataDir: string, version = "test-1"): Promise<string> {
  const store = ArtifactStore.forDataDir(dataDir);
  const names = agentImageArtifactNames(version);
  const kernel = await store.put(names.kernel, { kind: "bytes", data: "kernel-bytes-0123456789" });
  const initrd = await store.put(names.initrd, { kind: "bytes", data: "initrd-bytes" });
  const manifest = {
    kind: "ingot-agent-image",
    version,
    kernelCommandLine: "console=ttyS0",
    kernel,
    initrd,
  };
  await store.put(names.manifest, { kind: "bytes", data: JSON.stringify(manifest) });
  await store.put(AGENT_IMAGE_CURRENT, { kind: "bytes", data: JSON.stringify(manifest) });
  return version;
}

/** The boot token an iPXE script hands to the agent. */
export function tokenFromScript(script: string): string {
  const token = /ingot\.token=(\S+)/.exec(script)?.[1];
  if (token === undefined) throw new Error(`no boot token in script:\n${script}`);
  return token;
}

/**
 * Waits until a machine with this serial has enrolled (up to ten minutes: a PXE boot under software
 * emulation is slow) and returns its details from the API; on timeout the error carries the VM's console.
 */
export async function enrolledMachine(app: TestApp, serial: string, vm: QemuVm): Promise<MachineDetailJson> {
  const machine = await eventually(
    async () => {
      const list = await app.admin({ method: "GET", url: `/api/v1/orgs/default/machines?q=${serial}` });
      return list.json().items[0] as { id: string } | undefined;
    },
    { timeoutMs: 600_000, intervalMs: 1000, what: `machine ${serial} to enroll` },
  ).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}\n--- VM console ---\n${vm.console.tail(4000)}`);
  });
  return (await app.admin({ method: "GET", url: `/api/v1/orgs/default/machines/${machine.id}` })).json();
}

/** The parts of GET /machines/{id} the end-to-end tests look at. */
export interface MachineDetailJson {
  readonly id: string;
  readonly serialNumber: string;
  readonly systemUuid: string;
  readonly bootMac: string;
  readonly state: { readonly kind: string };
  readonly summary: {
    readonly cpuThreads: number;
    readonly memoryBytes: number;
    readonly disks: ReadonlyArray<{ readonly sizeBytes: number }>;
  };
  readonly interfaces: ReadonlyArray<{ readonly macAddress: string; readonly isBoot: boolean }>;
  readonly inventory: {
    readonly nics: ReadonlyArray<{ readonly macAddress?: string; readonly addresses: string[] }>;
  };
}
