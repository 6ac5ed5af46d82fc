/**
 * HTTP to one BMC: authentication (Redfish session, Basic when sessions are unavailable), a deadline on
 * every request, bounded retries with backoff for the answers BMCs give when busy (409, 429, 503) and for
 * dropped connections, and the mapping of every failure to a BmcError. Credentials and session tokens
 * only ever travel in request headers and bodies; no message or log line carries them.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import type { Agent } from "undici";
import { type BmcEndpoint, BmcError } from "../driver.ts";
import { isDocument, linkOf, normalizePath, odataId, type RedfishDocument, stringOf } from "./json.ts";
import { joinShared } from "./shared.ts";
import { createBmcAgent, isTlsErrorCode } from "./tls.ts";

export const SERVICE_ROOT = "/redfish/v1";

export type HttpMethod = "GET" | "POST" | "PATCH" | "DELETE";

export interface RetryPolicy {
  /** Total tries of one request, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** A Retry-After longer than this is shortened to it. */
  readonly maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  attempts: 4,
  baseDelayMs: 500,
  maxDelayMs: 8_000,
  maxRetryAfterMs: 30_000,
};

export interface TransportOptions {
  readonly retry: RetryPolicy;
  /** Requests in flight to this BMC at once; the rest wait before their deadline starts. */
  readonly maxConcurrentRequests: number;
  readonly logger?: Logger;
  readonly random?: () => number;
}

export interface RedfishRequest {
  readonly method: HttpMethod;
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Safe to deliver twice. A connection dropped mid-request may or may not have reached the BMC, so
   * only idempotent requests are re-sent after one; GET, PATCH and DELETE are idempotent by default.
   */
  readonly idempotent?: boolean;
  /** Defaults to true; the service root and the login itself are sent without credentials. */
  readonly authenticate?: boolean;
}

export interface RedfishResponse {
  readonly status: number;
  /** Parsed JSON body; undefined when empty or not JSON. */
  readonly body: unknown;
  header(name: string): string | undefined;
}

type AuthState =
  | { readonly kind: "none" }
  | { readonly kind: "basic" }
  | { readonly kind: "session"; readonly token: string; readonly location: string | undefined };

type Failure =
  | { readonly kind: "cancelled" }
  | { readonly kind: "timeout" }
  | { readonly kind: "tls"; readonly code: string }
  /** The request never left: refused, no route, name not resolved, connect timeout. */
  | { readonly kind: "not-connected"; readonly code: string }
  /** The connection broke after the request may have been sent. */
  | { readonly kind: "dropped"; readonly code: string }
  | { readonly kind: "other"; readonly code: string };

const NOT_CONNECTED_CODES = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
]);
const DROPPED_CODES = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_CLOSED", "ECONNABORTED"]);
const RETRYABLE_STATUSES = new Set([409, 429, 503]);

export class RedfishTransport {
  readonly origin: string;
  private readonly agent: Agent;
  private readonly timeoutMs: number;
  private readonly random: () => number;
  private readonly permits: Semaphore;
  private auth: AuthState = { kind: "none" };
  private login: Promise<AuthState> | undefined;
  private serviceRoot: Promise<RedfishDocument> | undefined;
  private closed = false;

  constructor(
    private readonly endpoint: BmcEndpoint,
    private readonly options: TransportOptions,
  ) {
    this.origin = originOf(endpoint);
    this.timeoutMs = endpoint.timeoutMs ?? 15_000;
    this.random = options.random ?? Math.random;
    this.permits = new Semaphore(options.maxConcurrentRequests);
    this.agent = createBmcAgent(endpoint.tls, {
      connectTimeoutMs: this.timeoutMs,
      connections: options.maxConcurrentRequests,
    });
  }

  /** The service root, fetched once (without credentials, as the spec allows; with them if refused). */
  async getServiceRoot(signal: AbortSignal): Promise<RedfishDocument> {
    if (this.serviceRoot === undefined) {
      const pending = this.fetchServiceRoot(this.sharedSignal());
      this.serviceRoot = pending;
      pending.catch(() => {
        if (this.serviceRoot === pending) this.serviceRoot = undefined;
      });
    }
    return await joinShared(this.serviceRoot, signal, `${this.endpoint.address}: the service root`);
  }

