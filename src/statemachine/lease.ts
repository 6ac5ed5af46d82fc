/**
 * Named leases in `controller_leases`, for work exactly one replica should do at a time (a controller's
 * periodic enqueuer). The holder renews the lease before it expires; when a holder dies, its lease
 * expires and another replica takes it over. Expiry is judged by the database clock, so replicas with
 * skewed clocks agree.
 */
import { sql } from "kysely";
import type { Db } from "../db/database.ts";

type LeaseTables = {
  controller_leases: {
    name: string;
    holder: string;
    acquired_at: Date;
    renewed_at: Date;
    expires_at: Date;
  };
};

export class Lease {
  private readonly db;

  constructor(
    db: Db,
    readonly name: string,
    readonly holder: string,
    private readonly ttlMs: number,
  ) {
    this.db = db.withTables<LeaseTables>();
  }

  /** Takes the lease if it is free or expired, or renews it if held; true while this holder has it. */
  async acquireOrRenew(): Promise<boolean> {
    const expiresAt = sql<Date>`now() + ${this.ttlMs} * interval '1 millisecond'`;
    const row = await this.db
      .insertInto("controller_leases")
      .values({
        name: this.name,
        holder: this.holder,
        acquired_at: sql`now()`,
        renewed_at: sql`now()`,
        expires_at: expiresAt,
      })
      .onConflict((conflict) =>
        conflict
          .column("name")
          .doUpdateSet({
            holder: this.holder,
            acquired_at: sql`CASE WHEN controller_leases.holder = ${this.holder}
              THEN controller_leases.acquired_at ELSE now() END`,
            renewed_at: sql`now()`,
            expires_at: expiresAt,
          })
          .where((eb) =>
            eb.or([
              eb("controller_leases.holder", "=", this.holder),
              eb("controller_leases.expires_at", "<", sql<Date>`now()`),
            ]),
          ),
      )
      .returning("holder")
      .executeTakeFirst();
    return row?.holder === this.holder;
  }

  /** Gives the lease up (if held), so another replica can take it at once. */
  async release(): Promise<void> {
    await this.db
      .deleteFrom("controller_leases")
      .where("name", "=", this.name)
      .where("holder", "=", this.holder)
      .execute();
  }

  /** The current holder, if the lease is held and not expired. */
  async currentHolder(): Promise<string | undefined> {
    const row = await this.db
      .selectFrom("controller_leases")
      .select("holder")
      .where("name", "=", this.name)
      .where("expires_at", ">", sql<Date>`now()`)
      .executeTakeFirst();
    return row?.holder;
  }
}
