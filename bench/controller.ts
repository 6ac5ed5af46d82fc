/**
 * Controller runtime benchmark: transitions per second for N objects × M steps on K replicas, beside the
 * raw single-row UPDATE commit rate of the same PostgreSQL with K connections (the physical limit: every
 * transition is at least one durable commit unless batched).
 *
 *   npm run bench:controller -- --objects 2000 --steps 5 --replicas 3 --mode in-process|processes
 *
 * Starts its own embedded PostgreSQL with default (durable) settings in a temporary directory. The last
 * line is always `transitions/s: X raw-commits/s: Y ratio: Z`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { sql } from "kysely";
import pg from "pg";
import { Registry } from "prom-client";
import { type DatabaseHandle, openDatabase } from "../src/db/database.ts";
import { startEmbeddedPostgres } from "../src/db/embedded-postgres.ts";
import { migrateToLatest } from "../src/db/migrate.ts";
import { createLogger } from "../src/observability/logger.ts";
import { Controller } from "../src/statemachine/controller.ts";
import { type ControllerHandler, Outcome } from "../src/statemachine/handler.ts";
import { defineLifecycle } from "../src/statemachine/lifecycle.ts";
import { addStateMachine } from "../src/statemachine/migration.ts";
import { defineStateMachine } from "../src/statemachine/model.ts";
import { LifecycleStore } from "../src/statemachine/store.ts";

type BenchState = { kind: "pending" } | { kind: "stepping"; step: number } | { kind: "done" };

const BenchStates = defineStateMachine<BenchState>()({
  name: "bench_object",
  states: ["pending", "stepping", "done"],
  initial: ["pending"],
  terminal: ["done"],
  transitions: {
    pending: { advance: "stepping", finish: "done" },
    stepping: { advance: "stepping", finish: "done" },
  },
});
const lifecycle = defineLifecycle({ entity: "bench_object", states: BenchStates });

const { values: flags } = parseArgs({
  options: {
    objects: { type: "string", default: "2000" },
    steps: { type: "string", default: "5" },
    replicas: { type: "string", default: "3" },
    mode: { type: "string", default: "in-process" },
    concurrency: { type: "string", default: "64" },
    "raw-seconds": { type: "string", default: "5" },
    worker: { type: "string" },
    replica: { type: "string" },
  },
});
const positive = (name: string, value: string | undefined): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${name} must be a positive integer`);
  return parsed;
};
const steps = positive("steps", flags.steps);
const concurrency = positive("concurrency", flags.concurrency);
// Errors only: the output must end with the summary line, and shutdown chatter would follow it.
const logger = createLogger("error");

/** M steps: pending → stepping{1} → … → stepping{M-1} → done. */
const handler: ControllerHandler<BenchState, string> = async (object) => {
  const state = object.state;
  const done = state.kind === "pending" ? 0 : state.kind === "stepping" ? state.step : steps;
  if (done + 1 >= steps) return Outcome.transition("finish", { kind: "done" });
  return Outcome.transition("advance", { kind: "stepping", step: done + 1 });
};

function replicaController(handle: DatabaseHandle, url: string, replica: string, registry: Registry) {
  return new Controller({
    lifecycle,
    db: handle.db,
    pool: handle.pool,
    handler,
    logger,
    registry,
    notifications: { databaseUrl: url },
    replica,
    settings: { maxConcurrency: concurrency, claimBatchSize: concurrency, pollIntervalMs: 500 },
  });
}

if (flags.worker !== undefined) {
  await runWorker(flags.worker, flags.replica ?? `worker-${process.pid}`);
} else {
  // Printed after everything is shut down, so it is the last line.
  console.log(await main());
}

async function runWorker(url: string, replica: string): Promise<void> {
  const handle = openDatabase(url, logger, { maxConnections: 8 });
  const controller = replicaController(handle, url, replica, new Registry());
  await controller.start();
  console.log("ready");
  process.once("SIGTERM", () => {
    controller
      .stop()
      .then(() => handle.close())
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
  });
}

