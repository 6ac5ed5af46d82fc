/**
 * Runs QEMU VMs for the lab and the end-to-end tests: a q35 machine with SMBIOS identity, sparse disks,
 * NICs on QEMU user networking (with its DHCP/TFTP and a `bootfile` for iPXE) or on a tap device, the serial
 * console captured to a file, and QMP for power and boot-order control.
 *
 * A VM never outlives the process that started it: QEMU runs under `setpriv --pdeathsig KILL` (the kernel
 * kills it if this process dies, even by SIGKILL), `stop()` quits it through QMP and kills it if it lingers,
 * and an exit hook kills whatever is still running when the process exits normally.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { runCommand } from "../../src/images/command.ts";
import { findProgram } from "../../src/images/host-files.ts";
import { type Accelerator, type AcceleratorChoice, AcceleratorDetector, acceleratorArgs } from "./accel.ts";
import { type ConsoleWaitOptions, VmConsole } from "./console.ts";
import { QmpClient } from "./qmp.ts";

export type { Accelerator, AcceleratorChoice } from "./accel.ts";
export { AcceleratorDetector, probeKvm } from "./accel.ts";
export { ConsoleWaitError, type ConsoleWaitOptions, VmConsole } from "./console.ts";
export { type BootDevice, QmpClient, QmpError, type QmpEvent, type QmpStatus } from "./qmp.ts";

export interface VmDiskSpec {
  readonly sizeBytes: number;
  /** Sparse raw file (default) or qcow2 (needs qemu-img). */
  readonly format?: "raw" | "qcow2";
  /** How the guest sees it: virtio-blk (`vda`, default), SATA on the q35 AHCI (`sda`), or NVMe (`nvme0n1`). */
  readonly bus?: "virtio" | "sata" | "nvme";
  /** Serial number the guest reads (at most 20 characters); default `ingot-disk-<n>`. */
  readonly serial?: string;
}

export type VmNetwork =
  | {
      readonly kind: "user";
      /** DHCP boot file name, e.g. `http://10.0.2.2:8080/boot.ipxe` (10.0.2.2 is the host's loopback). */
      readonly bootfile?: string;
      /** Directory QEMU's built-in TFTP server serves. */
      readonly tftpRoot?: string;
      /** Cut the guest off from everything outside QEMU's own services. */
      readonly restrict?: boolean;
    }
  | { readonly kind: "tap"; readonly ifname: string };

export interface VmNicSpec {
  readonly mac: string;
  /** Default virtio-net-pci; its iPXE ROM is what network boot runs. */
  readonly model?: "virtio-net-pci" | "e1000" | "e1000e";
  /** Whether the NIC carries its iPXE option ROM (default true); false keeps the firmware off it. */
  readonly bootRom?: boolean;
  readonly network: VmNetwork;
}

export interface VmSmbios {
  readonly serial: string;
  readonly uuid: string;
  readonly manufacturer: string;
  readonly product: string;
}

/** Network (PXE through the NIC's iPXE ROM), disk, or a kernel booted directly. */
export type VmBoot =
  | "network"
  | "disk"
  | { readonly kernel: string; readonly initrd: string; readonly append: string };

export interface VmOptions {
  readonly name: string;
  readonly memoryMiB: number;
  readonly cpus: number;
  readonly disks: readonly VmDiskSpec[];
  readonly nics: readonly VmNicSpec[];
  readonly smbios: VmSmbios;
  readonly boot: VmBoot;
  /** Serial console log; default `<workDir>/serial.log`. */
  readonly serialLog?: string;
  /** QMP unix socket; default `<workDir>/qmp.sock`. */
  readonly qmpSocket?: string;
  /** Default "auto": KVM when a probe shows it works, else TCG. */
  readonly accel?: "auto" | Accelerator;
  /** Shares one KVM probe between VMs; default a fresh probe per VM. */
  readonly accelDetector?: AcceleratorDetector;
  /** Directory for disks and sockets; default a new temporary one, removed by stop(). */
  readonly workDir?: string;
  /** Exit instead of rebooting when the guest reboots. */
  readonly noReboot?: boolean;
  readonly qemuBinary?: string;
  /** Aborts the start (not a running VM: call stop()). */
  readonly signal?: AbortSignal;
  /** How long QEMU may take to open its QMP socket; default 30 s. */
  readonly startTimeoutMs?: number;
}

