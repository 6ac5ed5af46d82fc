import { ConflictError, NotFoundError, ValidationError } from "../errors.ts";
import type { Page } from "../http/pagination.ts";
import { type ConstraintErrors, translateConstraintErrors } from "./db-errors.ts";
import type { RackRow } from "./inventory-tables.ts";
import { keysetPage, planList } from "./listing.ts";
import type { OrgScope } from "./org-scope.ts";
import {
  RACK_SORT_FIELDS,
  type Rack,
  type RackCreate,
  type RackListQuery,
  type RackUpdate,
  rackStatusChange,
} from "./rack-model.ts";
import type { RackStore, RackValues } from "./rack-store.ts";

/** Racks of a provider org: registration, status progression, labels, search. */
export class RackService {
  constructor(
    private readonly orgs: OrgScope,
    private readonly store: RackStore,
  ) {}

  async list(org: string, query: RackListQuery): Promise<Page<Rack>> {
    const orgId = await this.orgs.idOf(org);
    const plan = planList(query, RACK_SORT_FIELDS, { field: "name", direction: "asc" });
    const rows = await this.store.list(
      orgId,
      { siteId: query.siteId, status: query.status, label: query.label, q: query.q },
      plan,
    );
    return keysetPage(rows, plan, (row) => row.id, toRack);
  }

  async get(org: string, id: string): Promise<Rack> {
    const row = await this.store.find(await this.orgs.idOf(org), id);
    if (row === undefined) throw rackNotFound(id);
    return toRack(row);
  }

  async create(org: string, input: RackCreate): Promise<Rack> {
    const orgId = await this.orgs.idOf(org);
    const values: RackValues = {
      name: input.name,
      siteId: input.siteId ?? null,
      manufacturer: input.manufacturer ?? null,
      serial: input.serial ?? null,
      model: input.model ?? null,
      location: input.location ?? "",
      status: input.status ?? "new",
      labels: input.labels ?? {},
    };
    if (values.siteId !== null) await this.requireSite(this.store, orgId, values.siteId);
    const row = await translateConstraintErrors(
      () => this.store.insert(orgId, values),
      constraintErrors(values),
    );
    return toRack(row);
  }

  /**
   * Changes what is given. The row is locked while the status change is judged, so two concurrent
   * updates cannot both pass the check; the database trigger would refuse a backward step anyway.
   */
  async update(org: string, id: string, changes: RackUpdate): Promise<Rack> {
    const orgId = await this.orgs.idOf(org);
    const row = await this.store.transaction(async (store) => {
      const current = await store.find(orgId, id, { forUpdate: true });
      if (current === undefined) throw rackNotFound(id);
      const values: RackValues = {
        name: changes.name ?? current.name,
        siteId: changes.siteId !== undefined ? changes.siteId : current.site_id,
        manufacturer: changes.manufacturer !== undefined ? changes.manufacturer : current.manufacturer,
        serial: changes.serial !== undefined ? changes.serial : current.serial_number,
        model: changes.model !== undefined ? changes.model : current.model,
        location: changes.location ?? current.location,
        status: changes.status ?? current.status,
        labels: changes.labels ?? current.labels,
      };
      const step = rackStatusChange(current.status, values.status);
      if (step.kind === "backwards") {
        throw new ConflictError(
          "rack.status_backwards",
          `rack status cannot go back from ${step.from} to ${step.to}; it only moves new → ingesting → ingested`,
          { field: "status", from: step.from, to: step.to },
        );
      }
      if (values.siteId !== null && values.siteId !== current.site_id)
        await this.requireSite(store, orgId, values.siteId);
      return await translateConstraintErrors(() => store.update(orgId, id, values), constraintErrors(values));
    });
    if (row === undefined) throw rackNotFound(id);
    return toRack(row);
  }

  async delete(org: string, id: string): Promise<void> {
    const orgId = await this.orgs.idOf(org);
    const deleted = await translateConstraintErrors(() => this.store.delete(orgId, id), {
      components_rack_id_fkey: () =>
        new ConflictError(
          "rack.in_use",
          `rack ${id} has components (deleted ones included, kept for their history); it cannot be deleted`,
          { rackId: id },
        ),
    });
    if (!deleted) throw rackNotFound(id);
  }

  private async requireSite(store: RackStore, orgId: string, siteId: string): Promise<void> {
    if (!(await store.siteExists(orgId, siteId)))
      throw new ValidationError("rack.unknown_site", `no site ${siteId} in this org`, "body.siteId");
  }
}

function constraintErrors(values: RackValues): ConstraintErrors {
  return {
    racks_name_key: () =>
      new ConflictError("rack.name_taken", `a rack named ${values.name} already exists`, {
        field: "name",
        name: values.name,
      }),
    racks_manufacturer_serial_number_key: () =>
      new ConflictError(
        "rack.serial_taken",
        `a rack from ${values.manufacturer ?? "?"} with serial ${values.serial ?? "?"} already exists`,
        { field: "serial", manufacturer: values.manufacturer, serial: values.serial },
      ),
    racks_site_id_fkey: () =>
      new ValidationError("rack.unknown_site", `no site ${values.siteId ?? "?"} in this org`, "body.siteId"),
    racks_status_forward_only: () =>
      new ConflictError("rack.status_backwards", "rack status cannot go backwards", { field: "status" }),
  };
}

function rackNotFound(id: string): NotFoundError {
  return new NotFoundError("rack.not_found", `no rack ${id} in this org`);
}

export function toRack(row: RackRow): Rack {
  return {
    id: row.id,
    siteId: row.site_id,
    name: row.name,
    manufacturer: row.manufacturer,
    serial: row.serial_number,
    model: row.model,
    location: row.location,
    status: row.status,
    labels: row.labels,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
