import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { createLabTls } from "../../lab/common/tls.ts";
import { CredentialsVault } from "../../src/bmc/vault.ts";
import { BmcStore } from "../../src/inventory/bmc-store.ts";
import { inventoryDb } from "../../src/inventory/inventory-tables.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { assembleApp } from "../../src/server/app.ts";
import {
  ADMIN_PASSWORD,
  type Caller,
  createOrg,
  createUserWithRole,
  startTestApp,
  type TestApp,
  testConfig,
} from "../helpers/app.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { allPages, BASE, create, expectProblem, expectStatus, insertMachine } from "./helpers.ts";

const PASSWORD = "bmc-Secret-p4ssword!";

interface Bmc {
  macAddress: string;
  username: string;
  hasCredentials: boolean;
  protocol: string;
  componentId: string | null;
  machineId: string | null;
  tls: { mode: string; sha256Fingerprint?: string; ca?: string };
}

function bmcBody(mac: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    macAddress: mac,
    address: "10.0.0.10",
    protocol: "redfish",
    credentials: { username: "root", password: PASSWORD },
    ...extra,
  };
}

describe("BMCs API", () => {
  let app: TestApp;
  let viewer: Caller;
  let otherAdmin: Caller;
  let tenantAdmin: Caller;
  before(async () => {
    app = await startTestApp();
    await createOrg(app, "other-dc", "provider");
    await createOrg(app, "acme", "tenant");
    viewer = await createUserWithRole(app, { username: "vera", org: "default", role: "provider-viewer" });
    otherAdmin = await createUserWithRole(app, { username: "otto", org: "other-dc", role: "provider-admin" });
    tenantAdmin = await createUserWithRole(app, { username: "tina", org: "acme", role: "tenant-admin" });
  });
  after(async () => await app.close());

  async function storedCredentials(mac: string): Promise<string> {
    const result = await sql<{ credentials: string }>`
      SELECT credentials FROM bmcs WHERE mac_address = ${mac}`.execute(app.database.handle.db);
    const ciphertext = result.rows[0]?.credentials;
    assert.ok(ciphertext !== undefined, `no BMC row ${mac}`);
    return ciphertext;
  }

  it("normalises the MAC address, keeps the password out of every answer and encrypted at rest", async () => {
    const created = await app.admin({
      method: "POST",
      url: `${BASE}/bmcs`,
      payload: bmcBody("AA-BB-CC-00-00-01", { port: 8443 }),
    });
    expectStatus(created, 201);
    assert.ok(!created.body.includes(PASSWORD));
    const bmc = created.json() as Bmc;
    assert.equal(bmc.macAddress, "aa:bb:cc:00:00:01");
    assert.equal(bmc.username, "root");
    assert.equal(bmc.hasCredentials, true);
    assert.deepEqual(bmc.tls, { mode: "verify" });
    assert.ok(!("password" in bmc) && !("credentials" in bmc));

    for (const url of [
      `${BASE}/bmcs/AA:BB:CC:00:00:01`,
      `${BASE}/bmcs/aabbcc000001`,
      `${BASE}/bmcs`,
      `${BASE}/bmcs?q=aa:bb`,
    ]) {
      const response = await viewer({ method: "GET", url });
      expectStatus(response, 200);
      assert.ok(!response.body.includes(PASSWORD), `${url} leaks the password`);
      assert.ok(!response.body.includes("ingot-vault"), `${url} leaks the ciphertext`);
    }

    const ciphertext = await storedCredentials("aa:bb:cc:00:00:01");
    assert.match(ciphertext, /^ingot-vault:v1:/);
    assert.ok(!ciphertext.includes(PASSWORD));
    const vault = app.assembled.services.vault;
    assert.equal(vault.decrypt(ciphertext, "bmc:aa:bb:cc:00:00:01:password"), PASSWORD);
    assert.throws(() => vault.decrypt(ciphertext, "bmc:aa:bb:cc:00:00:02:password"), /failed authentication/);
  });

  it("replaces credentials on update, re-encrypted, and gives drivers the decrypted endpoint", async () => {
    await create(app.admin, `${BASE}/bmcs`, bmcBody("aa:bb:cc:00:00:02"));
    const newPassword = "second-Secret-pass";
    const patched = await app.admin({
      method: "PATCH",
      url: `${BASE}/bmcs/aa:bb:cc:00:00:02`,
      payload: { credentials: { username: "admin", password: newPassword }, address: "bmc-2.lab" },
    });
    expectStatus(patched, 200);
    assert.ok(!patched.body.includes(newPassword));
    assert.equal(patched.json().username, "admin");
    assert.equal(patched.json().address, "bmc-2.lab");
    const ciphertext = await storedCredentials("aa:bb:cc:00:00:02");
    assert.equal(
      app.assembled.services.vault.decrypt(ciphertext, "bmc:aa:bb:cc:00:00:02:password"),
      newPassword,
    );

    const row = await sql<Parameters<typeof app.assembled.services.inventory.bmcs.endpointOf>[0]>`
      SELECT * FROM bmcs WHERE mac_address = 'aa:bb:cc:00:00:02'`.execute(app.database.handle.db);
    const stored = row.rows[0];
    assert.ok(stored !== undefined);
    const endpoint = app.assembled.services.inventory.bmcs.endpointOf(stored);
    assert.deepEqual(endpoint, {
      address: "bmc-2.lab",
      username: "admin",
      password: newPassword,
      tls: { mode: "verify" },
    });
  });

  it("asks for the credentials again before pointing a BMC at another address or TLS policy", async () => {
    await create(app.admin, `${BASE}/bmcs`, bmcBody("aa:bb:cc:00:00:0f"));
    const url = `${BASE}/bmcs/aa:bb:cc:00:00:0f`;
    for (const payload of [
      { address: "attacker.example" },
      { port: 8443 },
      { tls: { mode: "insecure-allow-self-signed" } },
    ]) {
      const refused = await app.admin({ method: "PATCH", url, payload });
      expectProblem(refused, 400);
      assert.equal(refused.json().errors[0].field, "body.credentials");
    }
    const moved = await app.admin({
      method: "PATCH",
      url,
      payload: { address: "bmc-3.lab", credentials: { username: "admin", password: "third-Secret-pass" } },
    });
    expectStatus(moved, 200);
  });

  it("stores a TLS policy: a CA that parses, a fingerprint normalised to hex", async () => {
    const tls = await createLabTls();
    const verified = await create<Bmc>(
      app.admin,
      `${BASE}/bmcs`,
      bmcBody("aa:bb:cc:00:00:03", { tls: { mode: "verify", ca: tls.caCert } }),
    );
    assert.equal(verified.tls.ca, tls.caCert);
    const pinned = await create<Bmc>(
      app.admin,
      `${BASE}/bmcs`,
      bmcBody("aa:bb:cc:00:00:04", { tls: { mode: "pinned", sha256Fingerprint: tls.fingerprint256 } }),
    );
    assert.equal(pinned.tls.sha256Fingerprint, tls.fingerprint256.replace(/:/g, "").toLowerCase());
    const selfSigned = await create<Bmc>(
      app.admin,
      `${BASE}/bmcs`,
      bmcBody("aa:bb:cc:00:00:05", { protocol: "ipmi", tls: { mode: "insecure-allow-self-signed" } }),
    );
    assert.equal(selfSigned.tls.mode, "insecure-allow-self-signed");
  });

  it("names the field at fault in bad input", async () => {
    const url = `${BASE}/bmcs`;
    expectProblem(
      await app.admin({ method: "POST", url, payload: bmcBody("aa:bb:cc:00:00") }),
      400,
      "body.macAddress",
    );
    expectProblem(
      await app.admin({ method: "POST", url, payload: bmcBody("aa:bb:cc:00:00:10", { protocol: "snmp" }) }),
      400,
      "body.protocol",
    );
    expectProblem(
      await app.admin({
        method: "POST",
        url,
        payload: { ...bmcBody("aa:bb:cc:00:00:10"), credentials: { username: "root" } },
      }),
      400,
      "body.credentials.password",
    );
    expectProblem(
      await app.admin({ method: "POST", url, payload: bmcBody("aa:bb:cc:00:00:10", { port: 70000 }) }),
      400,
      "body.port",
    );
    expectProblem(
      await app.admin({
        method: "POST",
        url,
        payload: bmcBody("aa:bb:cc:00:00:10", {
          tls: { mode: "verify", ca: "-----BEGIN CERTIFICATE-----\nnope" },
        }),
      }),
      400,
      "body.tls.ca",
    );
    expectProblem(
      await app.admin({
        method: "POST",
        url,
        payload: bmcBody("aa:bb:cc:00:00:10", {
          tls: { mode: "pinned", sha256Fingerprint: "AB:".repeat(22) },
        }),
      }),
      400,
      "body.tls.sha256Fingerprint",
    );
    expectProblem(
      await app.admin({
        method: "POST",
        url,
        payload: bmcBody("aa:bb:cc:00:00:10", { componentId: "00000000-0000-4000-8000-000000000000" }),
      }),
      400,
      "body.componentId",
    );
    expectProblem(await app.admin({ method: "GET", url: `${BASE}/bmcs/not-a-mac` }), 400, "params.mac");
    const bodies = await app.admin({ method: "GET", url: `${BASE}/bmcs?limit=500` });
    assert.ok(
      !bodies.json().items.some((bmc: Bmc) => bmc.macAddress === "aa:bb:cc:00:00:10"),
      "nothing was written",
    );
  });

  it("refuses a MAC address registered already, in whatever spelling, and a second BMC for a machine", async () => {
    await create(app.admin, `${BASE}/bmcs`, bmcBody("aa:bb:cc:00:00:20"));
    const again = await app.admin({ method: "POST", url: `${BASE}/bmcs`, payload: bmcBody("AABBCC000020") });
    expectProblem(again, 409);
    assert.equal(again.json().code, "bmc.exists");
    assert.match(again.json().detail, /aa:bb:cc:00:00:20/);
    assert.ok(!again.body.includes(PASSWORD));

    const machineId = await insertMachine(app, "default", "SRV-BMC-1");
    const linked = await create<Bmc>(app.admin, `${BASE}/bmcs`, bmcBody("aa:bb:cc:00:00:21", { machineId }));
    assert.equal(linked.machineId, machineId);
    const second = await app.admin({
      method: "POST",
      url: `${BASE}/bmcs`,
      payload: bmcBody("aa:bb:cc:00:00:22", { machineId }),
    });
    expectProblem(second, 409);
    assert.equal(second.json().code, "bmc.machine_taken");
    const theirMachine = await insertMachine(app, "other-dc", "SRV-BMC-2");
    expectProblem(
      await app.admin({
        method: "POST",
        url: `${BASE}/bmcs`,
        payload: bmcBody("aa:bb:cc:00:00:23", { machineId: theirMachine }),
      }),
      400,
      "body.machineId",
    );
  });

  it("lets enrollment find a BMC by MAC and link it to the machine behind it", async () => {
    const store = new BmcStore(inventoryDb(app.database.handle.db));
    await create(app.admin, `${BASE}/bmcs`, bmcBody("aa:bb:cc:00:00:25"));
    assert.equal((await store.findByMac("aa:bb:cc:00:00:25"))?.address, "10.0.0.10");
    assert.equal(await store.findByMac("aa:bb:cc:00:00:26"), undefined);
    const machineId = await insertMachine(app, "default", "SRV-BMC-LINK");
    assert.equal(await store.linkMachine("aa:bb:cc:00:00:25", machineId), true);
    assert.equal(await store.linkMachine("aa:bb:cc:00:00:26", machineId), false);
    assert.equal((await store.findByMachine(machineId))?.mac_address, "aa:bb:cc:00:00:25");
    const listed = await allPages<Bmc>(app.admin, `${BASE}/bmcs?machineId=${machineId}`);
    assert.deepEqual(
      listed.items.map((bmc) => bmc.macAddress),
      ["aa:bb:cc:00:00:25"],
    );
    assert.equal(await store.linkMachine("aa:bb:cc:00:00:25", null), true);
    assert.equal(await store.findByMachine(machineId), undefined);
  });

  it("links a BMC to a live component and filters by it", async () => {
    const component = await create<{ id: string }>(app.admin, `${BASE}/components`, {
      type: "powershelf",
      manufacturer: "Delta",
      serial: "PSU-BMC-1",
    });
    await create(app.admin, `${BASE}/bmcs`, bmcBody("aa:bb:cc:00:00:30", { componentId: component.id }));
    const listed = await allPages<Bmc>(app.admin, `${BASE}/bmcs?componentId=${component.id}`);
    assert.deepEqual(
      listed.items.map((bmc) => bmc.macAddress),
      ["aa:bb:cc:00:00:30"],
    );
    expectStatus(await app.admin({ method: "DELETE", url: `${BASE}/components/${component.id}` }), 204);
    expectProblem(
      await app.admin({
        method: "POST",
        url: `${BASE}/bmcs`,
        payload: bmcBody("aa:bb:cc:00:00:31", { componentId: component.id }),
      }),
      400,
      "body.componentId",
    );
  });

  it("pages through BMCs in MAC order and filters by protocol", async () => {
    for (let i = 0; i < 9; i++) {
      await create(
        app.admin,
        `${BASE}/bmcs`,
        bmcBody(`aa:bb:cc:dd:01:${String(19 - i).padStart(2, "0")}`, {
          protocol: i % 3 === 0 ? "ipmi" : "redfish",
        }),
      );
    }
    const all = await allPages<Bmc>(app.admin, `${BASE}/bmcs?q=aa:bb:cc:dd:01&limit=2`);
    assert.equal(all.pages, 5);
    assert.deepEqual(
      all.items.map((bmc) => bmc.macAddress),
      Array.from({ length: 9 }, (_, i) => `aa:bb:cc:dd:01:${String(11 + i)}`),
    );
    const ipmi = await allPages<Bmc>(
      app.admin,
      `${BASE}/bmcs?q=aa:bb:cc:dd:01&protocol=ipmi&sort=-macAddress&limit=2`,
    );
    assert.deepEqual(
      ipmi.items.map((bmc) => bmc.macAddress),
      ["aa:bb:cc:dd:01:19", "aa:bb:cc:dd:01:16", "aa:bb:cc:dd:01:13"],
    );
  });

  it("keeps viewers from writing, other orgs and tenants out", async () => {
    await create(app.admin, `${BASE}/bmcs`, bmcBody("aa:bb:cc:00:00:40"));
    expectProblem(
      await viewer({ method: "POST", url: `${BASE}/bmcs`, payload: bmcBody("aa:bb:cc:00:00:41") }),
      403,
    );
    expectProblem(
      await viewer({ method: "PATCH", url: `${BASE}/bmcs/aa:bb:cc:00:00:40`, payload: { address: "x" } }),
      403,
    );
    expectProblem(await viewer({ method: "DELETE", url: `${BASE}/bmcs/aa:bb:cc:00:00:40` }), 403);
    expectProblem(await otherAdmin({ method: "GET", url: `${BASE}/bmcs/aa:bb:cc:00:00:40` }), 403);
    expectProblem(await tenantAdmin({ method: "GET", url: `${BASE}/bmcs` }), 403);
    expectProblem(
      await otherAdmin({ method: "GET", url: "/api/v1/orgs/other-dc/bmcs/aa:bb:cc:00:00:40" }),
      404,
    );
    expectProblem(
      await otherAdmin({ method: "DELETE", url: "/api/v1/orgs/other-dc/bmcs/aa:bb:cc:00:00:40" }),
      404,
    );
    expectStatus(await app.admin({ method: "DELETE", url: `${BASE}/bmcs/AA-BB-CC-00-00-40` }), 204);
    expectProblem(await app.admin({ method: "GET", url: `${BASE}/bmcs/aa:bb:cc:00:00:40` }), 404);
  });
});

