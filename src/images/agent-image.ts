/**
 * Builds the agent boot image: the build host's Debian kernel plus an initramfs holding busybox, node and
 * its libraries, the ingot-agent bundle, the kernel modules for common NICs and disk controllers, and the
 * hardware probe tools. The result lands in the artifact store as `agent/<version>/{vmlinuz,initrd.img,
 * manifest.json}`, and `agent/current.json` names the newest build.
 *
 * `<version>` is derived from a hash of every input (agent bundle, kernel, node, the host files copied, the
 * generated scripts and this builder's version), so an unchanged build is skipped.
 */

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { constants, createReadStream, createWriteStream } from "node:fs";
import {
  access,
  chmod,
  copyFile,
  lutimes,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { INGOT_VERSION } from "../version.ts";
import {
  AGENT_BUNDLE_IMAGE_PATH,
  AGENT_CMDLINE_KEYS,
  ETC_FILES,
  INIT_SCRIPT,
  UDHCPC_SCRIPT,
} from "./agent-image-files.ts";
import type { ArtifactInfo, ArtifactStore } from "./artifact-store.ts";
import { runCommand } from "./command.ts";
import { findProgram, type ImageEntry, ImageTree } from "./host-files.ts";
import { type KernelModule, moduleFilesFor, readModuleIndex, resolveModules } from "./kernel-modules.ts";

/** Bump when the builder's output changes in a way its inputs do not show. */
export const AGENT_IMAGE_BUILDER_VERSION = 2;

/**
 * Modules the image ships (with their dependencies): virtual and common server NICs and disk controllers.
 * /init loads a driver only when a device's modalias matches it, as udev would.
 */
export const AGENT_IMAGE_MODULES: readonly string[] = [
  // virtual machines (the lab)
  "virtio_pci",
  "virtio_net",
  "virtio_blk",
  "virtio_scsi",
  "e1000",
  // server NICs
  "e1000e",
  "igb",
  "ixgbe",
  "i40e",
  "ice",
  "bnxt_en",
  "tg3",
  "mlx5_core",
  "r8169",
  // disks and controllers
  "nvme",
  "ahci",
  "ata_piix",
  "sd_mod",
  "sg",
  "megaraid_sas",
  "mpt3sas",
  // DHCP client (raw sockets) and the BMC (ipmitool's /dev/ipmi0)
  "af_packet",
  "ipmi_si",
  "ipmi_devintf",
  // temperatures for the vetting stages
  "coretemp",
  "k10temp",
];

/** Loaded at boot whatever the hardware: no device announces a need for them. */
export const AGENT_IMAGE_ALWAYS_LOADED: readonly string[] = ["af_packet", "sd_mod", "sg", "ipmi_devintf"];

/** Probe tools the agent runs; the build fails naming the package when one is missing. */
export const AGENT_IMAGE_TOOLS: ReadonlyArray<{ readonly program: string; readonly debianPackage: string }> =
  [
    { program: "busybox", debianPackage: "busybox-static" },
    { program: "dmidecode", debianPackage: "dmidecode" },
    { program: "lscpu", debianPackage: "util-linux" },
    { program: "lsblk", debianPackage: "util-linux" },
    { program: "lspci", debianPackage: "pciutils" },
    { program: "ip", debianPackage: "iproute2" },
    { program: "ethtool", debianPackage: "ethtool" },
    { program: "smartctl", debianPackage: "smartmontools" },
    { program: "nvme", debianPackage: "nvme-cli" },
    { program: "ipmitool", debianPackage: "ipmitool" },
  ];

/** Shipped when the build host has them (GPU machines). */
const OPTIONAL_TOOLS = ["nvidia-smi"];

/** Data files the tools read; the first is required, the others ride along when present. */
const REQUIRED_DATA_FILES = [{ file: "/usr/share/misc/pci.ids", debianPackage: "pci.ids" }];
const OPTIONAL_DATA_FILES = [
  "/usr/share/misc/enterprise-numbers.txt",
  "/usr/share/misc/enterprise-numbers",
  "/usr/share/smartmontools/drivedb.h",
  "/var/lib/smartmontools/drivedb/drivedb.h",
];

const ARCHIVE_TIMEOUT_MS = 10 * 60_000;
/** Modification time of every file in the initramfs (2020-01-01T00:00:00Z). */
const ARCHIVE_MTIME = 1_577_836_800;

export type AgentImageProgress =
  | { readonly kind: "step"; readonly step: number; readonly total: number; readonly title: string }
  | { readonly kind: "info"; readonly message: string }
  | { readonly kind: "archive"; readonly bytesDone: number; readonly bytesTotal: number };

export interface BuildAgentImageOptions {
  readonly artifactStore: ArtifactStore;
  /** The ingot-agent bundle: one self-contained JavaScript file. */
  readonly agentBundle: string;
  /** Kernel release (`uname -r` form); default: the newest one installed with its modules. */
  readonly kernelVersion?: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: AgentImageProgress) => void;
  /** Where the kernel and modules are found (tests point these elsewhere). */
  readonly bootDir?: string;
  readonly modulesRoot?: string;
  /** Rebuild even when the inputs did not change. */
  readonly force?: boolean;
}

