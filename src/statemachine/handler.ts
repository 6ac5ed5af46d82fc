/**
 * What a controller handler sees and returns. A handler looks at one object (its recorded state plus
 * whatever it observes in the world) and answers with one result:
 *
 *   Outcome.transition(event, nextState)   move on (checked against the table; re-runs the object)
 *   Outcome.wait(reason)                    not yet; the reason is recorded ("waiting for the BMC to answer")
 *   Outcome.doNothing()                     nothing to do now
 *   Outcome.deleted()                       the object is finished with: delete its row
 *   Outcome.error(message)                  failed; recorded, retried with backoff (a thrown error is the same)
 *
 * `reconciler()` builds a handler from three parts so that deciding stays pure: `observe` reads the world,
 * `decide` (pure: recorded state + observation → result + effects) chooses, `act` carries out the effects.
 * Effects must be idempotent: a crash between the effect and the recorded transition re-runs the step.
 * Writes that must commit exactly once with the transition go in `alsoWrite`, which runs in the same
 * transaction as the state change and only if that change wins.
 */
import type { Db } from "../db/database.ts";
import type { Logger } from "../observability/logger.ts";
import type { StateShape } from "./model.ts";

/** Database writes committed atomically with a transition (or deletion), and only when it wins. */
export type AlsoWrite = (trx: Db) => Promise<void>;

export interface TransitionResult<S extends StateShape, E extends string = string> {
  readonly kind: "transition";
  readonly event: E;
  readonly next: S;
  readonly alsoWrite?: AlsoWrite;
}
export interface WaitResult {
  readonly kind: "wait";
  readonly reason: string;
  readonly checkAgainInMs?: number;
}
export interface DoNothingResult {
  readonly kind: "do_nothing";
  readonly checkAgainInMs?: number;
}
export interface DeletedResult {
  readonly kind: "deleted";
  readonly alsoWrite?: AlsoWrite;
}
export interface ErrorResult {
  readonly kind: "error";
  readonly message: string;
}

export type HandlerResult<S extends StateShape, E extends string = string> =
  | TransitionResult<S, E>
  | WaitResult
  | DoNothingResult
  | DeletedResult
  | ErrorResult;

export const Outcome = {
  // K keeps `kind` a literal in `{ kind: "running", … }`, so the result fits the state union.
  transition<K extends string, S extends { readonly kind: K }, E extends string>(
    event: E,
    next: S,
    options: { alsoWrite?: AlsoWrite } = {},
  ): TransitionResult<S, E> {
    return { kind: "transition", event, next, ...options };
  },
  /** `checkAgainInMs` re-runs the object after that long instead of at the next periodic pass. */
  wait(reason: string, options: { checkAgainInMs?: number } = {}): WaitResult {
    return { kind: "wait", reason, ...options };
  },
  doNothing(options: { checkAgainInMs?: number } = {}): DoNothingResult {
    return { kind: "do_nothing", ...options };
  },
  deleted(options: { alsoWrite?: AlsoWrite } = {}): DeletedResult {
    return { kind: "deleted", ...options };
  },
  error(message: string): ErrorResult {
    return { kind: "error", message };
  },
} as const;

/** Where a recorded error came from. */
export type ErrorSource =
  /** the handler threw or returned Outcome.error */
  | "handler"
  /** the handler did not finish within the handling timeout */
  | "timeout"
  /** the handler asked for a transition the table does not allow */
  | "transition_refused"
  /** the transition's `alsoWrite` failed, so nothing was committed */
  | "write";

/** The last controller outcome as recorded on the object row (and shown by the API). */
export type RecordedOutcome =
  | { readonly kind: "transition"; readonly event: string; readonly from: string; readonly to: string }
  | { readonly kind: "wait"; readonly reason: string }
  | { readonly kind: "error"; readonly message: string; readonly source: ErrorSource };

export interface LastOutcome {
  readonly outcome: RecordedOutcome;
  /** Replica or actor that recorded it. */
  readonly by: string | null;
  /** Since when this outcome holds (an identical outcome observed again does not move it). */
  readonly since: Date;
}

/** The object a handler is asked about: its recorded state and where it stands. */
export interface ControlledObject<S extends StateShape> {
  readonly id: string;
  readonly state: S;
  /** State version: bumped by every transition; every write is conditional on it. */
  readonly version: number;
  /** When this version of the state was entered. */
  readonly enteredAt: Date;
  /** When the object entered its current kind (self-transitions keep this clock running; SLAs use it). */
  readonly kindEnteredAt: Date;
  readonly lastOutcome: LastOutcome | null;
  /** Consecutive failed attempts before this one (0 when the last attempt did not fail). */
  readonly failures: number;
}

export interface HandlerContext {
  /** Aborted when the handling timeout expires or the controller stops: pass it to every call that waits. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** Name of the replica running the handler. */
  readonly replica: string;
}

export type ControllerHandler<S extends StateShape, E extends string = string> = (
  object: ControlledObject<S>,
  context: HandlerContext,
) => Promise<HandlerResult<S, E>>;

/** A decision: the result to record, and the effects to carry out before recording it. */
export type Decision<S extends StateShape, E extends string, Effect> = HandlerResult<S, E> & {
  readonly effects?: readonly Effect[];
};

export interface ReconcilerParts<S extends StateShape, E extends string, Observation, Effect> {
  /** Reads the world (hardware, other tables). No writes. */
  observe(object: ControlledObject<S>, context: HandlerContext): Promise<Observation>;
  /** Pure: same object and observation, same decision. Unit-test it without a database. */
  decide(object: ControlledObject<S>, observation: Observation): Decision<S, E, Effect>;
  /** Carries out the decision's effects, in order; each must be idempotent. A throw records an error. */
  act?(effect: Effect, object: ControlledObject<S>, context: HandlerContext): Promise<void>;
}

/** Builds a handler as observe → decide (pure) → act. */
export function reconciler<S extends StateShape, E extends string, Observation, Effect = never>(
  parts: ReconcilerParts<S, E, Observation, Effect>,
): ControllerHandler<S, E> {
  return async (object, context) => {
    const observation = await parts.observe(object, context);
    const { effects = [], ...result } = parts.decide(object, observation);
    if (effects.length > 0 && parts.act === undefined) {
      throw new Error("the decision carries effects but the reconciler has no act()");
    }
    for (const effect of effects) {
      context.signal.throwIfAborted();
      await parts.act?.(effect, object, context);
    }
    return result as HandlerResult<S, E>;
  };
}

export interface BackoffPolicy {
  /** Delay after the first failure. */
  readonly initialMs: number;
  /** Upper bound on any delay. */
  readonly maxMs: number;
  /** Growth per consecutive failure. */
  readonly factor: number;
  /** 0..1: the delay is shortened by up to this fraction at random, so failing objects spread out. */
  readonly jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 1_000, maxMs: 5 * 60_000, factor: 2, jitter: 0.2 };

/** Delay before the next attempt after `failures` consecutive failures (failures ≥ 1). */
export function backoffDelayMs(
  failures: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, failures - 1);
  const raw = Math.min(policy.maxMs, policy.initialMs * policy.factor ** exponent);
  return Math.round(raw * (1 - policy.jitter * random()));
}
