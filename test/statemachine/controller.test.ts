import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { sql } from "kysely";
import { Registry } from "prom-client";
import type { Db } from "../../src/db/database.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { Controller, type ControllerSettings } from "../../src/statemachine/controller.ts";
import { type ControllerHandler, Outcome } from "../../src/statemachine/handler.ts";
import { Lease } from "../../src/statemachine/lease.ts";
import type { Lifecycle } from "../../src/statemachine/lifecycle.ts";
import { NotificationListener } from "../../src/statemachine/listener.ts";
import { LifecycleStore } from "../../src/statemachine/store.ts";
import { eventually } from "../helpers/app.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { createDemoLifecycle, type DemoTaskEvent, type DemoTaskState, insertDemoTasks } from "./demo.ts";

type DemoLifecycle = Lifecycle<DemoTaskState, DemoTaskEvent>;
type DemoHandler = ControllerHandler<DemoTaskState, DemoTaskEvent>;

const logger = createLogger("silent");

/** Steps 1..3 then finish: pending → running{1} → running{2} → running{3} → succeeded. */
const STEPS = 3;
const stepper: DemoHandler = async (object) => {
  const state = object.state;
  if (state.kind === "pending") return Outcome.transition("start", { kind: "running", step: 1 });
  if (state.kind === "running" && state.step < STEPS) {
    return Outcome.transition("step_done", { kind: "running", step: state.step + 1 });
  }
  return Outcome.transition("finish", { kind: "succeeded" });
};

/** A promise the test resolves when it wants a blocked handler to go on. */
function gate(): { opened: Promise<void>; open(): void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return 0;
  const data = await metric.get();
  return data.values
    .filter((value) => Object.entries(labels).every(([key, wanted]) => String(value.labels[key]) === wanted))
    .filter(
      (value) => !("metricName" in value) || value.metricName === name || value.metricName === undefined,
    )
    .reduce((sum, value) => sum + value.value, 0);
}

