import { type Kysely, sql } from "kysely";

/**
 * Shared tables of the controller runtime (src/statemachine). Per-entity state, history and queue tables
 * are added by each entity's own migration through addStateMachine().
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Named leases for work that exactly one replica does at a time (e.g. a controller's periodic enqueuer).
  // The holder renews before expires_at; after it, any replica may take the lease over.
  await sql`
    CREATE TABLE controller_leases (
      name text PRIMARY KEY,
      holder text NOT NULL,
      acquired_at timestamptz NOT NULL,
      renewed_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL
    )
  `.execute(db);
}
