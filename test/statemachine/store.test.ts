import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { sql } from "kysely";
import type { Db } from "../../src/db/database.ts";
import type { Lifecycle } from "../../src/statemachine/lifecycle.ts";
import { STATE_HISTORY_LIMIT } from "../../src/statemachine/migration.ts";
import { TransitionRefusedError } from "../../src/statemachine/model.ts";
import { LifecycleStore } from "../../src/statemachine/store.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import {
  createDemoLifecycle,
  type DemoTaskEvent,
  type DemoTaskState,
  DemoTaskStates,
  insertDemoTasks,
} from "./demo.ts";

type DemoLifecycle = Lifecycle<DemoTaskState, DemoTaskEvent>;

async function historyOf(db: Db, lifecycle: DemoLifecycle, id: string) {
  const result = await sql<{ version: number; event: string; kind: string; from_kind: string | null }>`
    SELECT version, event, state ->> 'kind' AS kind, from_kind FROM ${sql.table(lifecycle.historyTable)}
    WHERE object_id = ${id} ORDER BY version
  `.execute(db);
  return result.rows;
}

async function queueRow(db: Db, lifecycle: DemoLifecycle, id: string) {
  const result = await sql<{ generation: number; failures: number; processed_by: string | null }>`
    SELECT generation, failures, processed_by FROM ${sql.table(lifecycle.queueTable)} WHERE object_id = ${id}
  `.execute(db);
  return result.rows[0];
}