describe("BMC credentials in logs", () => {
  it("never writes a BMC password to the log, even at trace level and on failures", async () => {
    const lines: string[] = [];
    const database = await createTestDatabase();
    const config = testConfig();
    const assembled = await assembleApp({
      db: database.handle.db,
      config,
      logger: createLogger("trace", { write: (line: string) => void lines.push(line) }),
      vault: CredentialsVault.fromKey(randomBytes(32)),
      publicUrl: () => config.publicUrl ?? "http://127.0.0.1:8080",
    });
    try {
      await assembled.services.identity.bootstrap(ADMIN_PASSWORD);
      await assembled.http.ready();
      const login = await assembled.http.inject({
        method: "POST",
        url: "/api/v1/auth/login",
        payload: { username: "admin", password: ADMIN_PASSWORD },
      });
      const cookie = login.cookies.find((c) => c.name === "ingot_session")?.value ?? "";
      const call = async (method: "POST" | "PATCH", url: string, payload: Record<string, unknown>) =>
        await assembled.http.inject({ method, url, payload, headers: { cookie: `ingot_session=${cookie}` } });
      expectStatus(await call("POST", `${BASE}/bmcs`, bmcBody("aa:bb:cc:00:00:50")), 201);
      expectProblem(await call("POST", `${BASE}/bmcs`, bmcBody("aa:bb:cc:00:00:50")), 409);
      expectProblem(await call("POST", `${BASE}/bmcs`, bmcBody("aa:bb:cc:00:00:51", { port: 0 })), 400);
      expectStatus(
        await call("PATCH", `${BASE}/bmcs/aa:bb:cc:00:00:50`, {
          credentials: { username: "u", password: PASSWORD },
        }),
        200,
      );
      assert.ok(lines.length > 0, "the logger was used");
      assert.ok(!lines.join("\n").includes(PASSWORD));
    } finally {
      await assembled.http.close();
      await assembled.jobs.stop();
      await database.drop();
    }
  });
});
