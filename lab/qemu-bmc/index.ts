/**
 * A Redfish BMC in front of a real QEMU VM: the lab's simulated Redfish service (so a driver sees an
 * ordinary BMC) whose host is the VM, driven through QMP. Power on starts the VM (the first time) or resets
 * and resumes it, booting from the device the boot override (or the default) chose: `Pxe` is the NIC's
 * iPXE ROM, `Hdd` the disk, and a `Once` override is used up by that boot. ForceOff pauses the VM (`stop`:
 * the vCPUs halt, disks and console survive), GracefulShutdown presses the ACPI power button
 * (`system_powerdown`) and the BMC reports Off only when the guest has powered itself off, ForceRestart is
 * `system_reset` with the boot order set first. A VM that exits on its own shows as Off.
 *
 *   const machine = await startQemuBmc({ name: "pxe-1", network: { kind: "user", bootfile: url } });
 *   createRedfishDriver(machine.bmc.endpoint());   // an ordinary BMC to the driver
 *   await machine.stop();
 */
import type { BmcEndpoint } from "../../src/bmc/driver.ts";
import type { LabTlsMaterial } from "../common/tls.ts";
import {
  type AcceleratorDetector,
  type BootDevice,
  type QemuVm,
  startVm,
  type VmDiskSpec,
  type VmNetwork,
} from "../qemu/vm.ts";
import {
  type LabBootDevice,
  type LabCredentials,
  type MachineTiming,
  type RedfishLabBmc,
  type RedfishVendor,
  startRedfishLab,
} from "../redfish/index.ts";

/** What the BMC did to its VM, in order: for tests and for `ingot lab` to show. */
export type QemuBmcEvent =
  | { readonly kind: "start"; readonly boot: "network" | "disk"; readonly at: number }
  | { readonly kind: "reset"; readonly order: readonly BootDevice[]; readonly at: number }
  | { readonly kind: "pause"; readonly at: number }
  | { readonly kind: "resume"; readonly at: number }
  | { readonly kind: "powerdown"; readonly at: number }
  | { readonly kind: "guest-shutdown"; readonly at: number }
  | { readonly kind: "exited"; readonly at: number }
  | { readonly kind: "error"; readonly message: string; readonly at: number };

type EventInput = QemuBmcEvent extends infer E ? (E extends QemuBmcEvent ? Omit<E, "at"> : never) : never;

export interface QemuBmcOptions {
  /** The VM's name (letters, digits, . _ -). */
  readonly name: string;
  /** How the VM's NIC is connected; it carries the MAC the BMC reports for the machine's first NIC. */
  readonly network: VmNetwork;
  readonly memoryMiB?: number;
  readonly cpus?: number;
  readonly disks?: readonly VmDiskSpec[];
  readonly vendor?: RedfishVendor;
  readonly credentials?: LabCredentials;
  readonly tls?: LabTlsMaterial;
  readonly seed?: number;
  readonly host?: string;
  /** What the machine boots without an override (Redfish target, default Hdd). */
  readonly defaultBootTarget?: string;
  /** The BMC's own delays (PoweringOn before the VM starts, and so on); short by default. */
  readonly timing?: Partial<MachineTiming>;
  readonly accel?: "auto" | "kvm" | "tcg";
  readonly accelDetector?: AcceleratorDetector;
  readonly qemuBinary?: string;
  /** Directory for the VM's disks, sockets and serial log; default a temporary one. */
  readonly workDir?: string;
}