export interface VmDisk {
  readonly path: string;
  readonly sizeBytes: number;
  readonly format: "raw" | "qcow2";
  readonly bus: "virtio" | "sata" | "nvme";
  readonly serial: string;
}

export type VmExit = { readonly code: number | null; readonly signal: NodeJS.Signals | null };

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** sun_path in struct sockaddr_un holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;
const Q35_SATA_PORTS = 6;

export class QemuVm {
  readonly exited: Promise<VmExit>;
  private stopping: Promise<VmExit> | undefined;
  private readonly killOnExit: () => void;

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly accel: AcceleratorChoice,
    readonly console: VmConsole,
    readonly qmp: QmpClient,
    readonly workDir: string,
    private readonly ownsWorkDir: boolean,
    readonly qmpSocketPath: string,
    readonly disks: readonly VmDisk[],
    exited: Promise<VmExit>,
    private readonly stderr: () => string,
  ) {
    this.exited = exited;
    this.killOnExit = (): void => {
      child.kill("SIGKILL");
    };
    process.once("exit", this.killOnExit);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** What QEMU wrote on stderr (warnings, errors). */
  qemuStderr(): string {
    return this.stderr();
  }

  async waitForConsole(pattern: RegExp, options: ConsoleWaitOptions = {}): Promise<RegExpExecArray> {
    return await this.console.waitFor(pattern, options);
  }

  /**
   * Ends the VM: QMP `quit`, then SIGKILL if QEMU is still there after `graceMs` (default 5 s); closes QMP,
   * the console log, and removes the work directory if startVm created it. Safe to call more than once.
   */
  async stop(options: { readonly graceMs?: number } = {}): Promise<VmExit> {
    this.stopping ??= this.doStop(options.graceMs ?? 5_000);
    return await this.stopping;
  }

  private async doStop(graceMs: number): Promise<VmExit> {
    if (this.running && !this.qmp.closed) {
      await this.qmp.quit({ timeoutMs: Math.min(graceMs, 3_000) }).catch(() => undefined);
    }
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.child.kill("SIGKILL");
        resolve();
      }, graceMs);
    });
    const exit = this.running
      ? await Promise.race([this.exited, killed.then(() => this.exited)])
      : await this.exited;
    clearTimeout(timer);
    process.removeListener("exit", this.killOnExit);
    this.qmp.close();
    await this.console.end(`VM ${this.name} was stopped`);
    if (this.ownsWorkDir) await rm(this.workDir, { recursive: true, force: true });
    return exit;
  }
}

/** Starts a VM; returns once QEMU runs and answers on QMP. */
export async function startVm(options: VmOptions): Promise<QemuVm> {
  validate(options);
  const qemuBinary = options.qemuBinary ?? "qemu-system-x86_64";
  if ((await findProgram(qemuBinary)) === undefined && !path.isAbsolute(qemuBinary)) {
    throw new Error(`${qemuBinary} not found: install the Debian package qemu-system-x86`);
  }
  const requested = options.accel ?? "auto";
  const choice: AcceleratorChoice =
    requested === "auto"
      ? await (options.accelDetector ?? new AcceleratorDetector({ qemuBinary })).detect(options.signal)
      : { accel: requested, reason: "requested" };

  const ownsWorkDir = options.workDir === undefined;
  const workDir =
    options.workDir ?? (await mkdtemp(path.join(tmpdir(), `ingot-vm-${safeName(options.name)}-`)));
  try {
    await mkdir(workDir, { recursive: true });
    const disks = await createDisks(options, workDir);
    try {
      return await launch(options, qemuBinary, choice, workDir, ownsWorkDir, disks);
    } catch (error) {
      if (!(requested === "auto" && choice.accel === "kvm" && error instanceof EarlyExitError)) throw error;
      const fallback = { accel: "tcg" as const, reason: `KVM failed at start (${error.message}); using TCG` };
      return await launch(options, qemuBinary, fallback, workDir, ownsWorkDir, disks);
    }
  } catch (error) {
    if (ownsWorkDir) await rm(workDir, { recursive: true, force: true });
    throw error;
  }
}

class EarlyExitError extends Error {}

