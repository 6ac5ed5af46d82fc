import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { type CredentialsVault, VaultError } from "../bmc/vault.ts";
import { ConflictError, NotFoundError, ValidationError } from "../errors.ts";
import type { Page } from "../http/pagination.ts";
import type { Logger } from "../observability/logger.ts";
import { type ConstraintErrors, pgErrorOf, translateConstraintErrors } from "./db-errors.ts";
import {
  type ImportRow,
  type RowError,
  rowsFromCsv,
  rowsFromJson,
  validateImportRows,
} from "./expected-machine-import.ts";
import {
  EXPECTED_MACHINE_SORT_FIELDS,
  type ExpectedMachine,
  type ExpectedMachineCreate,
  type ExpectedMachineListQuery,
  type ExpectedMachineUpdate,
  expectedMachinePasswordContext,
  type ImportResult,
} from "./expected-machine-model.ts";
import type {
  ExpectedMachineMatch,
  ExpectedMachineStore,
  ExpectedMachineValues,
} from "./expected-machine-store.ts";
import type { ExpectedMachineRow } from "./inventory-tables.ts";
import { keysetPage, planList } from "./listing.ts";
import { canonicalMac } from "./mac-address.ts";
import type { OrgScope } from "./org-scope.ts";
import { checkHardwareSpec, type HardwareSpec } from "./spec-profile-model.ts";

/** Problems reported per row; nothing was imported. The route answers with all of them. */
export class ImportRejectedError extends ValidationError {
  constructor(
    readonly errors: readonly RowError[],
    total: number,
  ) {
    super(
      "expected_machine.import_rejected",
      `${errors[0]?.message ?? "is invalid"} (${total} problem${total === 1 ? "" : "s"} in the file; nothing was imported)`,
      errors[0]?.field ?? "body",
      { errorCount: total },
    );
  }
}

/** At most this many row errors go into one answer; the count says how many there were. */
const MAX_REPORTED_ERRORS = 200;
const IMPORT_ATTEMPTS = 3;

export type ImportInput =
  | { readonly format: "csv"; readonly text: string }
  | { readonly format: "json"; readonly rows: readonly unknown[] };

/** Decrypted BMC access of an expected machine, for enrollment to register the BMC; never for HTTP. */
export interface ExpectedBmcCredentials {
  readonly username: string;
  readonly password: string;
}

/** Machines announced before they boot: CRUD, bulk import, and the lookups enrollment matches with. */
export class ExpectedMachineService {
  constructor(
    private readonly orgs: OrgScope,
    private readonly store: ExpectedMachineStore,
    private readonly vault: CredentialsVault,
    private readonly logger: Logger,
  ) {}

  async list(org: string, query: ExpectedMachineListQuery): Promise<Page<ExpectedMachine>> {
    const orgId = await this.orgs.idOf(org);
    const plan = planList(query, EXPECTED_MACHINE_SORT_FIELDS, { field: "createdAt", direction: "asc" });
    const rows = await this.store.list(
      orgId,
      { rackId: query.rackId, specProfileId: query.specProfileId, label: query.label, q: query.q },
      plan,
    );
    return keysetPage(rows, plan, (row) => row.id, toExpectedMachine);
  }

  async get(org: string, id: string): Promise<ExpectedMachine> {
    const row = await this.store.find(await this.orgs.idOf(org), id);
    if (row === undefined) throw expectedMachineNotFound(id);
    return toExpectedMachine(row);
  }

  async create(org: string, input: ExpectedMachineCreate): Promise<ExpectedMachine> {
    const orgId = await this.orgs.idOf(org);
    const id = randomUUID();
    const values: ExpectedMachineValues = {
      serial: input.serial ?? null,
      bmcMac: input.bmcMac === undefined ? null : canonicalMac(input.bmcMac),
      bmcAddress: input.bmcAddress ?? null,
      bmcProtocol: input.bmcProtocol ?? null,
      bmcUsername: input.bmcCredentials?.username ?? null,
      bmcCredentials:
        input.bmcCredentials === undefined
          ? null
          : this.vault.encrypt(input.bmcCredentials.password, expectedMachinePasswordContext(id)),
      specProfileId: input.specProfileId ?? null,
      spec: input.spec ?? null,
      rackId: input.rackId ?? null,
      slot: input.slot ?? null,
      hostname: input.hostname ?? null,
      labels: input.labels ?? {},
    };
    await this.check(this.store, orgId, values, undefined);
    const row = await translateConstraintErrors(
      () => this.store.insert(orgId, id, values),
      constraintErrors(values),
    );
    return toExpectedMachine(row);
  }

