import { type Generated, type Kysely, type RawBuilder, type Selectable, sql } from "kysely";
import type { Db } from "../db/database.ts";
import { afterPosition, sortValueText } from "../db/keyset.ts";
import type { HardwareInventory } from "../protocol/inventory.ts";
import { labelsMatch } from "./labels.ts";
import { type ListPlan, textSearch } from "./listing.ts";
import type { BootImage, MachineState } from "./machine-model.ts";
import type { HardwareSpec } from "./spec-profile-model.ts";

interface MachinesTable {
  id: Generated<string>;
  org_id: string;
  serial_number: string | null;
  system_uuid: string | null;
  manufacturer: string | null;
  model: string | null;
  hostname: string | null;
  labels: Record<string, string>;
  inventory: HardwareInventory;
  probes: Record<string, unknown>;
  inventory_digest: string;
  boot_mac: string | null;
  agent_version: string | null;
  expected_machine_id: string | null;
  hardware_spec: HardwareSpec | null;
  boot_image: BootImage | null;
  enrolled_at: Generated<Date>;
  inventory_updated_at: Generated<Date>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  state: MachineState;
  state_version: Generated<number>;
  state_entered_at: Generated<Date>;
}

interface MachineInterfacesTable {
  mac_address: string;
  machine_id: string;
  name: string | null;
  is_boot: boolean;
  speed_mbps: number | null;
  driver: string | null;
  updated_at: Generated<Date>;
}

interface MachineEventsTable {
  id: Generated<number>;
  machine_id: string;
  at: Generated<Date>;
  kind: MachineEventKind;
  details: Record<string, unknown>;
}

interface ComponentsRefTable {
  id: string;
  rack_id: string | null;
  machine_id: string | null;
  deleted_at: Date | null;
}

interface RacksRefTable {
  id: string;
  name: string;
}

export type MachineTables = {
  machines: MachinesTable;
  machine_interfaces: MachineInterfacesTable;
  machine_events: MachineEventsTable;
  components: ComponentsRefTable;
  racks: RacksRefTable;
};

export type MachineEventKind = "enrolled" | "inventory_changed" | "identity_changed" | "expected_matched";
export type MachineRow = Selectable<MachinesTable> & { rack_name: string | null };
export type MachineEventRow = Selectable<MachineEventsTable>;

export interface InterfaceInput {
  readonly macAddress: string;
  readonly name: string | null;
  readonly isBoot: boolean;
  readonly speedMbps: number | null;
  readonly driver: string | null;
}

export const MACHINE_SORT_FIELDS = ["enrolledAt", "serialNumber", "hostname", "state"] as const;
export type MachineSortField = (typeof MACHINE_SORT_FIELDS)[number];

const SORT_EXPRESSIONS: Record<MachineSortField, RawBuilder<unknown>> = {
  enrolledAt: sql`m.enrolled_at`,
  serialNumber: sql`coalesce(m.serial_number, '')`,
  hostname: sql`coalesce(m.hostname, '')`,
  state: sql`(m.state ->> 'kind')`,
};

export interface MachineFilters {
  readonly state?: string | undefined;
  /** rack name */
  readonly rack?: string | undefined;
  /** label selectors, `key` or `key=value` */
  readonly label?: readonly string[] | undefined;
  /** free text over serial, hostname, model, manufacturer and interface MACs */
  readonly q?: string | undefined;
}

export interface NewMachine {
  readonly orgId: string;
  readonly serialNumber: string | null;
  readonly systemUuid: string | null;
  readonly manufacturer: string | null;
  readonly model: string | null;
  readonly inventory: HardwareInventory;
  readonly probes: Record<string, unknown>;
  readonly inventoryDigest: string;
  /** null for a machine found through its BMC, before it has booted an agent */
  readonly bootMac: string | null;
  readonly agentVersion: string | null;
  readonly expectedMachineId: string | null;
  readonly hardwareSpec: HardwareSpec | null;
  readonly hostname: string | null;
  readonly labels: Record<string, string>;
  /** An initial state of the machine lifecycle. */
  readonly state: MachineState;
}

/** SQL for machines, their interfaces and their events. */
export class MachineStore {
  private readonly db: Kysely<MachineTables>;

  constructor(db: Db) {
    this.db = db.withTables<MachineTables>();
  }

