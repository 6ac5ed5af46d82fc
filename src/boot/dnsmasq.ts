import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { access, chmod, mkdir, readlink, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { type ActiveDhcpConfig, UEFI_BINARIES } from "../config/dhcp-config.ts";
import { errorMessage } from "../errors.ts";
import { CommandError, runCommand } from "../images/command.ts";
import type { Logger } from "../observability/logger.ts";
import { Counter, Gauge, type Registry } from "../observability/metrics.ts";
import { acquireProcessLock, LockHeldError } from "../process-lock.ts";
import {
  allowlistText,
  bootBinaries,
  type ConfigLine,
  configText,
  type DnsmasqFiles,
  dnsmasqFiles,
  explainRejection,
  normalizeMac,
  renderDnsmasqConfig,
} from "./dnsmasq-config.ts";
import { parseDnsmasqLine } from "./dnsmasq-log.ts";

export { ipxeChainUrl } from "./dnsmasq-config.ts";

export interface DnsmasqPaths {
  /** Ingot's data directory; dnsmasq's configuration, pid, leases, TFTP root and allowlist go in `dnsmasq/`. */
  readonly dataDir: string;
  /** Default /usr/sbin/dnsmasq (Debian's dnsmasq-base). */
  readonly dnsmasqBinary?: string;
  /** Default /usr/lib/ipxe (Debian's ipxe). */
  readonly ipxeDir?: string;
  /**
   * Runs dnsmasq through a program that execs it in place (same pid), e.g. `["ip", "netns", "exec", "boot"]`
   * to serve a network namespace.
   */
  readonly launcher?: readonly string[];
}

export interface DnsmasqTiming {
  /** How long dnsmasq may take to bind its sockets and report "started". */
  readonly startTimeoutMs: number;
  /** How long dnsmasq may take to exit after SIGTERM before it gets SIGKILL. */
  readonly stopTimeoutMs: number;
  readonly testTimeoutMs: number;
  /** First restart delay after a crash; doubles up to backoffMaxMs, resets after a stable run. */
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly stableAfterMs: number;
  /** Allowlist re-read period, on top of reload() calls on change. */
  readonly allowlistRefreshMs: number;
  readonly allowlistTimeoutMs: number;
  /** How long reload() waits for dnsmasq to report that it read the new allowlist. */
  readonly reloadConfirmMs: number;
}

export const DEFAULT_DNSMASQ_TIMING: DnsmasqTiming = {
  startTimeoutMs: 10_000,
  stopTimeoutMs: 5_000,
  testTimeoutMs: 10_000,
  backoffInitialMs: 1_000,
  backoffMaxMs: 30_000,
  stableAfterMs: 60_000,
  allowlistRefreshMs: 30_000,
  allowlistTimeoutMs: 10_000,
  reloadConfirmMs: 5_000,
};

export interface DnsmasqSettings {
  readonly dhcp: ActiveDhcpConfig;
  /** HTTP URL of the iPXE chain script (`ipxeChainUrl(publicUrl)`), the boot file iPXE clients get. */
  readonly chainUrl: string;
  readonly timing?: Partial<DnsmasqTiming>;
}

/** Returns the MACs allowed to get DHCP answers (any common notation); asked at start, on reload(), periodically. */
export type MacAllowlistSource = (signal: AbortSignal) => Promise<readonly string[]>;

export interface DnsmasqSupervisorOptions {
  readonly logger: Logger;
  readonly settings: DnsmasqSettings;
  readonly allowlist: MacAllowlistSource;
  readonly paths: DnsmasqPaths;
  /** Registers ingot_boot_dnsmasq_up and ingot_boot_dnsmasq_restarts_total when given. */
  readonly registry?: Registry;
}

export interface DnsmasqExit {
  readonly code: number | null;
  readonly signal: string | null;
  /** dnsmasq's last stderr lines (its log goes there). */
  readonly stderrTail: readonly string[];
}

export type DnsmasqState =
  | { readonly kind: "stopped" }
  | { readonly kind: "starting" }
  | { readonly kind: "running"; readonly pid: number; readonly since: Date; readonly restarts: number }
  | {
      readonly kind: "restarting";
      readonly restarts: number;
      readonly retryAt: Date;
      readonly lastExit: DnsmasqExit | undefined;
      readonly reason: string;
    };

export type AllowlistUpdate =
  | { readonly kind: "disabled" }
  | { readonly kind: "unchanged"; readonly macs: number }
  /** applied: dnsmasq reported reading the new list (false while it is not running; it reads it at start). */
  | {
      readonly kind: "updated";
      readonly macs: number;
      readonly added: number;
      readonly removed: number;
      readonly applied: boolean;
    };

/** dnsmasq could not be started or stopped (missing binary or iPXE files, interface gone, port taken). */
export class DnsmasqError extends Error {
  override name = "DnsmasqError";
}

const STDERR_TAIL_LINES = 20;
/** dnsmasq runs as this user after binding its ports when started as root (Debian's default). */
const DNSMASQ_USER = "dnsmasq";

interface LineWaiter {
  readonly matches: (line: string) => boolean;
  readonly resolve: () => void;
}

interface PendingLine {
  /** Resolves when the line arrives, rejects on timeout. */
  readonly seen: Promise<void>;
  cancel(): void;
}

interface Launched {
  readonly child: ChildProcess;
  readonly exited: Promise<DnsmasqExit>;
}

/**
 * Runs Ingot's dnsmasq (DHCP or proxy-DHCP, and TFTP of Debian's iPXE binaries) as a child process:
 * configuration validated with `dnsmasq --test` before every (re)start, logs parsed into our logger,
 * restarted with backoff when it dies, never left running after stop() or after this process exits.
 */
export class DnsmasqSupervisor {
  private readonly log: Logger;
  private readonly dnsmasqFiles: DnsmasqFiles;
  private readonly timing: DnsmasqTiming;
  private readonly binary: string;
  private readonly ipxeDir: string;
  private readonly launcher: readonly string[];
  private readonly metrics: { up: Gauge; restarts: Counter } | undefined;

  private state: DnsmasqState = { kind: "stopped" };
  private current: Launched | undefined;
  private lifecycle = new AbortController();
  private inflight: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private restarts = 0;
  private stderrTail: string[] = [];
  private readonly waiters = new Set<LineWaiter>();
  private allowed: ReadonlySet<string> | undefined;
  private reloads: Promise<unknown> = Promise.resolve();
  private releaseLock: (() => void) | undefined;
  private readonly killOnExit = (): void => {
    this.current?.child.kill("SIGKILL");
  };

  constructor(private readonly options: DnsmasqSupervisorOptions) {
    this.log = options.logger.child({ component: "dnsmasq" });
    this.dnsmasqFiles = dnsmasqFiles(options.paths.dataDir);
    this.timing = { ...DEFAULT_DNSMASQ_TIMING, ...options.settings.timing };
    this.binary = options.paths.dnsmasqBinary ?? "/usr/sbin/dnsmasq";
    this.ipxeDir = options.paths.ipxeDir ?? "/usr/lib/ipxe";
    this.launcher = options.paths.launcher ?? [];
    this.backoffMs = this.timing.backoffInitialMs;
    this.metrics =
      options.registry === undefined
        ? undefined
        : {
            up: new Gauge({
              name: "ingot_boot_dnsmasq_up",
              help: "1 while the supervised dnsmasq runs",
              registers: [options.registry],
            }),
            restarts: new Counter({
              name: "ingot_boot_dnsmasq_restarts_total",
              help: "dnsmasq restarts after it exited unexpectedly",
              registers: [options.registry],
            }),
          };
  }

  get status(): DnsmasqState {
    return this.state;
  }

  /** The files under `<data-dir>/dnsmasq` (configuration, leases, TFTP root, allowlist). */
  get files(): DnsmasqFiles {
    return this.dnsmasqFiles;
  }

  /**
   * Prepares the TFTP root and allowlist, validates the configuration and starts dnsmasq; resolves once it
   * has bound its sockets. Throws ConfigError for a setting dnsmasq rejects, DnsmasqError when it cannot run.
   */
  async start(): Promise<void> {
    if (this.state.kind !== "stopped" || this.stopping !== undefined) {
      throw new DnsmasqError("dnsmasq supervisor already started");
    }
    this.state = { kind: "starting" };
    this.lifecycle = new AbortController();
    this.backoffMs = this.timing.backoffInitialMs;
    this.restarts = 0;
    this.allowed = undefined;
    process.on("exit", this.killOnExit);
    const starting = this.firstStart();
    this.inflight = starting;
    try {
      await starting;
    } catch (error) {
      await this.shutDownOnce();
      throw error;
    } finally {
      if (this.inflight === starting) this.inflight = undefined;
    }
    if (this.options.settings.dhcp.allowlist) {
      this.refreshTimer = setInterval(() => {
        this.reload().catch((error: unknown) =>
          this.log.warn({ err: error }, "periodic DHCP allowlist refresh failed; keeping the previous list"),
        );
      }, this.timing.allowlistRefreshMs);
      this.refreshTimer.unref();
    }
  }

  /** Stops dnsmasq (SIGTERM, then SIGKILL) and any restart in progress; idempotent. */
  async stop(): Promise<void> {
    if (this.state.kind === "stopped" && this.stopping === undefined) return;
    await this.shutDownOnce();
  }

  /**
   * Re-reads the allowlist from its source and rewrites the file dnsmasq watches. Added MACs are picked up
   * by dnsmasq's directory watch; removals need a SIGHUP (it never forgets a host on its own). Calls run
   * one at a time; while dnsmasq is not running they only rewrite the file it reads when it starts.
   */
  reload(): Promise<AllowlistUpdate> {
    const run = this.reloads.then(() => this.reloadAllowlist());
    this.reloads = run.catch(() => undefined);
    return run;
  }

  private async firstStart(): Promise<void> {
    await mkdir(this.files.dir, { recursive: true, mode: 0o755 });
    this.releaseLock = acquireLock(this.files.lockFile);
    await this.stopOrphan();
    await this.prepareFiles();
    if (this.options.settings.dhcp.allowlist) await this.reloadAllowlist();
    await this.launch();
  }

  private shutDownOnce(): Promise<void> {
    this.stopping ??= this.shutDown();
    return this.stopping;
  }

  private async shutDown(): Promise<void> {
    this.lifecycle.abort();
    clearTimeout(this.restartTimer);
    clearInterval(this.refreshTimer);
    this.restartTimer = undefined;
    this.refreshTimer = undefined;
    const launched = this.current;
    if (launched !== undefined) await this.terminate(launched);
    await this.inflight?.catch(() => undefined);
    await this.reloads;
    process.off("exit", this.killOnExit);
    if (this.releaseLock !== undefined) {
      await rm(this.files.pidFile, { force: true });
      this.releaseLock();
      this.releaseLock = undefined;
    }
    this.state = { kind: "stopped" };
    this.stopping = undefined;
    this.metrics?.up.set(0);
  }

  private async terminate(launched: Launched): Promise<void> {
    launched.child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.timing.stopTimeoutMs);
    });
    const exited = await Promise.race([launched.exited, deadline]);
    clearTimeout(timer);
    if (exited === undefined) {
      this.log.warn({ pid: launched.child.pid }, "dnsmasq ignored SIGTERM; killing it");
      launched.child.kill("SIGKILL");
      await launched.exited;
    }
    this.log.info({ pid: launched.child.pid }, "dnsmasq stopped");
  }

  /** Validates, spawns, and waits until dnsmasq reports that it runs. */
  private async launch(): Promise<void> {
    const signal = this.lifecycle.signal;
    const lines = renderDnsmasqConfig({
      dhcp: this.options.settings.dhcp,
      chainUrl: this.options.settings.chainUrl,
      files: this.files,
      logDhcpDetails: this.log.isLevelEnabled("debug"),
    });
    await writeAtomically(this.files.configFile, configText(lines), 0o644);
    await this.validate(lines, signal);
    if (signal.aborted) throw new DnsmasqError("dnsmasq start cancelled by stop()");

    const command = [
      ...this.launcher,
      this.binary,
      "--keep-in-foreground",
      "--log-facility=-",
      "-C",
      this.files.configFile,
    ];
    const child = spawn(command[0] ?? this.binary, command.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    this.stderrTail = [];
    const exited = new Promise<DnsmasqExit>((resolve) => {
      child.once("error", (error) => {
        this.remember(`cannot run ${command[0]}: ${error.message}`);
        resolve({ code: null, signal: null, stderrTail: [...this.stderrTail] });
      });
      // "close" comes after the output streams are drained, so the tail holds dnsmasq's last words.
      child.once("close", (code, exitSignal) => {
        resolve({ code, signal: exitSignal, stderrTail: [...this.stderrTail] });
      });
    });
    const launched: Launched = { child, exited };
    this.current = launched;
    for (const stream of [child.stdout, child.stderr]) {
      if (stream !== null) createInterface({ input: stream }).on("line", (line) => this.onLine(line));
    }

    const ready = this.waitForLine((line) => /: started, version/.test(line), this.timing.startTimeoutMs);
    const outcome = await Promise.race([
      ready.seen.then(
        () => "ready" as const,
        () => "timeout" as const,
      ),
      exited,
    ]);
    ready.cancel();
    if (outcome !== "ready") {
      if (outcome === "timeout") child.kill("SIGKILL");
      const exit = outcome === "timeout" ? await exited : outcome;
      if (this.current === launched) this.current = undefined;
      if (signal.aborted) throw new DnsmasqError("dnsmasq start cancelled by stop()");
      throw new DnsmasqError(
        outcome === "timeout"
          ? `dnsmasq did not report "started" within ${this.timing.startTimeoutMs} ms:\n${exit.stderrTail.join("\n")}`
          : `dnsmasq exited during start (${describeExit(exit)}):\n${exit.stderrTail.join("\n")}`,
      );
    }
    const pid = child.pid ?? 0;
    this.state = { kind: "running", pid, since: new Date(), restarts: this.restarts };
    this.metrics?.up.set(1);
    this.log.info(
      { pid, mode: this.options.settings.dhcp.mode, interface: this.options.settings.dhcp.interface },
      "dnsmasq running",
    );
    void exited.then((exit) => this.onExit(launched, exit));
  }

  private async validate(lines: readonly ConfigLine[], signal: AbortSignal): Promise<void> {
    try {
      await runCommand(this.binary, ["--test", "-C", this.files.configFile], {
        timeoutMs: this.timing.testTimeoutMs,
        signal,
      });
    } catch (error) {
      if (error instanceof CommandError && error.exitCode !== undefined)
        throw explainRejection(error.stderr, lines);
      if (error instanceof CommandError && /ENOENT/.test(error.message)) {
        throw new DnsmasqError(`${this.binary} not found: install Debian's dnsmasq-base package`);
      }
      throw new DnsmasqError(`dnsmasq --test failed: ${errorMessage(error)}`);
    }
  }

  private onExit(launched: Launched, exit: DnsmasqExit): void {
    if (this.current !== launched) return;
    this.current = undefined;
    this.metrics?.up.set(0);
    if (this.lifecycle.signal.aborted) return;
    const ranMs = this.state.kind === "running" ? Date.now() - this.state.since.getTime() : 0;
    if (ranMs >= this.timing.stableAfterMs) this.backoffMs = this.timing.backoffInitialMs;
    this.log.error(
      { pid: launched.child.pid, exitCode: exit.code, signal: exit.signal, stderr: exit.stderrTail },
      "dnsmasq exited unexpectedly",
    );
    this.scheduleRestart(`dnsmasq exited (${describeExit(exit)})`, exit);
  }

  private scheduleRestart(reason: string, lastExit: DnsmasqExit | undefined): void {
    const delayMs = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.timing.backoffMaxMs);
    this.state = {
      kind: "restarting",
      restarts: this.restarts,
      retryAt: new Date(Date.now() + delayMs),
      lastExit,
      reason,
    };
    this.log.warn({ delayMs, reason }, "restarting dnsmasq after a delay");
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      const attempt = this.restart();
      this.inflight = attempt;
      void attempt.finally(() => {
        if (this.inflight === attempt) this.inflight = undefined;
      });
    }, delayMs);
  }

  private async restart(): Promise<void> {
    this.restarts += 1;
    this.metrics?.restarts.inc();
    try {
      await this.prepareFiles();
      if (this.options.settings.dhcp.allowlist) {
        await this.reload().catch((error: unknown) =>
          this.log.warn({ err: error }, "DHCP allowlist refresh failed; restarting with the previous list"),
        );
      }
      await this.launch();
      this.log.info({ restarts: this.restarts }, "dnsmasq restarted");
    } catch (error) {
      if (this.lifecycle.signal.aborted) return;
      this.log.error({ err: error }, "dnsmasq restart failed");
      this.scheduleRestart(errorMessage(error), undefined);
    }
  }

  private onLine(line: string): void {
    this.remember(line);
    for (const waiter of this.waiters) {
      if (waiter.matches(line)) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
    const record = parseDnsmasqLine(line);
    this.log[record.level](record.fields, record.message);
  }

  private remember(line: string): void {
    this.stderrTail.push(line);
    if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
  }

  /** Waits for dnsmasq to log a matching line. Register before causing the line. */
  private waitForLine(matches: (line: string) => boolean, timeoutMs: number): PendingLine {
    let timer: NodeJS.Timeout | undefined;
    let waiter: LineWaiter | undefined;
    const seen = new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => {
        if (waiter !== undefined) this.waiters.delete(waiter);
        reject(new DnsmasqError(`dnsmasq did not log the expected line within ${timeoutMs} ms`));
      }, timeoutMs);
      waiter = {
        matches,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.waiters.add(waiter);
    });
    return {
      seen,
      cancel: () => {
        clearTimeout(timer);
        if (waiter !== undefined) this.waiters.delete(waiter);
      },
    };
  }

  private async reloadAllowlist(): Promise<AllowlistUpdate> {
    if (!this.options.settings.dhcp.allowlist) return { kind: "disabled" };
    const timeout = AbortSignal.timeout(this.timing.allowlistTimeoutMs);
    const signal =
      this.state.kind === "stopped" ? timeout : AbortSignal.any([this.lifecycle.signal, timeout]);
    const raw = await this.options.allowlist(signal);
    const macs = new Set<string>();
    for (const entry of raw) {
      const mac = normalizeMac(entry);
      if (mac === undefined)
        this.log.warn({ entry }, "ignoring an allowlist entry that is not a MAC address");
      else macs.add(mac);
    }
    const previous = this.allowed;
    if (
      previous !== undefined &&
      previous.size === macs.size &&
      [...macs].every((mac) => previous.has(mac))
    ) {
      return { kind: "unchanged", macs: macs.size };
    }
    const added = [...macs].filter((mac) => !previous?.has(mac)).length;
    const removed = [...(previous ?? [])].filter((mac) => !macs.has(mac)).length;
    const launched = this.state.kind === "running" ? this.current : undefined;
    const confirmed =
      launched === undefined
        ? undefined
        : this.waitForLine(
            (line) => line.endsWith(`read ${this.files.allowlistFile}`),
            this.timing.reloadConfirmMs,
          );
    await mkdir(this.files.hostsDir, { recursive: true, mode: 0o755 });
    // Written beside the watched directory and renamed in, so dnsmasq never reads half a file.
    await writeAtomically(this.files.allowlistFile, allowlistText([...macs].sort()), 0o644, this.files.dir);
    this.allowed = macs;
    if (launched !== undefined && removed > 0) launched.child.kill("SIGHUP");
    const applied =
      confirmed === undefined
        ? false
        : await confirmed.seen.then(
            () => true,
            () => false,
          );
    if (launched !== undefined && !applied) {
      this.log.warn({ file: this.files.allowlistFile }, "dnsmasq did not confirm reading the new allowlist");
    }
    this.log.info({ macs: macs.size, added, removed, applied }, "DHCP allowlist updated");
    return { kind: "updated", macs: macs.size, added, removed, applied };
  }

  /** TFTP root with links to the iPXE binaries, and directories dnsmasq can read after dropping root. */
  private async prepareFiles(): Promise<void> {
    for (const dir of [this.files.dir, this.files.tftpRoot, this.files.hostsDir]) {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      await chmod(dir, 0o755);
    }
    if (userInfo().uid === 0) await assertTraversable(this.files.tftpRoot);
    const { bios, uefi } = bootBinaries(this.options.settings.dhcp.uefiBinary);
    const wanted = new Set([bios, uefi, ...UEFI_BINARIES]);
    for (const name of wanted) {
      const source = path.join(this.ipxeDir, name);
      const required = name === bios || name === uefi;
      try {
        await access(source);
      } catch {
        if (required)
          throw new DnsmasqError(`iPXE binary ${source} is missing: install Debian's ipxe package`);
        continue;
      }
      const target = path.join(this.files.tftpRoot, name);
      const existing = await readlink(target).catch(() => undefined);
      if (existing === source) continue;
      const temporary = `${target}.${process.pid}.tmp`;
      await rm(temporary, { force: true });
      await symlink(source, temporary);
      await rename(temporary, target);
    }
  }

  /** A dnsmasq left behind by a supervisor that was killed (we hold the lock, so it is ours to stop). */
  private async stopOrphan(): Promise<void> {
    const pid = Number(readFileIfExists(this.files.pidFile)?.trim());
    if (!Number.isInteger(pid) || pid <= 0) return;
    const commandLine = readFileIfExists(`/proc/${pid}/cmdline`)?.split("\0") ?? [];
    if (!commandLine.includes(this.files.configFile)) return;
    this.log.warn({ pid }, "stopping a dnsmasq left behind by a previous Ingot server");
    process.kill(pid, "SIGTERM");
    const deadline = Date.now() + this.timing.stopTimeoutMs;
    while (processIsAlive(pid) && Date.now() < deadline) await delay(50);
    if (processIsAlive(pid)) process.kill(pid, "SIGKILL");
  }
}

