import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { Logger } from "../observability/logger.ts";

/**
 * The shared database handle. Domains declare their own tables and view it through
 * `db.withTables<TheirTables>()`, so no central schema file couples every domain to every other.
 */
// biome-ignore lint/complexity/noBannedTypes: Kysely's "no tables yet" database type is the empty object.
export type Db = Kysely<{}>;

export interface DatabaseHandle {
  readonly db: Db;
  readonly pool: pg.Pool;
  readonly url: string;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  readonly maxConnections?: number;
  /** Server-side limit on any single statement, so a stuck query cannot hold a request forever. */
  readonly statementTimeoutMs?: number;
  readonly applicationName?: string;
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/** bigint counters and bigserial ids stay far below 2^53, so they are returned as numbers. */
const typeParsers = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

export function openDatabase(url: string, logger: Logger, options: DatabaseOptions = {}): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 20,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: options.statementTimeoutMs ?? 60_000,
    idle_in_transaction_session_timeout: 120_000,
    application_name: options.applicationName ?? "ingot",
    types: typeParsers,
  });
  pool.on("error", (error) => logger.warn({ err: error }, "idle database connection failed"));
  const db: Db = new Kysely({ dialect: new PostgresDialect({ pool }) });
  let closed = false;
  return {
    db,
    pool,
    url,
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
}

/** Session-level advisory lock keys used across the code base, kept in one place so they cannot collide. */
export const ADVISORY_LOCKS = {
  migrations: 7_001_001,
  bootstrap: 7_001_002,
  providerAdmins: 7_001_003,
  enrollment: 7_001_004,
  inventorySync: 7_001_005,
} as const;
