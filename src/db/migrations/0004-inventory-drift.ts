import { type Kysely, sql } from "kysely";

/**
 * Inventory drift (src/inventory/drift-*.ts): what the periodic inventory sync found to differ between
 * what is expected (expected machines, their spec, recorded machine and component identity) and what the
 * BMCs report. The sync rebuilds the table in one transaction every cycle (DELETE + INSERT), so a reader
 * sees one whole cycle, never half of two.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE inventory_drift (
      -- "<kind>:<subject>" (e.g. "mismatch:machine:<uuid>"): stable from one cycle to the next, so list
      -- cursors and first_seen_at survive the rebuild.
      key text PRIMARY KEY,
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      kind text NOT NULL CHECK (kind IN ('missing_in_expected', 'missing_in_actual', 'mismatch')),
      subject text NOT NULL,
      machine_id uuid REFERENCES machines (id) ON DELETE CASCADE,
      component_id uuid REFERENCES components (id) ON DELETE CASCADE,
      expected_machine_id uuid REFERENCES expected_machines (id) ON DELETE CASCADE,
      bmc_mac text REFERENCES bmcs (mac_address) ON DELETE CASCADE,
      -- [{field, expected, actual, rule}] for mismatches; empty for the other kinds.
      diffs jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(diffs) = 'array'),
      message text NOT NULL,
      first_seen_at timestamptz NOT NULL,
      detected_at timestamptz NOT NULL
    );
    CREATE INDEX inventory_drift_org_idx ON inventory_drift (org_id, key);
    CREATE INDEX inventory_drift_machine_idx ON inventory_drift (machine_id) WHERE machine_id IS NOT NULL;
    CREATE INDEX inventory_drift_component_idx ON inventory_drift (component_id)
      WHERE component_id IS NOT NULL;

    -- The last completed sync cycle (one row), so "when was this last checked, and by whom?" has an answer.
    CREATE TABLE inventory_sync_cycles (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      replica text NOT NULL,
      started_at timestamptz NOT NULL,
      finished_at timestamptz NOT NULL
    );
  `.execute(db);
}