async function launch(
  options: VmOptions,
  qemuBinary: string,
  choice: AcceleratorChoice,
  workDir: string,
  ownsWorkDir: boolean,
  disks: readonly VmDisk[],
): Promise<QemuVm> {
  const qmpSocketPath = options.qmpSocket ?? path.join(workDir, "qmp.sock");
  if (Buffer.byteLength(qmpSocketPath) > MAX_SOCKET_PATH) {
    throw new Error(`QMP socket path is too long for a unix socket (${qmpSocketPath})`);
  }
  await rm(qmpSocketPath, { force: true });
  const serialLog = options.serialLog ?? path.join(workDir, "serial.log");
  await mkdir(path.dirname(serialLog), { recursive: true });

  const args = qemuArgs(options, choice.accel, qmpSocketPath, disks);
  const setpriv = await findProgram("setpriv");
  const [file, argv] =
    setpriv === undefined
      ? [qemuBinary, args]
      : [setpriv, ["--pdeathsig", "KILL", "--", qemuBinary, ...args]];
  const child = spawn(file, argv, { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-20_000);
  });
  // The guest may stop reading its console: a write then fails with EPIPE once QEMU is gone; not an error.
  child.stdin?.on("error", () => undefined);
  const console = new VmConsole(serialLog, child.stdin);
  child.stdout?.on("data", (chunk: Buffer) => console.append(chunk));
  const exited = new Promise<VmExit>((resolve) => {
    child.once("close", (code, signal) => {
      void console.end(`QEMU exited (${code ?? signal})`);
      resolve({ code, signal });
    });
  });
  const spawnError = new Promise<never>((_, reject) => {
    child.once("error", (error) => reject(new Error(`cannot start ${qemuBinary}: ${error.message}`)));
  });
  spawnError.catch(() => undefined);
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;

  let qmp: QmpClient;
  try {
    qmp = await Promise.race([
      QmpClient.connect(qmpSocketPath, {
        timeoutMs: options.startTimeoutMs ?? 30_000,
        signal: options.signal,
        isAlive: alive,
      }),
      spawnError,
    ]);
  } catch (error) {
    child.kill("SIGKILL");
    const exit = await exited;
    await console.end("start failed");
    const detail = stderr.trim().split("\n").slice(-4).join(" | ");
    if (
      exit.code !== null &&
      exit.signal === null &&
      !(error instanceof Error && error.name === "AbortError")
    ) {
      throw new EarlyExitError(`QEMU exited with status ${exit.code} while starting: ${detail}`);
    }
    throw new Error(`QEMU did not start: ${(error as Error).message}${detail ? ` (${detail})` : ""}`);
  }
  return new QemuVm(
    options.name,
    child,
    choice,
    console,
    qmp,
    workDir,
    ownsWorkDir,
    qmpSocketPath,
    disks,
    exited,
    () => stderr,
  );
}

