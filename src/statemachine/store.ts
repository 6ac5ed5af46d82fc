/**
 * SQL for versioned lifecycle state: reading an object's state, status and history; conditional
 * transitions for services (operator actions); enqueueing objects for their controller; and the batched
 * claim / finish statements the controller runtime uses.
 *
 * Every state write is conditional on the state version: a writer that lost the race writes nothing and
 * records no history. A transition, its history row, the last outcome and the queue bookkeeping are one
 * statement (one commit), and a batch of objects is still one statement.
 */
import { type Kysely, type RawBuilder, sql } from "kysely";
import type pg from "pg";
import type { Db } from "../db/database.ts";
import type { ErrorSource, LastOutcome, RecordedOutcome } from "./handler.ts";
import type { Lifecycle } from "./lifecycle.ts";
import type { StateShape } from "./model.ts";

interface EntityStateColumns {
  id: string;
  state: unknown;
  state_version: number;
  state_entered_at: Date;
  kind_entered_at: Date;
  last_outcome: unknown;
  outcome_by: string | null;
  outcome_since: Date | null;
}

interface HistoryRow {
  object_id: string;
  version: number;
  state: unknown;
  from_kind: string | null;
  event: string;
  actor: string | null;
  entered_at: Date;
}

/** Table names are per entity type, so the typed views are keyed by any name. */
type EntityTables = { [table: string]: EntityStateColumns };
type HistoryTables = { [table: string]: HistoryRow };

export interface LifecycleRecord<S extends StateShape> {
  readonly id: string;
  readonly state: S;
  readonly version: number;
  readonly enteredAt: Date;
  readonly kindEnteredAt: Date;
  readonly lastOutcome: LastOutcome | null;
}

export interface QueueStatus {
  readonly queued: boolean;
  readonly processedBy: string | null;
  readonly processingStartedAt: Date | null;
  /** When the next attempt may start (backoff or re-check); for a claimed object, when its claim expires. */
  readonly availableAt: Date | null;
  readonly failures: number;
}

export interface SlaStatus {
  readonly limitSeconds: number;
  readonly breached: boolean;
  /** Seconds past the SLA; 0 while within it. */
  readonly overBySeconds: number;
}

/** "Why is this object here, and what is it waiting for?" */
export interface LifecycleStatus<S extends StateShape> extends LifecycleRecord<S> {
  readonly terminal: boolean;
  readonly timeInStateSeconds: number;
  readonly sla: SlaStatus | null;
  readonly queue: QueueStatus;
  readonly nextEvents: readonly { readonly event: string; readonly to: string }[];
  readonly observedAt: Date;
}

export interface StateHistoryEntry<S extends StateShape> {
  readonly version: number;
  readonly state: S;
  readonly fromKind: string | null;
  readonly event: string;
  readonly actor: string | null;
  readonly enteredAt: Date;
}

export type TransitionWrite =
  | { readonly applied: true; readonly version: number; readonly enteredAt: Date }
  /** The object changed since `version` was read (or is gone): nothing was written. */
  | { readonly applied: false };

export interface ServiceTransition<S extends StateShape, E extends string> {
  readonly id: string;
  /** The state the caller read, and its version: the write happens only if both are still current. */
  readonly from: S;
  readonly version: number;
  readonly event: E;
  readonly next: S;
  /** Who asked: a username, `system`, a replica. Recorded in history and as the last outcome. */
  readonly actor: string;
}

/** An object claimed by a replica, with the state it had when claimed. */
export interface ClaimedObject<S extends StateShape> extends LifecycleRecord<S> {
  readonly generation: number;
  readonly failures: number;
  /** The claim was taken over from a replica whose lease expired. */
  readonly takenOverFrom: string | null;
}

/** What the runtime writes when a handler has answered for one claimed object. */
export interface FinishItem {
  readonly id: string;
  readonly version: number;
  readonly generation: number;
  /** transition: write state + history; outcome: record the last outcome; none: queue only; delete: delete the row. */
  readonly op: "transition" | "outcome" | "none" | "delete";
  readonly next?: StateShape;
  readonly event?: string;
  readonly fromKind?: string;
  readonly outcome?: RecordedOutcome;
  /**
   * After the write: `continue` keeps the claim and runs the object again at once; `requeue` releases it to
   * be claimed after `delayMs`; `done` removes it from the queue unless it was enqueued again meanwhile.
   */
  readonly after: "continue" | "requeue" | "done";
  readonly delayMs: number;
  readonly failures: number;
}