export interface AgentImageManifest {
  readonly kind: "ingot-agent-image";
  readonly version: string;
  readonly builderVersion: number;
  readonly ingotVersion: string;
  readonly kernelVersion: string;
  readonly nodeVersion: string;
  readonly agentBundleSha256: string;
  readonly inputsSha256: string;
  readonly builtAt: string;
  /** Kernel command line the image needs at least (console); boot scripts add their own parameters. */
  readonly kernelCommandLine: string;
  readonly kernel: ArtifactInfo;
  readonly initrd: ArtifactInfo;
  readonly modules: readonly string[];
  readonly tools: readonly string[];
  readonly initrdUncompressedBytes: number;
}

export interface AgentImageBuild {
  readonly manifest: AgentImageManifest;
  /** The manifest's own artifact (`agent/<version>/manifest.json`). */
  readonly manifestArtifact: ArtifactInfo;
  /** True when nothing was built because an image with the same inputs was already stored. */
  readonly cached: boolean;
  readonly durationMs: number;
}

export const AGENT_IMAGE_CURRENT = "agent/current.json";

export function agentImageArtifactNames(version: string): {
  kernel: string;
  initrd: string;
  manifest: string;
} {
  return {
    kernel: `agent/${version}/vmlinuz`,
    initrd: `agent/${version}/initrd.img`,
    manifest: `agent/${version}/manifest.json`,
  };
}

export interface AgentKernelCommandLineOptions {
  /** MAC of the NIC /init configures (else the first with link). */
  readonly mac?: string;
  /** Sets the machine's clock early (machines with a dead RTC battery). */
  readonly time?: Date;
  /** Further `key=value` parameters, e.g. for ingot-agent. */
  readonly params?: Readonly<Record<string, string>>;
  /** Serial console device and settings (default `ttyS0,115200n8`). */
  readonly serialConsole?: string;
}

/**
 * The kernel command line for the agent image: the serial console last, so /dev/console (and so the agent's
 * output) is the serial port a BMC's SOL or QEMU's `-serial` shows, plus the /init parameters.
 */
export function agentKernelCommandLine(options: AgentKernelCommandLineOptions = {}): string {
  const words = ["console=tty0", `console=${options.serialConsole ?? "ttyS0,115200n8"}`, "panic=30"];
  if (options.mac !== undefined) {
    if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(options.mac))
      throw new Error(`invalid MAC "${options.mac}"`);
    words.push(`${AGENT_CMDLINE_KEYS.mac}=${options.mac.toLowerCase()}`);
  }
  if (options.time !== undefined)
    words.push(`${AGENT_CMDLINE_KEYS.time}=${Math.floor(options.time.getTime() / 1000)}`);
  for (const [key, value] of Object.entries(options.params ?? {})) {
    if (!/^[A-Za-z0-9_.-]+$/.test(key) || /[\s"']/.test(value)) {
      throw new Error(`kernel parameter ${key}=${value} must not contain spaces or quotes`);
    }
    words.push(`${key}=${value}`);
  }
  return words.join(" ");
}

/** The manifest of a stored agent image: the named version, or the newest build. */
export async function readAgentImageManifest(
  store: ArtifactStore,
  version?: string,
): Promise<AgentImageManifest> {
  const name = version === undefined ? AGENT_IMAGE_CURRENT : agentImageArtifactNames(version).manifest;
  return JSON.parse(await store.readText(name)) as AgentImageManifest;
}

