import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Caller, createOrg, createUserWithRole, startTestApp, type TestApp } from "../helpers/app.ts";
import { allPages, BASE, create, expectProblem, expectStatus } from "./helpers.ts";

interface Rack {
  id: string;
  name: string;
  siteId: string | null;
  status: string;
  serial: string | null;
  labels: Record<string, string>;
  createdAt: string;
}

describe("racks API", () => {
  let app: TestApp;
  let viewer: Caller;
  let otherAdmin: Caller;
  let tenantAdmin: Caller;
  let siteId: string;
  before(async () => {
    app = await startTestApp();
    await createOrg(app, "other-dc", "provider");
    await createOrg(app, "acme", "tenant");
    viewer = await createUserWithRole(app, { username: "vera", org: "default", role: "provider-viewer" });
    otherAdmin = await createUserWithRole(app, { username: "otto", org: "other-dc", role: "provider-admin" });
    tenantAdmin = await createUserWithRole(app, { username: "tina", org: "acme", role: "tenant-admin" });
    siteId = (await create<{ id: string }>(app.admin, `${BASE}/sites`, { name: "dc1" })).id;
  });
  after(async () => await app.close());

  it("creates, reads, updates and deletes a rack", async () => {
    const rack = await create<Rack>(app.admin, `${BASE}/racks`, {
      name: "r-crud",
      siteId,
      manufacturer: "NVIDIA",
      serial: "GB200-0001",
      model: "GB200 NVL72",
      labels: { row: "a" },
    });
    assert.equal(rack.status, "new");
    assert.equal(rack.siteId, siteId);
    const read = await app.admin({ method: "GET", url: `${BASE}/racks/${rack.id}` });
    expectStatus(read, 200);
    assert.deepEqual(read.json(), rack);
    const viewed = await viewer({ method: "GET", url: `${BASE}/racks/${rack.id}` });
    expectStatus(viewed, 200);
    const patched = await app.admin({
      method: "PATCH",
      url: `${BASE}/racks/${rack.id}`,
      payload: { status: "ingesting", labels: { row: "b" }, model: null },
    });
    expectStatus(patched, 200);
    assert.equal(patched.json().status, "ingesting");
    assert.deepEqual(patched.json().labels, { row: "b" });
    assert.equal(patched.json().model, null);
    assert.equal(patched.json().serial, "GB200-0001", "fields not given stay");
    expectStatus(await app.admin({ method: "DELETE", url: `${BASE}/racks/${rack.id}` }), 204);
    expectProblem(await app.admin({ method: "GET", url: `${BASE}/racks/${rack.id}` }), 404);
  });

  it("names the field at fault in bad input", async () => {
    expectProblem(await app.admin({ method: "POST", url: `${BASE}/racks`, payload: {} }), 400, "body.name");
    expectProblem(
      await app.admin({ method: "POST", url: `${BASE}/racks`, payload: { name: "Not A Slug" } }),
      400,
      "body.name",
    );
    expectProblem(
      await app.admin({ method: "POST", url: `${BASE}/racks`, payload: { name: "r-bad", colour: "red" } }),
      400,
      "body.colour",
    );
    expectProblem(
      await app.admin({ method: "POST", url: `${BASE}/racks`, payload: { name: "r-bad", status: "gone" } }),
      400,
      "body.status",
    );
    expectProblem(
      await app.admin({
        method: "POST",
        url: `${BASE}/racks`,
        payload: { name: "r-bad", labels: { "bad key": "x" } },
      }),
      400,
      "body.labels",
    );
    const missingSite = await app.admin({
      method: "POST",
      url: `${BASE}/racks`,
      payload: { name: "r-bad", siteId: "00000000-0000-4000-8000-000000000000" },
    });
    expectProblem(missingSite, 400, "body.siteId");
    expectProblem(await app.admin({ method: "GET", url: `${BASE}/racks/not-a-uuid` }), 400, "params.id");
  });

  it("refuses a duplicate name or manufacturer and serial with 409", async () => {
    await create(app.admin, `${BASE}/racks`, { name: "r-dup", manufacturer: "Acme", serial: "S-1" });
    const sameName = await app.admin({ method: "POST", url: `${BASE}/racks`, payload: { name: "r-dup" } });
    expectProblem(sameName, 409);
    assert.equal(sameName.json().code, "rack.name_taken");
    assert.match(sameName.json().detail, /r-dup/);
    const sameSerial = await app.admin({
      method: "POST",
      url: `${BASE}/racks`,
      payload: { name: "r-dup-2", manufacturer: "Acme", serial: "S-1" },
    });
    expectProblem(sameSerial, 409);
    assert.equal(sameSerial.json().code, "rack.serial_taken");
    await create(app.admin, `${BASE}/racks`, { name: "r-dup-3", manufacturer: "Other", serial: "S-1" });
  });

  it("moves status forward only, and leaves the rack unchanged when asked to go back", async () => {
    const rack = await create<Rack>(app.admin, `${BASE}/racks`, { name: "r-status", status: "ingesting" });
    const back = await app.admin({
      method: "PATCH",
      url: `${BASE}/racks/${rack.id}`,
      payload: { status: "new", location: "row 9" },
    });
    expectProblem(back, 409);
    assert.equal(back.json().code, "rack.status_backwards");
    const unchanged = (await app.admin({ method: "GET", url: `${BASE}/racks/${rack.id}` })).json();
    assert.equal(unchanged.status, "ingesting");
    assert.equal(unchanged.location, "", "nothing of the refused change was written");
    const forward = await app.admin({
      method: "PATCH",
      url: `${BASE}/racks/${rack.id}`,
      payload: { status: "ingested" },
    });
    expectStatus(forward, 200);
    const again = await app.admin({
      method: "PATCH",
      url: `${BASE}/racks/${rack.id}`,
      payload: { status: "ingesting" },
    });
    expectProblem(again, 409);
  });

  it("has the database refuse a backward status step that bypasses the service", async () => {
    const rack = await create<Rack>(app.admin, `${BASE}/racks`, { name: "r-trigger", status: "ingested" });
    const { sql } = await import("kysely");
    await assert.rejects(
      sql`UPDATE racks SET status = 'new' WHERE id = ${rack.id}`.execute(app.database.handle.db),
      /cannot go back/,
    );
  });

  it("lets exactly one of two concurrent creations of a name win", async () => {
    const attempts = await Promise.all(
      [1, 2].map(() => app.admin({ method: "POST", url: `${BASE}/racks`, payload: { name: "r-race" } })),
    );
    const statuses = attempts.map((response) => response.statusCode).sort();
    assert.deepEqual(statuses, [201, 409], attempts.map((response) => response.body).join("\n"));
    assert.equal(attempts.find((response) => response.statusCode === 409)?.json().code, "rack.name_taken");
  });

  it("keeps viewers, other orgs and tenants out of what they may not do", async () => {
    const rack = await create<Rack>(app.admin, `${BASE}/racks`, { name: "r-access" });
    expectProblem(await viewer({ method: "POST", url: `${BASE}/racks`, payload: { name: "r-viewer" } }), 403);
    expectProblem(
      await viewer({ method: "PATCH", url: `${BASE}/racks/${rack.id}`, payload: { location: "x" } }),
      403,
    );
    expectProblem(await viewer({ method: "DELETE", url: `${BASE}/racks/${rack.id}` }), 403);
    expectProblem(await otherAdmin({ method: "GET", url: `${BASE}/racks` }), 403);
    expectProblem(await otherAdmin({ method: "GET", url: `${BASE}/racks/${rack.id}` }), 403);
    expectProblem(await tenantAdmin({ method: "GET", url: `${BASE}/racks` }), 403);
    expectProblem(await tenantAdmin({ method: "GET", url: "/api/v1/orgs/acme/racks" }), 403);
    expectProblem(await app.admin({ method: "GET", url: "/api/v1/orgs/other-dc/racks" }), 403);
    expectProblem(await app.anonymous({ method: "GET", url: `${BASE}/racks` }), 401);
    const theirs = await otherAdmin({ method: "GET", url: `/api/v1/orgs/other-dc/racks/${rack.id}` });
    expectProblem(theirs, 404);
  });

  it("paginates, sorts and filters on the server", async () => {
    const site2 = (await create<{ id: string }>(app.admin, `${BASE}/sites`, { name: "dc2" })).id;
    for (let i = 0; i < 23; i++) {
      await create(app.admin, `${BASE}/racks`, {
        name: `p-${String(i).padStart(2, "0")}`,
        siteId: site2,
        serial: `PS-${String(22 - i).padStart(2, "0")}`,
        model: i % 2 === 0 ? "even-model" : "odd-model",
        status: i % 3 === 0 ? "ingested" : "new",
        labels: { row: i < 10 ? "a" : "b", ...(i === 7 ? { special: "yes" } : {}) },
      });
    }
    const byName = await allPages<Rack>(app.admin, `${BASE}/racks?siteId=${site2}&limit=5`);
    assert.equal(byName.pages, 5);
    assert.deepEqual(
      byName.items.map((rack) => rack.name),
      Array.from({ length: 23 }, (_, i) => `p-${String(i).padStart(2, "0")}`),
    );
    const bySerialDesc = await allPages<Rack>(
      app.admin,
      `${BASE}/racks?siteId=${site2}&limit=4&sort=-serial`,
    );
    assert.deepEqual(
      bySerialDesc.items.map((rack) => rack.serial),
      Array.from({ length: 23 }, (_, i) => `PS-${String(22 - i).padStart(2, "0")}`),
    );
    const byCreated = await allPages<Rack>(
      app.admin,
      `${BASE}/racks?siteId=${site2}&limit=3&sort=-createdAt`,
    );
    assert.equal(byCreated.items.length, 23);
    assert.equal(new Set(byCreated.items.map((rack) => rack.id)).size, 23, "no row twice across pages");
    assert.equal(byCreated.items[0]?.name, "p-22");
    const ingested = await allPages<Rack>(app.admin, `${BASE}/racks?siteId=${site2}&status=ingested&limit=2`);
    assert.deepEqual(
      ingested.items.map((rack) => rack.name),
      ["p-00", "p-03", "p-06", "p-09", "p-12", "p-15", "p-18", "p-21"],
    );
    const rowA = await allPages<Rack>(app.admin, `${BASE}/racks?siteId=${site2}&label=row%3Da&label=special`);
    assert.deepEqual(
      rowA.items.map((rack) => rack.name),
      ["p-07"],
    );
    const search = await allPages<Rack>(app.admin, `${BASE}/racks?q=ODD-MODEL&limit=50`);
    assert.equal(search.items.length, 11);
    const bySerialText = await allPages<Rack>(app.admin, `${BASE}/racks?q=ps-0`);
    assert.equal(bySerialText.items.length, 10);
    const first = (await app.admin({ method: "GET", url: `${BASE}/racks?limit=2&sort=name` })).json();
    const mismatch = await app.admin({
      method: "GET",
      url: `${BASE}/racks?limit=2&sort=-name&cursor=${encodeURIComponent(first.nextCursor)}`,
    });
    expectProblem(mismatch, 400, "querystring.cursor");
    expectProblem(
      await app.admin({ method: "GET", url: `${BASE}/racks?cursor=garbage` }),
      400,
      "querystring.cursor",
    );
    expectProblem(
      await app.admin({ method: "GET", url: `${BASE}/racks?sort=colour` }),
      400,
      "querystring.sort",
    );
  });
});
