import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import type { Db } from "../../src/db/database.ts";
import { LifecycleStore } from "../../src/statemachine/store.ts";
import { eventually } from "../helpers/app.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { createDemoLifecycle, insertDemoTasks } from "./demo.ts";

const OBJECTS = 2_000;
const STEPS = 5;
const WORKER = path.join(import.meta.dirname, "fixtures", "step-worker.ts");

interface Worker {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
}

function startWorker(url: string, entity: string, name: string): Promise<Worker> {
  const child = spawn(process.execPath, ["--import", "tsx", WORKER, url, entity, name], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("ready")) resolve({ name, child, exited });
    });
    child.once("exit", (code) => reject(new Error(`worker ${name} exited with ${code} before it was ready`)));
  });
}

async function count(db: Db, query: ReturnType<typeof sql<{ n: number }>>): Promise<number> {
  return (await query.execute(db)).rows[0]?.n ?? -1;
}

describe("controller across processes", () => {
  let database: TestDatabase;
  const workers: Worker[] = [];

  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill("SIGKILL");
    await database.drop();
  });

  it(`takes ${OBJECTS} objects through ${STEPS} steps exactly once on 3 processes, one killed mid-run`, async () => {
    const db = database.handle.db;
    const lifecycle = await createDemoLifecycle(db, "step_task");
    const effects = sql.table("step_task_effects");
    await sql`
      CREATE TABLE ${effects} (
        object_id uuid NOT NULL, step integer NOT NULL, replica text NOT NULL, PRIMARY KEY (object_id, step)
      )`.execute(db);
    const ids = await insertDemoTasks(db, lifecycle, OBJECTS);

    workers.push(
      ...(await Promise.all(
        ["worker-0", "worker-1", "worker-2"].map((name) => startWorker(database.url, lifecycle.entity, name)),
      )),
    );
    await new LifecycleStore(db, lifecycle).enqueue(ids);

    // Kill worker-0 while it holds claims, once the run is well under way.
    const queue = sql.table(lifecycle.queueTable);
    const heldAtKill = await eventually(
      async () => {
        const done = await count(db, sql<{ n: number }>`SELECT count(*) AS n FROM ${effects}`);
        if (done < (OBJECTS * STEPS) / 5) return undefined;
        const held = await count(
          db,
          sql<{ n: number }>`SELECT count(*) AS n FROM ${queue} WHERE processed_by = 'worker-0'`,
        );
        if (held === 0) return undefined;
        workers[0]?.child.kill("SIGKILL");
        return held;
      },
      { timeoutMs: 60_000, intervalMs: 5, what: "worker-0 holding claims mid-run" },
    );
    assert.equal(await workers[0]?.exited, null, "worker-0 was killed");
    const orphaned = await sql<{ object_id: string }>`
      SELECT object_id FROM ${queue} WHERE processed_by = 'worker-0'`.execute(db);
    assert.ok(heldAtKill > 0 && orphaned.rows.length > 0, "the killed worker left claims behind");

    await eventually(
      async () => {
        const succeeded = await count(
          db,
          sql<{
            n: number;
          }>`SELECT count(*) AS n FROM ${sql.table(lifecycle.table)} WHERE state ->> 'kind' = 'succeeded'`,
        );
        return succeeded === OBJECTS ? true : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 100, what: "every object to succeed" },
    );
    for (const worker of workers.slice(1)) worker.child.kill("SIGTERM");
    assert.deepEqual(await Promise.all(workers.slice(1).map((worker) => worker.exited)), [0, 0]);

    // Every step happened exactly once per object (the primary key refuses a second).
    assert.equal(await count(db, sql<{ n: number }>`SELECT count(*) AS n FROM ${effects}`), OBJECTS * STEPS);
    assert.equal(
      await count(
        db,
        sql<{ n: number }>`SELECT count(*) AS n FROM (SELECT object_id FROM ${effects} GROUP BY object_id
          HAVING array_agg(step ORDER BY step) <> ARRAY[1, 2, 3, 4, 5]) AS wrong`,
      ),
      0,
    );
    // History: versions 1..6 without gaps or duplicates, in the order of the table.
    const history = sql.table(lifecycle.historyTable);
    assert.equal(
      await count(
        db,
        sql<{ n: number }>`SELECT count(*) AS n FROM (
          SELECT object_id FROM ${history} GROUP BY object_id
          HAVING array_agg(version::int ORDER BY version) <> ARRAY[1, 2, 3, 4, 5, 6]
            OR array_agg(event ORDER BY version) <> ARRAY['created', 'start', 'step_done', 'step_done', 'step_done', 'finish']
        ) AS wrong`,
      ),
      0,
    );
    assert.equal(
      await count(db, sql<{ n: number }>`SELECT count(DISTINCT object_id) AS n FROM ${history}`),
      OBJECTS,
    );
    // Each effect was committed by the replica that recorded the transition it belongs to.
    assert.equal(
      await count(
        db,
        sql<{ n: number }>`SELECT count(*) AS n FROM ${effects} e
          JOIN ${history} h ON h.object_id = e.object_id AND h.version = e.step + 1 WHERE h.actor <> e.replica`,
      ),
      0,
    );
    // The killed worker's claims were taken over and finished by the others.
    const orphanIds = orphaned.rows.map((row) => row.object_id);
    assert.equal(
      await count(
        db,
        sql<{ n: number }>`SELECT count(DISTINCT object_id) AS n FROM ${history}
          WHERE object_id = ANY(${orphanIds}::uuid[]) AND actor IN ('worker-1', 'worker-2')`,
      ),
      orphanIds.length,
    );
    assert.equal(await count(db, sql<{ n: number }>`SELECT count(*) AS n FROM ${queue}`), 0);
  });
});