/** The installed kernel releases that have both `/boot/vmlinuz-<release>` and `modules.dep`, newest first. */
export async function installedKernels(bootDir = "/boot", modulesRoot = "/lib/modules"): Promise<string[]> {
  const releases = await readdir(modulesRoot).catch(() => [] as string[]);
  const usable: string[] = [];
  for (const release of releases) {
    const hasKernel = await stat(path.join(bootDir, `vmlinuz-${release}`)).then(
      (s) => s.isFile(),
      () => false,
    );
    const hasDep = await stat(path.join(modulesRoot, release, "modules.dep")).then(
      (s) => s.isFile(),
      () => false,
    );
    if (hasKernel && hasDep) usable.push(release);
  }
  return usable.sort(compareReleases).reverse();
}

function compareReleases(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i += 1) {
    const x = pa[i] ?? "";
    const y = pb[i] ?? "";
    const nx = Number(x);
    const ny = Number(y);
    const order = Number.isInteger(nx) && Number.isInteger(ny) ? nx - ny : x.localeCompare(y);
    if (order !== 0) return order;
  }
  return 0;
}

interface PlannedImage {
  readonly kernelVersion: string;
  readonly kernelPath: string;
  readonly tree: ImageTree;
  readonly modules: readonly KernelModule[];
  readonly tools: readonly string[];
  readonly agentBundleSha256: string;
  readonly inputsSha256: string;
  readonly version: string;
}

const STEPS = 5;

