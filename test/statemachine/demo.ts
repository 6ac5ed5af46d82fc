/**
 * A small lifecycle used by the state machine tests (and shown in docs/state-machines.md): a task that
 * starts, runs a number of steps and ends succeeded, failed or cancelled.
 */
import { sql } from "kysely";
import type { Db } from "../../src/db/database.ts";
import { defineLifecycle, type Lifecycle } from "../../src/statemachine/lifecycle.ts";
import { addStateMachine } from "../../src/statemachine/migration.ts";
import { defineStateMachine } from "../../src/statemachine/model.ts";

export type DemoTaskState =
  | { kind: "pending" }
  | { kind: "running"; step: number }
  | { kind: "succeeded" }
  | { kind: "failed"; reason: string }
  | { kind: "cancelled" };

export const DemoTaskStates = defineStateMachine<DemoTaskState>()({
  name: "demo_task",
  states: ["pending", "running", "succeeded", "failed", "cancelled"],
  initial: ["pending"],
  terminal: ["succeeded", "failed", "cancelled"],
  transitions: {
    pending: { start: "running", cancel: "cancelled" },
    running: { step_done: "running", finish: "succeeded", fail: "failed", cancel: "cancelled" },
  },
  slaSeconds: { running: 600 },
});

export type DemoTaskEvent = (typeof DemoTaskStates.edges)[number]["event"];

let tables = 0;

/** A fresh entity table `<entity>s (id, org, name)` with a lifecycle; the entity name is unique per call. */
export async function createDemoLifecycle(
  db: Db,
  entity = `demo_task_${process.pid}_${++tables}`,
): Promise<Lifecycle<DemoTaskState, DemoTaskEvent>> {
  const lifecycle = defineLifecycle({ entity, states: DemoTaskStates });
  await sql`
    CREATE TABLE ${sql.table(lifecycle.table)} (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      org text NOT NULL DEFAULT 'default',
      name text NOT NULL DEFAULT ''
    )
  `.execute(db);
  await addStateMachine(db, { entity });
  return lifecycle;
}

/** Inserts `count` objects in `state` (pending by default) and returns their ids in insertion order. */
export async function insertDemoTasks(
  db: Db,
  lifecycle: Lifecycle<DemoTaskState, DemoTaskEvent>,
  count: number,
  options: { state?: DemoTaskState; org?: string } = {},
): Promise<string[]> {
  const state = JSON.stringify(options.state ?? { kind: "pending" });
  const result = await sql<{ id: string }>`
    INSERT INTO ${sql.table(lifecycle.table)} (org, name, state)
    SELECT ${options.org ?? "default"}, 'task-' || n, ${state}::jsonb FROM generate_series(1, ${count}) AS n
    ORDER BY n
    RETURNING id
  `.execute(db);
  return result.rows.map((row) => row.id);
}