export type FinishAction = "continue" | "requeue" | "done" | "gone";

export interface FinishResult<S extends StateShape> {
  readonly id: string;
  /** The state write (transition, outcome or deletion) happened. */
  readonly written: boolean;
  /** What happened to the queue row; undefined when the claim was no longer ours. */
  readonly action: FinishAction | undefined;
  /** For `continue`: the object as it now is, still claimed. */
  readonly continueWith?: ClaimedObject<S>;
}

export interface CensusRow {
  readonly kind: string;
  readonly objects: number;
  readonly slaBreaches: number;
  readonly oldestSeconds: number;
}

export interface QueueDepth {
  readonly ready: number;
  readonly processing: number;
  readonly delayed: number;
}

interface RawRecord {
  id: string;
  state: unknown;
  state_version: number;
  state_entered_at: Date;
  kind_entered_at: Date;
  last_outcome: unknown;
  outcome_by: string | null;
  outcome_since: Date | null;
}

export class LifecycleStore<S extends StateShape, E extends string = string> {
  private readonly histories: Kysely<HistoryTables>;

  /**
   * `pool`, when given, must be the pool behind `db`: the controller's hot statements (claim, finish) then
   * run as named prepared statements, which saves PostgreSQL parsing and planning them on every call.
   * Leave it out behind a transaction-pooling proxy (PgBouncer), which cannot keep prepared statements.
   */
  constructor(
    private readonly db: Db,
    readonly lifecycle: Lifecycle<S, E>,
    private readonly pool?: pg.Pool,
  ) {
    this.histories = db.withTables<HistoryTables>();
  }

  /** JSON for the `state` column of a new row; the kind must be one of the lifecycle's initial states. */
  initialState(state: S): string {
    if (!(this.lifecycle.states.initial as readonly string[]).includes(state.kind)) {
      throw new Error(`${this.lifecycle.entity}: ${state.kind} is not an initial state`);
    }
    return JSON.stringify(state);
  }

  async get(id: string, trx: Db = this.db): Promise<LifecycleRecord<S> | undefined> {
    const row = await trx
      .withTables<EntityTables>()
      .selectFrom(this.lifecycle.table)
      .select([
        "id",
        "state",
        "state_version",
        "state_entered_at",
        "kind_entered_at",
        "last_outcome",
        "outcome_by",
        "outcome_since",
      ])
      .where("id", "=", id)
      .executeTakeFirst();
    return row === undefined ? undefined : this.toRecord(row);
  }

  /** Current state, last outcome, SLA and queue status of one object. */
  async status(id: string): Promise<LifecycleStatus<S> | undefined> {
    const { table, queueTable, states } = this.lifecycle;
    const result = await sql<
      RawRecord & {
        queued: boolean;
        processed_by: string | null;
        processing_started_at: Date | null;
        available_at: Date | null;
        failures: number | null;
        observed_at: Date;
      }
    >`
      SELECT e.id, e.state, e.state_version, e.state_entered_at, e.kind_entered_at, e.last_outcome,
        e.outcome_by, e.outcome_since, q.object_id IS NOT NULL AS queued, q.processed_by,
        q.processing_started_at, q.available_at, q.failures, now() AS observed_at
      FROM ${sql.table(table)} e LEFT JOIN ${sql.table(queueTable)} q ON q.object_id = e.id
      WHERE e.id = ${id}
    `.execute(this.db);
    const row = result.rows[0];
    if (row === undefined) return undefined;
    const record = this.toRecord(row);
    const kind = record.state.kind;
    const timeInStateSeconds = Math.max(
      0,
      (row.observed_at.getTime() - record.kindEnteredAt.getTime()) / 1000,
    );
    const limit = states.slaSeconds(kind);
    return {
      ...record,
      terminal: states.isTerminal(kind),
      timeInStateSeconds,
      sla:
        limit === undefined
          ? null
          : {
              limitSeconds: limit,
              breached: timeInStateSeconds > limit,
              overBySeconds: Math.max(0, timeInStateSeconds - limit),
            },
      queue: {
        queued: row.queued,
        processedBy: row.processed_by,
        processingStartedAt: row.processing_started_at,
        availableAt: row.available_at,
        failures: row.failures ?? 0,
      },
      nextEvents: states.eventsFrom(kind),
      observedAt: row.observed_at,
    };
  }

