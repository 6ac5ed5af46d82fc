/**
 * Fault injection for one lab BMC, changeable while it runs: the misbehaviour real BMCs show under load
 * or mid-reboot, so drivers can be tested against it.
 */

export interface FaultSettings {
  /** Added before every answer. */
  readonly latencyMs: number;
  /** The next N (matching) requests answer `errorStatus`. */
  readonly failNext: number;
  readonly failMatch: FaultMatch;
  /** Each request answers `errorStatus` with this probability (0–1). */
  readonly failRate: number;
  readonly errorStatus: number;
  /** Sent as Retry-After with injected errors. */
  readonly retryAfterSeconds: number | undefined;
  /** The next N (matching) requests lose their connection (socket destroyed, no answer). */
  readonly dropNext: number;
  readonly dropMatch: FaultMatch;
  readonly dropAll: boolean;
  /** The next N (matching) requests get an HTML page instead of JSON, as some BMC web servers send. */
  readonly garbageNext: number;
  readonly garbageMatch: FaultMatch;
  /** Resets within this window after the system reached Off answer 409 (iLO does this). */
  readonly conflictAfterPowerOffMs: number;
  /** The next If-Match PATCH finds the resource changed (its ETag moved on) and gets 412. */
  readonly staleEtagOnce: boolean;
}

/** Which requests a counted fault (failNext, dropNext) applies to; others pass untouched. */
export interface FaultMatch {
  readonly method?: string;
  /** A substring of the request path. */
  readonly path?: string;
}

export type FaultDecision =
  | { readonly kind: "drop" }
  | { readonly kind: "error"; readonly status: number; readonly retryAfterSeconds: number | undefined }
  | { readonly kind: "garbage" }
  | { readonly kind: "pass" };

const NO_FAULTS: FaultSettings = {
  latencyMs: 0,
  failNext: 0,
  failMatch: {},
  failRate: 0,
  errorStatus: 503,
  retryAfterSeconds: undefined,
  dropNext: 0,
  dropMatch: {},
  dropAll: false,
  garbageNext: 0,
  garbageMatch: {},
  conflictAfterPowerOffMs: 0,
  staleEtagOnce: false,
};

export class FaultController {
  private settings: FaultSettings = NO_FAULTS;
  private readonly random: () => number;

  constructor(seed: number) {
    this.random = mulberry32(seed);
  }

  setLatency(ms: number): void {
    this.settings = { ...this.settings, latencyMs: Math.max(0, ms) };
  }

  failNext(
    count: number,
    options: { status?: number; retryAfterSeconds?: number; match?: FaultMatch } = {},
  ): void {
    this.settings = {
      ...this.settings,
      failNext: Math.max(0, count),
      failMatch: options.match ?? {},
      errorStatus: options.status ?? 503,
      retryAfterSeconds: options.retryAfterSeconds,
    };
  }

  failRate(rate: number, options: { status?: number; retryAfterSeconds?: number } = {}): void {
    this.settings = {
      ...this.settings,
      failRate: Math.min(1, Math.max(0, rate)),
      errorStatus: options.status ?? 503,
      retryAfterSeconds: options.retryAfterSeconds,
    };
  }

  dropNext(count: number, match: FaultMatch = {}): void {
    this.settings = { ...this.settings, dropNext: Math.max(0, count), dropMatch: match };
  }

  garbageNext(count: number, match: FaultMatch = {}): void {
    this.settings = { ...this.settings, garbageNext: Math.max(0, count), garbageMatch: match };
  }

  dropAll(enabled: boolean): void {
    this.settings = { ...this.settings, dropAll: enabled };
  }

  conflictAfterPowerOff(windowMs: number): void {
    this.settings = { ...this.settings, conflictAfterPowerOffMs: Math.max(0, windowMs) };
  }

  staleEtagOnce(): void {
    this.settings = { ...this.settings, staleEtagOnce: true };
  }

  clear(): void {
    this.settings = NO_FAULTS;
  }

  current(): FaultSettings {
    return this.settings;
  }

  /** Consumes the per-request faults for one incoming request. */
  decide(method: string, path: string): FaultDecision {
    const settings = this.settings;
    const matches = (match: FaultMatch): boolean =>
      (match.method === undefined || match.method === method) &&
      (match.path === undefined || path.includes(match.path));
    if (settings.dropAll) return { kind: "drop" };
    if (settings.dropNext > 0 && matches(settings.dropMatch)) {
      this.settings = { ...settings, dropNext: settings.dropNext - 1 };
      return { kind: "drop" };
    }
    if (settings.failNext > 0 && matches(settings.failMatch)) {
      this.settings = { ...settings, failNext: settings.failNext - 1 };
      return { kind: "error", status: settings.errorStatus, retryAfterSeconds: settings.retryAfterSeconds };
    }
    if (settings.garbageNext > 0 && matches(settings.garbageMatch)) {
      this.settings = { ...settings, garbageNext: settings.garbageNext - 1 };
      return { kind: "garbage" };
    }
    if (settings.failRate > 0 && this.random() < settings.failRate) {
      return { kind: "error", status: settings.errorStatus, retryAfterSeconds: settings.retryAfterSeconds };
    }
    return { kind: "pass" };
  }

  takeStaleEtag(): boolean {
    if (!this.settings.staleEtagOnce) return false;
    this.settings = { ...this.settings, staleEtagOnce: false };
    return true;
  }
}

/** Small seeded PRNG so that a failure rate gives the same sequence on every run. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
