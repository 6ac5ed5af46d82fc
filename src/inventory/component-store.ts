import { type RawBuilder, sql } from "kysely";
import { afterPosition, sortValueText } from "../db/keyset.ts";
import type { ComponentSortField } from "./component-model.ts";
import type { ComponentRow, ComponentType, InventoryDb } from "./inventory-tables.ts";
import { type ListPlan, textSearch } from "./listing.ts";

const SORT: Record<ComponentSortField, RawBuilder<unknown>> = {
  createdAt: sql`components.created_at`,
  updatedAt: sql`components.updated_at`,
  serial: sql`components.serial_number`,
  name: sql`coalesce(components.name, '')`,
  slot: sql`coalesce(components.slot, -1)`,
};

export interface ComponentFilters {
  readonly rackId?: string | undefined;
  readonly type?: ComponentType | undefined;
  readonly machineId?: string | undefined;
  readonly includeDeleted: boolean;
  readonly q?: string | undefined;
}

export interface ComponentValues {
  readonly rackId: string | null;
  readonly type: ComponentType;
  readonly name: string | null;
  readonly manufacturer: string;
  readonly model: string | null;
  readonly serial: string;
  readonly externalId: string | null;
  readonly slot: number | null;
  readonly trayIndex: number | null;
  readonly firmwareVersion: string | null;
  readonly machineId: string | null;
}

function columns(values: ComponentValues) {
  return {
    rack_id: values.rackId,
    type: values.type,
    name: values.name,
    manufacturer: values.manufacturer,
    model: values.model,
    serial_number: values.serial,
    external_id: values.externalId,
    slot: values.slot,
    tray_index: values.trayIndex,
    firmware_version: values.firmwareVersion,
    machine_id: values.machineId,
  };
}

/** SQL for rack components. Removal is a soft delete: the row keeps its history. */
export class ComponentStore {
  constructor(private readonly db: InventoryDb) {}

  async transaction<T>(work: (store: ComponentStore) => Promise<T>): Promise<T> {
    return await this.db.transaction().execute(async (trx) => await work(new ComponentStore(trx)));
  }

  async list(
    orgId: string,
    filters: ComponentFilters,
    plan: ListPlan<ComponentSortField>,
  ): Promise<Array<ComponentRow & { sort_value: string }>> {
    const expression = SORT[plan.field];
    let query = this.db
      .selectFrom("components")
      .selectAll()
      .select(sortValueText(expression).as("sort_value"))
      .where("org_id", "=", orgId);
    if (!filters.includeDeleted) query = query.where("deleted_at", "is", null);
    if (filters.rackId !== undefined) query = query.where("rack_id", "=", filters.rackId);
    if (filters.type !== undefined) query = query.where("type", "=", filters.type);
    if (filters.machineId !== undefined) query = query.where("machine_id", "=", filters.machineId);
    if (filters.q !== undefined)
      query = query.where(
        textSearch(
          [
            sql`components.serial_number`,
            sql`components.name`,
            sql`components.model`,
            sql`components.external_id`,
          ],
          filters.q,
        ),
      );
    if (plan.after !== undefined)
      query = query.where(afterPosition(expression, "components.id", plan.direction, plan.after));
    return await query
      .orderBy(expression, plan.direction)
      .orderBy("components.id", plan.direction)
      .limit(plan.fetch)
      .execute();
  }

  async find(
    orgId: string,
    id: string,
    options: { forUpdate?: boolean } = {},
  ): Promise<ComponentRow | undefined> {
    const query = this.db
      .selectFrom("components")
      .selectAll()
      .where("org_id", "=", orgId)
      .where("id", "=", id);
    return await (options.forUpdate === true ? query.forUpdate() : query).executeTakeFirst();
  }

  async rackExists(orgId: string, rackId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("racks")
      .select("id")
      .where("org_id", "=", orgId)
      .where("id", "=", rackId)
      .executeTakeFirst();
    return row !== undefined;
  }

  async machineExists(orgId: string, machineId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("machines")
      .select("id")
      .where("org_id", "=", orgId)
      .where("id", "=", machineId)
      .executeTakeFirst();
    return row !== undefined;
  }

  async insert(orgId: string, values: ComponentValues): Promise<ComponentRow> {
    return await this.db
      .insertInto("components")
      .values({ org_id: orgId, ...columns(values) })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async update(orgId: string, id: string, values: ComponentValues): Promise<ComponentRow | undefined> {
    return await this.db
      .updateTable("components")
      .set({ ...columns(values), updated_at: sql`now()` })
      .where("org_id", "=", orgId)
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirst();
  }

  /** Marks the component removed; false when there is no such component. Removing twice changes nothing. */
  async softDelete(orgId: string, id: string): Promise<boolean> {
    const removed = await this.db
      .updateTable("components")
      .set({ deleted_at: sql`now()`, updated_at: sql`now()` })
      .where("org_id", "=", orgId)
      .where("id", "=", id)
      .where("deleted_at", "is", null)
      .executeTakeFirst();
    return removed.numUpdatedRows > 0n || (await this.find(orgId, id)) !== undefined;
  }
}
