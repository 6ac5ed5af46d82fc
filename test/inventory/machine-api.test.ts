import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BootTokens } from "../../src/boot/boot-tokens.ts";
import { createOrg, createUserWithRole, startTestApp, type TestApp } from "../helpers/app.ts";
import { enrollmentRequest } from "../helpers/enrollment.ts";

describe("machines API", () => {
  let app: TestApp;
  const ids: string[] = [];
  before(async () => {
    app = await startTestApp();
    const tokens = new BootTokens(app.database.handle.db);
    for (let index = 0; index < 7; index++) {
      const mac = `52:54:00:10:00:${String(index).padStart(2, "0")}`;
      const response = await app.anonymous({
        method: "POST",
        url: "/agent/v1/enroll",
        headers: { authorization: `Bearer ${await tokens.issue(mac, "enroll")}` },
        payload: enrollmentRequest({ serial: `LIST-${index}`, bootMac: mac }) as unknown as Record<
          string,
          unknown
        >,
      });
      assert.equal(response.statusCode, 200, response.body);
      ids.push(response.json().machineId);
    }
  });
  after(async () => await app.close());

  const list = async (query: string) => {
    const response = await app.admin({ method: "GET", url: `/api/v1/orgs/default/machines${query}` });
    assert.equal(response.statusCode, 200, response.body);
    return response.json() as {
      items: Array<{ id: string; serialNumber: string; labels: Record<string, string> }>;
      nextCursor: string | null;
    };
  };

  it("pages through every machine exactly once", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await list(`?limit=3&sort=serialNumber${cursor === null ? "" : `&cursor=${cursor}`}`);
      seen.push(...page.items.map((item) => item.serialNumber));
      cursor = page.nextCursor;
    } while (cursor !== null);
    assert.deepEqual(seen, ["LIST-0", "LIST-1", "LIST-2", "LIST-3", "LIST-4", "LIST-5", "LIST-6"]);
    const descending = await list("?sort=-serialNumber&limit=2");
    assert.deepEqual(
      descending.items.map((item) => item.serialNumber),
      ["LIST-6", "LIST-5"],
    );
  });

  it("filters by state, label and free text (a MAC finds its machine)", async () => {
    await app.admin({
      method: "PATCH",
      url: `/api/v1/orgs/default/machines/${ids[2]}`,
      payload: { labels: { pool: "gpu", row: "a" }, hostname: "node-2.lab" },
    });
    await app.admin({
      method: "POST",
      url: `/api/v1/orgs/default/machines/${ids[3]}/lifecycle`,
      payload: { event: "hold" },
    });
    assert.deepEqual(
      (await list("?label=pool=gpu")).items.map((item) => item.id),
      [ids[2]],
    );
    assert.deepEqual(
      (await list("?label=pool&label=row=a")).items.map((item) => item.id),
      [ids[2]],
    );
    assert.deepEqual(
      (await list("?state=held")).items.map((item) => item.id),
      [ids[3]],
    );
    assert.deepEqual(
      (await list("?q=52:54:00:10:00:05")).items.map((item) => item.id),
      [ids[5]],
    );
    assert.deepEqual(
      (await list("?q=node-2")).items.map((item) => item.id),
      [ids[2]],
    );
    assert.equal((await list("?state=retired")).items.length, 0);
  });

  it("refuses bad filters, naming the parameter", async () => {
    const badState = await app.admin({ method: "GET", url: "/api/v1/orgs/default/machines?state=sleeping" });
    assert.equal(badState.statusCode, 400);
    assert.equal(badState.json().errors[0].field, "querystring.state");
    const badSort = await app.admin({ method: "GET", url: "/api/v1/orgs/default/machines?sort=price" });
    assert.equal(badSort.json().errors[0].field, "querystring.sort");
    const cursor = (await list("?limit=1&sort=serialNumber")).nextCursor;
    const replayed = await app.admin({
      method: "GET",
      url: `/api/v1/orgs/default/machines?sort=-enrolledAt&cursor=${cursor}`,
    });
    assert.equal(replayed.statusCode, 400);
    assert.equal(replayed.json().errors[0].field, "querystring.cursor");
  });

  it("keeps machines to their provider org and its roles", async () => {
    await createOrg(app, "acme", "tenant");
    const tenant = await createUserWithRole(app, { username: "alice", org: "acme", role: "tenant-admin" });
    assert.equal((await tenant({ method: "GET", url: "/api/v1/orgs/default/machines" })).statusCode, 403);
    assert.equal((await tenant({ method: "GET", url: "/api/v1/orgs/acme/machines" })).statusCode, 403);
    const viewer = await createUserWithRole(app, {
      username: "vera",
      org: "default",
      role: "provider-viewer",
    });
    assert.equal(
      (await viewer({ method: "GET", url: `/api/v1/orgs/default/machines/${ids[0]}` })).statusCode,
      200,
    );
    const write = await viewer({
      method: "PATCH",
      url: `/api/v1/orgs/default/machines/${ids[0]}`,
      payload: { hostname: "x" },
    });
    assert.equal(write.statusCode, 403);
    const missing = await app.admin({
      method: "GET",
      url: "/api/v1/orgs/default/machines/00000000-0000-4000-8000-000000000000",
    });
    assert.equal(missing.statusCode, 404);
  });

  it("refuses unknown fields and bad labels on update", async () => {
    const url = `/api/v1/orgs/default/machines/${ids[0]}`;
    const unknown = await app.admin({ method: "PATCH", url, payload: { serialNumber: "forged" } });
    assert.equal(unknown.statusCode, 400);
    assert.equal(unknown.json().errors[0].field, "body.serialNumber");
    const badHostname = await app.admin({ method: "PATCH", url, payload: { hostname: "Not A Hostname" } });
    assert.equal(badHostname.json().errors[0].field, "body.hostname");
  });
});