  /** History, newest first; `beforeVersion` pages further back. */
  async history(
    id: string,
    options: { limit: number; beforeVersion?: number },
  ): Promise<StateHistoryEntry<S>[]> {
    let query = this.histories
      .selectFrom(this.lifecycle.historyTable)
      .select(["version", "state", "from_kind", "event", "actor", "entered_at"])
      .where("object_id", "=", id);
    if (options.beforeVersion !== undefined) query = query.where("version", "<", options.beforeVersion);
    const rows = await query.orderBy("version", "desc").limit(options.limit).execute();
    return rows.map((row) => ({
      version: row.version,
      state: row.state as S,
      fromKind: row.from_kind,
      event: row.event,
      actor: row.actor,
      enteredAt: row.entered_at,
    }));
  }

  /**
   * A transition asked for by a service (an operator action, an agent report): checked against the table,
   * written only if the object is still at `version`, recorded in history, and the object is enqueued
   * (with any backoff cleared) so its controller looks at it at once. Pass `trx` to commit it together
   * with the service's own writes.
   */
  async transition(change: ServiceTransition<S, E>, trx: Db = this.db): Promise<TransitionWrite> {
    const { table, historyTable, queueTable, channel, states } = this.lifecycle;
    states.check(change.from, change.event, change.next);
    const outcome: RecordedOutcome = {
      kind: "transition",
      event: change.event,
      from: change.from.kind,
      to: change.next.kind,
    };
    const result = await sql<{ state_version: number; state_entered_at: Date }>`
      WITH changed AS (
        UPDATE ${sql.table(table)} SET
          state = ${JSON.stringify(change.next)}::jsonb,
          state_version = state_version + 1,
          state_entered_at = now(),
          kind_entered_at = CASE WHEN ${change.from.kind === change.next.kind} THEN kind_entered_at ELSE now() END,
          last_outcome = ${JSON.stringify(outcome)}::jsonb,
          outcome_by = ${change.actor},
          outcome_since = now()
        WHERE id = ${change.id} AND state_version = ${change.version} AND state ->> 'kind' = ${change.from.kind}
        RETURNING id, state, state_version, state_entered_at
      ),
      history AS (
        INSERT INTO ${sql.table(historyTable)} (object_id, version, state, from_kind, event, actor, entered_at)
        SELECT id, state_version, state, ${change.from.kind}, ${change.event}, ${change.actor}, state_entered_at
        FROM changed
      ),
      queued AS (
        INSERT INTO ${sql.table(queueTable)} AS q (object_id)
        SELECT id FROM changed
        ON CONFLICT (object_id) DO UPDATE SET
          generation = q.generation + 1,
          enqueued_at = now(),
          failures = 0,
          available_at = CASE WHEN q.processed_by IS NULL THEN now() ELSE q.available_at END
        RETURNING q.object_id
      )
      SELECT c.state_version, c.state_entered_at,
        (SELECT pg_notify(${channel}, '') FROM queued LIMIT 1) IS NULL AS notified
      FROM changed c
    `.execute(trx);
    const row = result.rows[0];
    if (row === undefined) return { applied: false };
    return { applied: true, version: row.state_version, enteredAt: row.state_entered_at };
  }

  /**
   * Asks the controller to look at these objects. An object already queued is marked as enqueued again, so
   * a run in progress is followed by another; an object in backoff keeps its backoff. Pass `trx` to enqueue
   * in the transaction that made the change (the NOTIFY is sent when it commits).
   */
  async enqueue(ids: readonly string[], trx: Db = this.db): Promise<void> {
    if (ids.length === 0) return;
    const { queueTable, channel } = this.lifecycle;
    await sql`
      WITH queued AS (
        INSERT INTO ${sql.table(queueTable)} AS q (object_id)
        SELECT unnest(${ids}::uuid[])
        ON CONFLICT (object_id) DO UPDATE SET
          generation = q.generation + 1,
          enqueued_at = now(),
          available_at = CASE WHEN q.processed_by IS NULL AND q.failures = 0 THEN now() ELSE q.available_at END
        RETURNING q.object_id
      )
      SELECT pg_notify(${channel}, '') FROM (SELECT 1 FROM queued LIMIT 1) AS any_queued
    `.execute(trx);
  }