  async update(org: string, id: string, changes: ExpectedMachineUpdate): Promise<ExpectedMachine> {
    const orgId = await this.orgs.idOf(org);
    const row = await this.store.transaction(async (store) => {
      const current = await store.find(orgId, id, { forUpdate: true });
      if (current === undefined) throw expectedMachineNotFound(id);
      const pick = <T>(given: T | undefined, stored: T): T => (given !== undefined ? given : stored);
      const credentials = changes.bmcCredentials;
      // Stored credentials go only to the BMC they were entered for: moving it needs them again.
      const moved =
        (changes.bmcAddress !== undefined && changes.bmcAddress !== current.bmc_address) ||
        (changes.bmcProtocol !== undefined && changes.bmcProtocol !== current.bmc_protocol);
      if (moved && credentials === undefined && current.bmc_credentials !== null) {
        throw new ValidationError(
          "expected_machine.credentials_required",
          "are required again (or null to drop them) when the BMC address or protocol changes",
          "body.bmcCredentials",
        );
      }
      const values: ExpectedMachineValues = {
        serial: pick(changes.serial, current.serial_number),
        bmcMac:
          changes.bmcMac === undefined
            ? current.bmc_mac
            : changes.bmcMac === null
              ? null
              : canonicalMac(changes.bmcMac),
        bmcAddress: pick(changes.bmcAddress, current.bmc_address),
        bmcProtocol: pick(changes.bmcProtocol, current.bmc_protocol),
        bmcUsername: credentials === undefined ? current.bmc_username : (credentials?.username ?? null),
        bmcCredentials:
          credentials === undefined
            ? current.bmc_credentials
            : credentials === null
              ? null
              : this.vault.encrypt(credentials.password, expectedMachinePasswordContext(id)),
        specProfileId: pick(changes.specProfileId, current.hardware_spec_profile_id),
        spec: pick(changes.spec, current.spec as HardwareSpec | null),
        rackId: pick(changes.rackId, current.rack_id),
        slot: pick(changes.slot, current.slot),
        hostname: pick(changes.hostname, current.hostname),
        labels: changes.labels ?? current.labels,
      };
      await this.check(store, orgId, values, current);
      return await translateConstraintErrors(() => store.update(orgId, id, values), constraintErrors(values));
    });
    if (row === undefined) throw expectedMachineNotFound(id);
    return toExpectedMachine(row);
  }

  async delete(org: string, id: string): Promise<void> {
    if (!(await this.store.delete(await this.orgs.idOf(org), id))) throw expectedMachineNotFound(id);
  }

