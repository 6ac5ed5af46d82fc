import { type RawBuilder, sql } from "kysely";
import { afterPosition, sortValueText } from "../db/keyset.ts";
import type { InventoryDb, Labels, RackRow, RackStatus } from "./inventory-tables.ts";
import { labelsMatch } from "./labels.ts";
import { type ListPlan, textSearch } from "./listing.ts";
import type { RackSortField } from "./rack-model.ts";

const SORT: Record<RackSortField, RawBuilder<unknown>> = {
  name: sql`racks.name`,
  createdAt: sql`racks.created_at`,
  updatedAt: sql`racks.updated_at`,
  serial: sql`coalesce(racks.serial_number, '')`,
};

export interface RackFilters {
  readonly siteId?: string | undefined;
  readonly status?: RackStatus | undefined;
  readonly label?: readonly string[] | undefined;
  readonly q?: string | undefined;
}

export interface RackValues {
  readonly name: string;
  readonly siteId: string | null;
  readonly manufacturer: string | null;
  readonly serial: string | null;
  readonly model: string | null;
  readonly location: string;
  readonly status: RackStatus;
  readonly labels: Labels;
}

/** SQL for racks. */
export class RackStore {
  constructor(private readonly db: InventoryDb) {}

  async transaction<T>(work: (store: RackStore) => Promise<T>): Promise<T> {
    return await this.db.transaction().execute(async (trx) => await work(new RackStore(trx)));
  }

  async list(
    orgId: string,
    filters: RackFilters,
    plan: ListPlan<RackSortField>,
  ): Promise<Array<RackRow & { sort_value: string }>> {
    const expression = SORT[plan.field];
    let query = this.db
      .selectFrom("racks")
      .selectAll()
      .select(sortValueText(expression).as("sort_value"))
      .where("org_id", "=", orgId);
    if (filters.siteId !== undefined) query = query.where("site_id", "=", filters.siteId);
    if (filters.status !== undefined) query = query.where("status", "=", filters.status);
    if (filters.label !== undefined && filters.label.length > 0)
      query = query.where(labelsMatch(sql`racks.labels`, filters.label));
    if (filters.q !== undefined)
      query = query.where(
        textSearch([sql`racks.name`, sql`racks.serial_number`, sql`racks.model`], filters.q),
      );
    if (plan.after !== undefined)
      query = query.where(afterPosition(expression, "racks.id", plan.direction, plan.after));
    return await query
      .orderBy(expression, plan.direction)
      .orderBy("racks.id", plan.direction)
      .limit(plan.fetch)
      .execute();
  }

  async find(orgId: string, id: string, options: { forUpdate?: boolean } = {}): Promise<RackRow | undefined> {
    const query = this.db.selectFrom("racks").selectAll().where("org_id", "=", orgId).where("id", "=", id);
    return await (options.forUpdate === true ? query.forUpdate() : query).executeTakeFirst();
  }

  async siteExists(orgId: string, siteId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("sites")
      .select("id")
      .where("org_id", "=", orgId)
      .where("id", "=", siteId)
      .executeTakeFirst();
    return row !== undefined;
  }

  async insert(orgId: string, rack: RackValues): Promise<RackRow> {
    return await this.db
      .insertInto("racks")
      .values({
        org_id: orgId,
        name: rack.name,
        site_id: rack.siteId,
        manufacturer: rack.manufacturer,
        serial_number: rack.serial,
        model: rack.model,
        location: rack.location,
        status: rack.status,
        labels: JSON.stringify(rack.labels),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async update(orgId: string, id: string, rack: RackValues): Promise<RackRow | undefined> {
    return await this.db
      .updateTable("racks")
      .set({
        name: rack.name,
        site_id: rack.siteId,
        manufacturer: rack.manufacturer,
        serial_number: rack.serial,
        model: rack.model,
        location: rack.location,
        status: rack.status,
        labels: JSON.stringify(rack.labels),
        updated_at: sql`now()`,
      })
      .where("org_id", "=", orgId)
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirst();
  }

  async delete(orgId: string, id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom("racks")
      .where("org_id", "=", orgId)
      .where("id", "=", id)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
