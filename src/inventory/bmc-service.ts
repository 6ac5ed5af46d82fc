import { X509Certificate } from "node:crypto";
import type { BmcEndpoint } from "../bmc/driver.ts";
import { normalizeFingerprint } from "../bmc/redfish/tls.ts";
import type { CredentialsVault } from "../bmc/vault.ts";
import { ConflictError, NotFoundError, ValidationError } from "../errors.ts";
import type { Page } from "../http/pagination.ts";
import {
  BMC_SORT_FIELDS,
  type Bmc,
  type BmcCreate,
  type BmcListQuery,
  type BmcTlsPolicyInput,
  type BmcUpdate,
  bmcPasswordContext,
} from "./bmc-model.ts";
import type { BmcStore, BmcValues } from "./bmc-store.ts";
import { type ConstraintErrors, translateConstraintErrors } from "./db-errors.ts";
import type { BmcRow, StoredTlsPolicy } from "./inventory-tables.ts";
import { keysetPage, planList } from "./listing.ts";
import { canonicalMac } from "./mac-address.ts";
import type { OrgScope } from "./org-scope.ts";

/**
 * BMCs of a provider org, keyed by MAC address. The password is sealed by the credentials vault before
 * it is stored and leaves this service only as a driver endpoint (`endpointOf`), never in an API answer.
 */
export class BmcService {
  constructor(
    private readonly orgs: OrgScope,
    private readonly store: BmcStore,
    private readonly vault: CredentialsVault,
  ) {}

  async list(org: string, query: BmcListQuery): Promise<Page<Bmc>> {
    const orgId = await this.orgs.idOf(org);
    const plan = planList(query, BMC_SORT_FIELDS, { field: "macAddress", direction: "asc" });
    const rows = await this.store.list(
      orgId,
      { componentId: query.componentId, machineId: query.machineId, protocol: query.protocol, q: query.q },
      plan,
    );
    return keysetPage(rows, plan, (row) => row.mac_address, toBmc);
  }

  async get(org: string, macInput: string): Promise<Bmc> {
    const mac = canonicalMac(macInput);
    const row = await this.store.find(await this.orgs.idOf(org), mac);
    if (row === undefined) throw bmcNotFound(mac);
    return toBmc(row);
  }

  async create(org: string, input: BmcCreate): Promise<Bmc> {
    const orgId = await this.orgs.idOf(org);
    const mac = canonicalMac(input.macAddress);
    const values: BmcValues = {
      componentId: input.componentId ?? null,
      machineId: input.machineId ?? null,
      address: input.address,
      port: input.port ?? null,
      protocol: input.protocol,
      tls: storedTls(input.tls ?? { mode: "verify" }),
      username: input.credentials.username,
      credentials: this.vault.encrypt(input.credentials.password, bmcPasswordContext(mac)),
    };
    await this.checkLinks(this.store, orgId, values, undefined);
    const row = await translateConstraintErrors(
      () => this.store.insert(orgId, mac, values),
      constraintErrors(mac, values),
    );
    return toBmc(row);
  }

  async update(org: string, macInput: string, changes: BmcUpdate): Promise<Bmc> {
    const orgId = await this.orgs.idOf(org);
    const mac = canonicalMac(macInput);
    const row = await this.store.transaction(async (store) => {
      const current = await store.find(orgId, mac, { forUpdate: true });
      if (current === undefined) throw bmcNotFound(mac);
      assertCredentialsFollowTheEndpoint(current, changes);
      const values: BmcValues = {
        componentId: changes.componentId !== undefined ? changes.componentId : current.component_id,
        machineId: changes.machineId !== undefined ? changes.machineId : current.machine_id,
        address: changes.address ?? current.address,
        port: changes.port !== undefined ? changes.port : current.port,
        protocol: changes.protocol ?? current.protocol,
        tls: changes.tls !== undefined ? storedTls(changes.tls) : current.tls,
        username: changes.credentials?.username ?? current.username,
        credentials:
          changes.credentials === undefined
            ? current.credentials
            : this.vault.encrypt(changes.credentials.password, bmcPasswordContext(mac)),
      };
      await this.checkLinks(store, orgId, values, current);
      return await translateConstraintErrors(
        () => store.update(orgId, mac, values),
        constraintErrors(mac, values),
      );
    });
    if (row === undefined) throw bmcNotFound(mac);
    return toBmc(row);
  }

  async delete(org: string, macInput: string): Promise<void> {
    const mac = canonicalMac(macInput);
    if (!(await this.store.delete(await this.orgs.idOf(org), mac))) throw bmcNotFound(mac);
  }

