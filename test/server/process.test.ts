import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { spawnIngot } from "../helpers/server-process.ts";

function freshDataDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "ingot-server-"));
  chmodSync(dir, 0o755);
  return path.join(dir, "data");
}

/** PIDs of postgres processes whose command line names this data directory. */
function postgresProcessesOf(dataDir: string): string[] {
  try {
    return execFileSync("pgrep", ["-f", `postgres -D ${dataDir}/postgres`], { encoding: "utf8" })
      .split("\n")
      .filter((line) => line.trim() !== "");
  } catch {
    return [];
  }
}

async function login(base: string, password: string): Promise<string> {
  const response = await fetch(`${base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "admin", password }),
  });
  assert.equal(response.status, 200);
  const cookie = response.headers.get("set-cookie") ?? "";
  return cookie.split(";")[0] ?? "";
}

describe("ingot server process", () => {
  it("starts on embedded PostgreSQL, keeps data across restarts and exits 0 on SIGTERM", async () => {
    const dataDir = freshDataDir();
    try {
      const first = spawnIngot(["server", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir], {
        INGOT_ADMIN_PASSWORD: undefined,
      });
      const port = await first.listening();
      const base = `http://127.0.0.1:${port}`;
      assert.equal((await fetch(`${base}/readyz`)).status, 200);

      const passwordFile = path.join(dataDir, "admin-password");
      assert.equal(statSync(passwordFile).mode & 0o777, 0o600);
      const password = readFileSync(passwordFile, "utf8").trim();
      assert.ok(first.stderr().includes(password), "generated password is printed once on first start");
      assert.ok(!first.stdout().includes(password), "the password never reaches the JSON log");

      const cookie = await login(base, password);
      const created = await fetch(`${base}/api/v1/orgs`, {
        method: "POST",
        headers: { "content-type": "application/json", cookie },
        body: JSON.stringify({ name: "survives-restart", kind: "tenant" }),
      });
      assert.equal(created.status, 201);

      first.kill("SIGTERM");
      assert.equal(await first.exited(), 0);
      assert.deepEqual(postgresProcessesOf(dataDir), [], "no PostgreSQL of this data dir is left running");

      const second = spawnIngot(["server", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir], {
        INGOT_ADMIN_PASSWORD: undefined,
      });
      const port2 = await second.listening();
      const base2 = `http://127.0.0.1:${port2}`;
      assert.ok(!second.stderr().includes("created the user"), "the password is not generated again");
      const cookie2 = await login(base2, password);
      const org = await fetch(`${base2}/api/v1/orgs/survives-restart`, { headers: { cookie: cookie2 } });
      assert.equal(org.status, 200);
      second.kill("SIGINT");
      assert.equal(await second.exited(), 0);
      assert.deepEqual(postgresProcessesOf(dataDir), []);
    } finally {
      rmSync(path.dirname(dataDir), { recursive: true, force: true });
    }
  });

  it("refuses a data dir already used by a running server, and recovers after a crash", async () => {
    const dataDir = freshDataDir();
    try {
      const first = spawnIngot(["server", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir]);
      await first.listening();

      const second = spawnIngot(["server", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir]);
      assert.equal(await second.exited(), 1);
      assert.match(second.stderr(), /in use by another Ingot server \(pid \d+\)/);
      assert.doesNotMatch(second.stderr(), /^\s+at /m, "no stack trace");

      first.kill("SIGKILL");
      await first.exited();
      assert.notDeepEqual(postgresProcessesOf(dataDir), [], "a killed server leaves its PostgreSQL behind");

      const third = spawnIngot(["server", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir]);
      const port = await third.listening();
      assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
      third.kill("SIGTERM");
      assert.equal(await third.exited(), 0);
      assert.deepEqual(postgresProcessesOf(dataDir), []);
    } finally {
      rmSync(path.dirname(dataDir), { recursive: true, force: true });
    }
  });

  it("reports bad flags and an unusable data dir in one line, with a non-zero exit", async () => {
    const badPort = spawnIngot(["server", "--port", "eighty"]);
    assert.equal(await badPort.exited(), 2);
    assert.match(badPort.stderr(), /--port: expected an integer, got "eighty"/);
    assert.doesNotMatch(badPort.stderr(), /^\s+at /m);

    const unknownFlag = spawnIngot(["server", "--prot", "8080"]);
    assert.equal(await unknownFlag.exited(), 2);
    assert.match(unknownFlag.stderr(), /unknown option '--prot'/);

    const badUrl = spawnIngot(["server"], { DATABASE_URL: "mysql://nope" });
    assert.equal(await badUrl.exited(), 2);
    assert.match(badUrl.stderr(), /DATABASE_URL: URL must use postgres: or postgresql:/);

    const dir = mkdtempSync(path.join(tmpdir(), "ingot-file-"));
    const file = path.join(dir, "not-a-dir");
    writeFileSync(file, "x");
    try {
      const badDir = spawnIngot(["server", "--port", "0", "--data-dir", file]);
      assert.equal(await badDir.exited(), 1);
      assert.match(badDir.stderr(), /data directory .* is not usable/);
      assert.doesNotMatch(badDir.stderr(), /^\s+at /m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("as root, keeps a cluster the postgres user cannot reach in a directory of its own", async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip("only a server running as root runs PostgreSQL as another user");
      return;
    }
    const privateDir = mkdtempSync(path.join(tmpdir(), "ingot-private-"));
    chmodSync(privateDir, 0o700);
    const dataDir = path.join(privateDir, "data");
    let elsewhere = "";
    try {
      const first = spawnIngot(["server", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir], {
        INGOT_ADMIN_PASSWORD: "private-dir-password",
      });
      const port = await first.listening();
      elsewhere = readFileSync(path.join(dataDir, "postgres.location"), "utf8").trim();
      assert.ok(elsewhere.startsWith("/var/lib/ingot/embedded-postgres/"), elsewhere);
      assert.equal(statSync(privateDir).mode & 0o777, 0o700, "the operator's directory keeps its mode");
      const cookie = await login(`http://127.0.0.1:${port}`, "private-dir-password");
      const created = await fetch(`http://127.0.0.1:${port}/api/v1/orgs`, {
        method: "POST",
        headers: { "content-type": "application/json", cookie },
        body: JSON.stringify({ name: "kept-elsewhere", kind: "tenant" }),
      });
      assert.equal(created.status, 201);
      first.kill("SIGTERM");
      assert.equal(await first.exited(), 0);

      const second = spawnIngot(["server", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir]);
      const port2 = await second.listening();
      const cookie2 = await login(`http://127.0.0.1:${port2}`, "private-dir-password");
      const org = await fetch(`http://127.0.0.1:${port2}/api/v1/orgs/kept-elsewhere`, {
        headers: { cookie: cookie2 },
      });
      assert.equal(org.status, 200);
      second.kill("SIGTERM");
      assert.equal(await second.exited(), 0);
    } finally {
      rmSync(privateDir, { recursive: true, force: true });
      if (elsewhere !== "") rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it("prints its version", async () => {
    const version = spawnIngot(["version"]);
    assert.equal(await version.exited(), 0);
    assert.match(version.stdout(), /^ingot \d+\.\d+\.\d+/);
  });
});

describe("replicas on one external database", () => {
  let database: TestDatabase;
  before(async () => {
    database = await createTestDatabase({ migrated: false });
  });
  after(async () => await database.drop());

  it("both start, migrations run once, and both serve", async () => {
    const env = { DATABASE_URL: database.url, INGOT_ADMIN_PASSWORD: "replica-admin-password" };
    const replicas = [0, 1].map(() => spawnIngot(["server", "--host", "127.0.0.1", "--port", "0"], env));
    const ports = await Promise.all(replicas.map((replica) => replica.listening()));
    for (const port of ports) {
      assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
      await login(`http://127.0.0.1:${port}`, "replica-admin-password");
    }
    const applied = replicas.map((replica) =>
      replica
        .stdout()
        .split("\n")
        .filter((l) => l.includes('"migration applied"')),
    );
    const counts = applied.map((lines) => lines.length).sort();
    assert.equal(counts[0], 0, "one replica found nothing left to migrate");
    assert.ok((counts[1] ?? 0) > 0, "the other applied every migration");
    const { rows } = await database.handle.pool.query<{ name: string; n: number }>(
      "SELECT name, count(*)::int AS n FROM kysely_migration GROUP BY name",
    );
    assert.ok(rows.length > 0 && rows.every((row) => row.n === 1));
    const admins = await database.handle.pool.query("SELECT 1 FROM users WHERE username = 'admin'");
    assert.equal(admins.rowCount, 1);
    for (const replica of replicas) replica.kill("SIGTERM");
    assert.deepEqual(await Promise.all(replicas.map((replica) => replica.exited())), [0, 0]);
  });
});