function describeExit(exit: DnsmasqExit): string {
  if (exit.signal !== null) return `signal ${exit.signal}`;
  if (exit.code !== null) return `exit code ${exit.code}`;
  return "could not run";
}

function delay(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms));
}

async function writeAtomically(
  file: string,
  text: string,
  mode: number,
  tempDir = path.dirname(file),
): Promise<void> {
  const temporary = path.join(tempDir, `.${path.basename(file)}.${process.pid}.tmp`);
  await writeFile(temporary, text, { mode });
  await chmod(temporary, mode);
  await rename(temporary, file);
}

function readFileIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** After binding its ports dnsmasq runs as an unprivileged user, who must reach the TFTP root and allowlist. */
async function assertTraversable(dir: string): Promise<void> {
  for (let current = dir; ; current = path.dirname(current)) {
    const { mode } = await stat(current);
    if ((mode & 0o001) === 0) {
      throw new DnsmasqError(
        `dnsmasq serves files as user ${DNSMASQ_USER} and cannot enter ${current}; ` +
          "make it traversable (chmod o+x) or choose another --data-dir",
      );
    }
    if (path.dirname(current) === current) return;
  }
}

/** One supervisor per data directory: a second server would fight the first for the pid file and ports. */
function acquireLock(lockFile: string): () => void {
  try {
    return acquireProcessLock(lockFile);
  } catch (error) {
    if (error instanceof LockHeldError) {
      throw new DnsmasqError(
        `${path.dirname(lockFile)} is in use by another Ingot server (pid ${error.holderPid})`,
      );
    }
    throw new DnsmasqError(`cannot lock ${lockFile}: ${errorMessage(error)}`);
  }
}
