import { type Migration, type MigrationProvider, Migrator, sql } from "kysely";
import type { Logger } from "../observability/logger.ts";
import { ADVISORY_LOCKS, type Db } from "./database.ts";
import { MIGRATIONS } from "./migrations/index.ts";

class StaticMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return MIGRATIONS;
  }
}

export interface MigrationReport {
  readonly applied: readonly string[];
}

/**
 * Applies pending migrations under a session advisory lock, so replicas starting together run them once:
 * the first takes the lock and migrates, the others wait and then find nothing left to do.
 */
export async function migrateToLatest(db: Db, logger: Logger): Promise<MigrationReport> {
  return await db.connection().execute(async (connection) => {
    // A replica waiting behind another's long migration must wait, not time out: no statement limit here.
    await sql`SET statement_timeout = 0`.execute(connection);
    await sql`SELECT pg_advisory_lock(${ADVISORY_LOCKS.migrations})`.execute(connection);
    try {
      const migrator = new Migrator({ db: connection, provider: new StaticMigrationProvider() });
      const { error, results } = await migrator.migrateToLatest();
      const applied = (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
      for (const name of applied) logger.info({ migration: name }, "migration applied");
      const failed = (results ?? []).find((r) => r.status === "Error");
      if (error !== undefined) {
        throw new Error(
          `migration ${failed?.migrationName ?? "(setup)"} failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      return { applied };
    } finally {
      await sql`SELECT pg_advisory_unlock(${ADVISORY_LOCKS.migrations})`.execute(connection);
      await sql`RESET statement_timeout`.execute(connection);
    }
  });
}

/** Names of migrations this build knows that the database has not applied; empty when up to date. */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const known = Object.keys(MIGRATIONS);
  const table = await sql<{
    exists: boolean;
  }>`SELECT to_regclass('kysely_migration') IS NOT NULL AS exists`.execute(db);
  if (table.rows[0]?.exists !== true) return known;
  const done = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(db);
  const applied = new Set(done.rows.map((row) => row.name));
  return known.filter((name) => !applied.has(name));
}
