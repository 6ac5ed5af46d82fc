import { type RawBuilder, sql } from "kysely";
import { afterPosition, sortValueText } from "../db/keyset.ts";
import type { ExpectedMachineSortField } from "./expected-machine-model.ts";
import type {
  BmcProtocol,
  ExpectedMachineRow,
  InventoryDb,
  Labels,
  RackRow,
  SpecProfileRow,
} from "./inventory-tables.ts";
import { labelsMatch } from "./labels.ts";
import { type ListPlan, textSearch } from "./listing.ts";
import type { HardwareSpec } from "./spec-profile-model.ts";

const SORT: Record<ExpectedMachineSortField, RawBuilder<unknown>> = {
  serial: sql`coalesce(expected_machines.serial_number, '')`,
  hostname: sql`coalesce(expected_machines.hostname, '')`,
  createdAt: sql`expected_machines.created_at`,
  updatedAt: sql`expected_machines.updated_at`,
};

/** Rows per INSERT statement: 14 parameters each, far below PostgreSQL's 65535 per statement. */
const INSERT_BATCH = 500;

export interface ExpectedMachineFilters {
  readonly rackId?: string | undefined;
  readonly specProfileId?: string | undefined;
  readonly label?: readonly string[] | undefined;
  readonly q?: string | undefined;
}

export interface ExpectedMachineValues {
  readonly serial: string | null;
  readonly bmcMac: string | null;
  readonly bmcAddress: string | null;
  readonly bmcProtocol: BmcProtocol | null;
  readonly bmcUsername: string | null;
  /** vault ciphertext of the BMC password; null exactly when bmcUsername is */
  readonly bmcCredentials: string | null;
  readonly specProfileId: string | null;
  readonly spec: HardwareSpec | null;
  readonly rackId: string | null;
  readonly slot: number | null;
  readonly hostname: string | null;
  readonly labels: Labels;
}

function columns(values: ExpectedMachineValues) {
  return {
    serial_number: values.serial,
    bmc_mac: values.bmcMac,
    bmc_address: values.bmcAddress,
    bmc_protocol: values.bmcProtocol,
    bmc_username: values.bmcUsername,
    bmc_credentials: values.bmcCredentials,
    hardware_spec_profile_id: values.specProfileId,
    spec: values.spec === null ? null : JSON.stringify(values.spec),
    rack_id: values.rackId,
    slot: values.slot,
    hostname: values.hostname,
    labels: JSON.stringify(values.labels),
  };
}

/** An expected machine with the spec it must meet: its inline spec, or its profile's. */
export interface ExpectedMachineMatch {
  readonly row: ExpectedMachineRow;
  readonly spec: HardwareSpec | null;
  readonly specProfileName: string | null;
}

/** SQL for expected machines. */
export class ExpectedMachineStore {
  constructor(private readonly db: InventoryDb) {}

  async transaction<T>(work: (store: ExpectedMachineStore) => Promise<T>): Promise<T> {
    return await this.db.transaction().execute(async (trx) => await work(new ExpectedMachineStore(trx)));
  }

  async list(
    orgId: string,
    filters: ExpectedMachineFilters,
    plan: ListPlan<ExpectedMachineSortField>,
  ): Promise<Array<ExpectedMachineRow & { sort_value: string }>> {
    const expression = SORT[plan.field];
    let query = this.db
      .selectFrom("expected_machines")
      .selectAll()
      .select(sortValueText(expression).as("sort_value"))
      .where("org_id", "=", orgId);
    if (filters.rackId !== undefined) query = query.where("rack_id", "=", filters.rackId);
    if (filters.specProfileId !== undefined)
      query = query.where("hardware_spec_profile_id", "=", filters.specProfileId);
    if (filters.label !== undefined && filters.label.length > 0)
      query = query.where(labelsMatch(sql`expected_machines.labels`, filters.label));
    if (filters.q !== undefined)
      query = query.where(
        textSearch(
          [
            sql`expected_machines.serial_number`,
            sql`expected_machines.bmc_mac`,
            sql`expected_machines.hostname`,
          ],
          filters.q,
        ),
      );
    if (plan.after !== undefined)
      query = query.where(afterPosition(expression, "expected_machines.id", plan.direction, plan.after));
    return await query
      .orderBy(expression, plan.direction)
      .orderBy("expected_machines.id", plan.direction)
      .limit(plan.fetch)
      .execute();
  }

