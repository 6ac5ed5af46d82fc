import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import { startTestApp, type TestApp } from "../helpers/app.ts";

describe("HTTP conventions", () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp();
  });
  after(async () => await app.close());

  it("answers /healthz and /readyz on a migrated database", async () => {
    assert.equal((await app.anonymous({ method: "GET", url: "/healthz" })).statusCode, 200);
    const ready = await app.anonymous({ method: "GET", url: "/readyz" });
    assert.equal(ready.statusCode, 200);
    assert.equal(ready.json().checks.migrations, "ok");
  });

  it("refuses malformed JSON with a 400 problem", async () => {
    const response = await app.admin({
      method: "POST",
      url: "/api/v1/orgs",
      headers: { "content-type": "application/json" },
      payload: '{"name": "acme",',
    });
    assert.equal(response.statusCode, 400);
    assert.match(String(response.headers["content-type"]), /^application\/problem\+json/);
    assert.equal(response.json().code, "request.malformed_json");
    assert.equal(response.json().status, 400);
  });

  it("names the field on a wrong type", async () => {
    const response = await app.admin({
      method: "POST",
      url: "/api/v1/orgs",
      payload: { name: 42, kind: "tenant" },
    });
    assert.equal(response.statusCode, 400);
    const body = response.json();
    assert.equal(body.code, "validation.failed");
    assert.ok(
      body.errors.some((e: { field: string }) => e.field === "body.name"),
      response.body,
    );
  });

  it("names a missing field", async () => {
    const response = await app.admin({ method: "POST", url: "/api/v1/orgs", payload: { name: "acme" } });
    assert.equal(response.statusCode, 400);
    assert.ok(
      response.json().errors.some((e: { field: string }) => e.field === "body.kind"),
      response.body,
    );
  });

  it("refuses unknown fields instead of dropping them", async () => {
    const response = await app.admin({
      method: "POST",
      url: "/api/v1/orgs",
      payload: { name: "acme", kind: "tenant", owner: "mallory" },
    });
    assert.equal(response.statusCode, 400);
    const error = response.json().errors[0];
    assert.equal(error.field, "body.owner");
    assert.equal(error.message, "is not a known field");
  });

  it("refuses the NUL character, which PostgreSQL cannot store, naming where it is", async () => {
    const body = await app.admin({
      method: "POST",
      url: "/api/v1/orgs",
      payload: { name: "nul", kind: "tenant", displayName: "a\u0000b" },
    });
    assert.equal(body.statusCode, 400);
    assert.equal(body.json().code, "request.nul_character");
    assert.equal(body.json().errors[0].field, "body.displayName");
    const query = await app.admin({ method: "GET", url: "/api/v1/orgs/default/audit?actor=%00" });
    assert.equal(query.statusCode, 400);
    assert.equal(query.json().errors[0].field, "querystring.actor");
  });

  it("refuses oversized bodies with 413", async () => {
    const response = await app.admin({
      method: "POST",
      url: "/api/v1/orgs",
      payload: { name: "acme", kind: "tenant", displayName: "x".repeat(2_000_000) },
    });
    assert.equal(response.statusCode, 413);
    assert.equal(response.json().code, "request.too_large");
  });

  it("answers unknown routes with a 404 problem", async () => {
    const response = await app.anonymous({ method: "GET", url: "/api/v1/nothing-here" });
    assert.equal(response.statusCode, 404);
    assert.equal(response.json().code, "route.not_found");
    assert.match(String(response.headers["content-type"]), /problem\+json/);
  });

  it("echoes a caller's request id and generates one otherwise", async () => {
    const echoed = await app.anonymous({
      method: "GET",
      url: "/healthz",
      headers: { "x-request-id": "abc-123" },
    });
    assert.equal(echoed.headers["x-request-id"], "abc-123");
    const generated = await app.anonymous({ method: "GET", url: "/api/v1/orgs" });
    assert.match(String(generated.headers["x-request-id"]), /^[0-9a-f-]{36}$/);
    assert.equal(generated.json().requestId, generated.headers["x-request-id"]);
  });

  it("never leaks a stack trace", async () => {
    const response = await app.admin({
      method: "GET",
      url: "/api/v1/orgs?cursor=not-a-cursor",
    });
    assert.equal(response.statusCode, 400);
    assert.equal(response.json().errors[0].field, "querystring.cursor");
    assert.doesNotMatch(response.body, /at .*\.ts:\d+/);
  });

  it("exposes Prometheus metrics with request durations by route", async () => {
    await app.anonymous({ method: "GET", url: "/healthz" });
    const metrics = await app.anonymous({ method: "GET", url: "/metrics" });
    assert.equal(metrics.statusCode, 200);
    assert.match(metrics.body, /ingot_http_request_duration_seconds_bucket\{[^}]*route="\/healthz"/);
    assert.match(metrics.body, /ingot_process_cpu_seconds_total/);
  });

  it("publishes a valid OpenAPI 3.1 document covering every /api/v1 route", async () => {
    const response = await app.anonymous({ method: "GET", url: "/openapi.json" });
    assert.equal(response.statusCode, 200);
    const document = response.json();
    assert.equal(document.openapi, "3.1.0");
    const validator = new Validator();
    const result = await validator.validate(document);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    const documented = new Set<string>();
    for (const [route, methods] of Object.entries(document.paths as Record<string, object>)) {
      for (const method of Object.keys(methods)) documented.add(`${method.toUpperCase()} ${route}`);
    }
    for (const route of [
      "POST /api/v1/auth/login",
      "GET /api/v1/orgs/{org}/audit",
      "PUT /api/v1/orgs/{org}/members/{username}",
      "DELETE /api/v1/auth/tokens/{id}",
    ]) {
      assert.ok(documented.has(route), `${route} missing from OpenAPI`);
    }
  });

  it("serves the interactive API reference at /docs", async () => {
    const response = await app.anonymous({ method: "GET", url: "/docs/" });
    assert.equal(response.statusCode, 200);
    assert.match(response.body, /swagger/i);
  });
});
