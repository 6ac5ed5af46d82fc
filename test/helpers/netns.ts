/**
 * Network namespaces for tests that need a real L2 network (DHCP, PXE, TFTP, QEMU on a tap device) without
 * touching the host's interfaces: every link is created directly inside a namespace this lab owns, and
 * dispose() (or, failing that, process exit) deletes the namespaces and whatever still runs in them.
 *
 *   const lab = await NetworkLab.create();          // throws a clear error without root / ip netns
 *   const lan = await lab.namespace("lan");
 *   await lab.bridge(lan, "br0");
 *   const srv = await lab.namespace("srv");
 *   await lab.plug({ ns: lan, name: "br0" }, { ns: srv, name: "eth0", address: "10.0.0.1/24" });
 *   await lab.tap({ ns: lan, name: "br0" }, "tap0");  // then: lan.spawn(["qemu-system-x86_64", … "ifname=tap0" …])
 *   …
 *   await lab.dispose();
 */
import { type ChildProcess, type SpawnOptions, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { type CommandOptions, type CommandResult, runCommand } from "../../src/images/command.ts";

const PREFIX = "itn";

/** This process cannot create network namespaces (not root, no iproute2, or a sandbox that forbids it). */
export class NetnsUnavailableError extends Error {
  override name = "NetnsUnavailableError";
}

/** Throws NetnsUnavailableError with the reason unless network namespaces can be created here. */
export async function assertNetnsSupport(): Promise<void> {
  const need = "these tests need root and `ip netns` (iproute2); CI runs them as root";
  if (process.getuid?.() !== 0)
    throw new NetnsUnavailableError(`${need}; this process runs as uid ${process.getuid?.()}`);
  const probe = `${PREFIX}-probe-${process.pid}-${randomBytes(3).toString("hex")}`;
  try {
    await runCommand("ip", ["netns", "add", probe], { timeoutMs: 10_000 });
  } catch (error) {
    throw new NetnsUnavailableError(
      `${need}; \`ip netns add\` failed: ${error instanceof Error ? error.message : error}`,
    );
  }
  await runCommand("ip", ["netns", "del", probe], { timeoutMs: 10_000 });
}

export interface Netns {
  readonly name: string;
  /** argv that runs `argv` inside this namespace (for spawning through other helpers). */
  wrap(argv: readonly string[]): string[];
  run(argv: readonly string[], options?: CommandOptions): Promise<CommandResult>;
  spawn(argv: readonly string[], options?: SpawnOptions): ChildProcess;
}

/** One end of a link: its namespace, interface name, and optionally MAC and address (CIDR, e.g. 10.0.0.1/24). */
export interface LinkEnd {
  readonly ns: Netns;
  readonly name: string;
  readonly mac?: string;
  readonly address?: string;
}

export interface BridgeRef {
  readonly ns: Netns;
  readonly name: string;
}

const live = new Set<NetworkLab>();
let exitHookInstalled = false;

export class NetworkLab {
  private readonly namespaces: string[] = [];
  private ports = 0;

  private constructor(
    /** Unique per lab: `itn-<pid>-<random>`; namespaces are `<id>-<role>`. */
    readonly id: string,
  ) {}

  /** Checks for root and ip netns, sweeps namespaces left by dead test processes, and returns an empty lab. */
  static async create(): Promise<NetworkLab> {
    await assertNetnsSupport();
    await sweepStaleNamespaces();
    const lab = new NetworkLab(`${PREFIX}-${process.pid}-${randomBytes(3).toString("hex")}`);
    live.add(lab);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on("exit", () => {
        for (const leftover of live) leftover.disposeSync();
      });
    }
    return lab;
  }

  /** A new namespace with loopback up. */
  async namespace(role: string): Promise<Netns> {
    const name = `${this.id}-${role}`;
    await ip(["netns", "add", name]);
    this.namespaces.push(name);
    await ip(["-n", name, "link", "set", "lo", "up"]);
    return netns(name);
  }

  /** A veth pair between two namespaces (or two names in one), both ends configured and up. */
  async veth(a: LinkEnd, b: LinkEnd): Promise<void> {
    await ip([
      "link",
      "add",
      a.name,
      "netns",
      a.ns.name,
      "type",
      "veth",
      "peer",
      "name",
      b.name,
      "netns",
      b.ns.name,
    ]);
    await configure(a);
    await configure(b);
  }

  /** A bridge, up, optionally with an address. */
  async bridge(ns: Netns, name = "br0", address?: string): Promise<BridgeRef> {
    await ip(["-n", ns.name, "link", "add", name, "type", "bridge"]);
    if (address !== undefined) await ip(["-n", ns.name, "addr", "add", address, "dev", name]);
    await ip(["-n", ns.name, "link", "set", name, "up"]);
    return { ns, name };
  }

  /** Connects `end` to the bridge through a veth pair whose bridge-side port is named `p<n>`. */
  async plug(bridge: BridgeRef, end: LinkEnd): Promise<void> {
    this.ports += 1;
    const port = `p${this.ports}`;
    await this.veth({ ns: bridge.ns, name: port }, end);
    await ip(["-n", bridge.ns.name, "link", "set", port, "master", bridge.name]);
  }

  /** A tap device on the bridge, for a QEMU started inside the bridge's namespace with `ifname=<name>`. */
  async tap(bridge: BridgeRef, name: string): Promise<void> {
    await ip(["-n", bridge.ns.name, "tuntap", "add", "dev", name, "mode", "tap"]);
    await ip(["-n", bridge.ns.name, "link", "set", name, "master", bridge.name]);
    await ip(["-n", bridge.ns.name, "link", "set", name, "up"]);
  }

  /** Kills what still runs in the lab's namespaces (processes the test started there) and deletes them. */
  async dispose(): Promise<void> {
    live.delete(this);
    for (const name of this.namespaces.splice(0).reverse()) {
      const pids = await runCommand("ip", ["netns", "pids", name], { timeoutMs: 10_000 }).catch(
        () => undefined,
      );
      for (const pid of parsePids(pids?.stdout ?? "")) killQuietly(pid);
      await runCommand("ip", ["netns", "del", name], { timeoutMs: 10_000 }).catch(() => undefined);
    }
  }

  private disposeSync(): void {
    for (const name of this.namespaces.splice(0)) {
      const pids = spawnSync("ip", ["netns", "pids", name], { encoding: "utf8" });
      for (const pid of parsePids(pids.stdout ?? "")) killQuietly(pid);
      spawnSync("ip", ["netns", "del", name]);
    }
  }
}

