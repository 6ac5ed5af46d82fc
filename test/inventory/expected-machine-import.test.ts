import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { type Caller, createOrg, createUserWithRole, startTestApp, type TestApp } from "../helpers/app.ts";
import { allPages, BASE, create, expectProblem, expectStatus } from "./helpers.ts";

const URL = `${BASE}/expected-machines`;
const IMPORT = `${URL}/import`;
const PASSWORD = "csv-Bmc-Secret-9";

interface ImportResult {
  created: number;
  updated: number;
  unchanged: number;
  rows: Array<{ index: number; id: string; outcome: string }>;
}

interface StoredRow {
  id: string;
  serial_number: string | null;
  bmc_mac: string | null;
  bmc_credentials: string | null;
  hostname: string | null;
  labels: Record<string, string>;
  updated_at: Date;
}

function csv(lines: string[]): string {
  return `${lines.join("\r\n")}\r\n`;
}

const GOOD_CSV = csv([
  "serial,BMC MAC,bmc_address,bmcProtocol,bmcUsername,bmcPassword,specProfile,rack,slot,hostname,labels",
  `CSV-001,AA:BB:CC:00:10:01,10.2.0.1,redfish,root,${PASSWORD},imp-profile,imp-rack,1,node-001,pool=a;tier=gold`,
  `CSV-002,aa-bb-cc-00-10-02,10.2.0.2,ipmi,root,${PASSWORD},imp-profile,imp-rack,2,node-002,pool=a`,
  `CSV-003,,,,,,,,3,node-003,`,
  `"CSV-004",aabbcc001004,bmc-4.lab,redfish,admin,"pa,ss word ",,imp-rack,4,node-004,"pool=b"`,
]);

