import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { type Caller, createOrg, createUserWithRole, startTestApp, type TestApp } from "../helpers/app.ts";
import { allPages, BASE, create, expectProblem, expectStatus, insertMachine } from "./helpers.ts";

interface Component {
  id: string;
  rackId: string | null;
  type: string;
  serial: string;
  slot: number | null;
  machineId: string | null;
  deletedAt: string | null;
}

describe("components API", () => {
  let app: TestApp;
  let viewer: Caller;
  let otherAdmin: Caller;
  let rackA: string;
  let rackB: string;
  before(async () => {
    app = await startTestApp();
    await createOrg(app, "other-dc", "provider");
    viewer = await createUserWithRole(app, { username: "vera", org: "default", role: "provider-viewer" });
    otherAdmin = await createUserWithRole(app, { username: "otto", org: "other-dc", role: "provider-admin" });
    rackA = (await create<{ id: string }>(app.admin, `${BASE}/racks`, { name: "rack-a" })).id;
    rackB = (await create<{ id: string }>(app.admin, `${BASE}/racks`, { name: "rack-b" })).id;
  });
  after(async () => await app.close());

  it("registers a component in a rack and changes it", async () => {
    const component = await create<Component>(app.admin, `${BASE}/components`, {
      type: "nvswitch",
      manufacturer: "NVIDIA",
      serial: "NVS-1",
      rackId: rackA,
      slot: 12,
      trayIndex: 3,
      externalId: "nvs-ext-1",
    });
    assert.equal(component.rackId, rackA);
    assert.equal(component.deletedAt, null);
    const patched = await app.admin({
      method: "PATCH",
      url: `${BASE}/components/${component.id}`,
      payload: { firmwareVersion: "1.2.3", rackId: rackB },
    });
    expectStatus(patched, 200);
    assert.equal(patched.json().firmwareVersion, "1.2.3");
    assert.equal(patched.json().rackId, rackB);
    assert.equal(patched.json().slot, 12);
    const viewed = await viewer({ method: "GET", url: `${BASE}/components/${component.id}` });
    expectStatus(viewed, 200);
  });

  it("names the field at fault in bad input", async () => {
    const url = `${BASE}/components`;
    expectProblem(
      await app.admin({ method: "POST", url, payload: { type: "toaster", manufacturer: "X", serial: "1" } }),
      400,
      "body.type",
    );
    expectProblem(
      await app.admin({ method: "POST", url, payload: { type: "cdu", manufacturer: "X" } }),
      400,
      "body.serial",
    );
    expectProblem(
      await app.admin({
        method: "POST",
        url,
        payload: { type: "cdu", manufacturer: "X", serial: "1", slot: -1 },
      }),
      400,
      "body.slot",
    );
    const unknownRack = await app.admin({
      method: "POST",
      url,
      payload: {
        type: "cdu",
        manufacturer: "X",
        serial: "1",
        rackId: "00000000-0000-4000-8000-000000000000",
      },
    });
    expectProblem(unknownRack, 400, "body.rackId");
    const theirRack = (
      await create<{ id: string }>(otherAdmin, "/api/v1/orgs/other-dc/racks", { name: "their-rack" })
    ).id;
    expectProblem(
      await app.admin({
        method: "POST",
        url,
        payload: { type: "cdu", manufacturer: "X", serial: "1", rackId: theirRack },
      }),
      400,
      "body.rackId",
    );
  });

  it("refuses a second live component with the same manufacturer and serial, or type and external id", async () => {
    await create(app.admin, `${BASE}/components`, {
      type: "powershelf",
      manufacturer: "Delta",
      serial: "PS-1",
      externalId: "ext-7",
    });
    const sameSerial = await app.admin({
      method: "POST",
      url: `${BASE}/components`,
      payload: { type: "cdu", manufacturer: "Delta", serial: "PS-1" },
    });
    expectProblem(sameSerial, 409);
    assert.equal(sameSerial.json().code, "component.serial_taken");
    const sameExternal = await app.admin({
      method: "POST",
      url: `${BASE}/components`,
      payload: { type: "powershelf", manufacturer: "Delta", serial: "PS-2", externalId: "ext-7" },
    });
    expectProblem(sameExternal, 409);
    assert.equal(sameExternal.json().code, "component.external_id_taken");
    await create(app.admin, `${BASE}/components`, {
      type: "cdu",
      manufacturer: "Delta",
      serial: "PS-3",
      externalId: "ext-7",
    });
  });

  it("removes softly: hidden from lists, still readable, serial free again, unchangeable", async () => {
    const old = await create<Component>(app.admin, `${BASE}/components`, {
      type: "compute",
      manufacturer: "Quanta",
      serial: "TRAY-9",
      rackId: rackA,
    });
    expectStatus(await app.admin({ method: "DELETE", url: `${BASE}/components/${old.id}` }), 204);
    expectStatus(await app.admin({ method: "DELETE", url: `${BASE}/components/${old.id}` }), 204);
    const read = await app.admin({ method: "GET", url: `${BASE}/components/${old.id}` });
    expectStatus(read, 200);
    assert.ok(read.json().deletedAt, "the removed component keeps its row");
    const live = await allPages<Component>(app.admin, `${BASE}/components?rackId=${rackA}`);
    assert.ok(!live.items.some((component) => component.id === old.id));
    const all = await allPages<Component>(
      app.admin,
      `${BASE}/components?rackId=${rackA}&includeDeleted=true`,
    );
    assert.ok(all.items.some((component) => component.id === old.id));
    const replacement = await create<Component>(app.admin, `${BASE}/components`, {
      type: "compute",
      manufacturer: "Quanta",
      serial: "TRAY-9",
      rackId: rackA,
    });
    assert.notEqual(replacement.id, old.id);
    const change = await app.admin({
      method: "PATCH",
      url: `${BASE}/components/${old.id}`,
      payload: { slot: 1 },
    });
    expectProblem(change, 409);
    assert.equal(change.json().code, "component.removed");
    expectProblem(await app.admin({ method: "DELETE", url: `${BASE}/racks/${rackA}` }), 409);
  });

  it("links a compute tray to a machine of the same org only, one live tray per machine", async () => {
    const machineId = await insertMachine(app, "default", "SRV-LINK-1");
    const foreignMachine = await insertMachine(app, "other-dc", "SRV-LINK-2");
    const tray = await create<Component>(app.admin, `${BASE}/components`, {
      type: "compute",
      manufacturer: "Quanta",
      serial: "TRAY-LINK",
      machineId,
    });
    assert.equal(tray.machineId, machineId);
    const second = await app.admin({
      method: "POST",
      url: `${BASE}/components`,
      payload: { type: "compute", manufacturer: "Quanta", serial: "TRAY-LINK-2", machineId },
    });
    expectProblem(second, 409);
    assert.equal(second.json().code, "component.machine_taken");
    expectProblem(
      await app.admin({
        method: "POST",
        url: `${BASE}/components`,
        payload: {
          type: "compute",
          manufacturer: "Quanta",
          serial: "TRAY-LINK-3",
          machineId: foreignMachine,
        },
      }),
      400,
      "body.machineId",
    );
    const byMachine = await allPages<Component>(app.admin, `${BASE}/components?machineId=${machineId}`);
    assert.deepEqual(
      byMachine.items.map((component) => component.id),
      [tray.id],
    );
  });

  it("filters by rack and type and pages in slot order", async () => {
    const rack = (await create<{ id: string }>(app.admin, `${BASE}/racks`, { name: "rack-pages" })).id;
    for (let slot = 0; slot < 14; slot++) {
      await create(app.admin, `${BASE}/components`, {
        type: slot % 2 === 0 ? "compute" : "nvswitch",
        manufacturer: "Foxconn",
        serial: `PG-${slot}`,
        rackId: rack,
        slot: 13 - slot,
      });
    }
    const compute = await allPages<Component>(
      app.admin,
      `${BASE}/components?rackId=${rack}&type=compute&sort=slot&limit=3`,
    );
    assert.equal(compute.pages, 3);
    assert.deepEqual(
      compute.items.map((component) => component.slot),
      [1, 3, 5, 7, 9, 11, 13],
    );
    const all = await allPages<Component>(app.admin, `${BASE}/components?rackId=${rack}&sort=-slot&limit=5`);
    assert.deepEqual(
      all.items.map((component) => component.slot),
      Array.from({ length: 14 }, (_, i) => 13 - i),
    );
  });

  it("keeps viewers from writing and other orgs out", async () => {
    const payload = { type: "cdu", manufacturer: "X", serial: "V-1" };
    expectProblem(await viewer({ method: "POST", url: `${BASE}/components`, payload }), 403);
    expectProblem(await otherAdmin({ method: "GET", url: `${BASE}/components` }), 403);
    const mine = await create<Component>(app.admin, `${BASE}/components`, payload);
    expectProblem(await viewer({ method: "DELETE", url: `${BASE}/components/${mine.id}` }), 403);
    expectProblem(
      await otherAdmin({ method: "GET", url: `/api/v1/orgs/other-dc/components/${mine.id}` }),
      404,
    );
    const row = await sql<{
      deleted_at: Date | null;
    }>`SELECT deleted_at FROM components WHERE id = ${mine.id}`.execute(app.database.handle.db);
    assert.equal(row.rows[0]?.deleted_at, null);
  });
});
