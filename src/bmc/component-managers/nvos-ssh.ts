/**
 * SSH to a switch's NVOS shell (ssh2): password login, the host key checked against a pinned SHA-256
 * fingerprint, one command per exec channel with its output and exit status, every step bounded by the
 * endpoint's deadline and the caller's signal. Failures are BmcError with the driver kinds: unreachable
 * (refused, reset: a rebooting switch), timeout, auth, tls (host key mismatch), rejected (non-zero exit).
 */
import { createHash } from "node:crypto";
import { connect, type Socket } from "node:net";
import ssh2 from "ssh2";
import { ValidationError } from "../../errors.ts";
import { BmcError } from "../driver.ts";
import type { SshEndpoint } from "./model.ts";

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  /** Exit status; null when the channel closed without one (detached, or the switch went away). */
  readonly code: number | null;
}

export interface RunOptions {
  /** Stop reading (and close the channel) as soon as the output satisfies this: for actions that go on. */
  readonly until?: (stdout: string) => boolean;
}

const DEFAULT_TIMEOUT_MS = 15_000;
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
]);
/** What may go into a command line unquoted: URLs and file names, no shell syntax, no spaces. */
const SAFE_ARGUMENT = /^[A-Za-z0-9._~:/?#@%+=,-]+$/;

/** Refuses an argument that could change the meaning of a command line on the switch. */
export function safeArgument(value: string, field: string): string {
  if (!SAFE_ARGUMENT.test(value)) {
    throw new ValidationError(
      "component_manager.unsafe_argument",
      `${field} may contain only letters, digits and . _ ~ : / ? # @ % + = , -`,
      field,
    );
  }
  return value;
}

export function sshFingerprint(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

export class NvosSession {
  private constructor(
    private readonly client: ssh2.Client,
    private readonly socket: Socket,
    private readonly endpoint: SshEndpoint,
    private readonly timeoutMs: number,
  ) {}

  static async open(endpoint: SshEndpoint, signal: AbortSignal): Promise<NvosSession> {
    const timeoutMs = endpoint.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const where = describe(endpoint);
    if (signal.aborted) throw new BmcError("timeout", `${where}: cancelled by the caller`);
    const client = new ssh2.Client();
    // Our own socket, so that giving up (deadline, abort) really closes the connection at once.
    const socket = connect({ host: endpoint.address, port: endpoint.port ?? 22 });
    let hostKeyRejected: string | undefined;
    return await new Promise<NvosSession>((resolve, reject) => {
      let settled = false;
      const settle = (error?: BmcError): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        if (error !== undefined) {
          socket.destroy();
          reject(error);
        } else {
          resolve(new NvosSession(client, socket, endpoint, timeoutMs));
        }
      };
      const onAbort = (): void => settle(new BmcError("timeout", `${where}: cancelled by the caller`));
      signal.addEventListener("abort", onAbort, { once: true });
      client.once("ready", () => settle());
      client.on("error", (error: Error & { level?: string; code?: string }) => {
        if (hostKeyRejected !== undefined) {
          settle(
            new BmcError("tls", `${where}: SSH host key mismatch (the switch offered ${hostKeyRejected})`),
          );
        } else if (error.level === "client-authentication") {
          settle(new BmcError("auth", `${where}: the switch refused the credentials`));
        } else if (error.level === "client-timeout") {
          settle(new BmcError("timeout", `${where}: no SSH handshake within ${timeoutMs} ms`));
        } else if (error.code !== undefined && UNREACHABLE_CODES.has(error.code)) {
          settle(new BmcError("unreachable", `${where}: cannot connect (${error.code})`));
        } else {
          settle(new BmcError("protocol", `${where}: SSH failed (${error.code ?? error.message})`));
        }
      });
      client.once("close", () =>
        settle(new BmcError("unreachable", `${where}: the connection closed during login`)),
      );
      client.connect({
        sock: socket,
        username: endpoint.username,
        password: endpoint.password,
        readyTimeout: timeoutMs,
        // Keyboard-interactive and agents are not used: a controller logs in with the stored password only.
        tryKeyboard: false,
        hostVerifier: (key: Buffer): boolean => {
          const policy = endpoint.hostKey;
          if (policy.mode === "insecure-accept-any") return true;
          const offered = sshFingerprint(key);
          if (offered === normalizeFingerprint(policy.sha256Fingerprint)) return true;
          hostKeyRejected = offered;
          return false;
        },
      });
    });
  }

  /** Runs one command; a non-zero exit is returned, not thrown (the caller knows what it means). */
  async run(command: string, signal: AbortSignal, options: RunOptions = {}): Promise<CommandResult> {
    const where = describe(this.endpoint);
    return await new Promise<CommandResult>((resolve, reject) => {
      let stdout = "";
      let stderr = "";
      let code: number | null = null;
      let done = false;
      let channel: ssh2.ClientChannel | undefined;
      const finish = (error?: BmcError): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        if (error !== undefined) {
          channel?.destroy();
          reject(error);
        } else {
          resolve({ stdout, stderr, code });
        }
      };
      const timer = setTimeout(
        () =>
          finish(
            new BmcError("timeout", `${where}: "${command}" did not finish within ${this.timeoutMs} ms`),
          ),
        this.timeoutMs,
      );
      const onAbort = (): void =>
        finish(new BmcError("timeout", `${where}: "${command}" cancelled by the caller`));
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener("abort", onAbort, { once: true });
      this.client.exec(command, (error, opened) => {
        if (error !== undefined) {
          finish(new BmcError("unreachable", `${where}: cannot run a command (${error.message})`));
          return;
        }
        channel = opened;
        opened.on("data", (chunk: Buffer) => {
          stdout += chunk.toString("utf8");
          if (options.until?.(stdout) === true) {
            finish();
            opened.close();
          }
        });
        opened.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString("utf8");
        });
        opened.on("exit", (status: number | null) => {
          code = status;
        });
        opened.on("close", () => finish());
      });
    });
  }

  /** Runs a command that must succeed and answers JSON (`nv show … -o json`). */
  async json(command: string, signal: AbortSignal): Promise<Record<string, unknown>> {
    const result = await this.run(command, signal);
    if (result.code !== 0) throw refused(this.endpoint, command, result);
    try {
      const value: unknown = JSON.parse(result.stdout);
      if (typeof value === "object" && value !== null && !Array.isArray(value))
        return value as Record<string, unknown>;
    } catch {
      // Reported below.
    }
    throw new BmcError("protocol", `${describe(this.endpoint)}: "${command}" did not answer a JSON object`);
  }

  close(): void {
    this.client.end();
    // A switch that stopped answering would keep a half-closed connection; do not wait for it.
    this.socket.setTimeout(this.timeoutMs, () => this.socket.destroy());
  }
}

/** Opens a session, runs `work`, and always closes it. */
export async function withNvos<T>(
  endpoint: SshEndpoint,
  signal: AbortSignal,
  work: (session: NvosSession) => Promise<T>,
): Promise<T> {
  const session = await NvosSession.open(endpoint, signal);
  try {
    return await work(session);
  } finally {
    session.close();
  }
}

export function refused(endpoint: SshEndpoint, command: string, result: CommandResult): BmcError {
  const detail = (result.stderr.trim() || result.stdout.trim())
    .split("\n")
    .slice(-2)
    .join(" | ")
    .slice(0, 300);
  return new BmcError(
    "rejected",
    `${describe(endpoint)}: "${command}" failed${result.code !== null ? ` with status ${result.code}` : ""}${detail !== "" ? `: ${detail}` : ""}`,
  );
}

function describe(endpoint: SshEndpoint): string {
  return `NVOS ${endpoint.address}:${endpoint.port ?? 22}`;
}

/** Accepts `SHA256:abc…` as OpenSSH prints it, or the bare base64, with or without padding. */
function normalizeFingerprint(value: string): string {
  const bare = value
    .trim()
    .replace(/^SHA256:/i, "")
    .replace(/=+$/, "");
  return `SHA256:${bare}`;
}
