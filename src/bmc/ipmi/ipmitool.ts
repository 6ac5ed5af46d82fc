/**
 * Runs `ipmitool -I lanplus` against one BMC, the way MAAS and Ironic drive IPMI: a subprocess per
 * command, killed when its deadline passes or the caller aborts, retried with backoff while the BMC does
 * not answer, and with the password handed over in the environment (`-E`), never on the command line.
 *
 * ipmitool prints the same "Unable to establish IPMI v2 / RMCP+ session" for a wrong password and for
 * a BMC that never answered. Only its verbose output tells them apart ("RAKP 2 HMAC is invalid" vs
 * "Get Auth Capabilities error"), and verbose mode changes what data commands print, so after a failed
 * session the runner asks once more with `-v` and a harmless command, and classifies from that. Retrying
 * blindly would lock the account on BMCs that count bad passwords.
 */
import { spawn } from "node:child_process";
import type { Logger } from "../../observability/logger.ts";
import { type BmcEndpoint, BmcError } from "../driver.ts";

export type IpmiPrivilege = "ADMINISTRATOR" | "OPERATOR" | "USER";

export interface IpmitoolSettings {
  readonly ipmitoolPath: string;
  /** RMCP+ cipher suite (`-C`); 3 (HMAC-SHA1, AES-128) is offered by every IPMI 2.0 BMC. */
  readonly cipherSuite: number;
  readonly privilege: IpmiPrivilege;
  /** Tries per command, the first included, while the BMC does not answer or is busy. */
  readonly attempts: number;
  /** First pause between tries; doubles each time, with jitter. */
  readonly backoffMs: number;
  /** ipmitool's own wait for each reply (`-N`, seconds) and its resends (`-R`) within one try. */
  readonly replyTimeoutSeconds: number;
  readonly replyRetries: number;
}

export const DEFAULT_IPMITOOL_SETTINGS: IpmitoolSettings = {
  ipmitoolPath: "ipmitool",
  cipherSuite: 3,
  privilege: "ADMINISTRATOR",
  attempts: 3,
  backoffMs: 250,
  replyTimeoutSeconds: 2,
  replyRetries: 1,
};

export interface IpmitoolRequest {
  /** The ipmitool command, e.g. ["chassis", "power", "status"]. */
  readonly command: readonly string[];
  /**
   * Whether running it twice is harmless. A command that is not (power cycle, reset) is only retried
   * when the session never came up, i.e. when the BMC cannot have seen it.
   */
  readonly idempotent: boolean;
  /** Epoch ms after which the command is killed and the call fails with "timeout". */
  readonly deadline: number;
  readonly signal: AbortSignal;
}

export interface IpmitoolOutput {
  readonly stdout: string;
  readonly stderr: string;
}

interface Execution extends IpmitoolOutput {
  readonly code: number | null;
  readonly timedOut: boolean;
}

/** What a failed run means, decided from ipmitool's words. */
export type IpmitoolFailure =
  /** No session: the command was never sent. */
  | { readonly kind: "no-session"; readonly message: string }
  /** The BMC was busy or stopped answering after the command may have been sent. */
  | { readonly kind: "transient"; readonly message: string }
  | { readonly kind: "final"; readonly error: BmcError };

const MAX_OUTPUT = 4 * 1024 * 1024;

const AUTH =
  /RAKP \d HMAC is invalid|unauthorized name|invalid user ?name|Insufficient privilege level|requested privilege level|invalid role|Unable to read password/i;
const CIPHER = /invalid (authentication|integrity|confidentiality) algorithm|no matching cipher suite/i;
const NO_SESSION =
  /Unable to establish (IPMI v2 \/ RMCP\+|IPMI v1\.5 \/ RMCP|LAN) session|Insufficient resources for session/i;
const NO_ANSWER =
  /Get Auth Capabilities error|Error issuing Get Channel Authentication Capabilities|No response from remote controller/i;
const BUSY =
  /No response from remote controller|Node busy|BMC initialization in progress|Timeout|Out of space|Command response could not be provided/i;
const UNSUPPORTED =
  /Invalid command|Parameter not supported|not supported by this BMC|Invalid Completion Code.*\bc1\b/i;

function firstLine(text: string): string {
  return (
    text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => l !== "" && !/^(Loading IANA|Running Get VSO|Discovered IPMB)/.test(l)) ?? ""
  );
}

/** Classifies the stderr of a run that failed (or printed a failure with exit code 0). */
export function classifyFailure(stderr: string): IpmitoolFailure {
  const message = firstLine(stderr) || "ipmitool failed without a message";
  if (CIPHER.test(stderr)) {
    return { kind: "final", error: new BmcError("rejected", `the BMC refused the cipher suite: ${message}`) };
  }
  if (NO_SESSION.test(stderr)) return { kind: "no-session", message };
  if (AUTH.test(stderr))
    return { kind: "final", error: new BmcError("auth", `credentials refused: ${message}`) };
  if (BUSY.test(stderr)) return { kind: "transient", message };
  if (UNSUPPORTED.test(stderr)) return { kind: "final", error: new BmcError("unsupported", message) };
  return { kind: "final", error: new BmcError("rejected", message) };
}

/** Reads the verbose probe run after a failed session: bad credentials, or nobody answering. */
export function classifySessionProbe(stderr: string): IpmitoolFailure {
  if (CIPHER.test(stderr)) {
    return {
      kind: "final",
      error: new BmcError("rejected", `the BMC refused the cipher suite: ${firstLine(stderr)}`),
    };
  }
  if (AUTH.test(stderr)) {
    const reason =
      /RAKP[^\n]*|Insufficient privilege[^\n]*|invalid role[^\n]*/i.exec(stderr)?.[0] ?? firstLine(stderr);
    return { kind: "final", error: new BmcError("auth", `credentials refused: ${reason.trim()}`) };
  }
  if (NO_ANSWER.test(stderr)) return { kind: "no-session", message: "no answer from the BMC" };
  return { kind: "no-session", message: firstLine(stderr) || "no IPMI session" };
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof DOMException && reason.name === "TimeoutError") {
    return new BmcError("timeout", "the caller's deadline passed");
  }
  return reason instanceof Error ? reason : new DOMException("aborted", "AbortError");
}

