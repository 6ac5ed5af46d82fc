import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import { sql } from "kysely";
import { Type } from "typebox";
import { ORG_READERS, PROVIDER_ROLES } from "../../src/auth/model.ts";
import { OrgName, StrictObject } from "../../src/http/schema.ts";
import type { Lifecycle } from "../../src/statemachine/lifecycle.ts";
import { registerLifecycleRoutes } from "../../src/statemachine/routes.ts";
import { LifecycleStore } from "../../src/statemachine/store.ts";
import { type Caller, createOrg, createUserWithRole, startTestApp, type TestApp } from "../helpers/app.ts";
import { createDemoLifecycle, type DemoTaskEvent, type DemoTaskState, insertDemoTasks } from "./demo.ts";

describe("lifecycle routes", () => {
  let app: TestApp;
  let lifecycle: Lifecycle<DemoTaskState, DemoTaskEvent>;
  let store: LifecycleStore<DemoTaskState, DemoTaskEvent>;
  let acmeViewer: Caller;
  let globexViewer: Caller;
  let taskId: string;
  const base = "/api/v1/orgs/acme/demo-tasks/task-1";

  before(async () => {
    app = await startTestApp({
      beforeReady: async (assembled, database) => {
        const db = database.handle.db;
        lifecycle = await createDemoLifecycle(db);
        store = new LifecycleStore(db, lifecycle);
        registerLifecycleRoutes(assembled.http, {
          store,
          objectPath: "/api/v1/orgs/:org/demo-tasks/:name",
          params: StrictObject({ org: OrgName, name: Type.String({ pattern: "^[a-z0-9-]{1,64}$" }) }),
          access: { orgRoles: ORG_READERS, providerRoles: PROVIDER_ROLES },
          operationName: "DemoTask",
          tags: ["demo-tasks"],
          resolveObjectId: async ({ org, name }) => {
            const result = await sql<{ id: string }>`
              SELECT id FROM ${sql.table(lifecycle.table)} WHERE org = ${org} AND name = ${name}`.execute(db);
            return result.rows[0]?.id;
          },
        });
      },
    });
    await createOrg(app, "acme", "tenant");
    await createOrg(app, "globex", "tenant");
    acmeViewer = await createUserWithRole(app, { username: "ann", org: "acme", role: "tenant-viewer" });
    globexViewer = await createUserWithRole(app, { username: "gus", org: "globex", role: "tenant-viewer" });
    const db = app.database.handle.db;
    [taskId] = (await insertDemoTasks(db, lifecycle, 1, { org: "acme" })) as [string];
    let current = await store.get(taskId);
    for (const [event, next] of [
      ["start", { kind: "running", step: 1 }],
      ["step_done", { kind: "running", step: 2 }],
      ["step_done", { kind: "running", step: 3 }],
    ] as const) {
      assert.ok(current !== undefined);
      await store.transition({
        id: taskId,
        from: current.state,
        version: current.version,
        event,
        next,
        actor: "admin",
      });
      current = await store.get(taskId);
    }
  });
  after(async () => await app.close());

  it("shows the current state, version, SLA, last outcome and controller status", async () => {
    const response = await acmeViewer({ method: "GET", url: `${base}/state` });
    assert.equal(response.statusCode, 200, response.body);
    const body = response.json();
    assert.equal(body.id, taskId);
    assert.deepEqual(body.state, { kind: "running", step: 3 });
    assert.equal(body.kind, "running");
    assert.equal(body.terminal, false);
    assert.equal(body.version.number, 4);
    assert.equal(typeof body.version.enteredAt, "string");
    assert.equal(body.sla.limitSeconds, 600);
    assert.equal(body.sla.breached, false);
    assert.deepEqual(
      { ...body.lastOutcome, since: undefined },
      {
        kind: "transition",
        event: "step_done",
        from: "running",
        to: "running",
        by: "admin",
        since: undefined,
      },
    );
    assert.deepEqual(body.controller, {
      queued: true,
      processedBy: null,
      processingStartedAt: null,
      nextAttemptAt: body.controller.nextAttemptAt,
      failures: 0,
    });
    assert.deepEqual(
      body.nextEvents.map((next: { event: string }) => next.event),
      ["step_done", "finish", "fail", "cancel"],
    );
  });

  it("answers what the object is waiting for, and flags a breached SLA", async () => {
    await sql`UPDATE ${sql.table(lifecycle.table)} SET
        last_outcome = '{"kind": "wait", "reason": "waiting for the BMC to answer"}'::jsonb,
        outcome_by = 'replica-1', outcome_since = now(), kind_entered_at = now() - interval '1 hour'
      WHERE id = ${taskId}`.execute(app.database.handle.db);
    const body = (await app.admin({ method: "GET", url: `${base}/state` })).json();
    assert.equal(body.lastOutcome.kind, "wait");
    assert.equal(body.lastOutcome.reason, "waiting for the BMC to answer");
    assert.equal(body.lastOutcome.by, "replica-1");
    assert.equal(body.sla.breached, true);
    assert.ok(body.sla.overBySeconds >= 3000);
    assert.ok(body.timeInStateSeconds >= 3600);
  });

  it("pages through the history, newest first", async () => {
    const first = await acmeViewer({ method: "GET", url: `${base}/state-history?limit=3` });
    assert.equal(first.statusCode, 200, first.body);
    const page = first.json();
    assert.deepEqual(
      page.items.map((entry: { version: number; event: string }) => [entry.version, entry.event]),
      [
        [4, "step_done"],
        [3, "step_done"],
        [2, "start"],
      ],
    );
    assert.deepEqual(page.items[2].state, { kind: "running", step: 1 });
    assert.equal(page.items[2].fromKind, "pending");
    assert.equal(page.items[2].actor, "admin");
    assert.equal(typeof page.nextCursor, "string");
    const rest = (
      await acmeViewer({
        method: "GET",
        url: `${base}/state-history?limit=3&cursor=${encodeURIComponent(page.nextCursor)}`,
      })
    ).json();
    assert.deepEqual(
      rest.items.map((entry: { version: number; event: string; fromKind: string | null }) => [
        entry.version,
        entry.event,
        entry.fromKind,
      ]),
      [[1, "created", null]],
    );
    assert.equal(rest.nextCursor, null);
  });

  it("answers 404 for an unknown object and for another org's object", async () => {
    const unknown = await app.admin({ method: "GET", url: "/api/v1/orgs/acme/demo-tasks/nope/state" });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().code, `${lifecycle.entity}.not_found`);
    const elsewhere = await app.admin({
      method: "GET",
      url: "/api/v1/orgs/globex/demo-tasks/task-1/state-history",
    });
    assert.equal(elsewhere.statusCode, 404);
  });

  it("applies the access policy", async () => {
    assert.equal((await app.anonymous({ method: "GET", url: `${base}/state` })).statusCode, 401);
    const forbidden = await globexViewer({ method: "GET", url: `${base}/state` });
    assert.equal(forbidden.statusCode, 403);
    assert.equal((await globexViewer({ method: "GET", url: `${base}/state-history` })).statusCode, 403);
  });

  it("validates parameters and refuses a forged cursor", async () => {
    const badName = await app.admin({ method: "GET", url: "/api/v1/orgs/acme/demo-tasks/NOT_VALID/state" });
    assert.equal(badName.statusCode, 400);
    const badCursor = await app.admin({ method: "GET", url: `${base}/state-history?cursor=abc` });
    assert.equal(badCursor.statusCode, 400);
    assert.equal(badCursor.json().code, "pagination.invalid_cursor");
  });

  it("documents both routes in a valid OpenAPI document", async () => {
    const document = (await app.anonymous({ method: "GET", url: "/openapi.json" })).json();
    const result = await new Validator().validate(document);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    const paths = document.paths as Record<string, Record<string, { operationId?: string }>>;
    assert.equal(paths["/api/v1/orgs/{org}/demo-tasks/{name}/state"]?.get?.operationId, "getDemoTaskState");
    assert.equal(
      paths["/api/v1/orgs/{org}/demo-tasks/{name}/state-history"]?.get?.operationId,
      "listDemoTaskStateHistory",
    );
  });
});
