/** DHCP, PXE and TFTP clients for the dnsmasq tests, each run inside a client network namespace. */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CommandError } from "../../src/images/command.ts";
import { createLogger, type Logger } from "../../src/observability/logger.ts";
import type { Netns } from "../helpers/netns.ts";
import type { ProbeRequest, ProbeResult } from "./dnsmasq-pxe-probe.ts";

export const REPO_ROOT = path.resolve(import.meta.dirname, "../..");

/** Client system architecture (DHCP option 93) as PXE firmware sends it. */
export const ARCH = { bios: 0, uefiBc: 7, uefiX64: 9 } as const;

export interface UdhcpcRequest {
  readonly ns: Netns;
  readonly interface: string;
  /** Option 93 and a matching `PXEClient:Arch:…` vendor class; omitted: a plain DHCP client. */
  readonly arch?: number;
  /** Option 77, e.g. "iPXE". */
  readonly userClass?: string;
  /**
   * DISCOVERs to send, one second apart, before giving up (default 6: dnsmasq pings an address for up to
   * 3 s before it first offers it).
   */
  readonly tries?: number;
}

export type UdhcpcResult =
  | {
      readonly kind: "bound";
      readonly address: string;
      readonly netmask: string;
      readonly server: string;
      readonly nextServer: string | undefined;
      /** The BOOTP file field or option 67. */
      readonly bootFile: string | undefined;
      readonly router: string | undefined;
      readonly dns: string | undefined;
    }
  | { readonly kind: "no-lease"; readonly output: string };

/** busybox udhcpc for one lease (`-n -q`), with the broadcast flag PXE firmware sets (`-B`). */
export async function udhcpc(request: UdhcpcRequest): Promise<UdhcpcResult> {
  const dir = mkdtempSync(path.join(tmpdir(), "ingot-udhcpc-"));
  try {
    const script = path.join(dir, "script.sh");
    const out = path.join(dir, "bound.env");
    // Only records what the server said; the test configures the interface itself when it needs to.
    writeFileSync(script, `#!/bin/sh\n[ "$1" = bound ] && env > "${out}"\nexit 0\n`);
    chmodSync(script, 0o755);
    const args = ["busybox", "udhcpc", "-f", "-q", "-n", "-B", "-T", "1", "-t", String(request.tries ?? 6)];
    args.push("-i", request.interface, "-s", script);
    if (request.arch !== undefined) {
      args.push("-V", `PXEClient:Arch:${String(request.arch).padStart(5, "0")}:UNDI:003016`);
      args.push("-x", `0x5d:${request.arch.toString(16).padStart(4, "0")}`);
    }
    if (request.userClass !== undefined)
      args.push("-x", `0x4d:${Buffer.from(request.userClass).toString("hex")}`);
    try {
      await request.ns.run(args, { timeoutMs: 60_000 });
    } catch (error) {
      if (error instanceof CommandError && error.exitCode === 1)
        return { kind: "no-lease", output: error.stderr };
      throw error;
    }
    const env = new Map(
      readFileSync(out, "utf8")
        .split("\n")
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)] as const),
    );
    return {
      kind: "bound",
      address: env.get("ip") ?? "",
      netmask: env.get("subnet") ?? "",
      server: env.get("serverid") ?? "",
      nextServer: env.get("siaddr"),
      bootFile: env.get("boot_file") ?? env.get("bootfile"),
      router: env.get("router"),
      dns: env.get("dns"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `busybox tftp -g` of one file; returns its bytes. */
export async function tftpGet(ns: Netns, server: string, file: string): Promise<Buffer> {
  const dir = mkdtempSync(path.join(tmpdir(), "ingot-tftp-"));
  try {
    const local = path.join(dir, "download");
    await ns.run(["busybox", "tftp", "-g", "-r", file, "-l", local, server], { timeoutMs: 60_000 });
    return readFileSync(local);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The PXE client conversation of dnsmasq-pxe-probe.ts, run in `ns`. */
export async function pxeProbe(ns: Netns, request: ProbeRequest): Promise<ProbeResult> {
  const result = await ns.run(
    [
      process.execPath,
      "--import",
      "tsx",
      path.join(REPO_ROOT, "test/boot/dnsmasq-pxe-probe.ts"),
      JSON.stringify(request),
    ],
    { cwd: REPO_ROOT, timeoutMs: request.timeoutMs + 30_000 },
  );
  return JSON.parse(result.stdout) as ProbeResult;
}

export interface CapturedLogs {
  readonly logger: Logger;
  readonly records: Record<string, unknown>[];
}

/** A logger whose JSON lines are kept for assertions. */
export function captureLogs(): CapturedLogs {
  const records: Record<string, unknown>[] = [];
  const logger = createLogger("info", {
    write(line: string) {
      records.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  return { logger, records };
}

/** Pids of running dnsmasq processes started with this configuration file. */
export function dnsmasqProcessesFor(configFile: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (argv.includes(configFile) && argv.some((arg) => arg.endsWith("dnsmasq"))) pids.push(Number(entry));
    } catch {
      // Exited while we looked.
    }
  }
  return pids;
}

/** Polls `check` until it returns a value; fails after the deadline, naming what it waited for. */
export async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