/** QEMU's command line for the options; exported for inspection in tests and docs. */
export function qemuArgs(
  options: VmOptions,
  accel: Accelerator,
  qmpSocketPath: string,
  disks: readonly VmDisk[],
): string[] {
  const args = [
    "-name",
    `guest=${escapeOption(options.name)},process=ingot-vm-${safeName(options.name)}`,
    // graphics=off makes SeaBIOS and iPXE print on the serial port, so network boot shows on the console.
    "-machine",
    "q35,graphics=off",
    ...acceleratorArgs(accel),
    "-m",
    String(options.memoryMiB),
    "-smp",
    String(options.cpus),
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-chardev",
    "stdio,id=console,signal=off",
    "-serial",
    "chardev:console",
    "-qmp",
    `unix:${escapeOption(qmpSocketPath)},server=on,wait=off`,
    "-smbios",
    [
      "type=1",
      `manufacturer=${escapeOption(options.smbios.manufacturer)}`,
      `product=${escapeOption(options.smbios.product)}`,
      `serial=${escapeOption(options.smbios.serial)}`,
      `uuid=${options.smbios.uuid}`,
    ].join(","),
  ];
  const boot = options.boot;
  if (boot === "network") args.push("-boot", "order=n");
  else if (boot === "disk") args.push("-boot", "order=c");
  else args.push("-kernel", boot.kernel, "-initrd", boot.initrd, "-append", boot.append);
  if (options.noReboot === true) args.push("-no-reboot");

  let sataPort = 0;
  disks.forEach((disk, index) => {
    const id = `disk${index}`;
    args.push(
      "-drive",
      `file=${escapeOption(disk.path)},if=none,id=${id},format=${disk.format},cache=unsafe`,
    );
    if (disk.bus === "virtio")
      args.push("-device", `virtio-blk-pci,drive=${id},serial=${escapeOption(disk.serial)}`);
    else if (disk.bus === "nvme")
      args.push("-device", `nvme,drive=${id},serial=${escapeOption(disk.serial)}`);
    else {
      args.push("-device", `ide-hd,drive=${id},bus=ide.${sataPort},serial=${escapeOption(disk.serial)}`);
      sataPort += 1;
    }
  });

  options.nics.forEach((nic, index) => {
    const id = `net${index}`;
    const network = nic.network;
    if (network.kind === "user") {
      const parts = [`user,id=${id}`];
      if (network.bootfile !== undefined) parts.push(`bootfile=${escapeOption(network.bootfile)}`);
      if (network.tftpRoot !== undefined) parts.push(`tftp=${escapeOption(network.tftpRoot)}`);
      if (network.restrict === true) parts.push("restrict=on");
      args.push("-netdev", parts.join(","));
    } else {
      args.push("-netdev", `tap,id=${id},ifname=${escapeOption(network.ifname)},script=no,downscript=no`);
    }
    const romfile = nic.bootRom === false ? ",romfile=" : "";
    args.push(
      "-device",
      `${nic.model ?? "virtio-net-pci"},netdev=${id},mac=${nic.mac.toLowerCase()}${romfile}`,
    );
  });
  return args;
}

async function createDisks(options: VmOptions, workDir: string): Promise<VmDisk[]> {
  const disks: VmDisk[] = [];
  for (const [index, spec] of options.disks.entries()) {
    const format = spec.format ?? "raw";
    const file = path.join(workDir, `disk${index}.${format === "raw" ? "img" : "qcow2"}`);
    if (format === "raw") {
      const handle = await open(file, "w");
      try {
        await handle.truncate(spec.sizeBytes);
      } finally {
        await handle.close();
      }
    } else {
      await runCommand("qemu-img", ["create", "-q", "-f", "qcow2", file, String(spec.sizeBytes)], {
        signal: options.signal,
        timeoutMs: 30_000,
      });
    }
    disks.push({
      path: file,
      sizeBytes: spec.sizeBytes,
      format,
      bus: spec.bus ?? "virtio",
      serial: spec.serial ?? `ingot-disk-${index}`,
    });
  }
  return disks;
}

function validate(options: VmOptions): void {
  const problems: string[] = [];
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(options.name))
    problems.push(`name "${options.name}" (letters, digits, . _ -)`);
  if (!Number.isInteger(options.memoryMiB) || options.memoryMiB < 64)
    problems.push("memoryMiB (at least 64)");
  if (!Number.isInteger(options.cpus) || options.cpus < 1) problems.push("cpus (at least 1)");
  options.disks.forEach((disk, index) => {
    if (!Number.isInteger(disk.sizeBytes) || disk.sizeBytes < 1_048_576 || disk.sizeBytes % 512 !== 0) {
      problems.push(`disks[${index}].sizeBytes (a multiple of 512, at least 1 MiB)`);
    }
    if (disk.serial !== undefined && !/^[\x21-\x7e]{1,20}$/.test(disk.serial)) {
      problems.push(`disks[${index}].serial (1 to 20 printable characters)`);
    }
  });
  if (options.disks.filter((disk) => disk.bus === "sata").length > Q35_SATA_PORTS) {
    problems.push(`disks (at most ${Q35_SATA_PORTS} on SATA)`);
  }
  options.nics.forEach((nic, index) => {
    if (!MAC.test(nic.mac)) problems.push(`nics[${index}].mac "${nic.mac}"`);
  });
  if (!UUID.test(options.smbios.uuid)) problems.push(`smbios.uuid "${options.smbios.uuid}"`);
  if (problems.length > 0) throw new Error(`invalid VM options: ${problems.join(", ")}`);
}

/** QEMU option values escape a comma by doubling it. */
function escapeOption(value: string): string {
  return value.replaceAll(",", ",,");
}

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, "_");
}
