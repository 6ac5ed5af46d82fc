/**
 * Sends the enrollment to the server. Network errors, 408, 429 and 5xx are retried with exponential
 * backoff and full jitter (so that a rack booting at once does not knock in step), waiting at least as
 * long as a Retry-After header asks; any other 4xx is final and explained on the console.
 */
import {
  AGENT_ACTIONS,
  type AgentAction,
  ENROLL_PATH,
  type EnrollmentRequest,
} from "../src/protocol/enrollment.ts";
import type { AgentConsole } from "./console.ts";

export interface RetryPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly multiplier: number;
  /** Attempts in all, the first included; Infinity retries until the server answers. */
  readonly maxAttempts: number;
  /** Longest wait a Retry-After header can impose. */
  readonly maxRetryAfterMs: number;
  /** Per request, connection and response together. */
  readonly requestTimeoutMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  initialDelayMs: 1_000,
  maxDelayMs: 60_000,
  multiplier: 2,
  maxAttempts: Number.POSITIVE_INFINITY,
  maxRetryAfterMs: 10 * 60_000,
  requestTimeoutMs: 30_000,
};

/** What the agent understood of the server's answer (unknown fields from newer servers are ignored). */
export interface EnrollmentAnswer {
  readonly machineId: string;
  readonly state: string;
  readonly action: AgentAction;
  readonly message?: string;
  /** Set when the answer was not understood and the agent fell back to idling. */
  readonly problem?: string;
}

export type EnrollOutcome =
  | { readonly kind: "enrolled"; readonly answer: EnrollmentAnswer; readonly attempts: number }
  | { readonly kind: "rejected"; readonly status: number; readonly reason: string; readonly attempts: number }
  | { readonly kind: "exhausted"; readonly reason: string; readonly attempts: number }
  | { readonly kind: "aborted"; readonly attempts: number };

export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export interface EnrollOptions {
  readonly serverUrl: string;
  readonly token: string;
  readonly request: EnrollmentRequest;
  readonly agentVersion: string;
  readonly policy: RetryPolicy;
  readonly console: AgentConsole;
  readonly signal: AbortSignal;
  readonly sleep: Sleep;
  /** Uniform in [0, 1); injectable so that tests see exact delays. */
  readonly random: () => number;
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
}

/** Full jitter: a uniform wait between 0 and the exponential bound of this retry. */
export function backoffDelayMs(policy: RetryPolicy, retry: number, random: () => number): number {
  const bound = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** (retry - 1));
  return Math.round(random() * bound);
}

/** Retry-After as delta-seconds or an HTTP date, in milliseconds from now; undefined when absent or bad. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
}

/** The detail of an RFC 9457 problem, or the start of whatever text the server sent. */
function problemText(body: string): string {
  try {
    const problem = JSON.parse(body) as { title?: unknown; detail?: unknown };
    const parts = [problem.title, problem.detail].filter((part) => typeof part === "string" && part !== "");
    if (parts.length > 0) return parts.join(": ");
  } catch {
    // not JSON: fall through to the raw text
  }
  return body.trim().slice(0, 200) || "no details";
}

export function parseEnrollmentAnswer(body: string): EnrollmentAnswer {
  const fallback = (problem: string): EnrollmentAnswer => ({
    machineId: "unknown",
    state: "unknown",
    action: "idle",
    problem,
  });
  let document: unknown;
  try {
    document = JSON.parse(body);
  } catch {
    return fallback("the server's answer is not JSON");
  }
  if (typeof document !== "object" || document === null)
    return fallback("the server's answer is not an object");
  const { machineId, state, next } = document as { machineId?: unknown; state?: unknown; next?: unknown };
  const instruction =
    typeof next === "object" && next !== null ? (next as { action?: unknown; message?: unknown }) : {};
  const action = AGENT_ACTIONS.find((known) => known === instruction.action);
  const answer = {
    machineId: typeof machineId === "string" ? machineId : "unknown",
    state: typeof state === "string" ? state : "unknown",
    action: action ?? "idle",
    ...(typeof instruction.message === "string" ? { message: instruction.message } : {}),
  };
  return action === undefined
    ? { ...answer, problem: `unknown next action ${JSON.stringify(instruction.action)}` }
    : answer;
}

export async function enroll(options: EnrollOptions): Promise<EnrollOutcome> {
  const url = `${options.serverUrl}${ENROLL_PATH}`;
  const body = JSON.stringify(options.request);
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  let attempts = 0;
  for (;;) {
    if (options.signal.aborted) return { kind: "aborted", attempts };
    attempts += 1;
    let failure: string;
    let retryAfterMs: number | undefined;
    try {
      const response = await doFetch(url, {
        method: "POST",
        headers: {
          authorization: `Bearer ${options.token}`,
          "content-type": "application/json",
          accept: "application/json, application/problem+json",
          "user-agent": `ingot-agent/${options.agentVersion}`,
        },
        body,
        signal: AbortSignal.any([options.signal, AbortSignal.timeout(options.policy.requestTimeoutMs)]),
      });
      const text = await response.text();
      if (response.ok) return { kind: "enrolled", answer: parseEnrollmentAnswer(text), attempts };
      const reason = `${response.status} ${response.statusText}: ${problemText(text)}`;
      if (!isRetryableStatus(response.status)) {
        return { kind: "rejected", status: response.status, reason, attempts };
      }
      failure = `server answered ${reason}`;
      retryAfterMs = parseRetryAfter(response.headers.get("retry-after"), now());
    } catch (error) {
      if (options.signal.aborted) return { kind: "aborted", attempts };
      failure = `cannot reach ${url}: ${describe(error)}`;
    }
    if (attempts >= options.policy.maxAttempts) {
      return { kind: "exhausted", reason: failure, attempts };
    }
    const backoff = backoffDelayMs(options.policy, attempts, options.random);
    const delay =
      retryAfterMs === undefined
        ? backoff
        : Math.max(Math.min(retryAfterMs, options.policy.maxRetryAfterMs), backoff);
    options.console.warn(
      `attempt ${attempts} failed: ${failure}; retrying in ${(delay / 1000).toFixed(1)} s`,
    );
    try {
      await options.sleep(delay, options.signal);
    } catch {
      return { kind: "aborted", attempts };
    }
  }
}
