/**
 * Chooses KVM when it really works, TCG otherwise. `/dev/kvm` existing is not enough: in nested setups KVM
 * can start a VM whose kernel then hangs or trips an MSR assertion. So the probe boots the host's own kernel
 * under KVM (no root file system: it runs to the "VFS: Unable to mount root" panic in about a second) and
 * trusts KVM only when that completes.
 */
import { spawn } from "node:child_process";
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { installedKernels } from "../../src/images/agent-image.ts";

export type Accelerator = "kvm" | "tcg";

export interface AcceleratorChoice {
  readonly accel: Accelerator;
  /** Why: shown in logs and test output. */
  readonly reason: string;
}

export interface KvmProbeOptions {
  readonly qemuBinary?: string;
  /** Kernel to boot for the probe; default the newest in /boot. Without one, the probe runs SeaBIOS only. */
  readonly kernel?: string;
  /** Default 20 s. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** QEMU CPU and accelerator arguments for a choice (the probe uses the same ones as the VMs). */
export function acceleratorArgs(accel: Accelerator): string[] {
  return accel === "kvm" ? ["-accel", "kvm", "-cpu", "host"] : ["-accel", "tcg", "-cpu", "max"];
}

/** Probes KVM once: can /dev/kvm be opened, and does a kernel boot to its end under it. */
export async function probeKvm(options: KvmProbeOptions = {}): Promise<AcceleratorChoice> {
  try {
    const handle = await open("/dev/kvm", constants.O_RDWR);
    await handle.close();
  } catch (error) {
    return { accel: "tcg", reason: `/dev/kvm is not usable (${(error as NodeJS.ErrnoException).code})` };
  }
  const kernel = options.kernel ?? (await installedKernels()).map((release) => `/boot/vmlinuz-${release}`)[0];
  const guest =
    kernel === undefined
      ? {
          args: ["-chardev", "stdio,id=dbg", "-device", "isa-debugcon,iobase=0x402,chardev=dbg"],
          done: /SeaBIOS \(version/,
          what: "SeaBIOS",
        }
      : {
          args: ["-serial", "stdio", "-kernel", kernel, "-append", "console=ttyS0 panic=-1 loglevel=4"],
          done: /Kernel panic|VFS: Unable to mount root/,
          what: `a kernel (${kernel})`,
        };
  const timeoutMs = options.timeoutMs ?? 20_000;
  const child = spawn(
    options.qemuBinary ?? "qemu-system-x86_64",
    [
      ...acceleratorArgs("kvm"),
      "-machine",
      "q35",
      "-m",
      "256",
      "-nodefaults",
      "-display",
      "none",
      "-no-reboot",
      ...guest.args,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  try {
    return await new Promise<AcceleratorChoice>((resolve) => {
      const finish = (choice: AcceleratorChoice): void => {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
        resolve(choice);
      };
      const onAbort = (): void => finish({ accel: "tcg", reason: "KVM probe aborted" });
      options.signal?.addEventListener("abort", onAbort, { once: true });
      const timer = setTimeout(
        () =>
          finish({ accel: "tcg", reason: `KVM did not run ${guest.what} to the end within ${timeoutMs} ms` }),
        timeoutMs,
      );
      const onOutput = (chunk: Buffer): void => {
        output += chunk.toString("utf8");
        if (guest.done.test(output)) finish({ accel: "kvm", reason: `KVM ran ${guest.what} to the end` });
      };
      child.stdout.on("data", onOutput);
      child.stderr.on("data", onOutput);
      child.on("error", (error) =>
        finish({ accel: "tcg", reason: `cannot start QEMU for the KVM probe: ${error.message}` }),
      );
      child.on("close", (code, signal) => {
        if (guest.done.test(output)) return;
        const last = output.trim().split("\n").slice(-2).join(" | ");
        finish({ accel: "tcg", reason: `QEMU under KVM exited (${code ?? signal}) early: ${last}` });
      });
    });
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

/** Probes once per instance and remembers the answer; share one between the VMs of a test file. */
export class AcceleratorDetector {
  private choice: Promise<AcceleratorChoice> | undefined;

  constructor(private readonly options: Omit<KvmProbeOptions, "signal"> = {}) {}

  async detect(signal?: AbortSignal): Promise<AcceleratorChoice> {
    this.choice ??= probeKvm({ ...this.options, signal });
    return await this.choice;
  }
}