  /** What a BMC driver needs to reach the BMC, with the password decrypted; for controllers, never for HTTP. */
  endpointOf(row: BmcRow): BmcEndpoint {
    return {
      address: row.address,
      ...(row.port !== null ? { port: row.port } : {}),
      username: row.username,
      password: this.vault.decrypt(row.credentials, bmcPasswordContext(row.mac_address)),
      tls: row.tls,
    };
  }

  private async checkLinks(
    store: BmcStore,
    orgId: string,
    values: BmcValues,
    current: BmcRow | undefined,
  ): Promise<void> {
    if (
      values.componentId !== null &&
      values.componentId !== current?.component_id &&
      !(await store.liveComponentExists(orgId, values.componentId))
    )
      throw unknownComponent(values.componentId);
    if (
      values.machineId !== null &&
      values.machineId !== current?.machine_id &&
      !(await store.machineExists(orgId, values.machineId))
    )
      throw unknownMachine(values.machineId);
  }
}

/** Checks a CA and normalises a pinned fingerprint to the 64 lower-case hex digits the driver compares. */
export function storedTls(policy: BmcTlsPolicyInput, field = "body.tls"): StoredTlsPolicy {
  switch (policy.mode) {
    case "verify":
      if (policy.ca === undefined) return { mode: "verify" };
      try {
        new X509Certificate(policy.ca);
      } catch {
        throw new ValidationError("bmc.invalid_ca", "is not a PEM certificate", `${field}.ca`);
      }
      return { mode: "verify", ca: policy.ca };
    case "pinned": {
      const fingerprint = normalizeFingerprint(policy.sha256Fingerprint);
      if (!/^[0-9a-f]{64}$/.test(fingerprint)) {
        throw new ValidationError(
          "bmc.invalid_fingerprint",
          "is not a SHA-256 fingerprint (64 hex digits, colons allowed)",
          `${field}.sha256Fingerprint`,
        );
      }
      return { mode: "pinned", sha256Fingerprint: fingerprint };
    }
    case "insecure-allow-self-signed":
      return { mode: "insecure-allow-self-signed" };
  }
}

/**
 * Stored credentials go only where they were entered for: pointing a BMC at another address, port or TLS
 * policy needs the credentials again, or a caller could send the sealed password to a host of its choice.
 */
function assertCredentialsFollowTheEndpoint(current: BmcRow, changes: BmcUpdate): void {
  if (changes.credentials !== undefined) return;
  const moved =
    (changes.address !== undefined && changes.address !== current.address) ||
    (changes.port !== undefined && changes.port !== current.port) ||
    (changes.tls !== undefined && JSON.stringify(storedTls(changes.tls)) !== JSON.stringify(current.tls));
  if (moved) {
    throw new ValidationError(
      "bmc.credentials_required",
      "are required again when the address, port or TLS policy changes",
      "body.credentials",
    );
  }
}

function constraintErrors(mac: string, values: BmcValues): ConstraintErrors {
  return {
    bmcs_pkey: () =>
      new ConflictError("bmc.exists", `a BMC with MAC address ${mac} is already registered`, {
        field: "macAddress",
        macAddress: mac,
      }),
    bmcs_machine_id_key: () =>
      new ConflictError("bmc.machine_taken", `machine ${values.machineId ?? "?"} already has a BMC`, {
        field: "machineId",
        machineId: values.machineId,
      }),
    bmcs_component_id_fkey: () => unknownComponent(values.componentId ?? "?"),
    bmcs_machine_id_fkey: () => unknownMachine(values.machineId ?? "?"),
  };
}

function unknownComponent(componentId: string): ValidationError {
  return new ValidationError(
    "bmc.unknown_component",
    `no live component ${componentId} in this org`,
    "body.componentId",
  );
}

function unknownMachine(machineId: string): ValidationError {
  return new ValidationError("bmc.unknown_machine", `no machine ${machineId} in this org`, "body.machineId");
}

function bmcNotFound(mac: string): NotFoundError {
  return new NotFoundError("bmc.not_found", `no BMC with MAC address ${mac} in this org`);
}

/** The API view: the username and that credentials exist, never the password or its ciphertext. */
export function toBmc(row: BmcRow): Bmc {
  return {
    macAddress: row.mac_address,
    componentId: row.component_id,
    machineId: row.machine_id,
    address: row.address,
    port: row.port,
    protocol: row.protocol,
    tls: row.tls,
    username: row.username,
    hasCredentials: row.credentials !== "",
    powerState: row.power_state,
    lastContactAt: row.last_contact_at === null ? null : row.last_contact_at.toISOString(),
    lastError: row.last_error,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
