import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Caller, createOrg, createUserWithRole, startTestApp, type TestApp } from "../helpers/app.ts";

interface Entry {
  actor: string;
  actorKind: string;
  org: string | null;
  action: string;
  target: string;
  result: string;
  statusCode: number;
  requestId: string;
}

describe("audit log", () => {
  let app: TestApp;
  let tenantAdmin: Caller;
  before(async () => {
    app = await startTestApp();
    await createOrg(app, "acme", "tenant");
    tenantAdmin = await createUserWithRole(app, { username: "alice", org: "acme", role: "tenant-admin" });
  });
  after(async () => await app.close());

  async function entries(caller: Caller, org: string, query = ""): Promise<Entry[]> {
    const response = await caller({ method: "GET", url: `/api/v1/orgs/${org}/audit${query}` });
    assert.equal(response.statusCode, 200, response.body);
    return response.json().items;
  }

  it("records who did what to which target, with the result and the request id", async () => {
    const response = await app.admin({
      method: "POST",
      url: "/api/v1/orgs",
      payload: { name: "initech", kind: "tenant" },
      headers: { "x-request-id": "audit-me-1" },
    });
    assert.equal(response.statusCode, 201);
    const [entry] = await entries(app.admin, "default", "?action=createOrg");
    assert.ok(entry);
    assert.equal(entry.actor, "admin");
    assert.equal(entry.actorKind, "session");
    assert.equal(entry.org, "default");
    assert.equal(entry.target, "org=initech");
    assert.equal(entry.result, "success");
    assert.equal(entry.statusCode, 201);
    assert.equal(entry.requestId, "audit-me-1");
  });

  it("records refused requests as failures in the org of the path", async () => {
    const response = await tenantAdmin({
      method: "PUT",
      url: "/api/v1/orgs/acme/members/nobody",
      payload: { role: "tenant-viewer" },
    });
    assert.equal(response.statusCode, 404);
    const [entry] = await entries(tenantAdmin, "acme", "?result=failure");
    assert.equal(entry?.action, "putOrgMember");
    assert.equal(entry?.actor, "alice");
    assert.equal(entry?.target, "org=acme username=nobody");
    assert.equal(entry?.statusCode, 404);
  });

  it("shows failed logins of unknown users to the provider, not to tenants", async () => {
    await app.anonymous({
      method: "POST",
      url: "/api/v1/auth/login",
      payload: { username: "mallory", password: "x" },
    });
    const provider = await entries(app.admin, "default", "?actor=mallory");
    assert.equal(provider.length, 1);
    assert.equal(provider[0]?.actorKind, "anonymous");
    assert.equal(provider[0]?.result, "failure");
    assert.deepEqual(await entries(tenantAdmin, "acme", "?actor=mallory"), []);
  });

  it("files actions outside any org path under the caller's only org, and never under a tenant an admin joined", async () => {
    await tenantAdmin({ method: "POST", url: "/api/v1/auth/tokens", payload: { name: "tenant-token" } });
    const tenantEntries = await entries(tenantAdmin, "acme", "?action=createApiToken");
    assert.equal(tenantEntries.length, 1, "a tenant sees its own token creation");
    const grant = await tenantAdmin({
      method: "PUT",
      url: "/api/v1/orgs/acme/members/admin",
      payload: { role: "tenant-viewer" },
    });
    assert.equal(grant.statusCode, 200);
    await app.admin({
      method: "POST",
      url: "/api/v1/users",
      payload: { username: "secretops", password: "secret-ops-password" },
    });
    assert.deepEqual(await entries(tenantAdmin, "acme", "?action=createUser"), []);
    const provider = await entries(app.admin, "default", "?action=createUser");
    assert.ok(provider.some((entry) => entry.target === "username=secretops"));
  });

  it("keeps a tenant's entries out of other orgs", async () => {
    const all = await entries(tenantAdmin, "acme");
    assert.ok(all.length > 0);
    assert.ok(all.every((entry) => entry.org === "acme"));
  });

  it("does not record reads", async () => {
    await app.admin({ method: "GET", url: "/api/v1/users" });
    assert.deepEqual(await entries(app.admin, "default", "?action=listUsers"), []);
  });

  it("pages newest first and filters by time", async () => {
    for (let index = 0; index < 3; index++) {
      await app.admin({ method: "POST", url: "/api/v1/auth/tokens", payload: { name: `t${index}` } });
    }
    const first = await app.admin({
      method: "GET",
      url: "/api/v1/orgs/default/audit?action=createApiToken&limit=2",
    });
    const page = first.json();
    assert.equal(page.items.length, 2);
    assert.ok(page.items[0].id > page.items[1].id);
    const rest = (
      await app.admin({
        method: "GET",
        url: `/api/v1/orgs/default/audit?action=createApiToken&limit=2&cursor=${page.nextCursor}`,
      })
    ).json();
    assert.equal(rest.items.length, 1);
    assert.equal(rest.nextCursor, null);
    const future = await entries(
      app.admin,
      "default",
      `?since=${encodeURIComponent("2999-01-01T00:00:00Z")}`,
    );
    assert.deepEqual(future, []);
    const badSince = await app.admin({ method: "GET", url: "/api/v1/orgs/default/audit?since=yesterday" });
    assert.equal(badSince.statusCode, 400);
    assert.equal(badSince.json().errors[0].field, "querystring.since");
  });
});