  /** Sends one request, authenticated unless told otherwise; 401 on an expired session logs in again once. */
  async send(request: RedfishRequest, signal: AbortSignal): Promise<RedfishResponse> {
    if (request.authenticate === false) return await this.sendWithRetries(request, {}, signal);
    let loggedInAgain = false;
    for (;;) {
      const auth = await this.authenticate(signal);
      const response = await this.sendWithRetries(request, this.authHeaders(auth), signal);
      if (response.status === 401) {
        if (auth.kind === "session" && !loggedInAgain) {
          loggedInAgain = true;
          this.dropSession(auth);
          this.options.logger?.debug(
            { bmc: this.endpoint.address, path: request.path },
            "Redfish session expired, logging in again",
          );
          continue;
        }
        throw new BmcError("auth", `${this.describe(request)}: the BMC refused the credentials`, 401);
      }
      if (response.status === 403) {
        throw new BmcError("auth", `${this.describe(request)}: the BMC account lacks the privilege`, 403);
      }
      return response;
    }
  }

  /** How this transport authenticates now: for tests and diagnostics, never the secret itself. */
  get authMode(): "none" | "basic" | "session" {
    return this.auth.kind;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const auth = this.auth;
    if (auth.kind === "session" && auth.location !== undefined) {
      try {
        // Best effort: an unclosed session only costs the BMC a slot until its idle timeout.
        await this.sendOnce(
          { method: "DELETE", path: auth.location },
          this.authHeaders(auth),
          AbortSignal.timeout(Math.min(this.timeoutMs, 5_000)),
        );
      } catch (error) {
        this.options.logger?.debug(
          { bmc: this.endpoint.address, err: describeError(error) },
          "could not delete Redfish session",
        );
      }
    }
    this.closed = true;
    this.auth = { kind: "none" };
    await this.agent.close();
  }

  private async fetchServiceRoot(signal: AbortSignal): Promise<RedfishDocument> {
    const request: RedfishRequest = { method: "GET", path: SERVICE_ROOT, authenticate: false };
    let response = await this.send(request, signal);
    // Logging in needs the root's links, so a root behind authentication is read with Basic.
    if (response.status === 401) {
      response = await this.sendWithRetries(request, this.authHeaders({ kind: "basic" }), signal);
    }
    if (response.status !== 200 || !isDocument(response.body)) {
      throw this.unexpected(request, response, "the service root is not a Redfish document");
    }
    return response.body;
  }

  private async authenticate(signal: AbortSignal): Promise<AuthState> {
    if (this.auth.kind !== "none") return this.auth;
    if (this.login === undefined) {
      const pending = this.logIn(this.sharedSignal()).then((state) => {
        this.auth = state;
        return state;
      });
      this.login = pending;
      pending
        .finally(() => {
          if (this.login === pending) this.login = undefined;
        })
        .catch(() => undefined);
    }
    return await joinShared(this.login, signal, `${this.endpoint.address}: the login`);
  }

  /** Deadline of work several callers share (see joinShared): a few requests' worth. */
  sharedSignal(): AbortSignal {
    return AbortSignal.timeout(this.timeoutMs * 4);
  }

  private async logIn(signal: AbortSignal): Promise<AuthState> {
    const root = await this.getServiceRoot(signal);
    let sessions = linkOf(isDocument(root.Links) ? root.Links : undefined, "Sessions");
    if (sessions === undefined) {
      const service = linkOf(root, "SessionService");
      if (service !== undefined) {
        const response = await this.sendWithRetries(
          { method: "GET", path: service },
          this.authHeaders({ kind: "basic" }),
          signal,
        );
        if (response.status === 200 && isDocument(response.body))
          sessions = linkOf(response.body, "Sessions");
      }
    }
    if (sessions === undefined) return { kind: "basic" };
    const request: RedfishRequest = {
      method: "POST",
      path: sessions,
      body: { UserName: this.endpoint.username, Password: this.endpoint.password },
      // A second session from a retried login is harmless; it expires on the BMC's idle timeout.
      idempotent: true,
    };
    const response = await this.sendWithRetries(request, {}, signal);
    if (response.status === 401 || response.status === 403) {
      throw new BmcError(
        "auth",
        `${this.describe(request)}: the BMC refused the credentials`,
        response.status,
      );
    }
    const token = response.header("x-auth-token");
    if (response.status >= 200 && response.status < 300 && token !== undefined && token !== "") {
      const location = response.header("location");
      const fromBody = isDocument(response.body) ? odataId(response.body) : undefined;
      return {
        kind: "session",
        token,
        location: location !== undefined ? normalizePath(location) : fromBody,
      };
    }
    this.options.logger?.debug(
      { bmc: this.endpoint.address, status: response.status },
      "Redfish sessions unavailable, using Basic authentication",
    );
    return { kind: "basic" };
  }

