/**
 * The controller runtime: runs one lifecycle's handler over its objects, on any number of replicas that
 * share work only through PostgreSQL (seed 002, "Distributed State Controller").
 *
 *   const controller = new Controller({ lifecycle, db, handler, logger, registry,
 *     notifications: { databaseUrl } });
 *   await controller.start();   …   await controller.stop();
 *
 * Guarantees:
 * - At most one replica handles an object at a time: it claims the object's queue row (`processed_by`),
 *   several rows per round trip with `FOR UPDATE SKIP LOCKED`. A claim has a lease; a replica that dies
 *   leaves claims that others take over once the lease expires. The lease is longer than the handling
 *   timeout, whose AbortSignal tells a handler to give up before its claim can be taken over.
 * - Every write is conditional on the state version, so a duplicate or late run writes nothing.
 *   Transitions, history, outcomes and queue updates of a batch are one statement (or, when a transition
 *   carries `alsoWrite`, one transaction): a crash leaves either all of an answer or none of it.
 * - Level-triggered: an object is looked at again when it is enqueued (services call `store.enqueue`, a
 *   transition keeps the object claimed and runs it again at once), when a requested re-check is due, and
 *   by the periodic enqueuer (one replica at a time, under a lease) that enqueues every non-terminal object.
 * - Wake-up within milliseconds through LISTEN/NOTIFY; polling every `pollIntervalMs` is the safety net.
 * - A failing object backs off exponentially; its error is recorded with where it came from.
 * - `stop()` stops claiming, waits (bounded) for handlers in flight, releases claims and the lease.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";
import type pg from "pg";
import type { Registry } from "prom-client";
import type { Db } from "../db/database.ts";
import { errorMessage } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";
import {
  type AlsoWrite,
  type BackoffPolicy,
  backoffDelayMs,
  type ControllerHandler,
  DEFAULT_BACKOFF,
  type ErrorSource,
  type HandlerContext,
  type HandlerResult,
} from "./handler.ts";
import { Lease } from "./lease.ts";
import type { Lifecycle } from "./lifecycle.ts";
import { NotificationListener } from "./listener.ts";
import { type ControllerMetrics, controllerMetrics } from "./metrics.ts";
import { type StateShape, TransitionRefusedError } from "./model.ts";
import {
  type ClaimedObject,
  errorOutcome,
  type FinishItem,
  type FinishResult,
  LifecycleStore,
} from "./store.ts";

export interface ControllerSettings {
  /** Objects handled at once by this replica. */
  readonly maxConcurrency: number;
  /** Most objects claimed in one round trip. */
  readonly claimBatchSize: number;
  /** A handler running longer is aborted and the attempt recorded as an error. */
  readonly handlerTimeoutMs: number;
  /** How long a claim stays valid; after it, another replica may take the object over. > handlerTimeoutMs. */
  readonly claimLeaseMs: number;
  /** Safety-net poll for work when no notification arrives. */
  readonly pollIntervalMs: number;
  /** How often every non-terminal object is enqueued (by one replica at a time). */
  readonly periodicEnqueueIntervalMs: number;
  /** Lease of the periodic enqueuer; renewed every third of it. */
  readonly enqueuerLeaseTtlMs: number;
  readonly backoff: BackoffPolicy;
  /** Transitions in a row before an object is put back in the queue (fairness between objects). */
  readonly maxStepsPerClaim: number;
  /** How often the metrics census (objects per state, SLA breaches, queue depth) runs. */
  readonly censusIntervalMs: number;
  /** How long stop() waits for handlers in flight before aborting them. */
  readonly stopTimeoutMs: number;
  /** Most answers recorded in one statement. */
  readonly maxWriteBatch: number;
  /** Write statements in flight at once. */
  readonly maxConcurrentWrites: number;
}

const DEFAULT_HANDLER_TIMEOUT_MS = 60_000;