describe("lifecycle store", () => {
  let database: TestDatabase;
  let db: Db;
  let lifecycle: DemoLifecycle;
  let store: LifecycleStore<DemoTaskState, DemoTaskEvent>;

  before(async () => {
    database = await createTestDatabase();
    db = database.handle.db;
    lifecycle = await createDemoLifecycle(db);
    store = new LifecycleStore(db, lifecycle);
  });
  after(async () => await database.drop());

  it("records the creation as version 1 of the history", async () => {
    const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
    const record = await store.get(id);
    assert.equal(record?.version, 1);
    assert.deepEqual(record?.state, { kind: "pending" });
    assert.equal(record?.lastOutcome, null);
    assert.deepEqual(await historyOf(db, lifecycle, id), [
      { version: 1, event: "created", kind: "pending", from_kind: null },
    ]);
  });

  it("gives the state column of a new row only for an initial state", () => {
    assert.equal(store.initialState({ kind: "pending" }), '{"kind":"pending"}');
    assert.throws(() => store.initialState({ kind: "running", step: 1 }), /running is not an initial state/);
  });

  it("refuses a state without a kind at the database", async () => {
    await assert.rejects(
      sql`INSERT INTO ${sql.table(lifecycle.table)} (state) VALUES ('{"step": 1}'::jsonb)`.execute(db),
      /state_has_kind/,
    );
  });

  it("applies a transition, records it in history and enqueues the object", async () => {
    const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
    const write = await store.transition({
      id,
      from: { kind: "pending" },
      version: 1,
      event: "start",
      next: { kind: "running", step: 1 },
      actor: "alice",
    });
    assert.equal(write.applied, true);
    const record = await store.get(id);
    assert.equal(record?.version, 2);
    assert.deepEqual(record?.state, { kind: "running", step: 1 });
    assert.deepEqual(record?.lastOutcome?.outcome, {
      kind: "transition",
      event: "start",
      from: "pending",
      to: "running",
    });
    assert.equal(record?.lastOutcome?.by, "alice");
    assert.deepEqual(await historyOf(db, lifecycle, id), [
      { version: 1, event: "created", kind: "pending", from_kind: null },
      { version: 2, event: "start", kind: "running", from_kind: "pending" },
    ]);
    assert.deepEqual(await queueRow(db, lifecycle, id), { generation: 1, failures: 0, processed_by: null });
  });

  it("keeps the time in a kind across a self-transition and resets it on a new kind", async () => {
    const [id] = (await insertDemoTasks(db, lifecycle, 1, { state: { kind: "running", step: 1 } })) as [
      string,
    ];
    await sql`UPDATE ${sql.table(lifecycle.table)} SET kind_entered_at = now() - interval '1 hour' WHERE id = ${id}`.execute(
      db,
    );
    const before = await store.get(id);
    assert.ok(before !== undefined);
    await store.transition({
      id,
      from: before.state,
      version: before.version,
      event: "step_done",
      next: { kind: "running", step: 2 },
      actor: "t",
    });
    const middle = await store.get(id);
    assert.equal(middle?.kindEnteredAt.getTime(), before.kindEnteredAt.getTime());
    assert.ok((middle?.enteredAt.getTime() ?? 0) > before.kindEnteredAt.getTime());
    assert.ok(middle !== undefined);
    await store.transition({
      id,
      from: middle.state,
      version: middle.version,
      event: "finish",
      next: { kind: "succeeded" },
      actor: "t",
    });
    const last = await store.get(id);
    assert.ok((last?.kindEnteredAt.getTime() ?? 0) > before.kindEnteredAt.getTime());
  });

  it("refuses a transition outside the table, and any transition out of a terminal state", async () => {
    const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
    await assert.rejects(
      store.transition({
        id,
        from: { kind: "pending" },
        version: 1,
        event: "finish",
        next: { kind: "succeeded" },
        actor: "t",
      }),
      (error: unknown) => error instanceof TransitionRefusedError && error.reason === "not_in_table",
    );
    await assert.rejects(
      store.transition({
        id,
        from: { kind: "pending" },
        version: 1,
        event: "start",
        next: { kind: "succeeded" },
        actor: "t",
      }),
      (error: unknown) => error instanceof TransitionRefusedError && error.reason === "wrong_target",
    );
    const [done] = (await insertDemoTasks(db, lifecycle, 1, { state: { kind: "cancelled" } })) as [string];
    await assert.rejects(
      store.transition({
        id: done,
        from: { kind: "cancelled" },
        version: 1,
        event: "start",
        next: { kind: "running", step: 1 },
        actor: "t",
      }),
      (error: unknown) => error instanceof TransitionRefusedError && error.reason === "terminal",
    );
    assert.equal((await store.get(id))?.version, 1);
    assert.equal((await historyOf(db, lifecycle, id)).length, 1);
  });

  it("lets exactly one of two concurrent writers win; the loser writes nothing", async () => {
    for (let round = 0; round < 20; round++) {
      const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
      const [a, b] = await Promise.all([
        store.transition({
          id,
          from: { kind: "pending" },
          version: 1,
          event: "start",
          next: { kind: "running", step: 1 },
          actor: "a",
        }),
        store.transition({
          id,
          from: { kind: "pending" },
          version: 1,
          event: "cancel",
          next: { kind: "cancelled" },
          actor: "b",
        }),
      ]);
      assert.equal([a.applied, b.applied].filter(Boolean).length, 1, `round ${round}`);
      const winner = a.applied ? "running" : "cancelled";
      const record = await store.get(id);
      assert.equal(record?.state.kind, winner);
      assert.equal(record?.lastOutcome?.by, a.applied ? "a" : "b");
      const history = await historyOf(db, lifecycle, id);
      assert.deepEqual(
        history.map((row) => [row.version, row.kind]),
        [
          [1, "pending"],
          [2, winner],
        ],
      );
    }
  });

  it("does not write when the caller's version is stale", async () => {
    const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
    await store.transition({
      id,
      from: { kind: "pending" },
      version: 1,
      event: "start",
      next: { kind: "running", step: 1 },
      actor: "a",
    });
    const stale = await store.transition({
      id,
      from: { kind: "pending" },
      version: 1,
      event: "cancel",
      next: { kind: "cancelled" },
      actor: "b",
    });
    assert.deepEqual(stale, { applied: false });
    assert.equal((await historyOf(db, lifecycle, id)).length, 2);
  });

  it(`keeps the newest ${STATE_HISTORY_LIMIT} history rows per object`, async () => {
    const [id, other] = (await insertDemoTasks(db, lifecycle, 2, {
      state: { kind: "running", step: 0 },
    })) as [string, string];
    const total = STATE_HISTORY_LIMIT + 60;
    for (let step = 1; step < total; step++) {
      const write = await store.transition({
        id,
        from: { kind: "running", step: step - 1 },
        version: step,
        event: "step_done",
        next: { kind: "running", step },
        actor: "t",
      });
      assert.equal(write.applied, true);
    }
    const history = await historyOf(db, lifecycle, id);
    assert.equal(history.length, STATE_HISTORY_LIMIT);
    assert.equal(history[0]?.version, total - STATE_HISTORY_LIMIT + 1);
    assert.equal(history.at(-1)?.version, total);
    assert.deepEqual(
      history.map((row) => row.version),
      Array.from({ length: STATE_HISTORY_LIMIT }, (_, index) => total - STATE_HISTORY_LIMIT + 1 + index),
    );
    // Another object's history is untouched.
    assert.equal((await historyOf(db, lifecycle, other)).length, 1);
    const page = await store.history(id, { limit: 3 });
    assert.deepEqual(
      page.map((entry) => entry.version),
      [total, total - 1, total - 2],
    );
    const next = await store.history(id, { limit: 2, beforeVersion: total - 2 });
    assert.deepEqual(
      next.map((entry) => entry.version),
      [total - 3, total - 4],
    );
  });

  it("enqueue marks a queued object as enqueued again and keeps its backoff", async () => {
    const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
    await store.enqueue([id]);
    assert.equal((await queueRow(db, lifecycle, id))?.generation, 1);
    await store.enqueue([id]);
    assert.equal((await queueRow(db, lifecycle, id))?.generation, 2);
    await sql`UPDATE ${sql.table(lifecycle.queueTable)} SET failures = 3, available_at = now() + interval '1 hour'
      WHERE object_id = ${id}`.execute(db);
    await store.enqueue([id]);
    const still = await sql<{ delayed: boolean }>`
      SELECT available_at > now() + interval '59 minutes' AS delayed FROM ${sql.table(lifecycle.queueTable)}
      WHERE object_id = ${id}`.execute(db);
    assert.equal(still.rows[0]?.delayed, true);
    // A state change is new information: it clears the backoff.
    await store.transition({
      id,
      from: { kind: "pending" },
      version: 1,
      event: "start",
      next: { kind: "running", step: 1 },
      actor: "t",
    });
    const cleared = await sql<{ ready: boolean; failures: number }>`
      SELECT available_at <= now() AS ready, failures FROM ${sql.table(lifecycle.queueTable)} WHERE object_id = ${id}`.execute(
      db,
    );
    assert.deepEqual(cleared.rows[0], { ready: true, failures: 0 });
  });

  it("accepts exactly the event sequences the table allows (property)", async () => {
    const allEvents = [...new Set(DemoTaskStates.edges.map((edge) => edge.event))];
    const nextStateFor = (kind: DemoTaskState["kind"], current: DemoTaskState): DemoTaskState => {
      switch (kind) {
        case "running":
          return { kind, step: current.kind === "running" ? current.step + 1 : 1 };
        case "failed":
          return { kind, reason: "test" };
        default:
          return { kind } as DemoTaskState;
      }
    };
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...allEvents), { maxLength: 12 }), async (events) => {
        const [id] = (await insertDemoTasks(db, lifecycle, 1)) as [string];
        let current: DemoTaskState = { kind: "pending" };
        let version = 1;
        const accepted: string[] = ["created"];
        for (const event of events) {
          const allowed = DemoTaskStates.allows(current.kind, event);
          const target = allowed ? DemoTaskStates.next(current.kind, event) : current.kind;
          const next = nextStateFor(target, current);
          try {
            const write = await store.transition({ id, from: current, version, event, next, actor: "p" });
            assert.ok(allowed, `${current.kind} --${event}--> accepted`);
            assert.equal(write.applied, true);
            accepted.push(event);
            current = next;
            version++;
          } catch (error) {
            assert.ok(error instanceof TransitionRefusedError);
            assert.ok(!allowed, `${current.kind} --${event}--> refused`);
            if (DemoTaskStates.isTerminal(current.kind)) assert.equal(error.reason, "terminal");
          }
        }
        const history = await historyOf(db, lifecycle, id);
        assert.deepEqual(
          history.map((row) => row.event),
          accepted,
        );
        assert.deepEqual(
          history.map((row) => row.version),
          accepted.map((_, index) => index + 1),
        );
        assert.deepEqual((await store.get(id))?.state, current);
      }),
      { numRuns: 40 },
    );
  });
});