  /**
   * Imports a file of expected machines: every row is checked, and either all are written (in one
   * transaction) or none. Rows are matched to stored expected machines by serial number (else by BMC MAC
   * address for rows without one) and replace them; a row equal to what is stored changes nothing, so
   * importing the same file twice is harmless.
   */
  async import(org: string, input: ImportInput): Promise<ImportResult> {
    const orgId = await this.orgs.idOf(org);
    const raw = input.format === "csv" ? rowsFromCsv(input.text) : rowsFromJson(input.rows);
    if (!raw.ok) throw rejected(raw.errors);
    const valid = validateImportRows(raw.value);
    if (!valid.ok) throw rejected(valid.errors);
    // Two imports of the same new machines race on the unique serial: the loser retries, and then finds
    // the winner's rows and leaves them as they are.
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.store.transaction(
          async (store) => await this.applyImport(store, orgId, valid.value),
        );
        this.logger.info(
          { org, created: result.created, updated: result.updated, unchanged: result.unchanged },
          "expected machines imported",
        );
        return result;
      } catch (error) {
        const fields = pgErrorOf(error);
        if (fields?.code !== "23505" || attempt >= IMPORT_ATTEMPTS) {
          if (fields?.code === "23505")
            throw new ConflictError(
              "expected_machine.import_conflict",
              "another change to the same machines won; retry the import",
            );
          throw error;
        }
      }
    }
  }

  /** The expected machine an enrolling machine is (serial first, then BMC MAC), with its spec. */
  async findForEnrollment(identity: {
    serial?: string | undefined;
    bmcMac?: string | undefined;
  }): Promise<ExpectedMachineMatch | undefined> {
    return await this.store.findForEnrollment(identity);
  }

  /** The decrypted BMC username and password of an expected machine, or null when none are stored. */
  bmcCredentialsOf(row: ExpectedMachineRow): ExpectedBmcCredentials | null {
    if (row.bmc_username === null || row.bmc_credentials === null) return null;
    return {
      username: row.bmc_username,
      password: this.vault.decrypt(row.bmc_credentials, expectedMachinePasswordContext(row.id)),
    };
  }

  private async applyImport(
    store: ExpectedMachineStore,
    orgId: string,
    rows: readonly ImportRow[],
  ): Promise<ImportResult> {
    const errors: RowError[] = [];
    const fail = (row: ImportRow, field: string, message: string): void => {
      errors.push({ field: `rows[${row.index}].${field}`, message });
    };
    const names = <K extends "rack" | "specProfile">(key: K): string[] => [
      ...new Set(rows.flatMap((row) => (row[key] === null ? [] : [row[key] as string]))),
    ];
    const racks = new Map(
      (await store.racksByName(orgId, names("rack"))).map((rack) => [rack.name, rack.id]),
    );
    const profiles = new Map(
      (await store.profilesByName(orgId, names("specProfile"))).map((profile) => [profile.name, profile.id]),
    );
    const existing = await store.lockBySerialsOrMacs(
      rows.flatMap((row) => (row.serial === null ? [] : [row.serial])),
      rows.flatMap((row) => (row.bmcMac === null ? [] : [row.bmcMac])),
    );
    const bySerial = new Map(
      existing.flatMap((row) => (row.serial_number === null ? [] : [[row.serial_number, row]])),
    );
    const byMac = new Map(existing.flatMap((row) => (row.bmc_mac === null ? [] : [[row.bmc_mac, row]])));
    const claimedBy = new Map<string, number>();

    const plans: Array<{
      row: ImportRow;
      target: ExpectedMachineRow | undefined;
      rackId: string | null;
      profileId: string | null;
    }> = [];
    for (const row of rows) {
      const before = errors.length;
      const rackId = row.rack === null ? null : (racks.get(row.rack) ?? null);
      if (row.rack !== null && rackId === null) fail(row, "rack", `no rack named ${row.rack} in this org`);
      const profileId = row.specProfile === null ? null : (profiles.get(row.specProfile) ?? null);
      if (row.specProfile !== null && profileId === null)
        fail(row, "specProfile", `no hardware spec profile named ${row.specProfile} in this org`);

      const macOwner = row.bmcMac === null ? undefined : byMac.get(row.bmcMac);
      let target = row.serial === null ? macOwner : bySerial.get(row.serial);
      // A machine first announced by its BMC MAC alone gets its serial number from a later file.
      if (
        target === undefined &&
        row.serial !== null &&
        macOwner !== undefined &&
        macOwner.serial_number === null
      )
        target = macOwner;
      if (target !== undefined && target.org_id !== orgId) {
        fail(row, row.serial === null ? "bmcMac" : "serial", "is already registered");
      } else if (macOwner !== undefined && macOwner.id !== target?.id) {
        fail(
          row,
          "bmcMac",
          `is the BMC of another expected machine (serial ${macOwner.serial_number ?? "none"})`,
        );
      } else if (target !== undefined) {
        const first = claimedBy.get(target.id);
        if (first !== undefined)
          fail(
            row,
            row.serial === null ? "bmcMac" : "serial",
            `is the same expected machine as rows[${first}]`,
          );
        else claimedBy.set(target.id, row.index);
      }
      if (errors.length === before) plans.push({ row, target, rackId, profileId });
    }
    if (errors.length > 0) throw rejected(errors);

    const result: ImportResult = { created: 0, updated: 0, unchanged: 0, rows: [] };
    const inserts: Array<{ id: string; values: ExpectedMachineValues }> = [];
    for (const { row, target, rackId, profileId } of plans) {
      const id = target?.id ?? randomUUID();
      const values: ExpectedMachineValues = {
        serial: row.serial,
        bmcMac: row.bmcMac,
        bmcAddress: row.bmcAddress,
        bmcProtocol: row.bmcProtocol,
        bmcUsername: row.bmcUsername,
        bmcCredentials: this.sealedPassword(id, row.bmcPassword, target?.bmc_credentials ?? null),
        specProfileId: profileId,
        spec: row.spec,
        rackId,
        slot: row.slot,
        hostname: row.hostname,
        labels: row.labels,
      };
      let outcome: "created" | "updated" | "unchanged";
      if (target === undefined) {
        inserts.push({ id, values });
        outcome = "created";
      } else if (sameAsStored(target, values)) {
        outcome = "unchanged";
      } else {
        await store.update(orgId, id, values);
        outcome = "updated";
      }
      result[outcome]++;
      result.rows.push({ index: row.index, id, outcome });
    }
    await store.insertMany(orgId, inserts);
    return result;
  }

  /** The stored ciphertext when it already seals this password (so an unchanged row stays unchanged). */
  private sealedPassword(id: string, password: string | null, stored: string | null): string | null {
    if (password === null) return null;
    const context = expectedMachinePasswordContext(id);
    if (stored !== null) {
      try {
        if (this.vault.decrypt(stored, context) === password) return stored;
      } catch (error) {
        if (!(error instanceof VaultError)) throw error;
      }
    }
    return this.vault.encrypt(password, context);
  }

  private async check(
    store: ExpectedMachineStore,
    orgId: string,
    values: ExpectedMachineValues,
    current: ExpectedMachineRow | undefined,
  ): Promise<void> {
    if (values.serial === null && values.bmcMac === null)
      throw new ValidationError(
        "expected_machine.unidentified",
        "an expected machine needs a serial or a bmcMac",
        "body.serial",
      );
    if (values.spec !== null && values.specProfileId !== null)
      throw new ValidationError(
        "expected_machine.spec_and_profile",
        "give either an inline spec or a specProfileId, not both (set the other to null)",
        "body.spec",
      );
    if (values.spec !== null) checkHardwareSpec(values.spec, "body.spec");
    if (
      values.rackId !== null &&
      values.rackId !== current?.rack_id &&
      !(await store.rackExists(orgId, values.rackId))
    )
      throw unknownRack(values.rackId);
    if (
      values.specProfileId !== null &&
      values.specProfileId !== current?.hardware_spec_profile_id &&
      !(await store.profileExists(orgId, values.specProfileId))
    )
      throw unknownProfile(values.specProfileId);
  }
}