export const DEFAULT_CONTROLLER_SETTINGS: ControllerSettings = {
  maxConcurrency: 16,
  claimBatchSize: 32,
  handlerTimeoutMs: DEFAULT_HANDLER_TIMEOUT_MS,
  claimLeaseMs: DEFAULT_HANDLER_TIMEOUT_MS + 30_000,
  pollIntervalMs: 2_000,
  periodicEnqueueIntervalMs: 30_000,
  enqueuerLeaseTtlMs: 15_000,
  backoff: DEFAULT_BACKOFF,
  maxStepsPerClaim: 20,
  censusIntervalMs: 15_000,
  stopTimeoutMs: 10_000,
  maxWriteBatch: 200,
  maxConcurrentWrites: 2,
};

export interface ControllerOptions<S extends StateShape, E extends string> {
  readonly lifecycle: Lifecycle<S, E>;
  readonly db: Db;
  /** The pool behind `db` (DatabaseHandle.pool): claims and answers then run as prepared statements. */
  readonly pool?: pg.Pool;
  readonly handler: ControllerHandler<S, E>;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Wake-ups: a listener shared by several controllers, or a URL for a dedicated one this controller owns. */
  readonly notifications: NotificationListener | { readonly databaseUrl: string };
  /** Unique name of this replica; defaults to host:pid:random. */
  readonly replica?: string;
  /** Overrides; when only handlerTimeoutMs is given, claimLeaseMs follows it (+30 s). */
  readonly settings?: Partial<ControllerSettings>;
}

interface PendingWrite<S extends StateShape> {
  readonly item: FinishItem;
  readonly alsoWrite: AlsoWrite | undefined;
  /** What to record instead when alsoWrite fails. */
  readonly onWriteFailure: (error: unknown) => FinishItem;
  resolve(result: FinishResult<S>): void;
  reject(error: unknown): void;
}

/** Thrown into a handler's AbortSignal. */
class HandlerAborted extends Error {
  constructor(readonly why: "timeout" | "stopping") {
    super(why === "timeout" ? "handler timed out" : "controller is stopping");
  }
}

class AlsoWriteFailed extends Error {
  constructor(cause: unknown) {
    super(errorMessage(cause), { cause });
  }
}

export class Controller<S extends StateShape, E extends string = string> {
  readonly replica: string;
  readonly store: LifecycleStore<S, E>;
  readonly settings: ControllerSettings;
  private readonly lifecycle: Lifecycle<S, E>;
  private readonly handler: ControllerHandler<S, E>;
  private readonly db: Db;
  private readonly log: Logger;
  private readonly metrics: ControllerMetrics;
  private readonly enqueuerLease: Lease;
  private listener: NotificationListener | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;

  private running = false;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly handlerAborts = new Set<AbortController>();
  private claimLoop: Promise<void> | undefined;
  private wakeRequested = false;
  private mayHaveWork = true;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly background = new Set<Promise<void>>();
  private holdsEnqueuerLease = false;
  private lastPeriodicEnqueue = 0;

  private readonly pendingWrites: PendingWrite<S>[] = [];
  private activeWrites = 0;
  private flushScheduled = false;

