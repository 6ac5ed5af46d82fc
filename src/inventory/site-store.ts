import { type RawBuilder, sql } from "kysely";
import { afterPosition, sortValueText } from "../db/keyset.ts";
import type { InventoryDb, SiteRow } from "./inventory-tables.ts";
import { type ListPlan, textSearch } from "./listing.ts";
import type { SiteSortField } from "./site-model.ts";

const SORT: Record<SiteSortField, RawBuilder<unknown>> = {
  name: sql`sites.name`,
  createdAt: sql`sites.created_at`,
  updatedAt: sql`sites.updated_at`,
};

export interface SiteFilters {
  readonly q?: string | undefined;
}

/** SQL for sites. */
export class SiteStore {
  constructor(private readonly db: InventoryDb) {}

  async list(
    orgId: string,
    filters: SiteFilters,
    plan: ListPlan<SiteSortField>,
  ): Promise<Array<SiteRow & { sort_value: string }>> {
    const expression = SORT[plan.field];
    let query = this.db
      .selectFrom("sites")
      .selectAll()
      .select(sortValueText(expression).as("sort_value"))
      .where("org_id", "=", orgId);
    if (filters.q !== undefined)
      query = query.where(
        textSearch([sql`sites.name`, sql`sites.description`, sql`sites.location`], filters.q),
      );
    if (plan.after !== undefined)
      query = query.where(afterPosition(expression, "sites.id", plan.direction, plan.after));
    return await query
      .orderBy(expression, plan.direction)
      .orderBy("sites.id", plan.direction)
      .limit(plan.fetch)
      .execute();
  }

  async find(orgId: string, id: string): Promise<SiteRow | undefined> {
    return await this.db
      .selectFrom("sites")
      .selectAll()
      .where("org_id", "=", orgId)
      .where("id", "=", id)
      .executeTakeFirst();
  }

  async insert(
    orgId: string,
    site: { name: string; description?: string | undefined; location?: string | undefined },
  ): Promise<SiteRow> {
    return await this.db
      .insertInto("sites")
      .values({
        org_id: orgId,
        name: site.name,
        description: site.description ?? "",
        location: site.location ?? "",
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async update(
    orgId: string,
    id: string,
    changes: { name?: string | undefined; description?: string | undefined; location?: string | undefined },
  ): Promise<SiteRow | undefined> {
    return await this.db
      .updateTable("sites")
      .set({
        ...(changes.name !== undefined ? { name: changes.name } : {}),
        ...(changes.description !== undefined ? { description: changes.description } : {}),
        ...(changes.location !== undefined ? { location: changes.location } : {}),
        updated_at: sql`now()`,
      })
      .where("org_id", "=", orgId)
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirst();
  }

  async delete(orgId: string, id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom("sites")
      .where("org_id", "=", orgId)
      .where("id", "=", id)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