export async function buildAgentImage(options: BuildAgentImageOptions): Promise<AgentImageBuild> {
  const started = performance.now();
  const progress = options.onProgress ?? ((): void => {});
  const { artifactStore: store, signal } = options;

  progress({ kind: "step", step: 1, total: STEPS, title: "collecting inputs" });
  const plan = await planImage(options);
  signal?.throwIfAborted();
  progress({
    kind: "info",
    message:
      `kernel ${plan.kernelVersion}, node ${process.version}, ${plan.modules.length} kernel modules, ` +
      `tools: ${plan.tools.join(" ")}`,
  });

  const names = agentImageArtifactNames(plan.version);
  progress({ kind: "step", step: 2, total: STEPS, title: `looking for a stored image ${plan.version}` });
  if (options.force !== true) {
    const stored = await storedBuild(store, plan.version);
    if (stored !== undefined) {
      await store.put(AGENT_IMAGE_CURRENT, {
        kind: "bytes",
        data: `${JSON.stringify(stored.manifest, null, 2)}\n`,
      });
      progress({ kind: "info", message: `inputs unchanged: reusing agent image ${plan.version}` });
      return { ...stored, cached: true, durationMs: performance.now() - started };
    }
  }

  const workDir = await mkdtemp(path.join(tmpdir(), "ingot-agent-image-"));
  try {
    const root = path.join(workDir, "root");
    progress({ kind: "step", step: 3, total: STEPS, title: "assembling the initramfs tree" });
    const uncompressedBytes = await materialize(plan.tree, root, signal);
    progress({
      kind: "step",
      step: 4,
      total: STEPS,
      title: `writing the compressed cpio archive (${formatMiB(uncompressedBytes)} uncompressed)`,
    });
    const initrdFile = path.join(workDir, "initrd.img");
    await writeCpioGzip(
      root,
      plan.tree.list().map(([imagePath]) => imagePath),
      initrdFile,
      uncompressedBytes,
      progress,
      signal,
    );

    progress({ kind: "step", step: 5, total: STEPS, title: "storing artifacts" });
    const kernel = await store.put(names.kernel, { kind: "file", path: plan.kernelPath }, { signal });
    const initrd = await store.put(names.initrd, { kind: "file", path: initrdFile }, { signal });
    const manifest: AgentImageManifest = {
      kind: "ingot-agent-image",
      version: plan.version,
      builderVersion: AGENT_IMAGE_BUILDER_VERSION,
      ingotVersion: INGOT_VERSION,
      kernelVersion: plan.kernelVersion,
      nodeVersion: process.version,
      agentBundleSha256: plan.agentBundleSha256,
      inputsSha256: plan.inputsSha256,
      builtAt: new Date().toISOString(),
      kernelCommandLine: agentKernelCommandLine(),
      kernel,
      initrd,
      modules: plan.modules.map((module) => module.name),
      tools: plan.tools,
      initrdUncompressedBytes: uncompressedBytes,
    };
    const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
    const manifestArtifact = await store.put(
      names.manifest,
      { kind: "bytes", data: manifestText },
      { signal },
    );
    await store.put(AGENT_IMAGE_CURRENT, { kind: "bytes", data: manifestText }, { signal });
    progress({
      kind: "info",
      message: `agent image ${plan.version}: initrd ${formatMiB(initrd.sizeBytes)}, kernel ${formatMiB(kernel.sizeBytes)}`,
    });
    return { manifest, manifestArtifact, cached: false, durationMs: performance.now() - started };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function storedBuild(
  store: ArtifactStore,
  version: string,
): Promise<Omit<AgentImageBuild, "cached" | "durationMs"> | undefined> {
  const names = agentImageArtifactNames(version);
  const manifestArtifact = await store.stat(names.manifest);
  if (manifestArtifact === undefined) return undefined;
  const manifest = await readAgentImageManifest(store, version);
  const [kernel, initrd] = await Promise.all([store.stat(names.kernel), store.stat(names.initrd)]);
  const intact = kernel?.sha256 === manifest.kernel.sha256 && initrd?.sha256 === manifest.initrd.sha256;
  return intact ? { manifest, manifestArtifact } : undefined;
}

async function planImage(options: BuildAgentImageOptions): Promise<PlannedImage> {
  const { signal } = options;
  const bootDir = options.bootDir ?? "/boot";
  const modulesRoot = options.modulesRoot ?? "/lib/modules";
  const kernelVersion = options.kernelVersion ?? (await installedKernels(bootDir, modulesRoot))[0];
  if (kernelVersion === undefined) {
    throw new Error(
      `no kernel found: need ${bootDir}/vmlinuz-<release> and ${modulesRoot}/<release>/modules.dep ` +
        "(Debian package linux-image-amd64)",
    );
  }
  const kernelPath = path.join(bootDir, `vmlinuz-${kernelVersion}`);
  await access(kernelPath, constants.R_OK).catch((error: unknown) => {
    throw new Error(`cannot read the kernel ${kernelPath}: ${(error as Error).message}`);
  });
  const modulesDir = path.join(modulesRoot, kernelVersion);
  const moduleIndex = await readModuleIndex(modulesDir);
  const resolution = resolveModules(moduleIndex, [...AGENT_IMAGE_MODULES, ...AGENT_IMAGE_ALWAYS_LOADED]);

  const agentBundle = await readFile(options.agentBundle).catch((error: unknown) => {
    throw new Error(`cannot read the agent bundle ${options.agentBundle}: ${(error as Error).message}`);
  });
  const agentBundleSha256 = createHash("sha256").update(agentBundle).digest("hex");

  const tree = new ImageTree();
  await tree.mirrorMergedUsr();
  for (const dir of ["dev", "proc", "sys", "run", "tmp", "root", "mnt", "var", "etc/ingot", "opt/ingot"]) {
    tree.addDir(dir, dir === "tmp" ? 0o1777 : dir === "root" ? 0o700 : 0o755);
  }

  const nodePath = process.execPath;
  await tree.addBinary(nodePath, signal);
  const nodeImagePath = tree.imagePath(nodePath);
  if (nodeImagePath !== "usr/bin/node") tree.addSymlink("usr/bin/node", `/${nodeImagePath}`);

  const missing: string[] = [];
  const tools: string[] = [];
  for (const { program, debianPackage } of AGENT_IMAGE_TOOLS) {
    const found = await findProgram(program);
    if (found === undefined) missing.push(`${program} (Debian package ${debianPackage})`);
    else {
      await tree.addBinary(found, signal);
      tools.push(program);
    }
  }
  for (const { file, debianPackage } of REQUIRED_DATA_FILES) {
    const present = await stat(file).then(
      () => true,
      () => false,
    );
    if (present) await tree.addHostPath(file);
    else missing.push(`${file} (Debian package ${debianPackage})`);
  }
  if (missing.length > 0)
    throw new Error(`the agent image needs these on the build host: ${missing.join(", ")}`);
  for (const program of OPTIONAL_TOOLS) {
    const found = await findProgram(program);
    if (found !== undefined) {
      await tree.addBinary(found, signal);
      tools.push(program);
    }
  }
  for (const file of OPTIONAL_DATA_FILES) {
    if (
      await stat(file).then(
        () => true,
        () => false,
      )
    )
      await tree.addHostPath(file);
  }
  await addBusyboxApplets(tree, signal);

  const moduleDir = tree.imagePath(`/lib/modules/${kernelVersion}`);
  for (const module of resolution.load) {
    await tree.addFile(path.join(modulesDir, module.file), `${moduleDir}/${stripCompression(module.file)}`);
  }
  const { modulesDep, modulesAlias } = moduleFilesFor(moduleIndex, resolution.load);
  tree.addText(`${moduleDir}/modules.dep`, modulesDep);
  tree.addText(`${moduleDir}/modules.alias`, modulesAlias);
  const alwaysLoaded = AGENT_IMAGE_ALWAYS_LOADED.filter((name) => !resolution.builtin.includes(name));

  const imageVersionLine = `${INGOT_VERSION} (builder ${AGENT_IMAGE_BUILDER_VERSION})`;
  tree.addText("init", INIT_SCRIPT, 0o755);
  tree.addText("etc/udhcpc/default.script", UDHCPC_SCRIPT, 0o755);
  for (const [file, content] of Object.entries(ETC_FILES)) {
    tree.addText(file, content, file === "etc/shadow" ? 0o600 : 0o644);
  }
  tree.addText("etc/ingot/modules.always", `${alwaysLoaded.join("\n")}\n`);
  tree.addText("etc/ingot/image-version", `${imageVersionLine}\n`);
  await tree.addFile(options.agentBundle, AGENT_BUNDLE_IMAGE_PATH.slice(1), agentBundleSha256);

  const inputsSha256 = await fingerprint(tree, {
    builderVersion: AGENT_IMAGE_BUILDER_VERSION,
    kernelVersion,
    nodeVersion: process.version,
    agentBundleSha256,
    kernel: await fileIdentity(kernelPath),
  });
  return {
    kernelVersion,
    kernelPath,
    tree,
    modules: resolution.load,
    tools,
    agentBundleSha256,
    inputsSha256,
    version: `${INGOT_VERSION}-${inputsSha256.slice(0, 12)}`,
  };
}

function stripCompression(file: string): string {
  return file.replace(/\.(xz|zst|gz)$/, "");
}

/** Busybox applet links, except where a real program (iproute2's ip, util-linux) already took the path. */
async function addBusyboxApplets(tree: ImageTree, signal?: AbortSignal): Promise<void> {
  const busybox = await findProgram("busybox");
  if (busybox === undefined) throw new Error("busybox is missing (Debian package busybox-static)");
  const { stdout } = await runCommand(busybox, ["--list-full"], { signal, timeoutMs: 10_000 });
  const busyboxImagePath = `/${tree.imagePath(busybox)}`;
  for (const applet of stdout.split("\n").filter((line) => line.trim() !== "")) {
    const imagePath = tree.imagePath(`/${applet.trim()}`);
    if (!tree.has(imagePath) && imagePath !== busyboxImagePath.slice(1))
      tree.addSymlink(imagePath, busyboxImagePath);
  }
}

async function fileIdentity(file: string): Promise<string> {
  const stats = await stat(file);
  return `${file} ${stats.size} ${Math.floor(stats.mtimeMs)}`;
}

/** A hash over the named inputs, every generated file's text and every host file's path, size and mtime. */
async function fingerprint(tree: ImageTree, named: Record<string, unknown>): Promise<string> {
  const hash = createHash("sha256");
  hash.update(JSON.stringify(named));
  for (const [imagePath, entry] of tree.list()) {
    hash.update(`\n${imagePath} ${entry.kind} `);
    if (entry.kind === "file")
      hash.update(`${entry.mode} ${entry.sha256 ?? (await fileIdentity(entry.source))}`);
    else if (entry.kind === "text") hash.update(`${entry.mode} ${entry.content}`);
    else if (entry.kind === "symlink") hash.update(entry.target);
    else hash.update(String(entry.mode));
  }
  return hash.digest("hex");
}

/** Writes the tree under `root`; returns the bytes of file content (the archive's approximate size). */
async function materialize(tree: ImageTree, root: string, signal?: AbortSignal): Promise<number> {
  let bytes = 0;
  await mkdir(root, { recursive: true });
  const entries = tree.list();
  for (const [imagePath, entry] of entries) {
    signal?.throwIfAborted();
    const target = path.join(root, imagePath);
    bytes += await writeEntry(target, entry);
  }
  // One fixed timestamp (children before their directories, whose mtime each write bumps): the same
  // inputs give the same archive, byte for byte.
  for (const [imagePath] of [...entries].reverse()) {
    await lutimes(path.join(root, imagePath), ARCHIVE_MTIME, ARCHIVE_MTIME);
  }
  return bytes;
}

async function writeEntry(target: string, entry: ImageEntry): Promise<number> {
  switch (entry.kind) {
    case "dir":
      await mkdir(target, { recursive: true });
      await chmod(target, entry.mode);
      return 0;
    case "symlink":
      await symlink(entry.target, target);
      return 0;
    case "text":
      await writeFile(target, entry.content, { mode: entry.mode });
      await chmod(target, entry.mode);
      return Buffer.byteLength(entry.content);
    case "file":
      await copyDecompressed(entry.source, target);
      await chmod(target, entry.mode);
      return (await stat(target)).size;
  }
}

/** Copies a file; compressed kernel modules are stored plain so busybox insmod can load them. */
async function copyDecompressed(source: string, target: string): Promise<void> {
  if (source.endsWith(".ko.gz")) {
    await pipeline(createReadStream(source), createGunzip(), createWriteStream(target));
  } else if (source.endsWith(".ko.xz") || source.endsWith(".ko.zst")) {
    const tool = source.endsWith(".xz") ? "xz" : "zstd";
    const child = spawn(tool, ["-dc", source], { stdio: ["ignore", "pipe", "inherit"], timeout: 60_000 });
    const exited = new Promise<void>((resolve, reject) => {
      child.on("error", (error) =>
        reject(new Error(`${tool} could not start to unpack ${source}: ${error.message}`)),
      );
      child.on("exit", (code) =>
        code === 0 ? resolve() : reject(new Error(`${tool} -dc ${source} exited with status ${code}`)),
      );
    });
    await Promise.all([pipeline(child.stdout, createWriteStream(target)), exited]);
  } else {
    await copyFile(source, target);
  }
}

/** `cpio -o -H newc` (files owned by root) piped through `gzip -n`, the format the kernel unpacks. */
async function writeCpioGzip(
  root: string,
  list: readonly string[],
  output: string,
  bytesTotal: number,
  progress: (progress: AgentImageProgress) => void,
  signal?: AbortSignal,
): Promise<void> {
  const cpio = spawn("cpio", ["--quiet", "-o", "-H", "newc", "-R", "0:0", "--reproducible", "--null"], {
    cwd: root,
    stdio: ["pipe", "pipe", "pipe"],
    signal,
    timeout: ARCHIVE_TIMEOUT_MS,
  });
  const gzip = spawn("gzip", ["-6", "-n", "-c"], {
    stdio: ["pipe", "pipe", "pipe"],
    signal,
    timeout: ARCHIVE_TIMEOUT_MS,
  });
  const finished = (name: string, child: ReturnType<typeof spawn>): Promise<void> => {
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    return new Promise<void>((resolve, reject) => {
      child.on("error", (error) =>
        reject(
          new Error(`${name} failed: ${error.message}${name === "cpio" ? " (Debian package cpio)" : ""}`),
        ),
      );
      child.on("close", (code, exitSignal) =>
        code === 0
          ? resolve()
          : reject(new Error(`${name} exited with ${code ?? exitSignal}: ${stderr.trim().slice(-500)}`)),
      );
    });
  };
  const cpioDone = finished("cpio", cpio);
  const gzipDone = finished("gzip", gzip);
  let bytesDone = 0;
  let lastReport = 0;
  cpio.stdout?.on("data", (chunk: Buffer) => {
    bytesDone += chunk.length;
    if (bytesDone - lastReport >= 4 * 1024 * 1024) {
      lastReport = bytesDone;
      progress({ kind: "archive", bytesDone, bytesTotal });
    }
  });
  cpio.stdin?.end(list.map((entry) => `${entry}\0`).join(""));
  await Promise.all([
    pipeline(cpio.stdout as NodeJS.ReadableStream, gzip.stdin as NodeJS.WritableStream),
    pipeline(gzip.stdout as NodeJS.ReadableStream, createWriteStream(output)),
    cpioDone,
    gzipDone,
  ]);
  progress({ kind: "archive", bytesDone, bytesTotal: bytesDone });
}

function formatMiB(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(1)} MiB`;
}