  async find(
    orgId: string,
    id: string,
    options: { forUpdate?: boolean } = {},
  ): Promise<ExpectedMachineRow | undefined> {
    const query = this.db
      .selectFrom("expected_machines")
      .selectAll()
      .where("org_id", "=", orgId)
      .where("id", "=", id);
    return await (options.forUpdate === true ? query.forUpdate() : query).executeTakeFirst();
  }

  /** Rows with any of these serial numbers or BMC MAC addresses, in any org, locked for the import. */
  async lockBySerialsOrMacs(
    serials: readonly string[],
    macs: readonly string[],
  ): Promise<ExpectedMachineRow[]> {
    if (serials.length === 0 && macs.length === 0) return [];
    return await this.db
      .selectFrom("expected_machines")
      .selectAll()
      .where((eb) =>
        eb.or([
          ...(serials.length > 0 ? [eb("serial_number", "in", [...serials])] : []),
          ...(macs.length > 0 ? [eb("bmc_mac", "in", [...macs])] : []),
        ]),
      )
      .forUpdate()
      .execute();
  }

  /**
   * The expected machine an enrolling machine is, by serial number first, else by BMC MAC address, in
   * any org (the machine does not know its org yet), with the spec it must meet.
   */
  async findForEnrollment(identity: {
    serial?: string | undefined;
    bmcMac?: string | undefined;
  }): Promise<ExpectedMachineMatch | undefined> {
    const bySerial =
      identity.serial === undefined
        ? undefined
        : await this.db
            .selectFrom("expected_machines")
            .selectAll()
            .where("serial_number", "=", identity.serial)
            .executeTakeFirst();
    const row =
      bySerial ??
      (identity.bmcMac === undefined
        ? undefined
        : await this.db
            .selectFrom("expected_machines")
            .selectAll()
            .where("bmc_mac", "=", identity.bmcMac)
            .executeTakeFirst());
    if (row === undefined) return undefined;
    if (row.hardware_spec_profile_id === null)
      return { row, spec: row.spec as HardwareSpec | null, specProfileName: null };
    const profile = await this.db
      .selectFrom("hardware_spec_profiles")
      .select(["name", "spec"])
      .where("id", "=", row.hardware_spec_profile_id)
      .executeTakeFirst();
    return {
      row,
      spec: (profile?.spec as HardwareSpec | undefined) ?? null,
      specProfileName: profile?.name ?? null,
    };
  }

  async racksByName(orgId: string, names: readonly string[]): Promise<RackRow[]> {
    if (names.length === 0) return [];
    return await this.db
      .selectFrom("racks")
      .selectAll()
      .where("org_id", "=", orgId)
      .where("name", "in", [...names])
      .execute();
  }

  async profilesByName(orgId: string, names: readonly string[]): Promise<SpecProfileRow[]> {
    if (names.length === 0) return [];
    return await this.db
      .selectFrom("hardware_spec_profiles")
      .selectAll()
      .where("org_id", "=", orgId)
      .where("name", "in", [...names])
      .execute();
  }

  async rackExists(orgId: string, rackId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("racks")
      .select("id")
      .where("org_id", "=", orgId)
      .where("id", "=", rackId)
      .executeTakeFirst();
    return row !== undefined;
  }

  async profileExists(orgId: string, profileId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("hardware_spec_profiles")
      .select("id")
      .where("org_id", "=", orgId)
      .where("id", "=", profileId)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** `id` is chosen by the caller, because the password's vault context names it. */
  async insert(orgId: string, id: string, values: ExpectedMachineValues): Promise<ExpectedMachineRow> {
    return await this.db
      .insertInto("expected_machines")
      .values({ id, org_id: orgId, ...columns(values) })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** Inserts many rows in a few statements (an import of thousands would otherwise be thousands of round trips). */
  async insertMany(
    orgId: string,
    rows: ReadonlyArray<{ id: string; values: ExpectedMachineValues }>,
  ): Promise<void> {
    for (let start = 0; start < rows.length; start += INSERT_BATCH) {
      await this.db
        .insertInto("expected_machines")
        .values(
          rows
            .slice(start, start + INSERT_BATCH)
            .map(({ id, values }) => ({ id, org_id: orgId, ...columns(values) })),
        )
        .execute();
    }
  }

  async update(
    orgId: string,
    id: string,
    values: ExpectedMachineValues,
  ): Promise<ExpectedMachineRow | undefined> {
    return await this.db
      .updateTable("expected_machines")
      .set({ ...columns(values), updated_at: sql`now()` })
      .where("org_id", "=", orgId)
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirst();
  }

  async delete(orgId: string, id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom("expected_machines")
      .where("org_id", "=", orgId)
      .where("id", "=", id)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