describe("expected machines bulk import", () => {
  let app: TestApp;
  let viewer: Caller;
  let otherAdmin: Caller;
  before(async () => {
    app = await startTestApp();
    await createOrg(app, "other-dc", "provider");
    viewer = await createUserWithRole(app, { username: "vera", org: "default", role: "provider-viewer" });
    otherAdmin = await createUserWithRole(app, { username: "otto", org: "other-dc", role: "provider-admin" });
    await create(app.admin, `${BASE}/racks`, { name: "imp-rack" });
    await create(app.admin, `${BASE}/hardware-spec-profiles`, {
      name: "imp-profile",
      spec: { gpus: { count: 8 } },
    });
  });
  after(async () => await app.close());

  const importCsv = async (caller: Caller, text: string, url = IMPORT) =>
    await caller({
      method: "POST",
      url,
      headers: { "content-type": "text/csv; charset=utf-8" },
      payload: text,
    });
  const importJson = async (caller: Caller, rows: unknown, url = IMPORT) =>
    await caller({ method: "POST", url, payload: rows as Record<string, unknown> });

  async function stored(prefix: string): Promise<StoredRow[]> {
    const result = await sql<StoredRow>`
      SELECT id, serial_number, bmc_mac, bmc_credentials, hostname, labels, updated_at FROM expected_machines
      WHERE serial_number LIKE ${`${prefix}%`} ORDER BY serial_number`.execute(app.database.handle.db);
    return result.rows;
  }

  it("imports a CSV file, normalising MACs and sealing passwords, and a second import changes nothing", async () => {
    const first = await importCsv(app.admin, GOOD_CSV);
    expectStatus(first, 200);
    assert.ok(!first.body.includes(PASSWORD));
    const result = first.json() as ImportResult;
    assert.deepEqual([result.created, result.updated, result.unchanged], [4, 0, 0]);
    const rows = await stored("CSV-");
    assert.deepEqual(
      rows.map((row) => row.bmc_mac),
      ["aa:bb:cc:00:10:01", "aa:bb:cc:00:10:02", null, "aa:bb:cc:00:10:04"],
    );
    assert.deepEqual(rows[0]?.labels, { pool: "a", tier: "gold" });
    const vault = app.assembled.services.vault;
    const [one, , three, four] = rows;
    assert.equal(
      vault.decrypt(one?.bmc_credentials ?? "", `expected-machine:${one?.id}:bmc-password`),
      PASSWORD,
    );
    assert.equal(three?.bmc_credentials, null);
    assert.equal(
      vault.decrypt(four?.bmc_credentials ?? "", `expected-machine:${four?.id}:bmc-password`),
      "pa,ss word ",
      "quoted cells keep commas, and the password keeps its spaces",
    );

    const listed = await viewer({ method: "GET", url: `${URL}?q=CSV-` });
    assert.ok(!listed.body.includes(PASSWORD));
    assert.ok(!listed.body.includes("pa,ss word"));

    const second = await importCsv(app.admin, GOOD_CSV);
    expectStatus(second, 200);
    const again = second.json() as ImportResult;
    assert.deepEqual([again.created, again.updated, again.unchanged], [0, 0, 4]);
    assert.deepEqual(
      again.rows.map((row) => row.id),
      result.rows.map((row) => row.id),
    );
    assert.deepEqual(await stored("CSV-"), rows, "not a byte changed, updated_at and ciphertexts included");
  });

  it("updates what a re-import changes, and fills in the serial of a machine known by its BMC MAC", async () => {
    await create(app.admin, URL, { bmcMac: "aa:bb:cc:00:20:01", hostname: "mac-only" });
    await importJson(app.admin, [{ serial: "UPD-001", hostname: "before" }]);
    const response = await importJson(app.admin, [
      { serial: "UPD-001", hostname: "after", labels: { moved: "yes" } },
      { serial: "UPD-002", bmcMac: "AA:BB:CC:00:20:01", hostname: "now-with-serial" },
    ]);
    expectStatus(response, 200);
    const result = response.json() as ImportResult;
    assert.deepEqual(
      result.rows.map((row) => row.outcome),
      ["updated", "updated"],
    );
    const rows = await stored("UPD-");
    assert.deepEqual(
      rows.map((row) => [row.serial_number, row.bmc_mac, row.hostname]),
      [
        ["UPD-001", null, "after"],
        ["UPD-002", "aa:bb:cc:00:20:01", "now-with-serial"],
      ],
    );
  });

  it("rejects a CSV file with one bad row, names the row and field, and imports nothing", async () => {
    const text = csv([
      "serial,bmcMac,hostname",
      "BAD-000,aa:bb:cc:00:30:00,ok-0",
      "BAD-001,aa:bb:cc:00:30:01,ok-1",
      "BAD-002,aa:bb:cc:00:30:02,ok-2",
      "BAD-003,not-a-mac,ok-3",
      "BAD-004,aa:bb:cc:00:30:04,ok-4",
    ]);
    const response = await importCsv(app.admin, text);
    expectProblem(response, 400, "rows[3].bmcMac");
    const body = response.json();
    assert.equal(body.errors.length, 1);
    assert.match(body.errors[0].message, /not a MAC address.*line 5/);
    assert.equal(body.code, "expected_machine.import_rejected");
    assert.deepEqual(await stored("BAD-"), []);
  });

  it("reports a CSV syntax error by line without quoting the cell, which may be a password", async () => {
    const secret = 'Sup3r"Secret!';
    const response = await importCsv(app.admin, `serial,bmcPassword\nQUOTE-1,${secret}\n`);
    assert.equal(response.statusCode, 400);
    assert.ok(!response.body.includes("Sup3r"), response.body);
    assert.match(response.json().errors[0].message, /is not valid CSV \(INVALID_OPENING_QUOTE on line 2\)/);
  });

  it("rejects a JSON array with one bad row and imports nothing", async () => {
    const rows = [
      { serial: "JBAD-0", bmcMac: "aa:bb:cc:00:40:00" },
      { serial: "JBAD-1", slot: "three" },
      { serial: "JBAD-2", colour: "red" },
    ];
    const response = await importJson(app.admin, rows);
    expectProblem(response, 400, "rows[1].slot");
    expectProblem(response, 400, "rows[2].colour");
    assert.deepEqual(await stored("JBAD-"), []);
  });

  it("reports duplicates inside the file, clashes with stored machines and unknown names, all at once", async () => {
    await create(app.admin, URL, { serial: "OWNER-1", bmcMac: "aa:bb:cc:00:50:01" });
    await create(otherAdmin, "/api/v1/orgs/other-dc/expected-machines", { serial: "THEIRS-1" });
    const response = await importJson(app.admin, [
      { serial: "DUP-1", bmcMac: "aa:bb:cc:00:50:09" },
      { serial: "DUP-1" },
      { serial: "DUP-2", bmcMac: "AA-BB-CC-00-50-09" },
      { serial: "DUP-3", bmcMac: "aa:bb:cc:00:50:01" },
      { serial: "THEIRS-1" },
      { serial: "DUP-4", specProfile: "no-such-profile", rack: "no-such-rack" },
      { hostname: "nobody" },
      { serial: "DUP-5", bmcUsername: "root" },
      { serial: "DUP-6", specProfile: "imp-profile", spec: { gpus: { count: 1 } } },
    ]);
    expectStatus(response, 400);
    const fields = (response.json().errors as Array<{ field: string }>).map((error) => error.field).sort();
    assert.deepEqual(fields, [
      "rows[1].serial",
      "rows[2].bmcMac",
      "rows[6].serial",
      "rows[7].bmcPassword",
      "rows[8].spec",
    ]);
    const database = await importJson(app.admin, [
      { serial: "DUP-3", bmcMac: "aa:bb:cc:00:50:01" },
      { serial: "THEIRS-1" },
      { serial: "DUP-4", specProfile: "no-such-profile", rack: "no-such-rack" },
    ]);
    expectStatus(database, 400);
    const databaseFields = (database.json().errors as Array<{ field: string }>)
      .map((error) => error.field)
      .sort();
    assert.deepEqual(databaseFields, [
      "rows[0].bmcMac",
      "rows[1].serial",
      "rows[2].rack",
      "rows[2].specProfile",
    ]);
    assert.deepEqual(await stored("DUP-"), []);
  });

  it("explains bad CSV structure: unknown columns, short rows, broken quoting, no rows", async () => {
    expectProblem(await importCsv(app.admin, csv(["serial,colour", "X-1,red"])), 400, "header.colour");
    expectProblem(await importCsv(app.admin, csv(["serial,hostname", "X-1,h,extra"])), 400, "rows[0]");
    expectProblem(await importCsv(app.admin, 'serial\n"X-1\n'), 400, "body");
    expectProblem(await importCsv(app.admin, csv(["serial,hostname"])), 400, "rows");
    expectProblem(await importCsv(app.admin, ""), 400, "rows");
    expectProblem(await importCsv(app.admin, csv(["serial,labels", "X-1,novalue"])), 400, "rows[0].labels");
    expectProblem(await importJson(app.admin, { serial: "X-1" }), 400, "body");
    expectProblem(await importJson(app.admin, []), 400, "rows");
    const xml = await app.admin({
      method: "POST",
      url: IMPORT,
      headers: { "content-type": "application/xml" },
      payload: "<rows/>",
    });
    expectProblem(xml, 415);
  });

  it("lets two concurrent imports of the same new file both succeed, creating each machine once", async () => {
    const rows = Array.from({ length: 20 }, (_, i) => ({ serial: `RACE-${i}`, hostname: `race-${i}` }));
    const [a, b] = await Promise.all([importJson(app.admin, rows), importJson(app.admin, rows)]);
    expectStatus(a, 200);
    expectStatus(b, 200);
    const created = [a, b].map((response) => (response.json() as ImportResult).created).sort();
    assert.deepEqual(created, [0, 20]);
    assert.equal((await stored("RACE-")).length, 20);
  });

  it("accepts inline specs in JSON and pages through a large import", async () => {
    const rows = Array.from({ length: 150 }, (_, i) => ({
      serial: `BULK-${String(i).padStart(3, "0")}`,
      spec: { cpu: { minCores: 8 + (i % 4) } },
      labels: { bulk: "yes" },
    }));
    const response = await importJson(app.admin, rows);
    expectStatus(response, 200);
    assert.equal((response.json() as ImportResult).created, 150);
    const listed = await allPages<{ serial: string; spec: unknown }>(
      app.admin,
      `${URL}?label=bulk%3Dyes&sort=-serial&limit=40`,
    );
    assert.equal(listed.pages, 4);
    assert.equal(listed.items.length, 150);
    assert.equal(listed.items[0]?.serial, "BULK-149");
    assert.deepEqual(listed.items[0]?.spec, { cpu: { minCores: 9 } });
  });

  it("is for provider admins of the org only", async () => {
    expectProblem(await importCsv(viewer, GOOD_CSV), 403);
    expectProblem(await importCsv(otherAdmin, GOOD_CSV), 403);
    expectProblem(await importJson(app.anonymous, [{ serial: "ANON" }]), 401);
  });
});