  /** Enqueues every object not in a terminal state (the periodic safety net); returns how many were added. */
  async enqueueActive(): Promise<number> {
    const { table, queueTable, channel, states } = this.lifecycle;
    const active = [...states.active];
    if (active.length === 0) return 0;
    const result = await sql<{ added: number }>`
      WITH queued AS (
        INSERT INTO ${sql.table(queueTable)} (object_id)
        SELECT id FROM ${sql.table(table)} WHERE state ->> 'kind' = ANY(${active}::text[])
        ON CONFLICT (object_id) DO NOTHING
        RETURNING object_id
      )
      SELECT count(*) AS added, (SELECT pg_notify(${channel}, '') FROM queued LIMIT 1) IS NULL AS notified
      FROM queued
    `.execute(this.db);
    return result.rows[0]?.added ?? 0;
  }

  /**
   * Claims up to `limit` ready objects for `replica`: rows that are available and either unclaimed or
   * whose claim lease expired (the replica that held it is presumed dead). One statement, SKIP LOCKED, so
   * replicas claiming at the same moment never wait for or step on each other.
   */
  async claim(replica: string, limit: number, claimLeaseMs: number): Promise<ClaimedObject<S>[]> {
    const { table, queueTable } = this.lifecycle;
    const query = sql<RawRecord & { generation: number; failures: number; previous_holder: string | null }>`
      WITH picked AS (
        SELECT object_id, processed_by AS previous_holder
        FROM ${sql.table(queueTable)}
        WHERE available_at <= now()
        ORDER BY available_at
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      ),
      claimed AS (
        UPDATE ${sql.table(queueTable)} AS q SET
          processed_by = ${replica},
          processing_started_at = now(),
          available_at = now() + ${claimLeaseMs} * interval '1 millisecond'
        FROM picked
        WHERE q.object_id = picked.object_id
        RETURNING q.object_id, q.generation, q.failures, picked.previous_holder
      )
      SELECT e.id, e.state, e.state_version, e.state_entered_at, e.kind_entered_at, e.last_outcome,
        e.outcome_by, e.outcome_since, c.generation, c.failures, c.previous_holder
      FROM claimed c JOIN ${sql.table(table)} e ON e.id = c.object_id
    `;
    const rows = await this.run("ingot_claim", query, undefined);
    return rows.map((row) => ({
      ...this.toRecord(row),
      generation: row.generation,
      failures: row.failures,
      takenOverFrom: row.previous_holder,
    }));
  }

