import { sql } from "kysely";
import type { Db } from "../db/database.ts";

/**
 * The MACs the DHCP allowlist admits: interfaces of known machines, recorded BMCs, and the BMC MACs of
 * expected machines (a BMC asks for its own address before anyone can talk to it).
 */
export async function knownBootMacs(db: Db, signal: AbortSignal): Promise<string[]> {
  signal.throwIfAborted();
  const result = await sql<{ mac: string }>`
    SELECT mac_address AS mac FROM machine_interfaces
    UNION SELECT mac_address FROM bmcs
    UNION SELECT bmc_mac FROM expected_machines WHERE bmc_mac IS NOT NULL
  `.execute(db);
  return result.rows.map((row) => row.mac);
}

/** Whether one MAC is on the allowlist `knownBootMacs` lists (asked per boot request, so not the whole list). */
export async function isKnownBootMac(db: Db, mac: string): Promise<boolean> {
  const result = await sql<{ known: boolean }>`
    SELECT EXISTS (SELECT 1 FROM machine_interfaces WHERE mac_address = ${mac})
      OR EXISTS (SELECT 1 FROM bmcs WHERE mac_address = ${mac})
      OR EXISTS (SELECT 1 FROM expected_machines WHERE bmc_mac = ${mac}) AS known
  `.execute(db);
  return result.rows[0]?.known === true;
}