function sameAsStored(row: ExpectedMachineRow, values: ExpectedMachineValues): boolean {
  return (
    row.serial_number === values.serial &&
    row.bmc_mac === values.bmcMac &&
    row.bmc_address === values.bmcAddress &&
    row.bmc_protocol === values.bmcProtocol &&
    row.bmc_username === values.bmcUsername &&
    row.bmc_credentials === values.bmcCredentials &&
    row.hardware_spec_profile_id === values.specProfileId &&
    isDeepStrictEqual(row.spec, values.spec) &&
    row.rack_id === values.rackId &&
    row.slot === values.slot &&
    row.hostname === values.hostname &&
    isDeepStrictEqual(row.labels, values.labels)
  );
}

function rejected(errors: readonly RowError[]): ImportRejectedError {
  return new ImportRejectedError(errors.slice(0, MAX_REPORTED_ERRORS), errors.length);
}

function constraintErrors(values: ExpectedMachineValues): ConstraintErrors {
  return {
    expected_machines_serial_number_key: () =>
      new ConflictError(
        "expected_machine.serial_taken",
        `an expected machine with serial ${values.serial ?? "?"} already exists`,
        {
          field: "serial",
          serial: values.serial,
        },
      ),
    expected_machines_bmc_mac_key: () =>
      new ConflictError(
        "expected_machine.bmc_mac_taken",
        `an expected machine with BMC MAC address ${values.bmcMac ?? "?"} already exists`,
        { field: "bmcMac", bmcMac: values.bmcMac },
      ),
    expected_machines_rack_id_fkey: () => unknownRack(values.rackId ?? "?"),
    expected_machines_hardware_spec_profile_id_fkey: () => unknownProfile(values.specProfileId ?? "?"),
  };
}

function unknownRack(rackId: string): ValidationError {
  return new ValidationError("expected_machine.unknown_rack", `no rack ${rackId} in this org`, "body.rackId");
}

function unknownProfile(profileId: string): ValidationError {
  return new ValidationError(
    "expected_machine.unknown_spec_profile",
    `no hardware spec profile ${profileId} in this org`,
    "body.specProfileId",
  );
}

function expectedMachineNotFound(id: string): NotFoundError {
  return new NotFoundError("expected_machine.not_found", `no expected machine ${id} in this org`);
}

/** The API view: BMC username and whether a password is stored, never the password or its ciphertext. */
export function toExpectedMachine(row: ExpectedMachineRow): ExpectedMachine {
  return {
    id: row.id,
    serial: row.serial_number,
    bmcMac: row.bmc_mac,
    bmcAddress: row.bmc_address,
    bmcProtocol: row.bmc_protocol,
    bmcUsername: row.bmc_username,
    hasBmcCredentials: row.bmc_credentials !== null,
    specProfileId: row.hardware_spec_profile_id,
    spec: row.spec as HardwareSpec | null,
    rackId: row.rack_id,
    slot: row.slot,
    hostname: row.hostname,
    labels: row.labels,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
