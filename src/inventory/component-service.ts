import { ConflictError, NotFoundError, ValidationError } from "../errors.ts";
import type { Page } from "../http/pagination.ts";
import {
  COMPONENT_SORT_FIELDS,
  type Component,
  type ComponentCreate,
  type ComponentListQuery,
  type ComponentUpdate,
} from "./component-model.ts";
import type { ComponentStore, ComponentValues } from "./component-store.ts";
import { type ConstraintErrors, translateConstraintErrors } from "./db-errors.ts";
import type { ComponentRow } from "./inventory-tables.ts";
import { keysetPage, planList } from "./listing.ts";
import type { OrgScope } from "./org-scope.ts";

/** Rack components (compute trays, NVSwitches, power shelves, ToR switches, CDUs) of a provider org. */
export class ComponentService {
  constructor(
    private readonly orgs: OrgScope,
    private readonly store: ComponentStore,
  ) {}

  async list(org: string, query: ComponentListQuery): Promise<Page<Component>> {
    const orgId = await this.orgs.idOf(org);
    const plan = planList(query, COMPONENT_SORT_FIELDS, { field: "createdAt", direction: "asc" });
    const rows = await this.store.list(
      orgId,
      {
        rackId: query.rackId,
        type: query.type,
        machineId: query.machineId,
        includeDeleted: query.includeDeleted,
        q: query.q,
      },
      plan,
    );
    return keysetPage(rows, plan, (row) => row.id, toComponent);
  }

  async get(org: string, id: string): Promise<Component> {
    const row = await this.store.find(await this.orgs.idOf(org), id);
    if (row === undefined) throw componentNotFound(id);
    return toComponent(row);
  }

  async create(org: string, input: ComponentCreate): Promise<Component> {
    const orgId = await this.orgs.idOf(org);
    const values: ComponentValues = {
      rackId: input.rackId ?? null,
      type: input.type,
      name: input.name ?? null,
      manufacturer: input.manufacturer,
      model: input.model ?? null,
      serial: input.serial,
      externalId: input.externalId ?? null,
      slot: input.slot ?? null,
      trayIndex: input.trayIndex ?? null,
      firmwareVersion: input.firmwareVersion ?? null,
      machineId: input.machineId ?? null,
    };
    await this.checkReferences(this.store, orgId, values, undefined);
    const row = await translateConstraintErrors(
      () => this.store.insert(orgId, values),
      constraintErrors(values),
    );
    return toComponent(row);
  }

  async update(org: string, id: string, changes: ComponentUpdate): Promise<Component> {
    const orgId = await this.orgs.idOf(org);
    const row = await this.store.transaction(async (store) => {
      const current = await store.find(orgId, id, { forUpdate: true });
      if (current === undefined) throw componentNotFound(id);
      if (current.deleted_at !== null) {
        throw new ConflictError("component.removed", `component ${id} was removed and cannot be changed`, {
          componentId: id,
        });
      }
      const values: ComponentValues = {
        rackId: changes.rackId !== undefined ? changes.rackId : current.rack_id,
        type: changes.type ?? current.type,
        name: changes.name !== undefined ? changes.name : current.name,
        manufacturer: changes.manufacturer ?? current.manufacturer,
        model: changes.model !== undefined ? changes.model : current.model,
        serial: changes.serial ?? current.serial_number,
        externalId: changes.externalId !== undefined ? changes.externalId : current.external_id,
        slot: changes.slot !== undefined ? changes.slot : current.slot,
        trayIndex: changes.trayIndex !== undefined ? changes.trayIndex : current.tray_index,
        firmwareVersion:
          changes.firmwareVersion !== undefined ? changes.firmwareVersion : current.firmware_version,
        machineId: changes.machineId !== undefined ? changes.machineId : current.machine_id,
      };
      await this.checkReferences(store, orgId, values, current);
      return await translateConstraintErrors(() => store.update(orgId, id, values), constraintErrors(values));
    });
    if (row === undefined) throw componentNotFound(id);
    return toComponent(row);
  }

  /** Soft delete: the component disappears from lists but stays readable, with what refers to it. */
  async remove(org: string, id: string): Promise<void> {
    const found = await this.store.softDelete(await this.orgs.idOf(org), id);
    if (!found) throw componentNotFound(id);
  }

  private async checkReferences(
    store: ComponentStore,
    orgId: string,
    values: ComponentValues,
    current: ComponentRow | undefined,
  ): Promise<void> {
    if (
      values.rackId !== null &&
      values.rackId !== current?.rack_id &&
      !(await store.rackExists(orgId, values.rackId))
    )
      throw unknownRack(values.rackId);
    if (
      values.machineId !== null &&
      values.machineId !== current?.machine_id &&
      !(await store.machineExists(orgId, values.machineId))
    )
      throw unknownMachine(values.machineId);
  }
}

function constraintErrors(values: ComponentValues): ConstraintErrors {
  return {
    components_manufacturer_serial_key: () =>
      new ConflictError(
        "component.serial_taken",
        `a component from ${values.manufacturer} with serial ${values.serial} is already registered`,
        { field: "serial", manufacturer: values.manufacturer, serial: values.serial },
      ),
    components_type_external_id_key: () =>
      new ConflictError(
        "component.external_id_taken",
        `a ${values.type} component with external id ${values.externalId ?? "?"} is already registered`,
        { field: "externalId", type: values.type, externalId: values.externalId },
      ),
    components_machine_key: () =>
      new ConflictError(
        "component.machine_taken",
        `machine ${values.machineId ?? "?"} is already another live component`,
        { field: "machineId", machineId: values.machineId },
      ),
    components_rack_id_fkey: () => unknownRack(values.rackId ?? "?"),
    components_machine_id_fkey: () => unknownMachine(values.machineId ?? "?"),
  };
}

function unknownRack(rackId: string): ValidationError {
  return new ValidationError("component.unknown_rack", `no rack ${rackId} in this org`, "body.rackId");
}

function unknownMachine(machineId: string): ValidationError {
  return new ValidationError(
    "component.unknown_machine",
    `no machine ${machineId} in this org`,
    "body.machineId",
  );
}

function componentNotFound(id: string): NotFoundError {
  return new NotFoundError("component.not_found", `no component ${id} in this org`);
}

export function toComponent(row: ComponentRow): Component {
  return {
    id: row.id,
    rackId: row.rack_id,
    type: row.type,
    name: row.name,
    manufacturer: row.manufacturer,
    model: row.model,
    serial: row.serial_number,
    externalId: row.external_id,
    slot: row.slot,
    trayIndex: row.tray_index,
    firmwareVersion: row.firmware_version,
    machineId: row.machine_id,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    deletedAt: row.deleted_at === null ? null : row.deleted_at.toISOString(),
  };
}