function netns(name: string): Netns {
  const wrap = (argv: readonly string[]): string[] => ["ip", "netns", "exec", name, ...argv];
  return {
    name,
    wrap,
    run: (argv, options) => {
      const [file, ...args] = wrap(argv);
      return runCommand(file ?? "ip", args, { timeoutMs: 30_000, ...options });
    },
    spawn: (argv, options = {}) => {
      const [file, ...args] = wrap(argv);
      return spawn(file ?? "ip", args, options);
    },
  };
}

async function configure(end: LinkEnd): Promise<void> {
  const n = end.ns.name;
  if (end.mac !== undefined) await ip(["-n", n, "link", "set", "dev", end.name, "address", end.mac]);
  // A veth hands packets on with checksums still to be filled in; a DHCP client reading a raw socket
  // (busybox udhcpc, firmware behind a tap) would drop them, so behave like a wire.
  await runCommand("ip", ["netns", "exec", n, "ethtool", "-K", end.name, "tx", "off"], { timeoutMs: 10_000 });
  if (end.address !== undefined) await ip(["-n", n, "addr", "add", end.address, "dev", end.name]);
  await ip(["-n", n, "link", "set", end.name, "up"]);
}

async function ip(args: readonly string[]): Promise<void> {
  await runCommand("ip", args, { timeoutMs: 10_000 });
}

function parsePids(text: string): number[] {
  return text
    .split("\n")
    .map((line) => Number(line.trim()))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/** Namespaces named by a test process that no longer exists, and with nothing running in them. */
async function sweepStaleNamespaces(): Promise<void> {
  const listed = await runCommand("ip", ["netns", "list"], { timeoutMs: 10_000 });
  for (const line of listed.stdout.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const owner = new RegExp(`^${PREFIX}-(\\d+)-[0-9a-f]+-`).exec(name);
    if (owner === null || processExists(Number(owner[1]))) continue;
    const pids = await runCommand("ip", ["netns", "pids", name], { timeoutMs: 10_000 }).catch(
      () => undefined,
    );
    if (pids === undefined || parsePids(pids.stdout).length > 0) continue;
    await runCommand("ip", ["netns", "del", name], { timeoutMs: 10_000 }).catch(() => undefined);
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