/** A pause that ends early, with the abort's error, when the caller aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

export class Ipmitool {
  readonly #endpoint: BmcEndpoint;
  readonly #settings: IpmitoolSettings;
  readonly #logger: Logger | undefined;

  constructor(endpoint: BmcEndpoint, settings: IpmitoolSettings, logger?: Logger) {
    this.#endpoint = endpoint;
    this.#settings = settings;
    this.#logger = logger;
  }

  get target(): string {
    return `${this.#endpoint.address}:${this.#endpoint.port ?? 623}`;
  }

  async run(request: IpmitoolRequest): Promise<IpmitoolOutput> {
    const { attempts, backoffMs } = this.#settings;
    let probed = false;
    let last = "";
    for (let attempt = 1; ; attempt++) {
      const remaining = request.deadline - Date.now();
      if (remaining <= 0) {
        throw new BmcError(
          "timeout",
          `no answer from ${this.target} within the deadline${last ? `: ${last}` : ""}`,
        );
      }
      const result = await this.#execute(this.#args(request.command, false), remaining, request.signal);
      if (result.timedOut) {
        throw new BmcError(
          "timeout",
          `ipmitool ${request.command.join(" ")} did not finish within the deadline`,
        );
      }
      if (result.code === 0) return result;

      let failure = classifyFailure(result.stderr);
      if (failure.kind === "no-session" && !probed) {
        probed = true;
        failure = await this.#probeSession(request);
      }
      if (failure.kind === "final") throw failure.error;
      last = failure.message;
      const mayRepeat = failure.kind === "no-session" || request.idempotent;
      const pause = backoffMs * 2 ** (attempt - 1) * (0.75 + Math.random() / 2);
      if (!mayRepeat || attempt >= attempts || Date.now() + pause >= request.deadline) {
        throw failure.kind === "no-session"
          ? new BmcError("unreachable", `no IPMI session with ${this.target}: ${failure.message}`)
          : new BmcError("rejected", `${this.target}: ${failure.message}`);
      }
      this.#logger?.warn(
        { bmc: this.target, command: request.command.join(" "), attempt, reason: failure.message },
        "ipmitool failed, retrying",
      );
      await sleep(pause, request.signal);
    }
  }

  async #probeSession(request: IpmitoolRequest): Promise<IpmitoolFailure> {
    const remaining = request.deadline - Date.now();
    if (remaining <= 0) return { kind: "no-session", message: "no IPMI session" };
    // Get Device ID: every BMC implements it and it changes nothing.
    const probe = await this.#execute(this.#args(["raw", "0x06", "0x01"], true), remaining, request.signal);
    if (probe.timedOut) return { kind: "no-session", message: "no answer from the BMC" };
    if (probe.code === 0) return { kind: "no-session", message: "session failed once, then worked" };
    return classifySessionProbe(probe.stderr);
  }

  #args(command: readonly string[], verbose: boolean): string[] {
    const e = this.#endpoint;
    const s = this.#settings;
    return [
      "-I",
      "lanplus",
      "-H",
      e.address,
      "-p",
      String(e.port ?? 623),
      "-U",
      e.username,
      // An empty password has nothing to hide, and -E with an empty variable would prompt on a terminal.
      ...(e.password === "" ? ["-P", ""] : ["-E"]),
      "-C",
      String(s.cipherSuite),
      "-L",
      s.privilege,
      "-N",
      String(s.replyTimeoutSeconds),
      "-R",
      String(s.replyRetries),
      ...(verbose ? ["-v"] : []),
      ...command,
    ];
  }

  #execute(args: readonly string[], timeoutMs: number, signal: AbortSignal): Promise<Execution> {
    if (signal.aborted) return Promise.reject(abortError(signal));
    this.#logger?.debug(
      { bmc: this.target, command: args.slice(args.indexOf("-R") + 2).join(" ") },
      "ipmitool",
    );
    return new Promise<Execution>((resolve, reject) => {
      const child = spawn(this.#settings.ipmitoolPath, args, {
        stdio: ["ignore", "pipe", "pipe"],
        // Only what ipmitool needs: the server's own environment may hold other secrets.
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          TZ: "UTC",
          LC_ALL: "C",
          ...(this.#endpoint.password !== "" ? { IPMI_PASSWORD: this.#endpoint.password } : {}),
        },
      });
      let stdout = "";
      let stderr = "";
      let timedOut = false;
      let aborted = false;
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        if (stdout.length < MAX_OUTPUT) stdout += chunk;
      });
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
        if (stderr.length < MAX_OUTPUT) stderr += chunk;
      });
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, timeoutMs);
      const onAbort = (): void => {
        aborted = true;
        child.kill("SIGKILL");
      };
      signal.addEventListener("abort", onAbort, { once: true });
      const finish = (): void => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
      };
      child.once("error", (error) => {
        finish();
        reject(new BmcError("protocol", `cannot run ${this.#settings.ipmitoolPath}: ${error.message}`));
      });
      child.once("close", (code) => {
        finish();
        if (aborted) reject(abortError(signal));
        // BMCs pad FRU and SDR strings with NULs, which PostgreSQL cannot store.
        else resolve({ code, stdout: stdout.replaceAll("\u0000", " "), stderr, timedOut });
      });
    });
  }
}