describe("controller runtime", () => {
  let database: TestDatabase;
  let db: Db;
  const running: Controller<DemoTaskState, DemoTaskEvent>[] = [];

  before(async () => {
    database = await createTestDatabase();
    db = database.handle.db;
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((controller) => controller.stop()));
  });
  after(async () => await database.drop());

  async function start(
    lifecycle: DemoLifecycle,
    handler: DemoHandler,
    options: {
      settings?: Partial<ControllerSettings>;
      /** Without the pool the hot statements go through kysely instead of prepared statements. */
      prepared?: boolean;
      registry?: Registry;
      replica?: string;
      listener?: NotificationListener;
    } = {},
  ): Promise<Controller<DemoTaskState, DemoTaskEvent>> {
    const controller = new Controller({
      lifecycle,
      db,
      handler,
      logger,
      registry: options.registry ?? new Registry(),
      notifications: options.listener ?? { databaseUrl: database.url },
      ...(options.prepared === false ? {} : { pool: database.handle.pool }),
      ...(options.replica !== undefined ? { replica: options.replica } : {}),
      settings: { pollIntervalMs: 250, censusIntervalMs: 60_000, ...options.settings },
    });
    await controller.start();
    running.push(controller);
    return controller;
  }

  async function kinds(lifecycle: DemoLifecycle): Promise<Record<string, number>> {
    const result = await sql<{ kind: string; n: number }>`
      SELECT state ->> 'kind' AS kind, count(*) AS n FROM ${sql.table(lifecycle.table)} GROUP BY 1`.execute(
      db,
    );
    return Object.fromEntries(result.rows.map((row) => [row.kind, row.n]));
  }

  async function queueRow(lifecycle: DemoLifecycle, id: string) {
    const result = await sql<{
      failures: number;
      processed_by: string | null;
      delay_seconds: number;
    }>`
      SELECT failures, processed_by, extract(epoch FROM available_at - now())::float8 AS delay_seconds
      FROM ${sql.table(lifecycle.queueTable)} WHERE object_id = ${id}`.execute(db);
    return result.rows[0];
  }

  for (const prepared of [true, false]) {
    it(`drives every object through its steps, each transition recorded once (prepared statements: ${prepared})`, async () => {
      const lifecycle = await createDemoLifecycle(db);
      const store = new LifecycleStore(db, lifecycle);
      const registry = new Registry();
      const ids = await insertDemoTasks(db, lifecycle, 40);
      await start(lifecycle, stepper, { registry, prepared, settings: { maxConcurrency: 8 } });
      await store.enqueue(ids);
      await eventually(async () => ((await kinds(lifecycle)).succeeded === 40 ? true : undefined), {
        what: "all tasks succeeded",
      });
      const history = await sql<{ events: string[]; versions: number[] }>`
      SELECT array_agg(event ORDER BY version) AS events, array_agg(version::int ORDER BY version) AS versions
      FROM ${sql.table(lifecycle.historyTable)} GROUP BY object_id`.execute(db);
      assert.equal(history.rows.length, 40);
      for (const row of history.rows) {
        assert.deepEqual(row.events, ["created", "start", "step_done", "step_done", "finish"]);
        assert.deepEqual(row.versions, [1, 2, 3, 4, 5]);
      }
      assert.equal(await metricValue(registry, "ingot_controller_transitions_total", {}), 40 * (STEPS + 1));
      assert.equal(
        await metricValue(registry, "ingot_controller_transitions_total", {
          from: "running",
          to: "succeeded",
        }),
        40,
      );
      const queued = await sql<{
        n: number;
      }>`SELECT count(*) AS n FROM ${sql.table(lifecycle.queueTable)}`.execute(db);
      assert.equal(queued.rows[0]?.n, 0, "finished objects leave the queue");
    });
  }

  it("never runs more handlers at once than maxConcurrency", async () => {
    const lifecycle = await createDemoLifecycle(db);
    const ids = await insertDemoTasks(db, lifecycle, 30);
    let now = 0;
    let most = 0;
    await start(
      lifecycle,
      async () => {
        now++;
        most = Math.max(most, now);
        await new Promise((resolve) => setTimeout(resolve, 5));
        now--;
        return Outcome.transition("cancel", { kind: "cancelled" });
      },
      { settings: { maxConcurrency: 3 } },
    );
    await new LifecycleStore(db, lifecycle).enqueue(ids);
    await eventually(async () => ((await kinds(lifecycle)).cancelled === 30 ? true : undefined));
    assert.ok(most >= 1 && most <= 3, `at most 3 at once, saw ${most}`);
  });

  it("records a wait with its reason; seeing the same wait again does not move `since`", async () => {
    const lifecycle = await createDemoLifecycle(db);
    const store = new LifecycleStore(db, lifecycle);
    const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
    let calls = 0;
    let reason = "waiting for the BMC to answer";
    await start(lifecycle, async () => {
      calls++;
      return Outcome.wait(reason);
    });
    await store.enqueue([id]);
    const first = await eventually(async () => {
      const record = await store.get(id);
      return record?.lastOutcome?.outcome.kind === "wait" ? record : undefined;
    });
    assert.deepEqual(first.lastOutcome?.outcome, { kind: "wait", reason: "waiting for the BMC to answer" });
    assert.equal(first.version, 1, "a wait does not change the state version");
    await eventually(async () => ((await queueRow(lifecycle, id)) === undefined ? true : undefined), {
      what: "a wait leaves the queue",
    });
    await store.enqueue([id]);
    await eventually(async () =>
      calls === 2 && (await queueRow(lifecycle, id)) === undefined ? true : undefined,
    );
    const second = await store.get(id);
    assert.equal(second?.lastOutcome?.since.getTime(), first.lastOutcome?.since.getTime());
    reason = "waiting for PXE boot";
    await store.enqueue([id]);
    const third = await eventually(async () => {
      const record = await store.get(id);
      return record?.lastOutcome?.outcome.kind === "wait" && record.lastOutcome.outcome.reason === reason
        ? record
        : undefined;
    });
    assert.ok((third.lastOutcome?.since.getTime() ?? 0) >= (first.lastOutcome?.since.getTime() ?? 0));
    const history = await store.history(id, { limit: 10 });
    assert.equal(history.length, 1, "waits are not transitions");
  });

  it("re-checks a waiting object after checkAgainInMs", async () => {
    const lifecycle = await createDemoLifecycle(db);
    const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
    let calls = 0;
    await start(lifecycle, async () => {
      calls++;
      return calls < 3
        ? Outcome.wait("not yet", { checkAgainInMs: 20 })
        : Outcome.transition("start", { kind: "running", step: 1 });
    });
    await new LifecycleStore(db, lifecycle).enqueue([id]);
    await eventually(async () => ((await kinds(lifecycle)).running === 1 ? true : undefined));
    assert.equal(calls >= 3, true);
  });

  it("backs off an object whose handler keeps failing, and records where the error came from", async () => {
    const lifecycle = await createDemoLifecycle(db);
    const store = new LifecycleStore(db, lifecycle);
    const registry = new Registry();
    const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
    let calls = 0;
    let healthy = false;
    const hour = 3_600_000;
    const controller = await start(
      lifecycle,
      async (object) => {
        if (object.state.kind === "running") return Outcome.wait("running");
        calls++;
        if (!healthy) throw new Error("BMC unreachable");
        return Outcome.transition("start", { kind: "running", step: 1 });
      },
      { registry, settings: { backoff: { initialMs: hour, maxMs: 10 * hour, factor: 2, jitter: 0 } } },
    );
    await store.enqueue([id]);
    const firstFailure = await eventually(async () => {
      const row = await queueRow(lifecycle, id);
      return row?.failures === 1 && row.processed_by === null ? row : undefined;
    });
    assert.ok(
      firstFailure.delay_seconds > 3540 && firstFailure.delay_seconds <= 3600,
      `${firstFailure.delay_seconds}`,
    );
    const record = await store.get(id);
    assert.deepEqual(record?.lastOutcome?.outcome, {
      kind: "error",
      message: "BMC unreachable",
      source: "handler",
    });
    assert.equal(record?.lastOutcome?.by, controller.replica);
    assert.equal(calls, 1);

    // An hour "passes": the next attempt fails too and waits twice as long.
    await sql`UPDATE ${sql.table(lifecycle.queueTable)} SET available_at = now() WHERE object_id = ${id}`.execute(
      db,
    );
    controller.wake();
    const secondFailure = await eventually(async () => {
      const row = await queueRow(lifecycle, id);
      return row?.failures === 2 && row.processed_by === null ? row : undefined;
    });
    assert.ok(
      secondFailure.delay_seconds > 7140 && secondFailure.delay_seconds <= 7200,
      `${secondFailure.delay_seconds}`,
    );
    assert.equal(calls, 2);
    assert.equal(
      await metricValue(registry, "ingot_controller_errors_total", { source: "handler", state: "pending" }),
      2,
    );

    healthy = true;
    await sql`UPDATE ${sql.table(lifecycle.queueTable)} SET available_at = now() WHERE object_id = ${id}`.execute(
      db,
    );
    controller.wake();
    await eventually(async () => ((await store.get(id))?.state.kind === "running" ? true : undefined));
    const row = await eventually(async () => {
      const current = await queueRow(lifecycle, id);
      return current === undefined || current.processed_by === null ? (current ?? null) : undefined;
    });
    assert.equal(row?.failures ?? 0, 0, "success resets the failure count");
  });

  it("aborts a handler that runs past its timeout and records a timeout", async () => {
    const lifecycle = await createDemoLifecycle(db);
    const store = new LifecycleStore(db, lifecycle);
    const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
    let sawAbort = false;
    await start(
      lifecycle,
      async (_object, context) =>
        await new Promise((_resolve, reject) => {
          context.signal.addEventListener("abort", () => {
            sawAbort = true;
            reject(context.signal.reason);
          });
        }),
      {
        settings: {
          handlerTimeoutMs: 100,
          claimLeaseMs: 5_000,
          backoff: { initialMs: 3_600_000, maxMs: 3_600_000, factor: 2, jitter: 0 },
        },
      },
    );
    await store.enqueue([id]);
    const record = await eventually(async () => {
      const current = await store.get(id);
      return current?.lastOutcome?.outcome.kind === "error" ? current : undefined;
    });
    assert.deepEqual(record.lastOutcome?.outcome, {
      kind: "error",
      message: "handler did not finish within 100 ms",
      source: "timeout",
    });
    assert.equal(sawAbort, true);
    assert.equal(record.state.kind, "pending");
  });

  it("keeps a timed-out object from other handlers until its claim would have expired", async () => {
    const lifecycle = await createDemoLifecycle(db);
    const store = new LifecycleStore(db, lifecycle);
    const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
    await start(lifecycle, async () => await new Promise<never>(() => {}), {
      settings: {
        handlerTimeoutMs: 100,
        claimLeaseMs: 10_000,
        backoff: { initialMs: 10, maxMs: 10, factor: 2, jitter: 0 },
      },
    });
    await store.enqueue([id]);
    await eventually(async () =>
      (await store.get(id))?.lastOutcome?.outcome.kind === "error" ? true : undefined,
    );
    const row = await queueRow(lifecycle, id);
    assert.ok(
      row !== undefined && row.delay_seconds > 9,
      `next attempt in ${row?.delay_seconds} s, not after 10 ms`,
    );
  });

  it("writes nothing from a replica whose claim was taken over", async () => {
    const lifecycle = await createDemoLifecycle(db);
    const store = new LifecycleStore(db, lifecycle);
    const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
    await sql`
      INSERT INTO ${sql.table(lifecycle.queueTable)} (object_id, processed_by, processing_started_at, available_at)
      VALUES (${id}, 'replica-b', now(), now() + interval '1 hour')`.execute(db);
    const before = await store.get(id);
    assert.ok(before);
    const [late] = await store.finish(
      "replica-a",
      [
        {
          id,
          version: before.version,
          generation: 1,
          op: "transition",
          next: { kind: "cancelled" },
          event: "cancel",
          fromKind: before.state.kind,
          outcome: { kind: "transition", event: "cancel", from: before.state.kind, to: "cancelled" },
          after: "done",
          delayMs: 0,
          failures: 0,
        },
      ],
      30_000,
    );
    assert.equal(late?.written, false);
    assert.equal((await store.get(id))?.state.kind, before.state.kind);
    assert.equal((await store.history(id, { limit: 10 })).length, 1);
  });

  it("refuses a transition the table does not allow and leaves the state alone", async () => {
    const lifecycle = await createDemoLifecycle(db);
    const store = new LifecycleStore(db, lifecycle);
    const registry = new Registry();
    const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
    await start(lifecycle, async () => Outcome.transition("finish", { kind: "succeeded" }), {
      registry,
      settings: { backoff: { initialMs: 3_600_000, maxMs: 3_600_000, factor: 2, jitter: 0 } },
    });
    await store.enqueue([id]);
    const record = await eventually(async () => {
      const current = await store.get(id);
      return current?.lastOutcome?.outcome.kind === "error" ? current : undefined;
    });
    assert.equal(
      record.lastOutcome?.outcome.kind === "error" && record.lastOutcome.outcome.source,
      "transition_refused",
    );
    assert.match(
      record.lastOutcome?.outcome.kind === "error" ? record.lastOutcome.outcome.message : "",
      /finish is not allowed in state pending/,
    );
    assert.equal(record.state.kind, "pending");
    assert.equal((await store.history(id, { limit: 10 })).length, 1);
    assert.equal(
      await metricValue(registry, "ingot_controller_errors_total", { source: "transition_refused" }),
      1,
    );
  });

  it("takes over a claim whose lease expired and leaves a live claim alone", async () => {
    const lifecycle = await createDemoLifecycle(db);
    const store = new LifecycleStore(db, lifecycle);
    const registry = new Registry();
    const [stale, live] = (await insertDemoTasks(db, lifecycle, 2)) as [string, string];
    await sql`
      INSERT INTO ${sql.table(lifecycle.queueTable)} (object_id, processed_by, processing_started_at, available_at)
      VALUES (${stale}, 'crashed-replica', now() - interval '1 hour', now() - interval '1 second'),
             (${live}, 'busy-replica', now(), now() + interval '1 hour')`.execute(db);
    await start(lifecycle, async () => Outcome.transition("cancel", { kind: "cancelled" }), { registry });
    await eventually(async () => ((await store.get(stale))?.state.kind === "cancelled" ? true : undefined));
    assert.equal(await metricValue(registry, "ingot_controller_claims_taken_over_total", {}), 1);
    assert.equal((await store.get(live))?.state.kind, "pending");
    assert.equal((await queueRow(lifecycle, live))?.processed_by, "busy-replica");
  });

  it("writes nothing when the object changed while its handler ran, then looks at it again", async () => {
    const lifecycle = await createDemoLifecycle(db);
    const store = new LifecycleStore(db, lifecycle);
    const registry = new Registry();
    const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
    const hold = gate();
    const seen: string[] = [];
    let entered = false;
    await start(
      lifecycle,
      async (object) => {
        seen.push(object.state.kind);
        entered = true;
        await hold.opened;
        if (object.state.kind === "pending") return Outcome.transition("start", { kind: "running", step: 1 });
        return Outcome.wait("running");
      },
      { registry },
    );
    await store.enqueue([id]);
    await eventually(async () => (entered ? true : undefined));
    const operator = await store.transition({
      id,
      from: { kind: "pending" },
      version: 1,
      event: "cancel",
      next: { kind: "cancelled" },
      actor: "operator",
    });
    assert.equal(operator.applied, true);
    hold.open();
    await eventually(async () => ((await queueRow(lifecycle, id)) === undefined ? true : undefined), {
      what: "the object leaves the queue",
    });
    const history = await store.history(id, { limit: 10 });
    assert.deepEqual(
      history.map((entry) => [entry.version, entry.event, entry.actor]),
      [
        [2, "cancel", "operator"],
        [1, "created", null],
      ],
    );
    assert.equal(await metricValue(registry, "ingot_controller_outcomes_total", { outcome: "lost_race" }), 1);
    // The terminal object is not handed to the handler again.
    assert.deepEqual(seen, ["pending"]);
  });

  it("drops the backoff of a failed attempt when the state changed meanwhile", async () => {
    const lifecycle = await createDemoLifecycle(db);
    const store = new LifecycleStore(db, lifecycle);
    const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
    const hold = gate();
    const seen: string[] = [];
    await start(
      lifecycle,
      async (object) => {
        seen.push(object.state.kind);
        if (object.state.kind === "running") return Outcome.wait("running");
        await hold.opened;
        throw new Error("BMC unreachable");
      },
      { settings: { backoff: { initialMs: 3_600_000, maxMs: 3_600_000, factor: 2, jitter: 0 } } },
    );
    await store.enqueue([id]);
    await eventually(async () => (seen.length === 1 ? true : undefined));
    await store.transition({
      id,
      from: { kind: "pending" },
      version: 1,
      event: "start",
      next: { kind: "running", step: 1 },
      actor: "operator",
    });
    hold.open();
    await eventually(async () => (seen.includes("running") ? true : undefined), {
      what: "the new state handled without waiting out a backoff",
    });
    const record = await store.get(id);
    assert.deepEqual(record?.lastOutcome?.outcome, { kind: "wait", reason: "running" });
  });

  it("runs an object again when it is enqueued while being handled", async () => {
    const lifecycle = await createDemoLifecycle(db);
    const store = new LifecycleStore(db, lifecycle);
    const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
    const hold = gate();
    let calls = 0;
    await start(lifecycle, async () => {
      calls++;
      if (calls === 1) await hold.opened;
      return Outcome.wait("nothing to do");
    });
    await store.enqueue([id]);
    await eventually(async () => (calls === 1 ? true : undefined));
    await store.enqueue([id]);
    hold.open();
    await eventually(async () =>
      calls === 2 && (await queueRow(lifecycle, id)) === undefined ? true : undefined,
    );
  });

  it("deletes an object when its handler answers Deleted, keeping its history", async () => {
    const lifecycle = await createDemoLifecycle(db);
    const store = new LifecycleStore(db, lifecycle);
    const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
    await start(lifecycle, async () => Outcome.deleted());
    await store.enqueue([id]);
    await eventually(async () => ((await store.get(id)) === undefined ? true : undefined));
    assert.equal(await queueRow(lifecycle, id), undefined);
    assert.equal((await store.history(id, { limit: 10 })).length, 1);
  });

  it("commits alsoWrite with its transition, and a failing one commits nothing for that object alone", async () => {
    const lifecycle = await createDemoLifecycle(db);
    const store = new LifecycleStore(db, lifecycle);
    const effects = `${lifecycle.entity}_effects`;
    await sql`CREATE TABLE ${sql.table(effects)} (object_id uuid PRIMARY KEY)`.execute(db);
    const ids = await insertDemoTasks(db, lifecycle, 12);
    const broken = ids[5];
    await start(
      lifecycle,
      async (object) =>
        Outcome.transition(
          "start",
          { kind: "running", step: 1 },
          {
            alsoWrite: async (trx) => {
              if (object.id === broken) throw new Error("constraint violated");
              await sql`INSERT INTO ${sql.table(effects)} (object_id) VALUES (${object.id})`.execute(trx);
            },
          },
        ),
      {
        settings: {
          maxStepsPerClaim: 1,
          backoff: { initialMs: 3_600_000, maxMs: 3_600_000, factor: 2, jitter: 0 },
        },
      },
    );
    // Running objects would be handled again; this handler only knows pending ones, so stop at running.
    await store.enqueue(ids);
    await eventually(async () => ((await kinds(lifecycle)).running === 11 ? true : undefined));
    const brokenRecord = await eventually(async () => {
      const record = await store.get(broken as string);
      return record?.lastOutcome?.outcome.kind === "error" ? record : undefined;
    });
    assert.equal(brokenRecord.state.kind, "pending");
    assert.deepEqual(brokenRecord.lastOutcome?.outcome, {
      kind: "error",
      message: "constraint violated",
      source: "write",
    });
    const written = await sql<{ n: number }>`SELECT count(*) AS n FROM ${sql.table(effects)}`.execute(db);
    assert.equal(written.rows[0]?.n, 11);
  });

  it("flags objects over their SLA in metrics and in their status", async () => {
    const lifecycle = await createDemoLifecycle(db);
    const store = new LifecycleStore(db, lifecycle);
    const registry = new Registry();
    const ids = await insertDemoTasks(db, lifecycle, 3, { state: { kind: "running", step: 1 } });
    const late = ids[0] as string;
    await insertDemoTasks(db, lifecycle, 2);
    await sql`UPDATE ${sql.table(lifecycle.table)} SET kind_entered_at = now() - interval '2 hours' WHERE id = ${late}`.execute(
      db,
    );
    const controller = await start(lifecycle, async () => Outcome.doNothing(), { registry });
    await controller.refreshMetrics();
    assert.equal(await metricValue(registry, "ingot_controller_sla_breaches", { state: "running" }), 1);
    assert.equal(await metricValue(registry, "ingot_controller_objects", { state: "running" }), 3);
    assert.equal(await metricValue(registry, "ingot_controller_objects", { state: "pending" }), 2);
    assert.ok(
      (await metricValue(registry, "ingot_controller_time_in_state_seconds", { state: "running" })) >= 7200,
    );
    const status = await store.status(late);
    assert.equal(status?.sla?.breached, true);
    assert.equal(status?.sla?.limitSeconds, 600);
    assert.ok((status?.sla?.overBySeconds ?? 0) >= 7200 - 600);
    const fine = await store.status(ids[1] as string);
    assert.deepEqual(fine?.sla && { breached: fine.sla.breached, over: fine.sla.overBySeconds }, {
      breached: false,
      over: 0,
    });
    assert.equal((await store.status(ids[1] as string))?.terminal, false);
  });

  it("runs the periodic enqueuer on one replica at a time, and hands it over on stop", async () => {
    const lifecycle = await createDemoLifecycle(db);
    const settings = { enqueuerLeaseTtlMs: 600, periodicEnqueueIntervalMs: 100 };
    const first = await start(lifecycle, stepper, { replica: "replica-a", settings });
    const second = await start(lifecycle, stepper, { replica: "replica-b", settings });
    const lease = new Lease(db, `controller:${lifecycle.entity}:periodic-enqueuer`, "observer", 1_000);
    const holder = await eventually(async () => await lease.currentHolder());
    assert.ok(holder === "replica-a" || holder === "replica-b");
    // Objects nobody enqueued are found by the periodic enqueuer.
    await insertDemoTasks(db, lifecycle, 5);
    await eventually(async () => ((await kinds(lifecycle)).succeeded === 5 ? true : undefined));
    const [holding, other] = holder === "replica-a" ? [first, second] : [second, first];
    assert.equal(holding.runsPeriodicEnqueuer, true);
    assert.equal(other.runsPeriodicEnqueuer, false);
    await holding.stop();
    await eventually(async () => ((await lease.currentHolder()) === other.replica ? true : undefined));
    await insertDemoTasks(db, lifecycle, 3);
    await eventually(async () => ((await kinds(lifecycle)).succeeded === 8 ? true : undefined));
  });

  it("wakes on NOTIFY without polling, also after its LISTEN connection was cut", async () => {
    const lifecycle = await createDemoLifecycle(db);
    const store = new LifecycleStore(db, lifecycle);
    const applicationName = `listener-${lifecycle.entity}`;
    const listener = new NotificationListener({
      databaseUrl: database.url,
      logger,
      applicationName,
      reconnectDelayMs: { min: 20, max: 200 },
    });
    await listener.start();
    try {
      const never = 3_600_000;
      const [first, second] = (await insertDemoTasks(db, lifecycle, 2)) as [string, string];
      await start(lifecycle, async () => Outcome.transition("cancel", { kind: "cancelled" }), {
        listener,
        settings: { pollIntervalMs: never, periodicEnqueueIntervalMs: never, enqueuerLeaseTtlMs: never },
      });
      await store.enqueue([first]);
      await eventually(async () => ((await store.get(first))?.state.kind === "cancelled" ? true : undefined));
      await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ${applicationName}`.execute(
        db,
      );
      await eventually(async () => (listener.connectionCount >= 2 ? true : undefined), { what: "reconnect" });
      await store.enqueue([second]);
      await eventually(async () =>
        (await store.get(second))?.state.kind === "cancelled" ? true : undefined,
      );
    } finally {
      await Promise.all(running.splice(0).map((controller) => controller.stop()));
      await listener.stop();
    }
  });

  it("stop() lets a handler in flight finish and record, then releases claims and the lease", async () => {
    const lifecycle = await createDemoLifecycle(db);
    const store = new LifecycleStore(db, lifecycle);
    const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
    const hold = gate();
    let entered = false;
    const controller = await start(lifecycle, async () => {
      entered = true;
      await hold.opened;
      return Outcome.transition("start", { kind: "running", step: 1 });
    });
    await store.enqueue([id]);
    await eventually(async () => (entered ? true : undefined));
    const lease = new Lease(db, `controller:${lifecycle.entity}:periodic-enqueuer`, "observer", 1_000);
    await eventually(async () => ((await lease.currentHolder()) === controller.replica ? true : undefined));
    const stopping = controller.stop();
    hold.open();
    await stopping;
    assert.equal((await store.get(id))?.state.kind, "running");
    assert.equal((await queueRow(lifecycle, id))?.processed_by, null, "the claim was given back");
    assert.equal(await lease.currentHolder(), undefined);
  });

  it("stop() aborts a handler that does not finish in time and gives its claim back unrecorded", async () => {
    const lifecycle = await createDemoLifecycle(db);
    const store = new LifecycleStore(db, lifecycle);
    const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
    let aborted = false;
    let entered = false;
    const controller = await start(
      lifecycle,
      async (_object, context) =>
        await new Promise((_resolve, reject) => {
          entered = true;
          context.signal.addEventListener("abort", () => {
            aborted = true;
            reject(context.signal.reason);
          });
        }),
      { settings: { stopTimeoutMs: 100 } },
    );
    await store.enqueue([id]);
    await eventually(async () => (entered ? true : undefined));
    await controller.stop();
    assert.equal(aborted, true);
    const row = await queueRow(lifecycle, id);
    assert.equal(row?.processed_by, null);
    assert.equal(row?.failures, 0);
    assert.equal((await store.get(id))?.lastOutcome, null);
  });
});
