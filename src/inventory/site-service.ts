import { ConflictError, NotFoundError } from "../errors.ts";
import type { Page } from "../http/pagination.ts";
import { translateConstraintErrors } from "./db-errors.ts";
import type { SiteRow } from "./inventory-tables.ts";
import { keysetPage, planList } from "./listing.ts";
import type { OrgScope } from "./org-scope.ts";
import {
  SITE_SORT_FIELDS,
  type Site,
  type SiteCreate,
  type SiteListQuery,
  type SiteUpdate,
} from "./site-model.ts";
import type { SiteStore } from "./site-store.ts";

/** Sites of a provider org: where its racks stand. */
export class SiteService {
  constructor(
    private readonly orgs: OrgScope,
    private readonly store: SiteStore,
  ) {}

  async list(org: string, query: SiteListQuery): Promise<Page<Site>> {
    const orgId = await this.orgs.idOf(org);
    const plan = planList(query, SITE_SORT_FIELDS, { field: "name", direction: "asc" });
    const rows = await this.store.list(orgId, { q: query.q }, plan);
    return keysetPage(rows, plan, (row) => row.id, toSite);
  }

  async get(org: string, id: string): Promise<Site> {
    const row = await this.store.find(await this.orgs.idOf(org), id);
    if (row === undefined) throw siteNotFound(id);
    return toSite(row);
  }

  async create(org: string, input: SiteCreate): Promise<Site> {
    const orgId = await this.orgs.idOf(org);
    const row = await translateConstraintErrors(() => this.store.insert(orgId, input), {
      sites_org_id_name_key: () => nameTaken(input.name),
    });
    return toSite(row);
  }

  async update(org: string, id: string, changes: SiteUpdate): Promise<Site> {
    const orgId = await this.orgs.idOf(org);
    const row = await translateConstraintErrors(() => this.store.update(orgId, id, changes), {
      sites_org_id_name_key: () => nameTaken(changes.name ?? ""),
    });
    if (row === undefined) throw siteNotFound(id);
    return toSite(row);
  }

  async delete(org: string, id: string): Promise<void> {
    const orgId = await this.orgs.idOf(org);
    const deleted = await translateConstraintErrors(() => this.store.delete(orgId, id), {
      racks_site_id_fkey: () =>
        new ConflictError("site.in_use", `site ${id} still has racks; move or delete them first`, {
          siteId: id,
        }),
    });
    if (!deleted) throw siteNotFound(id);
  }
}

function nameTaken(name: string): ConflictError {
  return new ConflictError("site.name_taken", `a site named ${name} already exists in this org`, {
    field: "name",
    name,
  });
}

function siteNotFound(id: string): NotFoundError {
  return new NotFoundError("site.not_found", `no site ${id} in this org`);
}

export function toSite(row: SiteRow): Site {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    location: row.location,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
