import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import {
  CredentialsVault,
  generateVaultKey,
  type SecretRotationStore,
  type StoredSecret,
  VAULT_KEY_BYTES,
  VAULT_KEY_FILE,
  VAULT_NEXT_KEY_FILE,
  VaultError,
  vaultKeyId,
} from "../../src/bmc/vault.ts";
import type { Db } from "../../src/db/database.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";

function vaultError(code: string): (error: unknown) => boolean {
  return (error) => error instanceof VaultError && error.code === code;
}

/** Flips one bit in one base64url part of a ciphertext (4: auth tag, 5: data). */
function flipBit(ciphertext: string, part: number): string {
  const parts = ciphertext.split(":");
  const bytes = Buffer.from(parts[part] ?? "", "base64url");
  bytes[0] = (bytes[0] ?? 0) ^ 0x01;
  parts[part] = bytes.toString("base64url");
  return parts.join(":");
}

describe("credentials vault: encryption", () => {
  const vault = CredentialsVault.fromKey(generateVaultKey());

  it("round-trips a secret, with and without a context", () => {
    const secret = "calvin-Ü-🔑-with:colons";
    assert.equal(vault.decrypt(vault.encrypt(secret)), secret);
    assert.equal(vault.decrypt(vault.encrypt(secret, "bmc:42:password"), "bmc:42:password"), secret);
    assert.equal(vault.decrypt(vault.encrypt("")), "");
  });

  it("writes a versioned ciphertext that names its key and never contains the plaintext", () => {
    const a = vault.encrypt("hunter2-hunter2");
    const b = vault.encrypt("hunter2-hunter2");
    assert.notEqual(a, b, "a fresh IV per encryption");
    assert.match(a, /^ingot-vault:v1:[0-9a-f]{16}:[\w-]+:[\w-]+:[\w-]+$/);
    assert.equal(vault.keyIdOf(a), vault.keyId);
    assert.ok(!a.includes("hunter2") && !a.includes(Buffer.from("hunter2").toString("base64url")));
  });

  it("detects a changed ciphertext, tag, key id, version or context", () => {
    const sealed = vault.encrypt("root-password", "bmc:1:password");
    const parts = sealed.split(":");
    assert.throws(() => vault.decrypt(flipBit(sealed, 5), "bmc:1:password"), vaultError("vault.tampered"));
    assert.throws(() => vault.decrypt(flipBit(sealed, 4), "bmc:1:password"), vaultError("vault.tampered"));
    assert.throws(() => vault.decrypt(sealed, "bmc:2:password"), vaultError("vault.tampered"));
    assert.throws(
      () => vault.decrypt(sealed.replace(":v1:", ":v9:"), "bmc:1:password"),
      vaultError("vault.unsupported_version"),
    );
    assert.throws(() => vault.decrypt("plaintext-password"), vaultError("vault.malformed"));
    assert.throws(() => vault.decrypt(parts.slice(0, 5).join(":")), vaultError("vault.malformed"));
  });

  it("refuses a ciphertext sealed with a key it does not hold", () => {
    const other = CredentialsVault.fromKey(generateVaultKey());
    const sealed = other.encrypt("secret");
    assert.throws(() => vault.decrypt(sealed), vaultError("vault.unknown_key"));
    // A forged header naming our key does not help: the key id is authenticated with the data.
    const forged = sealed.replace(`:${other.keyId}:`, `:${vault.keyId}:`);
    assert.throws(() => vault.decrypt(forged), vaultError("vault.tampered"));
  });

  it("keeps the plaintext out of its error messages", () => {
    const sealed = vault.encrypt("do-not-print-me", "ctx");
    try {
      vault.decrypt(sealed, "other-ctx");
      assert.fail("decrypt should have failed");
    } catch (error) {
      assert.ok(error instanceof VaultError);
      assert.ok(
        !JSON.stringify({ message: error.message, details: error.details }).includes("do-not-print-me"),
      );
    }
  });

  it("has the central logger redact the fields secrets are kept in", async () => {
    const lines: string[] = [];
    const logger = createLogger(
      "info",
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    logger.info(
      { bmc: { address: "10.0.0.5", password: "plain-pw", credentials: "plain-cred" }, secret: "s" },
      "x",
    );
    await new Promise((resolve) => setImmediate(resolve));
    const line = lines.join("");
    assert.ok(line.includes("10.0.0.5"));
    for (const leaked of ["plain-pw", "plain-cred", '"s"'])
      assert.ok(!line.includes(leaked), `${leaked} leaked`);
  });

  it("rejects keys that are not 32 bytes", () => {
    assert.throws(() => CredentialsVault.fromKey(Buffer.alloc(16)), vaultError("vault.bad_key"));
  });
});

describe("credentials vault: key sources", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "ingot-vault-test-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("creates <data-dir>/vault.key with mode 0600 on first use and reuses it", async () => {
    const dataDir = path.join(dir, "fresh", "data");
    const first = await CredentialsVault.open({ dataDir, env: {} });
    const file = path.join(dataDir, VAULT_KEY_FILE);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file).length, VAULT_KEY_BYTES);
    assert.equal(first.keyId, vaultKeyId(readFileSync(file)));
    const second = await CredentialsVault.open({ dataDir, env: {} });
    assert.equal(second.decrypt(first.encrypt("persisted")), "persisted");
  });

  it("refuses a key file other users can read", async () => {
    const dataDir = path.join(dir, "loose");
    await CredentialsVault.open({ dataDir, env: {} });
    chmodSync(path.join(dataDir, VAULT_KEY_FILE), 0o644);
    await assert.rejects(CredentialsVault.open({ dataDir, env: {} }), vaultError("vault.key_permissions"));
  });

  it("takes the key from INGOT_VAULT_KEY (base64) before any file, and checks its length", async () => {
    const key = generateVaultKey();
    const dataDir = path.join(dir, "env");
    const vault = await CredentialsVault.open({ dataDir, env: { INGOT_VAULT_KEY: key.toString("base64") } });
    assert.equal(vault.keyId, vaultKeyId(key));
    assert.ok(
      !existsSync(path.join(dataDir, VAULT_KEY_FILE)),
      "no key file when the environment has the key",
    );
    await assert.rejects(
      CredentialsVault.open({ dataDir, env: { INGOT_VAULT_KEY: Buffer.alloc(20).toString("base64") } }),
      vaultError("vault.bad_key"),
    );
  });
});

