import { sql } from "kysely";
import type { SecretRotationStore, SecretRows, SecretWriter, StoredSecret } from "../bmc/vault.ts";
import { bmcPasswordContext } from "./bmc-model.ts";
import { expectedMachinePasswordContext } from "./expected-machine-model.ts";
import type { InventoryDb } from "./inventory-tables.ts";

const BMC = "bmc:";
const EXPECTED_MACHINE = "expected-machine:";

/**
 * The vault ciphertexts the inventory keeps (bmcs.credentials, expected_machines.bmc_credentials), for
 * `vault.rotate(newKey, store)`. Both tables are locked against writes for the rotation's transaction,
 * so no row written meanwhile escapes re-encryption; reads go on.
 */
export class InventorySecretStore implements SecretRotationStore {
  constructor(private readonly db: InventoryDb) {}

  /** The ids of the vault keys the stored secrets are sealed with (the third field of a ciphertext). */
  async sealingKeyIds(): Promise<string[]> {
    const result = await sql<{ key_id: string }>`
      SELECT DISTINCT split_part(credentials, ':', 3) AS key_id FROM bmcs
      UNION SELECT DISTINCT split_part(bmc_credentials, ':', 3) FROM expected_machines WHERE bmc_credentials IS NOT NULL
    `.execute(this.db);
    return result.rows.map((row) => row.key_id);
  }

  async inTransaction<T>(work: (rows: SecretRows, write: SecretWriter) => Promise<T>): Promise<T> {
    return await this.db.transaction().execute(async (trx) => {
      await sql`LOCK TABLE bmcs, expected_machines IN EXCLUSIVE MODE`.execute(trx);
      const bmcs = await trx
        .selectFrom("bmcs")
        .select(["mac_address", "credentials"])
        .orderBy("mac_address")
        .forUpdate()
        .execute();
      const expected = await trx
        .selectFrom("expected_machines")
        .select(["id", "bmc_credentials"])
        .where("bmc_credentials", "is not", null)
        .orderBy("id")
        .forUpdate()
        .execute();
      const rows: StoredSecret[] = [
        ...bmcs.map((row) => ({
          id: `${BMC}${row.mac_address}`,
          ciphertext: row.credentials,
          context: bmcPasswordContext(row.mac_address),
        })),
        ...expected.flatMap((row) =>
          row.bmc_credentials === null
            ? []
            : [
                {
                  id: `${EXPECTED_MACHINE}${row.id}`,
                  ciphertext: row.bmc_credentials,
                  context: expectedMachinePasswordContext(row.id),
                },
              ],
        ),
      ];
      const write: SecretWriter = async (id, ciphertext) => {
        if (id.startsWith(BMC)) {
          await trx
            .updateTable("bmcs")
            .set({ credentials: ciphertext })
            .where("mac_address", "=", id.slice(BMC.length))
            .execute();
        } else if (id.startsWith(EXPECTED_MACHINE)) {
          await trx
            .updateTable("expected_machines")
            .set({ bmc_credentials: ciphertext })
            .where("id", "=", id.slice(EXPECTED_MACHINE.length))
            .execute();
        } else {
          throw new Error(`not an inventory secret: ${id}`);
        }
      };
      return await work(rows, write);
    });
  }
}
