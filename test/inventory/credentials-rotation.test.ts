import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { CredentialsVault, generateVaultKey, vaultKeyId } from "../../src/bmc/vault.ts";
import { startTestApp, type TestApp } from "../helpers/app.ts";
import { BASE, create, expectStatus } from "./helpers.ts";

interface Secret {
  id: string;
  context: string;
  ciphertext: string;
}

describe("vault rotation of inventory credentials", () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp();
    for (let i = 0; i < 3; i++) {
      await create(app.admin, `${BASE}/bmcs`, {
        macAddress: `aa:bb:cc:00:60:0${i}`,
        address: `10.6.0.${i}`,
        protocol: "redfish",
        credentials: { username: "root", password: `bmc-password-${i}` },
      });
      await create(app.admin, `${BASE}/expected-machines`, {
        serial: `ROT-${i}`,
        bmcCredentials: { username: "admin", password: `expected-password-${i}` },
      });
    }
    await create(app.admin, `${BASE}/expected-machines`, { serial: "ROT-NONE" });
  });
  after(async () => await app.close());

  async function secrets(): Promise<Secret[]> {
    const result = await sql<Secret>`
      SELECT 'bmc:' || mac_address || ':password' AS context, mac_address AS id, credentials AS ciphertext
        FROM bmcs
      UNION ALL
      SELECT 'expected-machine:' || id || ':bmc-password', id::text, bmc_credentials
        FROM expected_machines WHERE bmc_credentials IS NOT NULL
      ORDER BY id`.execute(app.database.handle.db);
    return result.rows;
  }

  function plaintexts(vault: CredentialsVault, rows: Secret[]): string[] {
    return rows.map((row) => vault.decrypt(row.ciphertext, row.context)).sort();
  }

  it("re-encrypts every BMC and expected-machine password in one transaction", async () => {
    const vault = app.assembled.services.vault;
    const before = await secrets();
    assert.equal(before.length, 6);
    const expected = plaintexts(vault, before);
    const newKey = generateVaultKey();
    const result = await vault.rotate(newKey, app.assembled.services.inventory.secrets);
    assert.equal(result.reencrypted, 6);
    assert.equal(result.alreadyCurrent, 0);
    const after = await secrets();
    for (const row of after) assert.equal(vault.keyIdOf(row.ciphertext), vaultKeyId(newKey));
    assert.deepEqual(
      plaintexts(CredentialsVault.fromKey(newKey), after),
      expected,
      "only the new key is needed",
    );
    for (const [index, row] of after.entries()) assert.notEqual(row.ciphertext, before[index]?.ciphertext);

    const again = await vault.rotate(newKey, app.assembled.services.inventory.secrets);
    assert.deepEqual([again.reencrypted, again.alreadyCurrent], [0, 6]);

    const listed = await app.admin({ method: "GET", url: `${BASE}/bmcs` });
    expectStatus(listed, 200);
    assert.ok(!expected.some((password) => listed.body.includes(password)));
  });

  it("rolls everything back and keeps the old key when one secret cannot be opened", async () => {
    const vault = app.assembled.services.vault;
    const before = await secrets();
    const expected = plaintexts(vault, before);
    const victim = before[0];
    assert.ok(victim !== undefined);
    const parts = victim.ciphertext.split(":");
    parts[5] = Buffer.from("tampered").toString("base64url");
    await sql`INSERT INTO bmcs (mac_address, org_id, address, protocol, username, credentials)
      SELECT 'aa:bb:cc:00:60:99', id, '10.6.0.99', 'ipmi', 'root', ${parts.join(":")} FROM orgs WHERE name = 'default'`.execute(
      app.database.handle.db,
    );
    await assert.rejects(
      vault.rotate(generateVaultKey(), app.assembled.services.inventory.secrets),
      /failed authentication/,
    );
    const after = (await secrets()).filter((row) => row.id !== "aa:bb:cc:00:60:99");
    assert.deepEqual(
      after.map((row) => row.ciphertext),
      before.map((row) => row.ciphertext),
      "no row was rewritten",
    );
    assert.deepEqual(plaintexts(vault, after), expected, "the vault still opens them");
  });
});