type SecretTables = { vault_test_secret: { id: string; password: string } };

/** The shape of store the BMC store will provide: rows locked and rewritten in one transaction. */
function tableStore(db: Db, failAfter?: number): SecretRotationStore {
  const tdb = db.withTables<SecretTables>();
  return {
    inTransaction: (work) =>
      tdb.transaction().execute(async (trx) => {
        const rows = await trx
          .selectFrom("vault_test_secret")
          .select(["id", "password"])
          .orderBy("id")
          .forUpdate()
          .execute();
        let writes = 0;
        return work(
          rows.map(
            (r): StoredSecret => ({ id: r.id, ciphertext: r.password, context: `bmc:${r.id}:password` }),
          ),
          async (id, ciphertext) => {
            if (failAfter !== undefined && writes++ >= failAfter) throw new Error("database went away");
            await trx
              .updateTable("vault_test_secret")
              .set({ password: ciphertext })
              .where("id", "=", id)
              .execute();
          },
        );
      }),
  };
}

describe("credentials vault: rotation", () => {
  let database: TestDatabase;
  let dir: string;
  const plaintexts = new Map(
    Array.from({ length: 6 }, (_, i) => [`bmc-${i}`, `password-${i}-${"x".repeat(i)}`]),
  );

  before(async () => {
    database = await createTestDatabase();
    dir = mkdtempSync(path.join(tmpdir(), "ingot-vault-rotation-"));
    await sql`CREATE TABLE vault_test_secret (id text PRIMARY KEY, password text NOT NULL)`.execute(
      database.handle.db,
    );
  });
  after(async () => {
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function storedRows(): Promise<Array<{ id: string; password: string }>> {
    return database.handle.db
      .withTables<SecretTables>()
      .selectFrom("vault_test_secret")
      .select(["id", "password"])
      .orderBy("id")
      .execute();
  }

  async function seed(vault: CredentialsVault): Promise<void> {
    const tdb = database.handle.db.withTables<SecretTables>();
    await tdb.deleteFrom("vault_test_secret").execute();
    await tdb
      .insertInto("vault_test_secret")
      .values([...plaintexts].map(([id, pw]) => ({ id, password: vault.encrypt(pw, `bmc:${id}:password`) })))
      .execute();
  }

  it("re-encrypts every secret with the new key, after which the old key is not needed", async () => {
    const dataDir = path.join(dir, "rotate");
    const vault = await CredentialsVault.open({ dataDir, env: {} });
    const oldKey = readFileSync(path.join(dataDir, VAULT_KEY_FILE));
    await seed(vault);

    const newKey = generateVaultKey();
    const result = await vault.rotate(newKey, tableStore(database.handle.db));
    assert.deepEqual(result, { keyId: vaultKeyId(newKey), reencrypted: plaintexts.size, alreadyCurrent: 0 });

    const onlyNewKey = CredentialsVault.fromKey(newKey);
    for (const row of await storedRows()) {
      assert.equal(onlyNewKey.keyIdOf(row.password), vaultKeyId(newKey));
      assert.equal(onlyNewKey.decrypt(row.password, `bmc:${row.id}:password`), plaintexts.get(row.id));
    }
    assert.deepEqual(
      readFileSync(path.join(dataDir, VAULT_KEY_FILE)),
      newKey,
      "the key file now holds the new key",
    );
    assert.ok(!existsSync(path.join(dataDir, VAULT_NEXT_KEY_FILE)));
    const reopened = await CredentialsVault.open({ dataDir, env: {} });
    assert.equal(reopened.keyId, vaultKeyId(newKey));
    const oldKeyOnly = CredentialsVault.fromKey(oldKey);
    for (const row of await storedRows()) {
      assert.throws(
        () => oldKeyOnly.decrypt(row.password, `bmc:${row.id}:password`),
        vaultError("vault.unknown_key"),
      );
    }

    const again = await reopened.rotate(generateVaultKey(), tableStore(database.handle.db));
    assert.equal(again.reencrypted, plaintexts.size, "a second rotation works from the reopened vault");
  });

  it("rolls everything back when the rotation fails half way, and loses nothing", async () => {
    const dataDir = path.join(dir, "interrupted");
    const vault = await CredentialsVault.open({ dataDir, env: {} });
    const oldKey = readFileSync(path.join(dataDir, VAULT_KEY_FILE));
    await seed(vault);
    const before = await storedRows();

    await assert.rejects(
      vault.rotate(generateVaultKey(), tableStore(database.handle.db, 3)),
      /database went away/,
    );
    assert.deepEqual(await storedRows(), before, "no row changed: one transaction");
    assert.deepEqual(readFileSync(path.join(dataDir, VAULT_KEY_FILE)), oldKey);
    for (const row of before)
      assert.equal(vault.decrypt(row.password, `bmc:${row.id}:password`), plaintexts.get(row.id));

    // A restart in this state loads the pending key too, and the rotation can simply be run again.
    const restarted = await CredentialsVault.open({ dataDir, env: {} });
    assert.equal(restarted.keyId, vaultKeyId(oldKey));
    const newKey = generateVaultKey();
    const result = await restarted.rotate(newKey, tableStore(database.handle.db));
    assert.equal(result.reencrypted, plaintexts.size);
    const rows = await storedRows();
    for (const row of rows) {
      assert.equal(
        CredentialsVault.fromKey(newKey).decrypt(row.password, `bmc:${row.id}:password`),
        plaintexts.get(row.id),
      );
    }
  });

  it("leaves secrets that already use the current key alone", async () => {
    const key = generateVaultKey();
    const vault = CredentialsVault.fromKey(key);
    await seed(vault);
    const result = await vault.rotate(key, tableStore(database.handle.db));
    assert.deepEqual(result, { keyId: vaultKeyId(key), reencrypted: 0, alreadyCurrent: plaintexts.size });
  });
});

describe("credentials vault: key file contents", () => {
  it("uses raw key bytes on disk, so a base64 copy in INGOT_VAULT_KEY is the same key", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ingot-vault-same-"));
    try {
      const fromFile = await CredentialsVault.open({ dataDir: dir, env: {} });
      const raw = readFileSync(path.join(dir, VAULT_KEY_FILE));
      const fromEnv = await CredentialsVault.open({
        dataDir: dir,
        env: { INGOT_VAULT_KEY: raw.toString("base64") },
      });
      assert.equal(fromEnv.decrypt(fromFile.encrypt("shared")), "shared");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