  /**
   * Records the handlers' answers for a batch of claimed objects in one statement: conditional state
   * writes and history, last outcomes, deletions, and what happens to each queue row. Only rows still
   * claimed by `replica` are touched in the queue. Run it inside a transaction to commit `alsoWrite`s with it.
   */
  async finish(
    replica: string,
    items: readonly FinishItem[],
    claimLeaseMs: number,
    trx?: Db,
  ): Promise<FinishResult<S>[]> {
    if (items.length === 0) return [];
    const { table, historyTable, queueTable, channel } = this.lifecycle;
    const input = JSON.stringify(
      items.map((item) => ({
        id: item.id,
        version: item.version,
        generation: item.generation,
        op: item.op,
        next_state: item.next ?? null,
        event: item.event ?? null,
        from_kind: item.fromKind ?? null,
        kind_changes: item.next !== undefined && item.next.kind !== item.fromKind,
        outcome: item.outcome ?? null,
        after: item.after,
        delay_ms: item.delayMs,
        failures: item.failures,
      })),
    );
    const query = sql<
      RawRecord & { action: FinishAction | null; written: boolean; generation: number | null }
    >`
      WITH input AS (
        SELECT * FROM jsonb_to_recordset(${input}::jsonb) AS t(
          id uuid, version bigint, generation bigint, op text, next_state jsonb, event text, from_kind text,
          kind_changes boolean, outcome jsonb, after text, delay_ms double precision, failures integer)
      ),
      changed AS (
        UPDATE ${sql.table(table)} AS e SET
          state = CASE WHEN i.op = 'transition' THEN i.next_state ELSE e.state END,
          state_version = e.state_version + CASE WHEN i.op = 'transition' THEN 1 ELSE 0 END,
          state_entered_at = CASE WHEN i.op = 'transition' THEN now() ELSE e.state_entered_at END,
          kind_entered_at = CASE WHEN i.op = 'transition' AND i.kind_changes THEN now() ELSE e.kind_entered_at END,
          last_outcome = i.outcome,
          outcome_by = ${replica},
          outcome_since = now()
        FROM input i
        WHERE e.id = i.id AND e.state_version = i.version
          AND (i.op = 'transition' OR (i.op = 'outcome' AND e.last_outcome IS DISTINCT FROM i.outcome))
          -- A replica whose claim was taken over (it stalled past its lease) writes nothing.
          AND EXISTS (SELECT 1 FROM ${sql.table(queueTable)} q WHERE q.object_id = e.id AND q.processed_by = ${replica})
        RETURNING e.id, e.state, e.state_version, e.state_entered_at, e.kind_entered_at, e.last_outcome,
          e.outcome_by, e.outcome_since, i.op, i.event, i.from_kind
      ),
      history AS (
        INSERT INTO ${sql.table(historyTable)} (object_id, version, state, from_kind, event, actor, entered_at)
        SELECT id, state_version, state, from_kind, event, ${replica}, state_entered_at
        FROM changed WHERE op = 'transition'
      ),
      deleted AS (
        DELETE FROM ${sql.table(table)} AS e USING input i
        WHERE e.id = i.id AND e.state_version = i.version AND i.op = 'delete'
          AND EXISTS (SELECT 1 FROM ${sql.table(queueTable)} q WHERE q.object_id = e.id AND q.processed_by = ${replica})
        RETURNING e.id
      ),
      -- stale: the state changed while the handler ran, so its wait or error no longer applies; the
      -- object runs again at once, without backoff. (Reads the state as of the start of the statement.)
      current AS (
        SELECT i.id, (i.op IN ('outcome', 'none') AND e.state_version IS DISTINCT FROM i.version) AS stale
        FROM input i LEFT JOIN ${sql.table(table)} e ON e.id = i.id
      ),
      plan AS (
        SELECT i.id, i.generation,
          CASE WHEN s.stale THEN 0 ELSE i.failures END AS failures,
          CASE WHEN s.stale THEN 0 ELSE i.delay_ms END AS delay_ms,
          CASE
            WHEN i.op = 'delete' THEN CASE WHEN d.id IS NULL THEN 'requeue' ELSE 'gone' END
            WHEN i.op = 'transition' AND c.id IS NULL THEN 'requeue'
            WHEN s.stale THEN 'requeue'
            ELSE i.after
          END AS action,
          (c.id IS NOT NULL OR d.id IS NOT NULL) AS written
        FROM input i JOIN current s ON s.id = i.id
          LEFT JOIN changed c ON c.id = i.id LEFT JOIN deleted d ON d.id = i.id
      ),
      removed AS (
        DELETE FROM ${sql.table(queueTable)} AS q USING plan p
        WHERE q.object_id = p.id AND q.processed_by = ${replica}
          AND p.action = 'done' AND q.generation = p.generation
        RETURNING q.object_id
      ),
      kept AS (
        UPDATE ${sql.table(queueTable)} AS q SET
          processed_by = CASE WHEN p.action = 'continue' THEN q.processed_by END,
          processing_started_at = CASE WHEN p.action = 'continue' THEN now() END,
          available_at = CASE
            WHEN p.action = 'continue' THEN now() + ${claimLeaseMs} * interval '1 millisecond'
            WHEN p.action = 'done' THEN now()
            ELSE now() + p.delay_ms * interval '1 millisecond'
          END,
          failures = p.failures
        FROM plan p
        WHERE q.object_id = p.id AND q.processed_by = ${replica} AND p.action <> 'gone'
          AND NOT (p.action = 'done' AND q.generation = p.generation)
        RETURNING q.object_id, q.generation, q.available_at,
          CASE WHEN p.action = 'done' THEN 'requeue' ELSE p.action END AS action
      )
      SELECT p.id, p.written,
        COALESCE(k.action, CASE WHEN r.object_id IS NOT NULL THEN 'done' END,
          CASE WHEN p.action = 'gone' THEN 'gone' END) AS action,
        k.generation, c.state, c.state_version, c.state_entered_at, c.kind_entered_at, c.last_outcome,
        c.outcome_by, c.outcome_since,
        (SELECT pg_notify(${channel}, '') FROM kept
          WHERE kept.action <> 'continue' AND kept.available_at <= now() LIMIT 1) IS NULL AS notified
      FROM plan p
      LEFT JOIN changed c ON c.id = p.id
      LEFT JOIN kept k ON k.object_id = p.id
      LEFT JOIN removed r ON r.object_id = p.id
    `;
    const rows = await this.run("ingot_finish", query, trx);
    return rows.map((row) => {
      const action = row.action ?? undefined;
      const base = { id: row.id, written: row.written, action };
      if (action !== "continue" || row.state_version === null || row.generation === null) return base;
      return {
        ...base,
        continueWith: { ...this.toRecord(row), generation: row.generation, failures: 0, takenOverFrom: null },
      };
    });
  }