  constructor(private readonly options: ControllerOptions<S, E>) {
    const given = options.settings ?? {};
    const handlerTimeoutMs = given.handlerTimeoutMs ?? DEFAULT_CONTROLLER_SETTINGS.handlerTimeoutMs;
    this.settings = {
      ...DEFAULT_CONTROLLER_SETTINGS,
      claimLeaseMs: handlerTimeoutMs + 30_000,
      ...given,
      backoff: { ...DEFAULT_BACKOFF, ...given.backoff },
    };
    if (this.settings.claimLeaseMs <= this.settings.handlerTimeoutMs) {
      throw new Error(
        "claimLeaseMs must be longer than handlerTimeoutMs, or a slow handler's claim is taken over",
      );
    }
    this.lifecycle = options.lifecycle;
    this.handler = options.handler;
    this.db = options.db;
    this.replica = options.replica ?? `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
    this.store = new LifecycleStore(options.db, options.lifecycle, options.pool);
    this.log = options.logger.child({
      component: "controller",
      controller: options.lifecycle.entity,
      replica: this.replica,
    });
    this.metrics = controllerMetrics(options.registry);
    this.enqueuerLease = new Lease(
      options.db,
      `controller:${options.lifecycle.entity}:periodic-enqueuer`,
      this.replica,
      this.settings.enqueuerLeaseTtlMs,
    );
  }

  async start(): Promise<void> {
    if (this.running) throw new Error(`controller ${this.lifecycle.entity} is already running`);
    this.running = true;
    this.stopping = false;
    const { notifications } = this.options;
    if (notifications instanceof NotificationListener) {
      this.listener = notifications;
    } else {
      this.listener = new NotificationListener({
        databaseUrl: notifications.databaseUrl,
        logger: this.log,
        applicationName: `ingot-controller-${this.lifecycle.entity}`,
      });
      await this.listener.start();
    }
    this.unsubscribe = await this.listener.subscribe(this.lifecycle.channel, () => this.wake());
    this.every(this.settings.pollIntervalMs, () => this.wake());
    this.everyInBackground(Math.max(50, Math.floor(this.settings.enqueuerLeaseTtlMs / 3)), () =>
      this.periodicEnqueue(),
    );
    this.everyInBackground(this.settings.censusIntervalMs, () => this.refreshMetrics());
    // The first periodic pass comes one interval after start: queued work survives restarts in the queue
    // table, so there is nothing to catch up on at once.
    this.lastPeriodicEnqueue = Date.now();
    this.inBackground(() => this.periodicEnqueue());
    this.inBackground(() => this.refreshMetrics());
    this.log.info("controller started");
    this.wake();
  }

  /**
   * Stops claiming, waits up to stopTimeoutMs for handlers in flight (then aborts them), records what
   * finished, gives back remaining claims and the enqueuer lease, and closes its own LISTEN connection.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.stopped ??= this.shutDown().finally(() => {
      this.stopped = undefined;
    });
    await this.stopped;
  }

  private async shutDown(): Promise<void> {
    this.stopping = true;
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    await this.unsubscribe?.().catch(() => undefined);
    await this.claimLoop;
    if (!(await this.settleInFlight(this.settings.stopTimeoutMs))) {
      this.log.warn({ inFlight: this.inFlight.size }, "aborting handlers still running at stop");
      for (const abort of this.handlerAborts) abort.abort(new HandlerAborted("stopping"));
      await this.settleInFlight(Math.min(this.settings.stopTimeoutMs, 5_000));
    }
    await Promise.allSettled([...this.background]);
    await this.store
      .releaseClaims(this.replica)
      .catch((error: unknown) => this.log.warn({ err: error }, "could not release claims"));
    await this.enqueuerLease
      .release()
      .catch((error: unknown) => this.log.warn({ err: error }, "could not release the enqueuer lease"));
    if (!(this.options.notifications instanceof NotificationListener)) await this.listener?.stop();
    this.listener = undefined;
    this.running = false;
    this.log.info("controller stopped");
  }

  /** Looks for work now (notifications and the poll timer call this). */
  wake(): void {
    this.mayHaveWork = true;
    this.kick();
  }

  /** Refreshes the census gauges (objects per state, time in state, SLA breaches, queue depth). */
  async refreshMetrics(): Promise<void> {
    const controller = this.lifecycle.entity;
    const [census, depth] = await Promise.all([this.store.census(), this.store.queueDepth()]);
    const byKind = new Map(census.map((row) => [row.kind, row]));
    for (const kind of this.lifecycle.states.active) {
      const row = byKind.get(kind);
      this.metrics.objects.set({ controller, state: kind }, row?.objects ?? 0);
      this.metrics.timeInState.set({ controller, state: kind }, row?.oldestSeconds ?? 0);
      if (this.lifecycle.states.slaSeconds(kind) !== undefined) {
        this.metrics.slaBreaches.set({ controller, state: kind }, row?.slaBreaches ?? 0);
      }
    }
    for (const status of ["ready", "processing", "delayed"] as const) {
      this.metrics.queueDepth.set({ controller, status }, depth[status]);
    }
  }

  /** Whether this replica currently runs the periodic enqueuer. */
  get runsPeriodicEnqueuer(): boolean {
    return this.holdsEnqueuerLease;
  }

  private kick(): void {
    if (!this.running || this.stopping || !this.mayHaveWork) return;
    this.wakeRequested = true;
    if (this.claimLoop !== undefined) return;
    this.claimLoop = this.claimWhileWork().finally(() => {
      this.claimLoop = undefined;
    });
  }

  private async claimWhileWork(): Promise<void> {
    while (this.wakeRequested && !this.stopping) {
      this.wakeRequested = false;
      const free = this.settings.maxConcurrency - this.inFlight.size;
      // Full: a finishing object kicks again, since mayHaveWork is still set.
      if (free <= 0) return;
      const limit = Math.min(free, this.settings.claimBatchSize);
      let claimed: ClaimedObject<S>[];
      try {
        claimed = await this.store.claim(this.replica, limit, this.settings.claimLeaseMs);
      } catch (error) {
        this.runtimeError(error, "claiming failed");
        return;
      }
      // Claimed while stopping: stop() gives these claims back.
      if (this.stopping) return;
      for (const object of claimed) this.begin(object);
      if (claimed.length === limit) this.wakeRequested = true;
      else if (!this.wakeRequested) this.mayHaveWork = false;
    }
  }

  private begin(object: ClaimedObject<S>): void {
    if (object.takenOverFrom !== null) {
      this.metrics.claimsTakenOver.inc({ controller: this.lifecycle.entity });
      this.log.warn({ objectId: object.id, from: object.takenOverFrom }, "took over an expired claim");
    }
    const run = this.runObject(object)
      .catch((error: unknown) => this.runtimeError(error, "recording the outcome failed", object.id))
      .finally(() => {
        this.inFlight.delete(object.id);
        this.kick();
      });
    this.inFlight.set(object.id, run);
  }

  /** Handles an object, and again after each transition while it stays claimed. */
  private async runObject(claimed: ClaimedObject<S>): Promise<void> {
    let object = claimed;
    for (let step = 1; ; step++) {
      const answer = await this.answer(object, step);
      if (answer === undefined) return;
      const result = await this.write(answer);
      this.account(object, answer.item, result);
      if (result.action === "requeue" && answer.item.delayMs === 0) this.mayHaveWork = true;
      if (result.action !== "continue" || result.continueWith === undefined || this.stopping) return;
      object = result.continueWith;
    }
  }

  /** Runs the handler under its timeout and turns its answer into what to write; undefined when stopping. */
  private async answer(
    object: ClaimedObject<S>,
    step: number,
  ): Promise<Omit<PendingWrite<S>, "resolve" | "reject"> | undefined> {
    const { states } = this.lifecycle;
    const kind = object.state.kind;
    const base = { id: object.id, version: object.version, generation: object.generation };
    const failure = (message: string, source: ErrorSource) => {
      this.metrics.errors.inc({ controller: this.lifecycle.entity, state: kind, source });
      const failures = object.failures + 1;
      return {
        ...base,
        op: "outcome",
        outcome: errorOutcome(message, source),
        after: "requeue",
        delayMs: backoffDelayMs(failures, this.settings.backoff),
        failures,
      } satisfies FinishItem;
    };
    const plain = (item: FinishItem) => ({
      item,
      alsoWrite: undefined,
      onWriteFailure: (error: unknown) => failure(errorMessage(error), "write"),
    });
    if (states.isTerminal(kind)) {
      return plain({ ...base, op: "none", after: "done", delayMs: 0, failures: 0 });
    }
    if (!states.hasState(kind)) {
      return plain(failure(`state ${kind} is not in the ${states.name} table`, "transition_refused"));
    }

    const abort = new AbortController();
    this.handlerAborts.add(abort);
    const timer = setTimeout(
      () => abort.abort(new HandlerAborted("timeout")),
      this.settings.handlerTimeoutMs,
    );
    const context: HandlerContext = {
      signal: abort.signal,
      logger: this.log.child({ objectId: object.id }),
      replica: this.replica,
    };
    const started = performance.now();
    let result: HandlerResult<S, E> | undefined;
    let thrown: unknown;
    try {
      result = await this.race(this.handler(object, context), abort.signal);
    } catch (error) {
      thrown = error;
    } finally {
      clearTimeout(timer);
      this.handlerAborts.delete(abort);
      this.metrics.handlerDuration.observe(
        { controller: this.lifecycle.entity, state: kind },
        (performance.now() - started) / 1000,
      );
    }

    if (thrown !== undefined || result === undefined) {
      if (thrown instanceof HandlerAborted && thrown.why === "stopping") return undefined;
      if (thrown instanceof HandlerAborted) {
        // A handler that ignores its signal may still be running: nobody may take the object before its
        // claim would have expired, or two handlers would act on it at once.
        const timedOut = failure(
          `handler did not finish within ${this.settings.handlerTimeoutMs} ms`,
          "timeout",
        );
        const leaseLeft = this.settings.claimLeaseMs - this.settings.handlerTimeoutMs;
        return plain({ ...timedOut, delayMs: Math.max(timedOut.delayMs, leaseLeft) });
      }
      const message = thrown === undefined ? "handler returned no result" : errorMessage(thrown);
      context.logger.warn({ err: thrown, state: kind }, "handler failed");
      return plain(failure(message, "handler"));
    }

    switch (result.kind) {
      case "transition": {
        try {
          states.check(object.state, result.event, result.next);
        } catch (error) {
          if (!(error instanceof TransitionRefusedError)) throw error;
          context.logger.warn({ err: error }, "handler asked for a transition the table refuses");
          return plain(failure(error.message, "transition_refused"));
        }
        const next = result.next;
        const after = states.isTerminal(next.kind)
          ? "done"
          : step < this.settings.maxStepsPerClaim
            ? "continue"
            : "requeue";
        return {
          item: {
            ...base,
            op: "transition",
            next,
            event: result.event,
            fromKind: kind,
            outcome: { kind: "transition", event: result.event, from: kind, to: next.kind },
            after,
            delayMs: 0,
            failures: 0,
          },
          alsoWrite: result.alsoWrite,
          onWriteFailure: (error: unknown) => failure(errorMessage(error), "write"),
        };
      }
      case "wait":
        return plain({
          ...base,
          op: "outcome",
          outcome: { kind: "wait", reason: result.reason },
          ...this.recheck(result.checkAgainInMs),
        });
      case "do_nothing":
        return plain({ ...base, op: "none", ...this.recheck(result.checkAgainInMs) });
      case "deleted":
        return {
          item: { ...base, op: "delete", after: "done", delayMs: 0, failures: 0 },
          alsoWrite: result.alsoWrite,
          onWriteFailure: (error: unknown) => failure(errorMessage(error), "write"),
        };
      case "error":
        context.logger.warn({ state: kind, message: result.message }, "handler reported an error");
        return plain(failure(result.message, "handler"));
    }
  }

  private recheck(checkAgainInMs: number | undefined): Pick<FinishItem, "after" | "delayMs" | "failures"> {
    return checkAgainInMs === undefined
      ? { after: "done", delayMs: 0, failures: 0 }
      : { after: "requeue", delayMs: Math.max(0, checkAgainInMs), failures: 0 };
  }

  /** Waits for the handler or the abort, whichever comes first; a handler that ignores its signal is left behind. */
  private async race<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
    work.catch(() => undefined);
    return await new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  private account(object: ClaimedObject<S>, item: FinishItem, result: FinishResult<S>): void {
    const controller = this.lifecycle.entity;
    if ((item.op === "transition" || item.op === "delete") && !result.written) {
      this.metrics.outcomes.inc({ controller, outcome: "lost_race" });
      return;
    }
    if (item.op === "transition" && item.next !== undefined) {
      this.metrics.transitions.inc({ controller, from: object.state.kind, to: item.next.kind });
    }
    const outcome =
      item.op === "transition"
        ? "transition"
        : item.op === "delete"
          ? "deleted"
          : item.op === "none"
            ? "do_nothing"
            : (item.outcome?.kind ?? "do_nothing");
    this.metrics.outcomes.inc({ controller, outcome });
  }

  // --- writing: answers that arrive together are recorded together (one statement per batch) ---

  private async write(answer: Omit<PendingWrite<S>, "resolve" | "reject">): Promise<FinishResult<S>> {
    return await new Promise<FinishResult<S>>((resolve, reject) => {
      this.pendingWrites.push({ ...answer, resolve, reject });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.pendingWrites.length === 0) return;
    if (this.activeWrites >= this.settings.maxConcurrentWrites) return;
    this.flushScheduled = true;
    // setImmediate lets answers that complete in the same turn join the batch.
    setImmediate(() => {
      this.flushScheduled = false;
      const batch = this.pendingWrites.splice(0, this.settings.maxWriteBatch);
      if (batch.length === 0) return;
      this.activeWrites++;
      this.flush(batch).finally(() => {
        this.activeWrites--;
        this.scheduleFlush();
      });
      this.scheduleFlush();
    });
  }

  private async flush(batch: PendingWrite<S>[]): Promise<void> {
    this.metrics.writeBatchSize.observe({ controller: this.lifecycle.entity }, batch.length);
    try {
      const results = await this.record(batch);
      for (const entry of batch) {
        entry.resolve(results.get(entry.item.id) ?? { id: entry.item.id, written: false, action: undefined });
      }
    } catch (error) {
      if (batch.length > 1) {
        // One answer spoiled the batch (most likely an alsoWrite): record each on its own.
        for (const entry of batch) await this.flush([entry]);
        return;
      }
      const [entry] = batch as [PendingWrite<S>];
      const cause = error instanceof AlsoWriteFailed ? error.cause : error;
      if (entry.item.op === "outcome" && entry.alsoWrite === undefined) {
        // Recording an outcome failed (the database is unreachable?): the claim expires and the object is retried.
        entry.reject(error);
        return;
      }
      this.log.warn(
        { err: cause, objectId: entry.item.id },
        "writing the answer failed; nothing was committed",
      );
      await this.flush([{ ...entry, item: entry.onWriteFailure(cause), alsoWrite: undefined }]);
    }
  }

  private async record(batch: PendingWrite<S>[]): Promise<Map<string, FinishResult<S>>> {
    const items = batch.map((entry) => entry.item);
    const { replica } = this;
    const lease = this.settings.claimLeaseMs;
    if (batch.every((entry) => entry.alsoWrite === undefined)) {
      const results = await this.store.finish(replica, items, lease);
      return new Map(results.map((result) => [result.id, result]));
    }
    return await this.db.transaction().execute(async (trx) => {
      const results = await this.store.finish(replica, items, lease, trx);
      const byId = new Map(results.map((result) => [result.id, result]));
      for (const entry of batch) {
        if (entry.alsoWrite === undefined || byId.get(entry.item.id)?.written !== true) continue;
        try {
          await entry.alsoWrite(trx);
        } catch (error) {
          throw new AlsoWriteFailed(error);
        }
      }
      return byId;
    });
  }

  // --- periodic work ---

  private async periodicEnqueue(): Promise<void> {
    const held = await this.enqueuerLease.acquireOrRenew();
    if (held !== this.holdsEnqueuerLease) {
      this.log.info(
        { held },
        held ? "now running the periodic enqueuer" : "lost the periodic enqueuer lease",
      );
    }
    this.holdsEnqueuerLease = held;
    if (!held || this.stopping) return;
    const now = Date.now();
    if (now - this.lastPeriodicEnqueue < this.settings.periodicEnqueueIntervalMs) return;
    this.lastPeriodicEnqueue = now;
    const added = await this.store.enqueueActive();
    if (added > 0) this.log.debug({ added }, "periodic enqueue");
  }

  private every(intervalMs: number, tick: () => void): void {
    const timer = setInterval(tick, intervalMs);
    timer.unref();
    this.timers.push(timer);
  }

  /** A background job on a timer; runs never overlap and failures are logged. */
  private everyInBackground(intervalMs: number, job: () => Promise<void>): void {
    let busy = false;
    this.every(intervalMs, () => {
      if (busy) return;
      busy = true;
      this.inBackground(job, () => {
        busy = false;
      });
    });
  }

  private inBackground(job: () => Promise<void>, done?: () => void): void {
    const run = job()
      .catch((error: unknown) => this.runtimeError(error, "background job failed"))
      .finally(() => {
        this.background.delete(run);
        done?.();
      });
    this.background.add(run);
  }

  private async settleInFlight(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const settled = (async () => {
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.values()]);
      return true as const;
    })();
    try {
      return await Promise.race([settled, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  private runtimeError(error: unknown, message: string, objectId?: string): void {
    this.metrics.errors.inc({ controller: this.lifecycle.entity, state: "", source: "runtime" });
    if (this.stopping && !this.running) return;
    this.log.error({ err: error, ...(objectId !== undefined ? { objectId } : {}) }, message);
  }
}