  private selectMachines(db: Kysely<MachineTables>) {
    return db
      .selectFrom("machines as m")
      .leftJoin("components as c", (join) =>
        join.onRef("c.machine_id", "=", "m.id").on("c.deleted_at", "is", null),
      )
      .leftJoin("racks as r", "r.id", "c.rack_id")
      .selectAll("m")
      .select("r.name as rack_name");
  }

  async get(id: string, trx?: Db): Promise<MachineRow | undefined> {
    const db = trx?.withTables<MachineTables>() ?? this.db;
    return await this.selectMachines(db).where("m.id", "=", id).executeTakeFirst();
  }

  /** Row-locks the machine for the rest of the transaction. */
  async lock(id: string, trx: Db): Promise<void> {
    await sql`SELECT 1 FROM machines WHERE id = ${id} FOR UPDATE`.execute(trx);
  }

  async findByInterfaceMac(mac: string, trx?: Db): Promise<MachineRow | undefined> {
    const db = trx?.withTables<MachineTables>() ?? this.db;
    return await this.selectMachines(db)
      .where("m.id", "=", (eb) =>
        eb.selectFrom("machine_interfaces").select("machine_id").where("mac_address", "=", mac),
      )
      .executeTakeFirst();
  }

  async findBySerial(serial: string, trx?: Db): Promise<MachineRow | undefined> {
    const db = trx?.withTables<MachineTables>() ?? this.db;
    return await this.selectMachines(db).where("m.serial_number", "=", serial).executeTakeFirst();
  }

  async findBySystemUuid(uuid: string, trx?: Db): Promise<MachineRow | undefined> {
    const db = trx?.withTables<MachineTables>() ?? this.db;
    return await this.selectMachines(db).where("m.system_uuid", "=", uuid).executeTakeFirst();
  }

  async list(
    orgId: string,
    filters: MachineFilters,
    plan: ListPlan<MachineSortField>,
  ): Promise<Array<MachineRow & { sort_value: string }>> {
    const expression = SORT_EXPRESSIONS[plan.field];
    let select = this.selectMachines(this.db)
      .select(sortValueText(expression).as("sort_value"))
      .where("m.org_id", "=", orgId);
    if (filters.state !== undefined)
      select = select.where(sql<boolean>`m.state ->> 'kind' = ${filters.state}`);
    if (filters.rack !== undefined) select = select.where("r.name", "=", filters.rack);
    if (filters.label !== undefined && filters.label.length > 0) {
      select = select.where(labelsMatch(sql`m.labels`, filters.label));
    }
    const q = filters.q;
    if (q !== undefined) {
      select = select.where(
        sql<boolean>`(${textSearch([sql`m.serial_number`, sql`m.hostname`, sql`m.model`, sql`m.manufacturer`], q)}
          OR EXISTS (SELECT 1 FROM machine_interfaces i WHERE i.machine_id = m.id AND ${textSearch([sql`i.mac_address`], q)}))`,
      );
    }
    if (plan.after !== undefined)
      select = select.where(afterPosition(expression, "m.id", plan.direction, plan.after));
    return await select
      .orderBy(expression, plan.direction)
      .orderBy("m.id", plan.direction)
      .limit(plan.fetch)
      .execute();
  }

