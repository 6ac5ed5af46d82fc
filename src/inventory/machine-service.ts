import { Type } from "typebox";
import type { Db } from "../db/database.ts";
import { ConflictError, NotFoundError } from "../errors.ts";
import { decodeCursor, type Page, pageOf } from "../http/pagination.ts";
import type { HardwareInventory } from "../protocol/inventory.ts";
import type { LifecycleStore } from "../statemachine/store.ts";
import { keysetPage, type ListQuery, planList } from "./listing.ts";
import {
  type BootImage,
  type MachineState,
  type MachineSummary,
  type OperatorMachineEvent,
  stateAfterOperatorEvent,
  summarize,
} from "./machine-model.ts";
import {
  MACHINE_SORT_FIELDS,
  type MachineEventRow,
  type MachineFilters,
  type MachineRow,
  type MachineStore,
} from "./machine-store.ts";
import type { OrgScope } from "./org-scope.ts";
import type { HardwareSpec } from "./spec-profile-model.ts";

export interface Machine {
  id: string;
  org: string;
  serialNumber: string | null;
  systemUuid: string | null;
  manufacturer: string | null;
  model: string | null;
  hostname: string | null;
  labels: Record<string, string>;
  state: MachineState;
  stateVersion: number;
  stateEnteredAt: string;
  rack: string | null;
  bootMac: string | null;
  agentVersion: string | null;
  expectedMachineId: string | null;
  hardwareSpec: HardwareSpec | null;
  bootImage: BootImage | null;
  summary: MachineSummary;
  enrolledAt: string;
  inventoryUpdatedAt: string;
}

export interface MachineDetail extends Machine {
  inventory: HardwareInventory;
  interfaces: Array<{
    macAddress: string;
    name: string | null;
    isBoot: boolean;
    speedMbps: number | null;
    driver: string | null;
  }>;
}

export interface MachineEvent {
  id: number;
  at: string;
  kind: string;
  details: Record<string, unknown>;
}

const EventCursor = Type.Object({ id: Type.Integer() });

/** Use cases on machines: lists and details, operator edits and lifecycle events. */
export class MachineService {
  constructor(
    private readonly db: Db,
    private readonly store: MachineStore,
    readonly lifecycle: LifecycleStore<MachineState>,
    private readonly orgs: OrgScope,
  ) {}

  async list(org: string, filters: MachineFilters, query: ListQuery): Promise<Page<Machine>> {
    const orgId = await this.orgs.idOf(org);
    const plan = planList(query, MACHINE_SORT_FIELDS, { field: "enrolledAt", direction: "desc" });
    const rows = await this.store.list(orgId, filters, plan);
    return keysetPage(
      rows,
      plan,
      (row) => row.id,
      (row) => toMachine(row, org),
    );
  }

  async get(org: string, id: string): Promise<MachineDetail> {
    const row = await this.requireMachine(org, id);
    const interfaces = await this.store.interfaces(id);
    return {
      ...toMachine(row, org),
      inventory: row.inventory,
      interfaces: interfaces.map((nic) => ({
        macAddress: nic.mac_address,
        name: nic.name,
        isBoot: nic.is_boot,
        speedMbps: nic.speed_mbps,
        driver: nic.driver,
      })),
    };
  }

  /** The machine's id if it exists in `org` (for routes that need only the id). */
  async resolve(org: string, id: string): Promise<string | undefined> {
    const row = await this.store.get(id);
    return row !== undefined && row.org_id === (await this.orgs.idOf(org)) ? row.id : undefined;
  }

  async update(
    org: string,
    id: string,
    changes: { hostname?: string | null; labels?: Record<string, string>; bootImage?: BootImage | null },
  ): Promise<MachineDetail> {
    await this.requireMachine(org, id);
    await this.store.updateAttributes(id, changes);
    return await this.get(org, id);
  }

  /** An operator's lifecycle event (mark ready, hold, release a hold, retire), checked against the table. */
  async fireEvent(
    org: string,
    id: string,
    event: OperatorMachineEvent,
    reason: string | undefined,
    actor: string,
  ): Promise<MachineDetail> {
    const row = await this.requireMachine(org, id);
    const next = stateAfterOperatorEvent(row.state, event, reason);
    const written = await this.lifecycle.transition({
      id,
      version: row.state_version,
      from: row.state,
      event,
      next,
      actor,
    });
    if (!written.applied) {
      throw new ConflictError(
        "machine.state_changed",
        "the machine changed state meanwhile; look again and retry",
      );
    }
    return await this.get(org, id);
  }

  async events(
    org: string,
    id: string,
    limit: number,
    cursor: string | undefined,
  ): Promise<Page<MachineEvent>> {
    await this.requireMachine(org, id);
    const after = decodeCursor(cursor, EventCursor);
    const rows = await this.store.events(id, limit + 1, after?.id);
    return pageOf(rows, limit, toEvent, (row) => ({ id: row.id }));
  }

  private async requireMachine(org: string, id: string): Promise<MachineRow> {
    const orgId = await this.orgs.idOf(org);
    const row = await this.store.get(id, this.db);
    if (row === undefined || row.org_id !== orgId)
      throw new NotFoundError("machine.not_found", `no machine ${id} in ${org}`);
    return row;
  }
}

function toMachine(row: MachineRow, org: string): Machine {
  return {
    id: row.id,
    org,
    serialNumber: row.serial_number,
    systemUuid: row.system_uuid,
    manufacturer: row.manufacturer,
    model: row.model,
    hostname: row.hostname,
    labels: row.labels,
    state: row.state,
    stateVersion: row.state_version,
    stateEnteredAt: row.state_entered_at.toISOString(),
    rack: row.rack_name,
    bootMac: row.boot_mac,
    agentVersion: row.agent_version,
    expectedMachineId: row.expected_machine_id,
    hardwareSpec: row.hardware_spec,
    bootImage: row.boot_image,
    summary: summarize(row.inventory),
    enrolledAt: row.enrolled_at.toISOString(),
    inventoryUpdatedAt: row.inventory_updated_at.toISOString(),
  };
}

function toEvent(row: MachineEventRow): MachineEvent {
  return { id: row.id, at: row.at.toISOString(), kind: row.kind, details: row.details };
}
