import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Caller, createOrg, createUserWithRole, startTestApp, type TestApp } from "../helpers/app.ts";
import { allPages, BASE, create, expectProblem, expectStatus } from "./helpers.ts";

interface Site {
  id: string;
  name: string;
  location: string;
}

describe("sites API", () => {
  let app: TestApp;
  let viewer: Caller;
  let otherAdmin: Caller;
  before(async () => {
    app = await startTestApp();
    await createOrg(app, "other-dc", "provider");
    viewer = await createUserWithRole(app, { username: "vera", org: "default", role: "provider-viewer" });
    otherAdmin = await createUserWithRole(app, { username: "otto", org: "other-dc", role: "provider-admin" });
  });
  after(async () => await app.close());

  it("creates, reads, updates and deletes a site", async () => {
    const site = await create<Site>(app.admin, `${BASE}/sites`, {
      name: "fra-1",
      location: "Frankfurt, hall 3",
    });
    const read = await viewer({ method: "GET", url: `${BASE}/sites/${site.id}` });
    expectStatus(read, 200);
    assert.deepEqual(read.json(), site);
    const patched = await app.admin({
      method: "PATCH",
      url: `${BASE}/sites/${site.id}`,
      payload: { name: "fra-2" },
    });
    expectStatus(patched, 200);
    assert.equal(patched.json().name, "fra-2");
    assert.equal(patched.json().location, "Frankfurt, hall 3");
    expectStatus(await app.admin({ method: "DELETE", url: `${BASE}/sites/${site.id}` }), 204);
    expectProblem(await app.admin({ method: "GET", url: `${BASE}/sites/${site.id}` }), 404);
  });

  it("names the field at fault, refuses duplicate names in an org, allows them across orgs", async () => {
    expectProblem(
      await app.admin({ method: "POST", url: `${BASE}/sites`, payload: { name: "UPPER" } }),
      400,
      "body.name",
    );
    expectProblem(
      await app.admin({ method: "POST", url: `${BASE}/sites`, payload: { name: "ok", extra: 1 } }),
      400,
      "body.extra",
    );
    await create(app.admin, `${BASE}/sites`, { name: "ams-1" });
    const again = await app.admin({ method: "POST", url: `${BASE}/sites`, payload: { name: "ams-1" } });
    expectProblem(again, 409);
    assert.equal(again.json().code, "site.name_taken");
    await create(otherAdmin, "/api/v1/orgs/other-dc/sites", { name: "ams-1" });
  });

  it("refuses to delete a site racks stand in", async () => {
    const site = await create<Site>(app.admin, `${BASE}/sites`, { name: "busy" });
    await create(app.admin, `${BASE}/racks`, { name: "busy-rack", siteId: site.id });
    const refused = await app.admin({ method: "DELETE", url: `${BASE}/sites/${site.id}` });
    expectProblem(refused, 409);
    assert.equal(refused.json().code, "site.in_use");
  });

  it("lists over pages and keeps viewers and other orgs out of writes", async () => {
    for (let i = 0; i < 5; i++) await create(app.admin, `${BASE}/sites`, { name: `page-${i}` });
    const listed = await allPages<Site>(viewer, `${BASE}/sites?q=page-&limit=2`);
    assert.equal(listed.pages, 3);
    assert.deepEqual(
      listed.items.map((site) => site.name),
      ["page-0", "page-1", "page-2", "page-3", "page-4"],
    );
    expectProblem(await viewer({ method: "POST", url: `${BASE}/sites`, payload: { name: "v" } }), 403);
    expectProblem(await otherAdmin({ method: "GET", url: `${BASE}/sites` }), 403);
    const theirs = listed.items[0]?.id ?? "";
    expectProblem(await otherAdmin({ method: "DELETE", url: `/api/v1/orgs/other-dc/sites/${theirs}` }), 404);
  });
});
