import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { type Caller, createOrg, createUserWithRole, startTestApp, type TestApp } from "../helpers/app.ts";
import { allPages, BASE, create, expectProblem, expectStatus } from "./helpers.ts";

const URL = `${BASE}/expected-machines`;
const PASSWORD = "expected-Bmc-secret-1";

interface ExpectedMachine {
  id: string;
  serial: string | null;
  bmcMac: string | null;
  bmcUsername: string | null;
  hasBmcCredentials: boolean;
  specProfileId: string | null;
  spec: Record<string, unknown> | null;
  rackId: string | null;
  hostname: string | null;
  labels: Record<string, string>;
}

describe("expected machines API", () => {
  let app: TestApp;
  let viewer: Caller;
  let otherAdmin: Caller;
  let tenantAdmin: Caller;
  let rackId: string;
  let profileId: string;
  before(async () => {
    app = await startTestApp();
    await createOrg(app, "other-dc", "provider");
    await createOrg(app, "acme", "tenant");
    viewer = await createUserWithRole(app, { username: "vera", org: "default", role: "provider-viewer" });
    otherAdmin = await createUserWithRole(app, { username: "otto", org: "other-dc", role: "provider-admin" });
    tenantAdmin = await createUserWithRole(app, { username: "tina", org: "acme", role: "tenant-admin" });
    rackId = (await create<{ id: string }>(app.admin, `${BASE}/racks`, { name: "em-rack" })).id;
    profileId = (
      await create<{ id: string }>(app.admin, `${BASE}/hardware-spec-profiles`, {
        name: "em-profile",
        spec: { gpus: { count: 8 } },
      })
    ).id;
  });
  after(async () => await app.close());

  it("announces a machine with BMC credentials it never returns and stores encrypted", async () => {
    const created = await app.admin({
      method: "POST",
      url: URL,
      payload: {
        serial: "SVC-0001",
        bmcMac: "AA-BB-CC-11-22-33",
        bmcAddress: "10.1.0.5",
        bmcProtocol: "ipmi",
        bmcCredentials: { username: "ADMIN", password: PASSWORD },
        specProfileId: profileId,
        rackId,
        slot: 4,
        hostname: "gpu-node-1.lab",
        labels: { pool: "training" },
      },
    });
    expectStatus(created, 201);
    assert.ok(!created.body.includes(PASSWORD));
    const machine = created.json() as ExpectedMachine;
    assert.equal(machine.bmcMac, "aa:bb:cc:11:22:33");
    assert.equal(machine.bmcUsername, "ADMIN");
    assert.equal(machine.hasBmcCredentials, true);
    for (const url of [`${URL}/${machine.id}`, URL, `${URL}?q=SVC-0001`]) {
      const response = await viewer({ method: "GET", url });
      expectStatus(response, 200);
      assert.ok(!response.body.includes(PASSWORD), `${url} leaks the password`);
      assert.ok(!response.body.includes("ingot-vault"), `${url} leaks the ciphertext`);
    }
    const row = await sql<{ bmc_credentials: string }>`
      SELECT bmc_credentials FROM expected_machines WHERE id = ${machine.id}`.execute(app.database.handle.db);
    const ciphertext = row.rows[0]?.bmc_credentials ?? "";
    assert.match(ciphertext, /^ingot-vault:v1:/);
    assert.equal(
      app.assembled.services.vault.decrypt(ciphertext, `expected-machine:${machine.id}:bmc-password`),
      PASSWORD,
    );
  });

  it("lets enrollment find it by serial or BMC MAC, with the profile's spec and the credentials", async () => {
    const expected = app.assembled.services.inventory.expectedMachines;
    const bySerial = await expected.findForEnrollment({ serial: "SVC-0001" });
    assert.equal(bySerial?.row.serial_number, "SVC-0001");
    assert.deepEqual(bySerial?.spec, { gpus: { count: 8 } });
    assert.equal(bySerial?.specProfileName, "em-profile");
    const byMac = await expected.findForEnrollment({ serial: "UNKNOWN", bmcMac: "aa:bb:cc:11:22:33" });
    assert.equal(byMac?.row.id, bySerial?.row.id);
    assert.equal(await expected.findForEnrollment({ serial: "UNKNOWN" }), undefined);
    assert.ok(bySerial !== undefined);
    assert.deepEqual(expected.bmcCredentialsOf(bySerial.row), { username: "ADMIN", password: PASSWORD });
  });

  it("changes and clears fields, and replaces or removes credentials", async () => {
    const machine = await create<ExpectedMachine>(app.admin, URL, {
      bmcMac: "aa:bb:cc:11:22:44",
      bmcCredentials: { username: "root", password: PASSWORD },
      spec: { memory: { minBytes: 1024 } },
    });
    assert.equal(machine.serial, null);
    const patched = await app.admin({
      method: "PATCH",
      url: `${URL}/${machine.id}`,
      payload: {
        serial: "SVC-0002",
        spec: null,
        specProfileId: profileId,
        bmcCredentials: null,
        hostname: "n2",
      },
    });
    expectStatus(patched, 200);
    const after = patched.json() as ExpectedMachine;
    assert.equal(after.serial, "SVC-0002");
    assert.equal(after.spec, null);
    assert.equal(after.specProfileId, profileId);
    assert.equal(after.hasBmcCredentials, false);
    assert.equal(after.bmcUsername, null);
    const noIdentity = await app.admin({
      method: "PATCH",
      url: `${URL}/${machine.id}`,
      payload: { serial: null, bmcMac: null },
    });
    expectProblem(noIdentity, 400, "body.serial");
    expectStatus(await app.admin({ method: "DELETE", url: `${URL}/${machine.id}` }), 204);
    expectProblem(await app.admin({ method: "GET", url: `${URL}/${machine.id}` }), 404);
  });

  it("asks for the credentials again before moving the BMC they were entered for", async () => {
    const machine = await create<ExpectedMachine>(app.admin, URL, {
      bmcMac: "aa:bb:cc:11:22:45",
      bmcAddress: "10.1.0.45",
      bmcProtocol: "redfish",
      bmcCredentials: { username: "root", password: PASSWORD },
    });
    for (const payload of [{ bmcAddress: "trap.example" }, { bmcProtocol: "ipmi" }]) {
      expectProblem(
        await app.admin({ method: "PATCH", url: `${URL}/${machine.id}`, payload }),
        400,
        "body.bmcCredentials",
      );
    }
    const moved = await app.admin({
      method: "PATCH",
      url: `${URL}/${machine.id}`,
      payload: { bmcAddress: "10.1.0.46", bmcCredentials: { username: "root", password: PASSWORD } },
    });
    expectStatus(moved, 200);
  });

  it("names the field at fault in bad input", async () => {
    expectProblem(
      await app.admin({ method: "POST", url: URL, payload: { hostname: "x" } }),
      400,
      "body.serial",
    );
    expectProblem(
      await app.admin({ method: "POST", url: URL, payload: { bmcMac: "zz:zz" } }),
      400,
      "body.bmcMac",
    );
    expectProblem(
      await app.admin({ method: "POST", url: URL, payload: { serial: "E1", hostname: "bad host" } }),
      400,
      "body.hostname",
    );
    expectProblem(
      await app.admin({
        method: "POST",
        url: URL,
        payload: { serial: "E1", specProfileId: profileId, spec: {} },
      }),
      400,
      "body.spec",
    );
    expectProblem(
      await app.admin({
        method: "POST",
        url: URL,
        payload: { serial: "E1", rackId: "00000000-0000-4000-8000-000000000000" },
      }),
      400,
      "body.rackId",
    );
    expectProblem(
      await app.admin({
        method: "POST",
        url: URL,
        payload: { serial: "E1", specProfileId: "00000000-0000-4000-8000-000000000000" },
      }),
      400,
      "body.specProfileId",
    );
    expectProblem(
      await app.admin({
        method: "POST",
        url: URL,
        payload: { serial: "E1", bmcCredentials: { username: "u" } },
      }),
      400,
      "body.bmcCredentials.password",
    );
    const written = await app.admin({ method: "GET", url: `${URL}?q=E1` });
    assert.deepEqual(written.json().items, [], "nothing was written");
  });

  it("refuses a serial or BMC MAC that is already expected, in any org", async () => {
    await create(app.admin, URL, { serial: "SVC-DUP", bmcMac: "aa:bb:cc:11:22:55" });
    const sameSerial = await app.admin({ method: "POST", url: URL, payload: { serial: "SVC-DUP" } });
    expectProblem(sameSerial, 409);
    assert.equal(sameSerial.json().code, "expected_machine.serial_taken");
    const sameMac = await app.admin({ method: "POST", url: URL, payload: { bmcMac: "AABBCC112255" } });
    expectProblem(sameMac, 409);
    assert.equal(sameMac.json().code, "expected_machine.bmc_mac_taken");
    const elsewhere = await otherAdmin({
      method: "POST",
      url: "/api/v1/orgs/other-dc/expected-machines",
      payload: { serial: "SVC-DUP" },
    });
    expectProblem(elsewhere, 409);
  });

  it("filters by rack, profile and labels over several pages", async () => {
    for (let i = 0; i < 12; i++) {
      await create(app.admin, URL, {
        serial: `PG-${String(i).padStart(2, "0")}`,
        hostname: `node-${String(11 - i).padStart(2, "0")}`,
        ...(i % 2 === 0 ? { rackId } : {}),
        ...(i % 3 === 0 ? { specProfileId: profileId } : {}),
        labels: { batch: i < 6 ? "one" : "two" },
      });
    }
    const inRack = await allPages<ExpectedMachine>(
      app.admin,
      `${URL}?q=PG-&rackId=${rackId}&sort=serial&limit=2`,
    );
    assert.equal(inRack.pages, 3);
    assert.deepEqual(
      inRack.items.map((machine) => machine.serial),
      ["PG-00", "PG-02", "PG-04", "PG-06", "PG-08", "PG-10"],
    );
    const byHost = await allPages<ExpectedMachine>(app.admin, `${URL}?q=PG-&sort=hostname&limit=5`);
    assert.deepEqual(
      byHost.items.map((machine) => machine.hostname),
      Array.from({ length: 12 }, (_, i) => `node-${String(i).padStart(2, "0")}`),
    );
    const profiled = await allPages<ExpectedMachine>(
      app.admin,
      `${URL}?q=PG-&specProfileId=${profileId}&label=batch%3Dtwo`,
    );
    assert.deepEqual(
      profiled.items.map((machine) => machine.serial),
      ["PG-06", "PG-09"],
    );
  });

  it("keeps viewers from writing, other orgs and tenants out", async () => {
    const machine = await create<ExpectedMachine>(app.admin, URL, { serial: "SVC-ACCESS" });
    expectProblem(await viewer({ method: "POST", url: URL, payload: { serial: "SVC-V" } }), 403);
    expectProblem(
      await viewer({ method: "PATCH", url: `${URL}/${machine.id}`, payload: { hostname: "h" } }),
      403,
    );
    expectProblem(await viewer({ method: "DELETE", url: `${URL}/${machine.id}` }), 403);
    expectProblem(await otherAdmin({ method: "GET", url: URL }), 403);
    expectProblem(await tenantAdmin({ method: "GET", url: URL }), 403);
    expectProblem(
      await otherAdmin({ method: "GET", url: `/api/v1/orgs/other-dc/expected-machines/${machine.id}` }),
      404,
    );
  });
});