export interface QemuBmc {
  readonly bmc: RedfishLabBmc;
  endpoint(overrides?: Partial<BmcEndpoint>): BmcEndpoint;
  /** The VM, once a power-on has started it. */
  vm(): QemuVm | undefined;
  /** Waits until the BMC has a running VM (power on through Redfish first). */
  waitForVm(timeoutMs?: number): Promise<QemuVm>;
  events(): readonly QemuBmcEvent[];
  /** Waits until the BMC has finished what it started on the VM (a start, a reset). */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

const DEFAULT_TIMING: Partial<MachineTiming> = {
  powerOnDelayMs: 100,
  powerOffDelayMs: 100,
  gracefulShutdownMs: 500,
};

/** Firmware boot order for the device the BMC chose. */
function bootOrder(device: LabBootDevice): readonly BootDevice[] {
  switch (device) {
    case "pxe":
    case "http":
      return ["network"];
    case "cd":
      return ["cdrom"];
    default:
      return ["disk"];
  }
}

export async function startQemuBmc(options: QemuBmcOptions): Promise<QemuBmc> {
  const disks = options.disks ?? [];
  const memoryMiB = options.memoryMiB ?? 256;
  const cpus = options.cpus ?? 1;
  const lab = await startRedfishLab({
    machines: 1,
    vendor: options.vendor ?? "openbmc",
    initialPowerState: "Off",
    osShutdown: "delegated",
    defaultBootTarget: options.defaultBootTarget ?? "Hdd",
    timing: { ...DEFAULT_TIMING, ...options.timing },
    // What Redfish reports is what the VM has.
    hardware: {
      cpus: [{ model: "QEMU Virtual CPU version 2.5+", cores: cpus, threads: cpus, maxSpeedMhz: 2000 }],
      dimmsMiB: [memoryMiB],
      nicSpeedsMbps: [1000],
      drives: disks.map((disk) => ({
        model: disk.bus === "nvme" ? "QEMU NVMe Ctrl" : "QEMU HARDDISK",
        sizeBytes: disk.sizeBytes,
        media: disk.bus === "nvme" ? "SSD" : "HDD",
        protocol: disk.bus === "nvme" ? "NVMe" : "SATA",
      })),
    },
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
    ...(options.tls !== undefined ? { tls: options.tls } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.host !== undefined ? { host: options.host } : {}),
  });
  const bmc = lab.bmcs[0] as RedfishLabBmc;
  const identity = bmc.identity;
  const events: QemuBmcEvent[] = [];
  const record = (event: EventInput): void => {
    events.push({ ...event, at: Date.now() });
  };
  let vm: QemuVm | undefined;
  let stopping = false;
  const vmWaiters = new Set<() => void>();
  // One QMP conversation at a time: a power-off must not overtake the start it follows.
  let queue: Promise<void> = Promise.resolve();
  const enqueue = (work: () => Promise<void>): void => {
    queue = queue.then(work).catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      record({ kind: "error", message });
      console.error(`lab QEMU BMC ${options.name}: ${message}`);
      // What the BMC could not do to the VM leaves the host off, as a real BMC reports a host that failed.
      bmc.powerLost(`the VM could not be driven: ${message}`);
    });
  };

  const launch = async (device: LabBootDevice): Promise<void> => {
    const boot = bootOrder(device)[0] === "network" ? "network" : "disk";
    const started = await startVm({
      name: options.name,
      memoryMiB,
      cpus,
      disks,
      nics: [{ mac: identity.nicMacs[0] ?? "02:00:00:00:00:01", network: options.network }],
      smbios: {
        serial: identity.serial,
        uuid: identity.uuid,
        manufacturer: "Ingot Lab",
        product: `QEMU BMC ${options.name}`,
      },
      boot,
      ...(options.accel !== undefined ? { accel: options.accel } : {}),
      ...(options.accelDetector !== undefined ? { accelDetector: options.accelDetector } : {}),
      ...(options.qemuBinary !== undefined ? { qemuBinary: options.qemuBinary } : {}),
      ...(options.workDir !== undefined ? { workDir: options.workDir } : {}),
    });
    // A guest that powers off pauses instead of ending QEMU: disks and console stay, and the BMC sees Off.
    await started.qmp.execute("set-action", { shutdown: "pause" });
    started.qmp.onEvent((event) => {
      if (event.event === "SHUTDOWN" && event.data.guest === true) {
        record({ kind: "guest-shutdown" });
        bmc.powerLost("The operating system powered the system off");
      }
    });
    started.exited.then(() => {
      if (vm !== started) return;
      vm = undefined;
      if (stopping) return;
      record({ kind: "exited" });
      bmc.powerLost("The virtual machine exited");
    });
    vm = started;
    record({ kind: "start", boot });
    for (const wake of vmWaiters) wake();
  };

  const restart = async (running: QemuVm, device: LabBootDevice): Promise<void> => {
    const order = bootOrder(device);
    await running.qmp.setBootOrder(order);
    await running.qmp.systemReset();
    record({ kind: "reset", order });
    if (!(await running.qmp.queryStatus()).running) {
      await running.qmp.resume();
      record({ kind: "resume" });
    }
  };

  const unsubscribers = [
    bmc.onBoot((device) => {
      enqueue(async () => {
        if (stopping) return;
        const running = vm;
        if (running === undefined) await launch(device);
        else await restart(running, device);
      });
    }),
    bmc.onPowerChange((change) => {
      if (change.state !== "Off") return;
      enqueue(async () => {
        const running = vm;
        if (running === undefined || stopping) return;
        if ((await running.qmp.queryStatus()).running) {
          await running.qmp.pause();
          record({ kind: "pause" });
        }
      });
    }),
    bmc.onShutdownRequest(() => {
      enqueue(async () => {
        const running = vm;
        if (running === undefined || stopping) return;
        await running.qmp.systemPowerdown();
        record({ kind: "powerdown" });
      });
    }),
  ];

  return {
    bmc,
    endpoint: (overrides) => bmc.endpoint(overrides),
    vm: () => vm,
    waitForVm: async (timeoutMs = 60_000) => {
      if (vm !== undefined) return vm;
      return await new Promise<QemuVm>((resolve, reject) => {
        const wake = (): void => {
          if (vm === undefined) return;
          clearTimeout(timer);
          vmWaiters.delete(wake);
          resolve(vm);
        };
        const timer = setTimeout(() => {
          vmWaiters.delete(wake);
          reject(new Error(`no VM for ${options.name} within ${timeoutMs} ms (power it on through the BMC)`));
        }, timeoutMs);
        vmWaiters.add(wake);
      });
    },
    events: () => [...events],
    settled: async () => {
      await queue;
    },
    stop: async () => {
      stopping = true;
      for (const unsubscribe of unsubscribers) unsubscribe();
      await queue;
      await vm?.stop();
      vm = undefined;
      await lab.stop();
    },
  };
}
