import { type RawBuilder, sql } from "kysely";
import { afterPosition, sortValueText } from "../db/keyset.ts";
import type { InventoryDb, SpecProfileRow } from "./inventory-tables.ts";
import { type ListPlan, textSearch } from "./listing.ts";
import type { HardwareSpec, SpecProfileSortField } from "./spec-profile-model.ts";

const SORT: Record<SpecProfileSortField, RawBuilder<unknown>> = {
  name: sql`hardware_spec_profiles.name`,
  createdAt: sql`hardware_spec_profiles.created_at`,
  updatedAt: sql`hardware_spec_profiles.updated_at`,
};

export interface SpecProfileValues {
  readonly name: string;
  readonly description: string;
  readonly spec: HardwareSpec;
}

/** SQL for hardware spec profiles. */
export class SpecProfileStore {
  constructor(private readonly db: InventoryDb) {}

  async list(
    orgId: string,
    filters: { q?: string | undefined },
    plan: ListPlan<SpecProfileSortField>,
  ): Promise<Array<SpecProfileRow & { sort_value: string }>> {
    const expression = SORT[plan.field];
    let query = this.db
      .selectFrom("hardware_spec_profiles")
      .selectAll()
      .select(sortValueText(expression).as("sort_value"))
      .where("org_id", "=", orgId);
    if (filters.q !== undefined)
      query = query.where(
        textSearch([sql`hardware_spec_profiles.name`, sql`hardware_spec_profiles.description`], filters.q),
      );
    if (plan.after !== undefined)
      query = query.where(afterPosition(expression, "hardware_spec_profiles.id", plan.direction, plan.after));
    return await query
      .orderBy(expression, plan.direction)
      .orderBy("hardware_spec_profiles.id", plan.direction)
      .limit(plan.fetch)
      .execute();
  }

  async find(orgId: string, id: string): Promise<SpecProfileRow | undefined> {
    return await this.db
      .selectFrom("hardware_spec_profiles")
      .selectAll()
      .where("org_id", "=", orgId)
      .where("id", "=", id)
      .executeTakeFirst();
  }

  async insert(orgId: string, values: SpecProfileValues): Promise<SpecProfileRow> {
    return await this.db
      .insertInto("hardware_spec_profiles")
      .values({
        org_id: orgId,
        name: values.name,
        description: values.description,
        spec: JSON.stringify(values.spec),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async update(
    orgId: string,
    id: string,
    changes: { name?: string | undefined; description?: string | undefined; spec?: HardwareSpec | undefined },
  ): Promise<SpecProfileRow | undefined> {
    return await this.db
      .updateTable("hardware_spec_profiles")
      .set({
        ...(changes.name !== undefined ? { name: changes.name } : {}),
        ...(changes.description !== undefined ? { description: changes.description } : {}),
        ...(changes.spec !== undefined ? { spec: JSON.stringify(changes.spec) } : {}),
        updated_at: sql`now()`,
      })
      .where("org_id", "=", orgId)
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirst();
  }

  async delete(orgId: string, id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom("hardware_spec_profiles")
      .where("org_id", "=", orgId)
      .where("id", "=", id)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
