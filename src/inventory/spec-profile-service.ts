import { ConflictError, NotFoundError } from "../errors.ts";
import type { Page } from "../http/pagination.ts";
import { translateConstraintErrors } from "./db-errors.ts";
import type { SpecProfileRow } from "./inventory-tables.ts";
import { keysetPage, planList } from "./listing.ts";
import type { OrgScope } from "./org-scope.ts";
import {
  checkHardwareSpec,
  type HardwareSpec,
  SPEC_PROFILE_SORT_FIELDS,
  type SpecProfile,
  type SpecProfileCreate,
  type SpecProfileListQuery,
  type SpecProfileUpdate,
} from "./spec-profile-model.ts";
import type { SpecProfileStore } from "./spec-profile-store.ts";

/** Named hardware specs of a provider org. */
export class SpecProfileService {
  constructor(
    private readonly orgs: OrgScope,
    private readonly store: SpecProfileStore,
  ) {}

  async list(org: string, query: SpecProfileListQuery): Promise<Page<SpecProfile>> {
    const orgId = await this.orgs.idOf(org);
    const plan = planList(query, SPEC_PROFILE_SORT_FIELDS, { field: "name", direction: "asc" });
    const rows = await this.store.list(orgId, { q: query.q }, plan);
    return keysetPage(rows, plan, (row) => row.id, toSpecProfile);
  }

  async get(org: string, id: string): Promise<SpecProfile> {
    const row = await this.store.find(await this.orgs.idOf(org), id);
    if (row === undefined) throw profileNotFound(id);
    return toSpecProfile(row);
  }

  async create(org: string, input: SpecProfileCreate): Promise<SpecProfile> {
    checkHardwareSpec(input.spec, "body.spec");
    const orgId = await this.orgs.idOf(org);
    const row = await translateConstraintErrors(
      () =>
        this.store.insert(orgId, {
          name: input.name,
          description: input.description ?? "",
          spec: input.spec,
        }),
      { hardware_spec_profiles_org_id_name_key: () => nameTaken(input.name) },
    );
    return toSpecProfile(row);
  }

  async update(org: string, id: string, changes: SpecProfileUpdate): Promise<SpecProfile> {
    if (changes.spec !== undefined) checkHardwareSpec(changes.spec, "body.spec");
    const orgId = await this.orgs.idOf(org);
    const row = await translateConstraintErrors(() => this.store.update(orgId, id, changes), {
      hardware_spec_profiles_org_id_name_key: () => nameTaken(changes.name ?? ""),
    });
    if (row === undefined) throw profileNotFound(id);
    return toSpecProfile(row);
  }

  async delete(org: string, id: string): Promise<void> {
    const orgId = await this.orgs.idOf(org);
    const deleted = await translateConstraintErrors(() => this.store.delete(orgId, id), {
      expected_machines_hardware_spec_profile_id_fkey: () =>
        new ConflictError(
          "spec_profile.in_use",
          `spec profile ${id} is referred to by expected machines; point them elsewhere first`,
          { profileId: id },
        ),
    });
    if (!deleted) throw profileNotFound(id);
  }
}

function nameTaken(name: string): ConflictError {
  return new ConflictError(
    "spec_profile.name_taken",
    `a spec profile named ${name} already exists in this org`,
    {
      field: "name",
      name,
    },
  );
}

function profileNotFound(id: string): NotFoundError {
  return new NotFoundError("spec_profile.not_found", `no spec profile ${id} in this org`);
}

export function toSpecProfile(row: SpecProfileRow): SpecProfile {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    spec: row.spec as HardwareSpec,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
