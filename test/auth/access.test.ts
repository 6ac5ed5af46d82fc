import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Caller, createOrg, createUserWithRole, startTestApp, type TestApp } from "../helpers/app.ts";

describe("org-scoped access and roles", () => {
  let app: TestApp;
  let acmeAdmin: Caller;
  let acmeViewer: Caller;
  let globexAdmin: Caller;
  before(async () => {
    app = await startTestApp();
    await createOrg(app, "acme", "tenant");
    await createOrg(app, "globex", "tenant");
    acmeAdmin = await createUserWithRole(app, { username: "alice", org: "acme", role: "tenant-admin" });
    acmeViewer = await createUserWithRole(app, { username: "victor", org: "acme", role: "tenant-viewer" });
    globexAdmin = await createUserWithRole(app, { username: "gina", org: "globex", role: "tenant-admin" });
  });
  after(async () => await app.close());

  it("asks for credentials before anything else", async () => {
    const response = await app.anonymous({ method: "GET", url: "/api/v1/orgs/default/audit" });
    assert.equal(response.statusCode, 401);
    assert.match(String(response.headers["content-type"]), /^application\/problem\+json/);
    const mutation = await app.anonymous({ method: "POST", url: "/api/v1/orgs", payload: { bad: true } });
    assert.equal(mutation.statusCode, 401, "no validation details leak to anonymous callers");
  });

  it("refuses a caller outside {org}", async () => {
    assert.equal((await acmeAdmin({ method: "GET", url: "/api/v1/orgs/acme/audit" })).statusCode, 200);
    const foreign = await acmeAdmin({ method: "GET", url: "/api/v1/orgs/globex/audit" });
    assert.equal(foreign.statusCode, 403);
    assert.equal(foreign.json().code, "auth.forbidden");
    assert.equal((await globexAdmin({ method: "GET", url: "/api/v1/orgs/acme/audit" })).statusCode, 403);
    assert.equal((await acmeAdmin({ method: "GET", url: "/api/v1/orgs/default/audit" })).statusCode, 403);
    assert.equal(
      (await app.admin({ method: "GET", url: "/api/v1/orgs/acme/audit" })).statusCode,
      403,
      "provider admins do not read a tenant's audit log",
    );
  });

  it("lets a tenant see only its own orgs, and the provider see all", async () => {
    const mine = (await acmeAdmin({ method: "GET", url: "/api/v1/orgs" })).json();
    assert.deepEqual(
      mine.items.map((org: { name: string }) => org.name),
      ["acme"],
    );
    const all = (await app.admin({ method: "GET", url: "/api/v1/orgs" })).json();
    assert.deepEqual(
      all.items.map((org: { name: string }) => org.name),
      ["acme", "default", "globex"],
    );
  });

  it("paginates with an opaque cursor", async () => {
    const first = (await app.admin({ method: "GET", url: "/api/v1/orgs?limit=2" })).json();
    assert.equal(first.items.length, 2);
    assert.ok(first.nextCursor);
    const second = (
      await app.admin({
        method: "GET",
        url: `/api/v1/orgs?limit=2&cursor=${encodeURIComponent(first.nextCursor)}`,
      })
    ).json();
    assert.deepEqual(
      second.items.map((org: { name: string }) => org.name),
      ["globex"],
    );
    assert.equal(second.nextCursor, null);
    const tooMany = await app.admin({ method: "GET", url: "/api/v1/orgs?limit=100000" });
    assert.equal(tooMany.statusCode, 400);
    assert.equal(tooMany.json().errors[0].field, "querystring.limit");
  });

  it("lets tenant admins manage their members but not viewers or other tenants", async () => {
    await app.admin({
      method: "POST",
      url: "/api/v1/users",
      payload: { username: "newbie", password: "newbie-password" },
    });
    const byViewer = await acmeViewer({
      method: "PUT",
      url: "/api/v1/orgs/acme/members/newbie",
      payload: { role: "tenant-viewer" },
    });
    assert.equal(byViewer.statusCode, 403);
    const byOther = await globexAdmin({
      method: "PUT",
      url: "/api/v1/orgs/acme/members/newbie",
      payload: { role: "tenant-viewer" },
    });
    assert.equal(byOther.statusCode, 403);
    const byAdmin = await acmeAdmin({
      method: "PUT",
      url: "/api/v1/orgs/acme/members/newbie",
      payload: { role: "tenant-viewer" },
    });
    assert.equal(byAdmin.statusCode, 200);
    const members = (await acmeViewer({ method: "GET", url: "/api/v1/orgs/acme/members" })).json();
    assert.ok(
      members.items.some(
        (m: { username: string; role: string }) => m.username === "newbie" && m.role === "tenant-viewer",
      ),
    );
  });

  it("refuses a role that does not fit the org's kind, naming the field", async () => {
    const response = await acmeAdmin({
      method: "PUT",
      url: "/api/v1/orgs/acme/members/victor",
      payload: { role: "provider-admin" },
    });
    assert.equal(response.statusCode, 400);
    assert.equal(response.json().errors[0].field, "body.role");
  });

  it("keeps infrastructure administration to provider admins", async () => {
    assert.equal(
      (await acmeAdmin({ method: "POST", url: "/api/v1/orgs", payload: { name: "evil", kind: "provider" } }))
        .statusCode,
      403,
    );
    assert.equal((await acmeAdmin({ method: "GET", url: "/api/v1/users" })).statusCode, 403);
    assert.equal(
      (await app.admin({ method: "POST", url: "/api/v1/orgs", payload: { name: "acme", kind: "tenant" } }))
        .statusCode,
      409,
    );
  });

  it("never removes the last provider admin", async () => {
    const deleteAdmin = await app.admin({ method: "DELETE", url: "/api/v1/users/admin" });
    assert.equal(deleteAdmin.statusCode, 409);
    assert.equal(deleteAdmin.json().code, "member.last_provider_admin");
    const demote = await app.admin({
      method: "PUT",
      url: "/api/v1/orgs/default/members/admin",
      payload: { role: "provider-viewer" },
    });
    assert.equal(demote.statusCode, 409);
    const disable = await app.admin({
      method: "PATCH",
      url: "/api/v1/users/admin",
      payload: { disabled: true },
    });
    assert.equal(disable.statusCode, 409);
    assert.equal((await app.admin({ method: "DELETE", url: "/api/v1/orgs/default" })).statusCode, 409);
  });

  it("refuses to delete an org that still owns inventory", async () => {
    await createOrg(app, "infra2", "provider");
    const site = await app.admin({
      method: "POST",
      url: "/api/v1/orgs/infra2/sites",
      payload: { name: "dc1" },
    });
    assert.equal(site.statusCode, 403, "the provider admin of default is not in infra2");
    await app.database.handle.pool.query(
      "INSERT INTO sites (org_id, name) SELECT id, 'dc1' FROM orgs WHERE name = 'infra2'",
    );
    const refused = await app.admin({ method: "DELETE", url: "/api/v1/orgs/infra2" });
    assert.equal(refused.statusCode, 409);
    assert.equal(refused.json().code, "org.not_empty");
  });

  it("creates an org once when two requests race", async () => {
    const results = await Promise.all(
      [0, 1].map(() =>
        app.admin({ method: "POST", url: "/api/v1/orgs", payload: { name: "race", kind: "tenant" } }),
      ),
    );
    assert.deepEqual(results.map((r) => r.statusCode).sort(), [201, 409]);
  });
  it("lets only one of two concurrent removals of the last two admins succeed", async () => {
    await createUserWithRole(app, { username: "second-admin", org: "default", role: "provider-admin" });
    const { identity } = app.assembled.services;
    const results = await Promise.allSettled(
      ["admin", "second-admin"].map((username) => identity.removeMember("default", username)),
    );
    assert.deepEqual(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
    const refused = results.find((r) => r.status === "rejected");
    assert.equal((refused as PromiseRejectedResult).reason.code, "member.last_provider_admin");
    const admins = await app.database.handle.pool.query(
      "SELECT count(*)::int AS n FROM memberships WHERE role = 'provider-admin'",
    );
    assert.equal(admins.rows[0].n, 1);
  });
});