async function main(): Promise<string> {
  const objects = positive("objects", flags.objects);
  const replicas = positive("replicas", flags.replicas);
  const rawSeconds = positive("raw-seconds", flags["raw-seconds"]);
  const mode = flags.mode;
  if (mode !== "in-process" && mode !== "processes")
    throw new Error("--mode must be in-process or processes");

  const dataDir = mkdtempSync(path.join(tmpdir(), "ingot-bench-"));
  chmodSync(dataDir, 0o755);
  const postgres = await startEmbeddedPostgres({ dataDir, logger });
  const handle = openDatabase(postgres.url, logger, { maxConnections: 4, applicationName: "bench-main" });
  const children: ChildProcess[] = [];
  try {
    await migrateToLatest(handle.db, logger);
    await sql`CREATE TABLE bench_objects (id uuid PRIMARY KEY DEFAULT gen_random_uuid())`.execute(handle.db);
    await addStateMachine(handle.db, { entity: lifecycle.entity });
    const settings = await sql<{ name: string; setting: string }>`
      SELECT name, setting FROM pg_settings
      WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes')`.execute(
      handle.db,
    );
    console.log(
      `PostgreSQL ${postgres.port}: ${settings.rows.map((row) => `${row.name}=${row.setting}`).join(" ")} (data in ${dataDir})`,
    );
    console.log(
      `${objects} objects × ${steps} steps, ${replicas} replicas (${mode}), concurrency ${concurrency}`,
    );

    const result = await sql<{ id: string }>`
      INSERT INTO bench_objects (state) SELECT '{"kind": "pending"}'::jsonb FROM generate_series(1, ${objects})
      RETURNING id`.execute(handle.db);
    const ids = result.rows.map((row) => row.id);

    const registry = new Registry();
    const stops: (() => Promise<void>)[] = [];
    if (mode === "in-process") {
      for (let index = 0; index < replicas; index++) {
        const replicaHandle = openDatabase(postgres.url, logger, {
          maxConnections: 8,
          applicationName: `bench-replica-${index}`,
        });
        const controller = replicaController(replicaHandle, postgres.url, `replica-${index}`, registry);
        await controller.start();
        stops.push(async () => {
          await controller.stop();
          await replicaHandle.close();
        });
      }
    } else {
      const script = import.meta.filename;
      await Promise.all(
        Array.from({ length: replicas }, async (_, index) => {
          const child = spawn(
            process.execPath,
            [
              "--import",
              "tsx",
              script,
              "--worker",
              postgres.url,
              "--replica",
              `replica-${index}`,
              "--steps",
              String(steps),
              "--concurrency",
              String(concurrency),
            ],
            { stdio: ["ignore", "pipe", "inherit"] },
          );
          children.push(child);
          await waitForReady(child);
          const exited = new Promise((resolve) => child.once("exit", resolve));
          stops.push(async () => {
            child.kill("SIGTERM");
            await exited;
          });
        }),
      );
    }

    const started = performance.now();
    await new LifecycleStore(handle.db, lifecycle).enqueue(ids);
    for (;;) {
      const done = await sql<{ n: number }>`
        SELECT count(*) AS n FROM bench_objects WHERE state ->> 'kind' = 'done'`.execute(handle.db);
      if ((done.rows[0]?.n ?? 0) >= objects) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const seconds = (performance.now() - started) / 1000;
    const wakeUp = await wakeUpLatency(handle.db);
    await Promise.all(stops.map((stop) => stop()));

    const transitions = objects * steps + wakeUp.objects * steps;
    const history = await sql<{ n: number }>`
      SELECT count(*) AS n FROM bench_object_state_history WHERE event <> 'created'`.execute(handle.db);
    if (history.rows[0]?.n !== transitions) {
      throw new Error(`expected ${transitions} transitions in history, found ${history.rows[0]?.n}`);
    }
    const transitionRate = (objects * steps) / seconds;
    console.log(`controller: ${objects * steps} transitions in ${seconds.toFixed(2)} s`);
    if (mode === "in-process") {
      const batches = registry.getSingleMetric("ingot_controller_write_batch_size");
      const values = (await batches?.get())?.values ?? [];
      const named = values as { metricName?: string; value: number }[];
      const sum = named.find((value) => value.metricName?.endsWith("_sum"))?.value ?? 0;
      const count = named.find((value) => value.metricName?.endsWith("_count"))?.value ?? 0;
      if (count > 0)
        console.log(`write statements: ${count}, answers per statement: ${(sum / count).toFixed(1)}`);
    }

    console.log(
      `wake-up: first transition ${wakeUp.medianMs.toFixed(1)} ms after the enqueue commits ` +
        `(median of ${wakeUp.objects} single objects, max ${wakeUp.maxMs.toFixed(1)} ms; poll interval 500 ms)`,
    );
    const rawRate = await rawCommitRate(postgres.url, replicas, rawSeconds);
    console.log(`raw: ${replicas} connections doing single-row UPDATE commits for ${rawSeconds} s`);
    return `transitions/s: ${transitionRate.toFixed(0)} raw-commits/s: ${rawRate.toFixed(0)} ratio: ${(transitionRate / rawRate).toFixed(2)}`;
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await handle.close();
    await postgres.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** One object at a time: how long from the enqueue's commit to its first recorded transition (DB clock). */
async function wakeUpLatency(
  db: DatabaseHandle["db"],
): Promise<{ objects: number; medianMs: number; maxMs: number }> {
  const store = new LifecycleStore(db, lifecycle);
  const samples: number[] = [];
  for (let sample = 0; sample < 20; sample++) {
    const inserted = await sql<{ id: string }>`
      INSERT INTO bench_objects (state) VALUES ('{"kind": "pending"}'::jsonb) RETURNING id`.execute(db);
    const id = inserted.rows[0]?.id as string;
    await store.enqueue([id]);
    const committed = await sql<{ at: Date }>`SELECT clock_timestamp() AS at`.execute(db);
    for (;;) {
      const first = await sql<{ ms: number }>`
        SELECT extract(epoch FROM entered_at - ${committed.rows[0]?.at}::timestamptz)::float8 * 1000 AS ms
        FROM bench_object_state_history WHERE object_id = ${id} AND version = 2`.execute(db);
      const row = first.rows[0];
      if (row !== undefined) {
        samples.push(Math.max(0, row.ms));
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    while ((await store.get(id))?.state.kind !== "done")
      await new Promise((resolve) => setTimeout(resolve, 2));
  }
  samples.sort((a, b) => a - b);
  return {
    objects: samples.length,
    medianMs: samples[Math.floor(samples.length / 2)] ?? 0,
    maxMs: samples.at(-1) ?? 0,
  };
}

async function waitForReady(child: ChildProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`replica exited with ${code} before it was ready`)));
  });
}

/** K connections, each committing single-row UPDATEs of its own row as fast as it can. */
async function rawCommitRate(url: string, connections: number, seconds: number): Promise<number> {
  const setup = new pg.Client({ connectionString: url });
  await setup.connect();
  await setup.query("CREATE TABLE raw_commits (id integer PRIMARY KEY, n bigint NOT NULL)");
  await setup.query("INSERT INTO raw_commits SELECT i, 0 FROM generate_series(0, $1::int - 1) AS i", [
    connections,
  ]);
  await setup.end();
  const clients = await Promise.all(
    Array.from({ length: connections }, async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      return client;
    }),
  );
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  const counts = await Promise.all(
    clients.map(async (client, index) => {
      let commits = 0;
      while (performance.now() < deadline) {
        await client.query({
          name: "raw-update",
          text: "UPDATE raw_commits SET n = n + 1 WHERE id = $1",
          values: [index],
        });
        commits++;
      }
      return commits;
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  await Promise.all(clients.map((client) => client.end()));
  return counts.reduce((sum, count) => sum + count, 0) / elapsed;
}