  /** Gives back every claim `replica` holds (on shutdown), so other replicas pick the objects up at once. */
  async releaseClaims(replica: string): Promise<number> {
    const { queueTable, channel } = this.lifecycle;
    const result = await sql<{ released: number }>`
      WITH released AS (
        UPDATE ${sql.table(queueTable)} SET processed_by = NULL, processing_started_at = NULL, available_at = now()
        WHERE processed_by = ${replica}
        RETURNING object_id
      )
      SELECT count(*) AS released, (SELECT pg_notify(${channel}, '') FROM released LIMIT 1) IS NULL AS notified
      FROM released
    `.execute(this.db);
    return result.rows[0]?.released ?? 0;
  }

  /** Objects per non-terminal kind, how many are over their SLA, and the longest time in the kind. */
  async census(): Promise<CensusRow[]> {
    const { table, states } = this.lifecycle;
    const kinds = [...states.active];
    if (kinds.length === 0) return [];
    const slas = kinds.map((kind) => states.slaSeconds(kind) ?? null);
    const result = await sql<{ kind: string; objects: number; sla_breaches: number; oldest_seconds: number }>`
      SELECT e.state ->> 'kind' AS kind,
        count(*) AS objects,
        count(*) FILTER (WHERE s.sla_seconds IS NOT NULL
          AND e.kind_entered_at < now() - s.sla_seconds * interval '1 second') AS sla_breaches,
        COALESCE(extract(epoch FROM now() - min(e.kind_entered_at)), 0)::float8 AS oldest_seconds
      FROM ${sql.table(table)} e
      JOIN unnest(${kinds}::text[], ${slas}::float8[]) AS s(kind, sla_seconds) ON s.kind = e.state ->> 'kind'
      WHERE e.state ->> 'kind' = ANY(${kinds}::text[])
      GROUP BY 1
    `.execute(this.db);
    return result.rows.map((row) => ({
      kind: row.kind,
      objects: row.objects,
      slaBreaches: row.sla_breaches,
      oldestSeconds: row.oldest_seconds,
    }));
  }

  async queueDepth(): Promise<QueueDepth> {
    const result = await sql<QueueDepth>`
      SELECT
        count(*) FILTER (WHERE processed_by IS NULL AND available_at <= now()) AS ready,
        count(*) FILTER (WHERE processed_by IS NOT NULL) AS processing,
        count(*) FILTER (WHERE processed_by IS NULL AND available_at > now()) AS delayed
      FROM ${sql.table(this.lifecycle.queueTable)}
    `.execute(this.db);
    return result.rows[0] ?? { ready: 0, processing: 0, delayed: 0 };
  }

  /** Runs a hot statement: prepared under `name` on the pool when possible, else through kysely. */
  private async run<R>(name: string, query: RawBuilder<R>, trx: Db | undefined): Promise<R[]> {
    if (trx !== undefined || this.pool === undefined) return (await query.execute(trx ?? this.db)).rows;
    const compiled = query.compile(this.db);
    const result = await this.pool.query({
      name: `${name}_${this.lifecycle.entity}`,
      text: compiled.sql,
      values: [...compiled.parameters],
    });
    return result.rows as R[];
  }

  private toRecord(row: RawRecord): LifecycleRecord<S> {
    return {
      id: row.id,
      state: row.state as S,
      version: row.state_version,
      enteredAt: row.state_entered_at,
      kindEnteredAt: row.kind_entered_at,
      lastOutcome:
        row.last_outcome === null || row.outcome_since === null
          ? null
          : { outcome: row.last_outcome as RecordedOutcome, by: row.outcome_by, since: row.outcome_since },
    };
  }
}

/** An error outcome as recorded. */
export function errorOutcome(message: string, source: ErrorSource): RecordedOutcome {
  return { kind: "error", message: message.slice(0, 2000), source };
}
