import { sql } from "kysely";
import type { Db } from "../db/database.ts";
import type { StoredOobInventory } from "./bmc-explore-model.ts";
import type { BmcValues } from "./bmc-store.ts";
import { type BmcRow, inventoryDb } from "./inventory-tables.ts";
import type { HardwareSpec } from "./spec-profile-model.ts";

/** What a contact with a BMC showed: kept on its row, without touching `updated_at` (not a change of the BMC). */
export type BmcObservation =
  | {
      readonly kind: "answered";
      readonly powerState: string;
      /** Omitted: the call did not read the inventory (a power action), keep the stored one. */
      readonly inventory?: StoredOobInventory;
    }
  | { readonly kind: "failed"; readonly error: string };

/**
 * SQL for BMC exploration and for recording what BMC calls observed (power state, last contact, last error,
 * out-of-band inventory). Methods take the transaction they run in, or run on the store's handle.
 */
export class BmcExploreStore {
  constructor(private readonly db: Db) {}

  /** The BMC with this MAC in any org, row-locked for the rest of the transaction. */
  async lockBmc(mac: string, trx: Db): Promise<BmcRow | undefined> {
    return await inventoryDb(trx)
      .selectFrom("bmcs")
      .selectAll()
      .where("mac_address", "=", mac)
      .forUpdate()
      .executeTakeFirst();
  }

  async getBmc(mac: string, trx: Db = this.db): Promise<BmcRow | undefined> {
    return await inventoryDb(trx)
      .selectFrom("bmcs")
      .selectAll()
      .where("mac_address", "=", mac)
      .executeTakeFirst();
  }

  /** The MAC of the BMC linked to the machine, if any. */
  async bmcOfMachine(machineId: string, trx: Db): Promise<string | undefined> {
    const row = await inventoryDb(trx)
      .selectFrom("bmcs")
      .select("mac_address")
      .where("machine_id", "=", machineId)
      .executeTakeFirst();
    return row?.mac_address;
  }

  async insertBmc(
    orgId: string,
    mac: string,
    values: BmcValues,
    observed: { powerState: string; inventory: StoredOobInventory },
    trx: Db,
  ): Promise<void> {
    await inventoryDb(trx)
      .insertInto("bmcs")
      .values({
        mac_address: mac,
        org_id: orgId,
        component_id: values.componentId,
        machine_id: values.machineId,
        address: values.address,
        port: values.port,
        protocol: values.protocol,
        tls: JSON.stringify(values.tls),
        username: values.username,
        credentials: values.credentials,
        power_state: observed.powerState,
        last_contact_at: sql<Date>`now()`,
        last_error: null,
        oob_inventory: JSON.stringify(observed.inventory),
      })
      .execute();
  }

  /** Replaces how the BMC is reached and what it is linked to (a change of the BMC: bumps updated_at). */
  async updateBmc(mac: string, values: BmcValues, trx: Db): Promise<void> {
    await inventoryDb(trx)
      .updateTable("bmcs")
      .set({
        component_id: values.componentId,
        machine_id: values.machineId,
        address: values.address,
        port: values.port,
        protocol: values.protocol,
        tls: JSON.stringify(values.tls),
        username: values.username,
        credentials: values.credentials,
        updated_at: sql<Date>`now()`,
      })
      .where("mac_address", "=", mac)
      .execute();
  }

  /**
   * Records what the BMC showed. With `readSince`, a reading begun at that time is dropped if the row was
   * changed (new address, credentials) or saw a newer contact since: a slow sync cycle must not overwrite
   * what an operator just fixed or what a later call just saw.
   */
  async recordObservation(
    mac: string,
    observation: BmcObservation,
    trx: Db = this.db,
    readSince?: Date,
  ): Promise<void> {
    let update = inventoryDb(trx).updateTable("bmcs").where("mac_address", "=", mac);
    if (readSince !== undefined) {
      update = update
        .where("updated_at", "<=", readSince)
        .where((eb) => eb.or([eb("last_contact_at", "is", null), eb("last_contact_at", "<=", readSince)]));
    }
    if (observation.kind === "failed") {
      await update.set({ last_error: observation.error }).execute();
      return;
    }
    await update
      .set({
        power_state: observation.powerState,
        last_contact_at: sql<Date>`now()`,
        last_error: null,
        ...(observation.inventory !== undefined
          ? { oob_inventory: JSON.stringify(observation.inventory) }
          : {}),
      })
      .execute();
  }

  /** The machine that already carries this expected machine, if any (the link is unique). */
  async machineOfExpected(expectedMachineId: string, trx: Db): Promise<string | undefined> {
    const result = await sql<{ id: string }>`
      SELECT id FROM machines WHERE expected_machine_id = ${expectedMachineId}
    `.execute(trx);
    return result.rows[0]?.id;
  }

  /** The spec an expected machine must meet: its profile's when it names one, else its inline spec. */
  async specOfExpected(expectedMachineId: string, trx: Db = this.db): Promise<HardwareSpec | null> {
    const result = await sql<{ spec: HardwareSpec | null }>`
      SELECT CASE WHEN e.hardware_spec_profile_id IS NOT NULL THEN p.spec ELSE e.spec END AS spec
      FROM expected_machines e
      LEFT JOIN hardware_spec_profiles p ON p.id = e.hardware_spec_profile_id
      WHERE e.id = ${expectedMachineId}
    `.execute(trx);
    return result.rows[0]?.spec ?? null;
  }
}