  private dropSession(used: AuthState): void {
    if (this.auth === used) this.auth = { kind: "none" };
  }

  private authHeaders(auth: AuthState): Record<string, string> {
    switch (auth.kind) {
      case "none":
        return {};
      case "basic":
        return {
          authorization: `Basic ${Buffer.from(`${this.endpoint.username}:${this.endpoint.password}`).toString("base64")}`,
        };
      case "session":
        return { "x-auth-token": auth.token };
    }
  }

  private async sendWithRetries(
    request: RedfishRequest,
    authHeaders: Record<string, string>,
    signal: AbortSignal,
  ): Promise<RedfishResponse> {
    const policy = this.options.retry;
    const idempotent = request.idempotent ?? request.method !== "POST";
    for (let attempt = 1; ; attempt++) {
      let response: RedfishResponse;
      try {
        response = await this.sendOnce(request, authHeaders, signal);
      } catch (error) {
        if (error instanceof BmcError) throw error;
        const failure = classify(error, signal);
        const retryable =
          failure.kind === "not-connected" || (failure.kind === "dropped" && idempotent && !signal.aborted);
        if (retryable && attempt < policy.attempts) {
          const delay = this.backoff(attempt);
          this.options.logger?.debug(
            { bmc: this.endpoint.address, path: request.path, code: failure.kind, attempt, delay },
            "retrying Redfish request after a connection failure",
          );
          await this.pause(delay, request, signal);
          continue;
        }
        throw this.failureToError(request, failure);
      }
      if (RETRYABLE_STATUSES.has(response.status) && attempt < policy.attempts) {
        const retryAfter = parseRetryAfter(response.header("retry-after"));
        const delay = Math.min(retryAfter ?? this.backoff(attempt), policy.maxRetryAfterMs);
        this.options.logger?.debug(
          { bmc: this.endpoint.address, path: request.path, status: response.status, attempt, delay },
          "retrying Redfish request the BMC could not take now",
        );
        await this.pause(delay, request, signal);
        continue;
      }
      if (response.status === 503) {
        throw new BmcError("unreachable", `${this.describe(request)}: the BMC stayed unavailable (503)`, 503);
      }
      return response;
    }
  }

  private async sendOnce(
    request: RedfishRequest,
    authHeaders: Record<string, string>,
    signal: AbortSignal,
  ): Promise<RedfishResponse> {
    if (this.closed) throw new BmcError("unreachable", `${this.describe(request)}: the driver is closed`);
    await this.permits.acquire(signal);
    try {
      const deadline = AbortSignal.timeout(this.timeoutMs);
      const combined = AbortSignal.any([signal, deadline]);
      const headers: Record<string, string> = {
        accept: "application/json",
        "odata-version": "4.0",
        ...request.headers,
        ...authHeaders,
      };
      let body: string | undefined;
      if (request.body !== undefined) {
        body = JSON.stringify(request.body);
        headers["content-type"] = "application/json";
      }
      const result = await this.agent.request({
        origin: this.origin,
        path: request.path,
        method: request.method,
        headers,
        body,
        signal: combined,
      });
      const text = await readCapped(result.body, MAX_RESPONSE_BYTES, request.path);
      let parsed: unknown;
      if (text.trim() !== "") {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
      }
      const responseHeaders = result.headers;
      return {
        status: result.statusCode,
        body: parsed,
        header(name: string): string | undefined {
          const value = responseHeaders[name.toLowerCase()];
          return Array.isArray(value) ? value[0] : value;
        },
      };
    } finally {
      this.permits.release();
    }
  }

