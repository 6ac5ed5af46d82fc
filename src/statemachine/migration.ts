/**
 * The one migration helper every entity type with a lifecycle calls, once, right after creating its table:
 *
 *   await sql`CREATE TABLE machines (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), …)`.execute(db);
 *   await addStateMachine(db, { entity: "machine" });
 *
 * It adds the versioned state columns to the entity table, creates `<entity>_state_history` (append-only,
 * capped by a trigger to the newest 250 versions per object, with a row for the creation itself) and the
 * controller queue `<entity>_controller_queue`.
 *
 * Migrations are never edited after they land, and this helper is part of every migration that calls it:
 * its output is frozen. A schema change for all lifecycles is a new helper (addStateMachineV2) used by a new
 * migration, never an edit here.
 */
import { type Kysely, sql } from "kysely";
import { lifecycleTableNames } from "./lifecycle.ts";

export const STATE_HISTORY_LIMIT = 250;

export interface AddStateMachineOptions {
  /** snake_case singular entity name, e.g. `vetting_run`. */
  readonly entity: string;
  /** Existing entity table with `id uuid PRIMARY KEY`; defaults to `<entity>s`. */
  readonly table?: string;
}

export async function addStateMachine<DB>(db: Kysely<DB>, options: AddStateMachineOptions): Promise<void> {
  const names = lifecycleTableNames(options.entity, options.table);
  const table = sql.table(names.table);
  const history = sql.table(names.historyTable);
  const queue = sql.table(names.queueTable);
  const id = (suffix: string) => sql.id(`${options.entity}_${suffix}`);

  await sql`
    ALTER TABLE ${table}
      ADD COLUMN state jsonb NOT NULL
        CONSTRAINT ${id("state_has_kind")} CHECK (jsonb_typeof(state -> 'kind') IS NOT DISTINCT FROM 'string'),
      ADD COLUMN state_version bigint NOT NULL DEFAULT 1 CONSTRAINT ${id("state_version_positive")} CHECK (state_version >= 1),
      ADD COLUMN state_entered_at timestamptz NOT NULL DEFAULT now(),
      ADD COLUMN kind_entered_at timestamptz NOT NULL DEFAULT now(),
      ADD COLUMN last_outcome jsonb,
      ADD COLUMN outcome_by text,
      ADD COLUMN outcome_since timestamptz
  `.execute(db);
  await sql`CREATE INDEX ${id("state_kind_idx")} ON ${table} ((state ->> 'kind'))`.execute(db);

  // No foreign key to the entity: the history is the audit trail and outlives a deleted object.
  await sql`
    CREATE TABLE ${history} (
      object_id uuid NOT NULL,
      version bigint NOT NULL,
      state jsonb NOT NULL,
      from_kind text,
      event text NOT NULL,
      actor text,
      entered_at timestamptz NOT NULL,
      PRIMARY KEY (object_id, version)
    )
  `.execute(db);

  // Versions of one object are consecutive, so "newest 250" is "version > newest - 250": one index range
  // per object touched, once per statement, whatever the batch size.
  await sql`
    CREATE FUNCTION ${id("state_history_cap")}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM ${history} AS h
      USING (SELECT object_id, max(version) AS newest FROM inserted GROUP BY object_id) AS n
      WHERE h.object_id = n.object_id AND h.version <= n.newest - ${sql.lit(STATE_HISTORY_LIMIT)};
      RETURN NULL;
    END
    $$
  `.execute(db);
  await sql`
    CREATE TRIGGER ${id("state_history_cap")} AFTER INSERT ON ${history}
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION ${id("state_history_cap")}()
  `.execute(db);

  // The creation is the first history entry, whoever inserts the row.
  await sql`
    CREATE FUNCTION ${id("state_history_created")}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO ${history} (object_id, version, state, from_kind, event, actor, entered_at)
      SELECT id, state_version, state, NULL, 'created', NULL, state_entered_at FROM created;
      RETURN NULL;
    END
    $$
  `.execute(db);
  await sql`
    CREATE TRIGGER ${id("state_history_created")} AFTER INSERT ON ${table}
    REFERENCING NEW TABLE AS created FOR EACH STATEMENT EXECUTE FUNCTION ${id("state_history_created")}()
  `.execute(db);

  // One row per object that needs its controller. available_at is when the row may next be claimed: in the
  // past = ready; in the future = backoff or a requested re-check, or, while processed_by is set, the end of
  // that claim's lease (after which another replica takes the claim over).
  await sql`
    CREATE TABLE ${queue} (
      object_id uuid PRIMARY KEY REFERENCES ${table} (id) ON DELETE CASCADE,
      enqueued_at timestamptz NOT NULL DEFAULT now(),
      available_at timestamptz NOT NULL DEFAULT now(),
      generation bigint NOT NULL DEFAULT 1,
      failures integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
      processed_by text,
      processing_started_at timestamptz,
      CHECK ((processed_by IS NULL) = (processing_started_at IS NULL))
    ) WITH (fillfactor = 70)
  `.execute(db);
  await sql`CREATE INDEX ${id("controller_queue_available_idx")} ON ${queue} (available_at)`.execute(db);
}
