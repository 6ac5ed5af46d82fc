import { NotFoundError } from "../errors.ts";
import type { InventoryDb } from "./inventory-tables.ts";

/** Org names in paths → the org ids inventory rows are keyed by. */
export class OrgScope {
  constructor(private readonly db: InventoryDb) {}

  /** The id of the org, or a 404 when there is none (access control normally refuses earlier). */
  async idOf(org: string): Promise<string> {
    const row = await this.db.selectFrom("orgs").select("id").where("name", "=", org).executeTakeFirst();
    if (row === undefined) throw new NotFoundError("org.not_found", `no org named ${org}`);
    return row.id;
  }
}