  async insert(machine: NewMachine, trx: Db): Promise<string> {
    const row = await trx
      .withTables<MachineTables>()
      .insertInto("machines")
      .values({
        org_id: machine.orgId,
        serial_number: machine.serialNumber,
        system_uuid: machine.systemUuid,
        manufacturer: machine.manufacturer,
        model: machine.model,
        hostname: machine.hostname,
        labels: machine.labels,
        inventory: machine.inventory,
        probes: machine.probes,
        inventory_digest: machine.inventoryDigest,
        boot_mac: machine.bootMac,
        agent_version: machine.agentVersion,
        expected_machine_id: machine.expectedMachineId,
        hardware_spec: machine.hardwareSpec,
        boot_image: null,
        state: machine.state,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    return row.id;
  }

  async updateEnrollment(
    id: string,
    changes: {
      serialNumber: string | null;
      systemUuid: string | null;
      manufacturer: string | null;
      model: string | null;
      inventory: HardwareInventory;
      probes: Record<string, unknown>;
      inventoryDigest: string;
      bootMac: string;
      agentVersion: string;
      expectedMachineId: string | null;
      hardwareSpec: HardwareSpec | null;
    },
    trx: Db,
  ): Promise<void> {
    await trx
      .withTables<MachineTables>()
      .updateTable("machines")
      .set({
        serial_number: changes.serialNumber,
        system_uuid: changes.systemUuid,
        manufacturer: changes.manufacturer,
        model: changes.model,
        inventory: changes.inventory,
        probes: changes.probes,
        inventory_digest: changes.inventoryDigest,
        boot_mac: changes.bootMac,
        agent_version: changes.agentVersion,
        expected_machine_id: changes.expectedMachineId,
        hardware_spec: changes.hardwareSpec,
        inventory_updated_at: sql`now()`,
        updated_at: sql`now()`,
      })
      .where("id", "=", id)
      .execute();
  }

  async updateAttributes(
    id: string,
    changes: { hostname?: string | null; labels?: Record<string, string>; bootImage?: BootImage | null },
  ): Promise<boolean> {
    const result = await this.db
      .updateTable("machines")
      .set({
        ...(changes.hostname !== undefined ? { hostname: changes.hostname } : {}),
        ...(changes.labels !== undefined ? { labels: changes.labels } : {}),
        ...(changes.bootImage !== undefined ? { boot_image: changes.bootImage } : {}),
        updated_at: sql`now()`,
      })
      .where("id", "=", id)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Makes the machine's interfaces exactly `interfaces`; a MAC recorded on another machine moves here. */
  async replaceInterfaces(machineId: string, interfaces: readonly InterfaceInput[], trx: Db): Promise<void> {
    const db = trx.withTables<MachineTables>();
    const macs = interfaces.map((nic) => nic.macAddress);
    let remove = db.deleteFrom("machine_interfaces").where("machine_id", "=", machineId);
    if (macs.length > 0) remove = remove.where("mac_address", "not in", macs);
    await remove.execute();
    if (interfaces.length === 0) return;
    await db
      .insertInto("machine_interfaces")
      .values(
        interfaces.map((nic) => ({
          mac_address: nic.macAddress,
          machine_id: machineId,
          name: nic.name,
          is_boot: nic.isBoot,
          speed_mbps: nic.speedMbps,
          driver: nic.driver,
        })),
      )
      .onConflict((oc) =>
        oc.column("mac_address").doUpdateSet((eb) => ({
          machine_id: eb.ref("excluded.machine_id"),
          name: eb.ref("excluded.name"),
          is_boot: eb.ref("excluded.is_boot"),
          speed_mbps: eb.ref("excluded.speed_mbps"),
          driver: eb.ref("excluded.driver"),
          updated_at: sql`now()`,
        })),
      )
      .execute();
  }

  /** Machines that currently own any of these MACs, other than `machineId`. */
  async ownersOfMacs(
    macs: readonly string[],
    machineId: string,
    trx: Db,
  ): Promise<Array<{ mac: string; machineId: string }>> {
    if (macs.length === 0) return [];
    return await trx
      .withTables<MachineTables>()
      .selectFrom("machine_interfaces")
      .select(["mac_address as mac", "machine_id as machineId"])
      .where("mac_address", "in", macs)
      .where("machine_id", "!=", machineId)
      .execute();
  }

  async insertEvent(
    machineId: string,
    kind: MachineEventKind,
    details: Record<string, unknown>,
    trx: Db,
  ): Promise<void> {
    await trx
      .withTables<MachineTables>()
      .insertInto("machine_events")
      .values({ machine_id: machineId, kind, details: details })
      .execute();
  }

  async events(machineId: string, limit: number, beforeId: number | undefined): Promise<MachineEventRow[]> {
    let query = this.db
      .selectFrom("machine_events")
      .selectAll()
      .where("machine_id", "=", machineId)
      .orderBy("id", "desc")
      .limit(limit);
    if (beforeId !== undefined) query = query.where("id", "<", beforeId);
    return await query.execute();
  }

  /** Whether a BMC is recorded for the machine (it can then be powered on again remotely). */
  async hasBmc(machineId: string, trx: Db): Promise<boolean> {
    const result = await sql<{ found: boolean }>`
      SELECT EXISTS (SELECT 1 FROM bmcs WHERE machine_id = ${machineId}) AS found
    `.execute(trx);
    return result.rows[0]?.found === true;
  }

  async interfaces(machineId: string): Promise<Selectable<MachineInterfacesTable>[]> {
    return await this.db
      .selectFrom("machine_interfaces")
      .selectAll()
      .where("machine_id", "=", machineId)
      .orderBy("mac_address")
      .execute();
  }
}
