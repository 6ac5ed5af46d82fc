/**
 * Kysely types of the inventory tables this part of src/inventory owns (migration 0003): sites, racks,
 * components, BMCs, hardware spec profiles and expected machines, plus the few columns of `orgs` and
 * `machines` they are scoped by or refer to.
 */
import type { ColumnType, Generated, Kysely, Selectable } from "kysely";
import type { Db } from "../db/database.ts";

/** jsonb read as parsed JSON, written as its JSON text. */
type Json<T> = ColumnType<T, string, string>;
type NullableJson<T> = ColumnType<T | null, string | null, string | null>;

export type Labels = Record<string, string>;

export const RACK_STATUSES = ["new", "ingesting", "ingested"] as const;
export type RackStatus = (typeof RACK_STATUSES)[number];

export const COMPONENT_TYPES = ["compute", "nvswitch", "powershelf", "torswitch", "cdu"] as const;
export type ComponentType = (typeof COMPONENT_TYPES)[number];

export const BMC_PROTOCOLS = ["redfish", "ipmi"] as const;
export type BmcProtocol = (typeof BMC_PROTOCOLS)[number];

interface OrgsTable {
  id: Generated<string>;
  name: string;
}

interface MachinesTable {
  id: Generated<string>;
  org_id: string;
}

interface SitesTable {
  id: Generated<string>;
  org_id: string;
  name: string;
  description: Generated<string>;
  location: Generated<string>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

interface RacksTable {
  id: Generated<string>;
  org_id: string;
  site_id: string | null;
  name: string;
  manufacturer: string | null;
  serial_number: string | null;
  model: string | null;
  location: Generated<string>;
  status: Generated<RackStatus>;
  labels: Json<Labels>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

interface ComponentsTable {
  id: Generated<string>;
  org_id: string;
  rack_id: string | null;
  type: ComponentType;
  name: string | null;
  manufacturer: string;
  model: string | null;
  serial_number: string;
  external_id: string | null;
  slot: number | null;
  tray_index: number | null;
  firmware_version: string | null;
  machine_id: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  deleted_at: Date | null;
}

interface BmcsTable {
  mac_address: string;
  org_id: string;
  component_id: string | null;
  machine_id: string | null;
  address: string;
  port: number | null;
  protocol: BmcProtocol;
  username: string;
  /** vault ciphertext, context `bmc:<mac>:password` */
  credentials: string;
  tls: Json<StoredTlsPolicy>;
  power_state: string | null;
  last_contact_at: Date | null;
  last_error: string | null;
  oob_inventory: NullableJson<unknown>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** The TLS policy as stored in `bmcs.tls` (the same shape as the driver's BmcTlsPolicy). */
export type StoredTlsPolicy =
  | { mode: "verify"; ca?: string }
  | { mode: "pinned"; sha256Fingerprint: string }
  | { mode: "insecure-allow-self-signed" };

interface HardwareSpecProfilesTable {
  id: Generated<string>;
  org_id: string;
  name: string;
  description: Generated<string>;
  spec: Json<Record<string, unknown>>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

interface ExpectedMachinesTable {
  id: Generated<string>;
  org_id: string;
  serial_number: string | null;
  bmc_mac: string | null;
  bmc_address: string | null;
  bmc_protocol: BmcProtocol | null;
  bmc_username: string | null;
  /** vault ciphertext, context `expected-machine:<id>:bmc-password` */
  bmc_credentials: string | null;
  hardware_spec_profile_id: string | null;
  spec: NullableJson<Record<string, unknown>>;
  rack_id: string | null;
  slot: number | null;
  hostname: string | null;
  labels: Json<Labels>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export type InventoryTables = {
  orgs: OrgsTable;
  machines: MachinesTable;
  sites: SitesTable;
  racks: RacksTable;
  components: ComponentsTable;
  bmcs: BmcsTable;
  hardware_spec_profiles: HardwareSpecProfilesTable;
  expected_machines: ExpectedMachinesTable;
};

export type InventoryDb = Kysely<InventoryTables>;

export function inventoryDb(db: Db): InventoryDb {
  return db.withTables<InventoryTables>();
}

export type SiteRow = Selectable<SitesTable>;
export type RackRow = Selectable<RacksTable>;
export type ComponentRow = Selectable<ComponentsTable>;
export type BmcRow = Selectable<BmcsTable>;
export type SpecProfileRow = Selectable<HardwareSpecProfilesTable>;
export type ExpectedMachineRow = Selectable<ExpectedMachinesTable>;
