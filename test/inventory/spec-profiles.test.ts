import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Caller, createOrg, createUserWithRole, startTestApp, type TestApp } from "../helpers/app.ts";
import { allPages, BASE, create, expectProblem, expectStatus } from "./helpers.ts";

const URL = `${BASE}/hardware-spec-profiles`;

const GPU_NODE = {
  cpu: { modelPattern: "Xeon.*Platinum 84\\d\\d", minCores: 96, minThreads: 192 },
  memory: { minBytes: 2 * 1024 ** 4 },
  disks: { nvme: { count: 8, minSizeBytes: 3_840_000_000_000 }, ssd: { count: 2 } },
  nics: { count: 4, minSpeedMbps: 100_000 },
  gpus: { count: 8, modelPattern: "H100" },
};

interface Profile {
  id: string;
  name: string;
  spec: Record<string, unknown>;
}

describe("hardware spec profiles API", () => {
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

  it("stores a spec and gives it back as it was written", async () => {
    const profile = await create<Profile>(app.admin, URL, {
      name: "hgx-h100",
      description: "8-GPU node",
      spec: GPU_NODE,
    });
    assert.deepEqual(profile.spec, GPU_NODE);
    const read = await viewer({ method: "GET", url: `${URL}/${profile.id}` });
    expectStatus(read, 200);
    assert.deepEqual(read.json(), profile);
    const patched = await app.admin({
      method: "PATCH",
      url: `${URL}/${profile.id}`,
      payload: { spec: { memory: { minBytes: 1024 } } },
    });
    expectStatus(patched, 200);
    assert.deepEqual(patched.json().spec, { memory: { minBytes: 1024 } });
    assert.equal(patched.json().description, "8-GPU node");
  });

  it("names the field at fault in a bad spec", async () => {
    expectProblem(
      await app.admin({ method: "POST", url: URL, payload: { name: "p1", spec: { cpu: { cores: 4 } } } }),
      400,
      "body.spec.cpu.cores",
    );
    expectProblem(
      await app.admin({
        method: "POST",
        url: URL,
        payload: { name: "p1", spec: { disks: { floppy: { count: 1 } } } },
      }),
      400,
      "body.spec.disks.floppy",
    );
    expectProblem(
      await app.admin({ method: "POST", url: URL, payload: { name: "p1", spec: { disks: { nvme: {} } } } }),
      400,
      "body.spec.disks.nvme.count",
    );
    expectProblem(
      await app.admin({
        method: "POST",
        url: URL,
        payload: { name: "p1", spec: { memory: { minBytes: -1 } } },
      }),
      400,
      "body.spec.memory.minBytes",
    );
    expectProblem(
      await app.admin({
        method: "POST",
        url: URL,
        payload: { name: "p1", spec: { cpu: { modelPattern: "Xeon(" } } },
      }),
      400,
      "body.spec.cpu.modelPattern",
    );
    for (const unsafe of ["^([\\w\\s-]+)+Intel", "(a|aa)*b", "((ab)+)+", "(x)\\1"]) {
      const refused = await app.admin({
        method: "POST",
        url: URL,
        payload: { name: "p1", spec: { cpu: { modelPattern: unsafe } } },
      });
      expectProblem(refused, 400, "body.spec.cpu.modelPattern");
      assert.equal(refused.json().code, "spec.unsafe_pattern", unsafe);
    }
    expectStatus(
      await app.admin({
        method: "POST",
        url: URL,
        payload: { name: "safe", spec: { cpu: { modelPattern: "(EPYC|Xeon) [\\w ]+ 9\\d+(-Core)?" } } },
      }),
      201,
    );
    expectProblem(await app.admin({ method: "POST", url: URL, payload: { name: "p1" } }), 400, "body.spec");
    const none = await app.admin({ method: "GET", url: `${URL}?q=p1` });
    assert.deepEqual(none.json().items, [], "nothing was written");
  });

  it("refuses a duplicate name, and deleting a profile in use", async () => {
    const profile = await create<Profile>(app.admin, URL, { name: "dup", spec: {} });
    const again = await app.admin({ method: "POST", url: URL, payload: { name: "dup", spec: {} } });
    expectProblem(again, 409);
    assert.equal(again.json().code, "spec_profile.name_taken");
    await create(otherAdmin, "/api/v1/orgs/other-dc/hardware-spec-profiles", { name: "dup", spec: {} });
    await create(app.admin, `${BASE}/expected-machines`, { serial: "SPEC-USE-1", specProfileId: profile.id });
    const inUse = await app.admin({ method: "DELETE", url: `${URL}/${profile.id}` });
    expectProblem(inUse, 409);
    assert.equal(inUse.json().code, "spec_profile.in_use");
    const unused = await create<Profile>(app.admin, URL, { name: "unused", spec: {} });
    expectStatus(await app.admin({ method: "DELETE", url: `${URL}/${unused.id}` }), 204);
  });

  it("lists in name order over pages and keeps viewers and other orgs out of writes", async () => {
    for (let i = 0; i < 7; i++)
      await create(app.admin, URL, { name: `list-${i}`, spec: { gpus: { count: i } } });
    const listed = await allPages<Profile>(app.admin, `${URL}?q=list-&limit=3&sort=-name`);
    assert.equal(listed.pages, 3);
    assert.deepEqual(
      listed.items.map((profile) => profile.name),
      ["list-6", "list-5", "list-4", "list-3", "list-2", "list-1", "list-0"],
    );
    expectProblem(await viewer({ method: "POST", url: URL, payload: { name: "v", spec: {} } }), 403);
    expectProblem(await otherAdmin({ method: "GET", url: URL }), 403);
  });
});