  private backoff(attempt: number): number {
    const { baseDelayMs, maxDelayMs } = this.options.retry;
    const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
    // Half fixed, half jitter: BMCs restarting under a whole rack must not see all retries at once.
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  private async pause(ms: number, request: RedfishRequest, signal: AbortSignal): Promise<void> {
    try {
      await sleep(ms, undefined, { signal });
    } catch {
      throw this.failureToError(request, { kind: "cancelled" });
    }
  }

  private failureToError(request: RedfishRequest, failure: Failure): BmcError {
    const what = this.describe(request);
    switch (failure.kind) {
      case "cancelled":
        return new BmcError("timeout", `${what}: cancelled by the caller`);
      case "timeout":
        return new BmcError("timeout", `${what}: no answer within ${this.timeoutMs} ms`);
      case "tls":
        return new BmcError("tls", `${what}: TLS verification failed (${failure.code})`);
      case "not-connected":
        return new BmcError("unreachable", `${what}: cannot connect (${failure.code})`);
      case "dropped":
        return new BmcError("unreachable", `${what}: the connection was dropped (${failure.code})`);
      case "other":
        return new BmcError("protocol", `${what}: request failed (${failure.code})`);
    }
  }

  unexpected(request: RedfishRequest, response: RedfishResponse, why: string): BmcError {
    return new BmcError(
      "protocol",
      `${this.describe(request)}: ${why} (HTTP ${response.status})`,
      response.status,
    );
  }

  describe(request: Pick<RedfishRequest, "method" | "path">): string {
    return `BMC ${this.endpoint.address}: ${request.method} ${request.path}`;
  }
}

function originOf(endpoint: BmcEndpoint): string {
  const address = endpoint.address.trim();
  if (/^https?:\/\//i.test(address)) {
    const url = new URL(address);
    if (endpoint.port !== undefined) url.port = String(endpoint.port);
    return url.origin;
  }
  const host = address.includes(":") && !address.startsWith("[") ? `[${address}]` : address;
  return `https://${host}${endpoint.port !== undefined ? `:${endpoint.port}` : ""}`;
}

function errorCodes(error: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") codes.push(code);
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

function classify(error: unknown, signal: AbortSignal): Failure {
  if (signal.aborted) return { kind: "cancelled" };
  const codes = errorCodes(error);
  const name = error instanceof Error ? error.name : "";
  const tls = codes.find(isTlsErrorCode);
  if (tls !== undefined) return { kind: "tls", code: tls };
  if (name === "TimeoutError" || name === "AbortError" || codes.includes("UND_ERR_ABORTED")) {
    return { kind: "timeout" };
  }
  if (codes.includes("UND_ERR_HEADERS_TIMEOUT") || codes.includes("UND_ERR_BODY_TIMEOUT")) {
    return { kind: "timeout" };
  }
  const notConnected = codes.find((code) => NOT_CONNECTED_CODES.has(code));
  if (notConnected !== undefined) return { kind: "not-connected", code: notConnected };
  const dropped = codes.find((code) => DROPPED_CODES.has(code));
  if (dropped !== undefined) return { kind: "dropped", code: dropped };
  return { kind: "other", code: codes[0] ?? (name || "unknown") };
}

function describeError(error: unknown): string {
  if (error instanceof BmcError) return `${error.kind}: ${error.message}`;
  return errorCodes(error)[0] ?? (error instanceof Error ? error.name : "unknown");
}

/** Retry-After as delta-seconds or an HTTP date, in milliseconds. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The message a BMC put in its Redfish error body, for "rejected" errors. Never echoes the request. */
export function redfishErrorMessage(body: unknown): string | undefined {
  if (!isDocument(body)) return undefined;
  const error = isDocument(body.error) ? body.error : undefined;
  const extended = error?.["@Message.ExtendedInfo"] ?? body["@Message.ExtendedInfo"];
  const parts: string[] = [];
  if (Array.isArray(extended)) {
    for (const info of extended) {
      if (!isDocument(info)) continue;
      const id = stringOf(info, "MessageId");
      const message = stringOf(info, "Message");
      const text = [id, message].filter((part) => part !== undefined).join(": ");
      if (text !== "") parts.push(text);
    }
  }
  if (parts.length === 0) {
    const message = stringOf(error, "message");
    if (message !== undefined) parts.push(message);
  }
  return parts.length > 0 ? parts.join("; ").slice(0, 500) : undefined;
}

class Semaphore {
  private available: number;
  private readonly waiting: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];

  constructor(permits: number) {
    this.available = Math.max(1, permits);
  }

  async acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw signal.reason;
    if (this.available > 0) {
      this.available--;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve: () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        },
        reject,
      };
      const onAbort = (): void => {
        const index = this.waiting.indexOf(waiter);
        if (index >= 0) this.waiting.splice(index, 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  release(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next.resolve();
    else this.available++;
  }
}

/** Larger than any Redfish document a BMC serves; a stream past it is a broken or hostile endpoint. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

async function readCapped(
  body: AsyncIterable<Uint8Array> & { destroy(error?: Error): unknown },
  limit: number,
  path: string,
): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > limit) {
      body.destroy();
      throw new BmcError("protocol", `the answer to ${path} is larger than ${limit / 1024 / 1024} MiB`);
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString("utf8");
}
