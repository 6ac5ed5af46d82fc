import { isDeepStrictEqual } from "node:util";
import { sql } from "kysely";
import type { BmcConnections } from "../bmc/connections.ts";
import type { OutOfBandInventory } from "../bmc/driver.ts";
import type { BmcDriverProtocol, BmcTarget } from "../bmc/driver-factory.ts";
import { withBmcFailures } from "../bmc/failures.ts";
import type { CredentialsVault } from "../bmc/vault.ts";
import { ADVISORY_LOCKS, type Db } from "../db/database.ts";
import { ConflictError, DomainError, NotFoundError, ValidationError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";
import type { LifecycleStore } from "../statemachine/store.ts";
import {
  type BmcInventory,
  type ExploreMatch,
  type ExploreRequest,
  type ExploreResult,
  hardwareInventoryFromOob,
  hostMacsOf,
  oobView,
  storedOobInventory,
  systemUuidOf,
} from "./bmc-explore-model.ts";
import type { BmcExploreStore } from "./bmc-explore-store.ts";
import { bmcPasswordContext } from "./bmc-model.ts";
import { storedTls, toBmc } from "./bmc-service.ts";
import type { BmcValues } from "./bmc-store.ts";
import type { ExpectedMachineService } from "./expected-machine-service.ts";
import { ExpectedMachineStore } from "./expected-machine-store.ts";
import {
  type BmcRow,
  type ExpectedMachineRow,
  inventoryDb,
  type StoredTlsPolicy,
} from "./inventory-tables.ts";
import { canonicalMac, normalizeMac } from "./mac-address.ts";
import { canonicalJson, inventoryDigest, type MachineState } from "./machine-model.ts";
import type { MachineRow, MachineStore } from "./machine-store.ts";
import type { OrgScope } from "./org-scope.ts";
import type { HardwareSpec } from "./spec-profile-model.ts";

export interface BmcExploreDeps {
  readonly db: Db;
  readonly orgs: OrgScope;
  readonly store: BmcExploreStore;
  readonly machines: MachineStore;
  readonly lifecycle: LifecycleStore<MachineState>;
  readonly expectedMachines: ExpectedMachineService;
  readonly vault: CredentialsVault;
  readonly connections: BmcConnections;
  readonly logger: Logger;
}

/** Where to explore: the BMC, and the expected machine it was named by (if it was). */
interface Exploration {
  readonly target: BmcTarget;
  readonly tls: StoredTlsPolicy;
  readonly expected: ExpectedMachineRow | undefined;
}

interface ExpectedMatch {
  readonly row: ExpectedMachineRow;
  readonly spec: HardwareSpec | null;
}

interface Outcome {
  readonly machineId: string;
  readonly bmc: ExploreResult["outcome"]["bmc"];
  readonly machine: ExploreResult["outcome"]["machine"];
  readonly matchedBy: ExploreMatch | null;
  readonly inventoryChanged: boolean;
  readonly expectedMachineId: string | null;
}

/**
 * Explores a BMC: reads the machine's out-of-band inventory through it, registers the BMC (keyed by the
 * MAC its manager reports, password sealed by the vault) and creates or links the machine behind it.
 * A machine is recognised as enrollment recognises one: by the BMC already linked to it, then serial,
 * system UUID, a NIC MAC. Otherwise it is created in state `enrolled` from the out-of-band view.
 * Exploring the same BMC again changes nothing but the observation (power state, last contact).
 */
export class BmcExploreService {
  constructor(private readonly deps: BmcExploreDeps) {}

  async explore(
    org: string,
    request: ExploreRequest,
    signal?: AbortSignal,
  ): Promise<{ result: ExploreResult; created: boolean }> {
    const orgId = await this.deps.orgs.idOf(org);
    const exploration = await this.resolve(orgId, request);
    const { endpoint } = exploration.target;
    const inventory = await withBmcFailures({ address: endpoint.address, port: endpoint.port }, () =>
      this.deps.connections.use(
        exploration.target,
        "read the out-of-band inventory",
        (driver, callSignal) => driver.getInventory(callSignal),
        signal !== undefined ? { signal } : {},
      ),
    );
    const mac = bmcMacOf(inventory, exploration);
    const expected = await this.expectedFor(orgId, inventory, mac, exploration.expected);
    const outcome = await this.deps.db.transaction().execute(async (trx) => {
      // Enrollment takes the same lock: both create machines from an identity, and must not race into twins.
      await sql`SELECT pg_advisory_xact_lock(${ADVISORY_LOCKS.enrollment})`.execute(trx);
      return await this.record(orgId, mac, exploration, inventory, expected, trx);
    });
    const row = await this.deps.store.getBmc(mac);
    if (row === undefined)
      throw new NotFoundError("bmc.not_found", `BMC ${mac} vanished while being explored`);
    this.deps.logger.info({ bmcMac: mac, address: endpoint.address, ...outcome }, "BMC explored");
    return {
      created: outcome.bmc === "created",
      result: {
        bmc: toBmc(row),
        machineId: outcome.machineId,
        expectedMachineId: outcome.expectedMachineId,
        outcome: {
          bmc: outcome.bmc,
          machine: outcome.machine,
          matchedBy: outcome.matchedBy,
          inventoryChanged: outcome.inventoryChanged,
        },
        powerState: inventory.powerState,
        inventory: oobView(storedOobInventory(inventory)),
      },
    };
  }

  /** What the BMC last reported out of band, with the observation it came with. */
  async inventoryOf(org: string, macInput: string): Promise<BmcInventory> {
    const orgId = await this.deps.orgs.idOf(org);
    const mac = canonicalMac(macInput);
    const row = await this.deps.store.getBmc(mac);
    if (row === undefined || row.org_id !== orgId)
      throw new NotFoundError("bmc.not_found", `no BMC with MAC address ${mac} in this org`);
    return {
      macAddress: row.mac_address,
      machineId: row.machine_id,
      powerState: row.power_state,
      lastContactAt: row.last_contact_at === null ? null : row.last_contact_at.toISOString(),
      lastError: row.last_error,
      inventory: (row.oob_inventory as BmcInventory["inventory"] | null) ?? null,
    };
  }

  /** The BMC to explore, from the request and the expected machine it names; refuses what is missing. */
  private async resolve(orgId: string, request: ExploreRequest): Promise<Exploration> {
    let expected: ExpectedMachineRow | undefined;
    if (request.expectedMachineId !== undefined) {
      expected = await new ExpectedMachineStore(inventoryDb(this.deps.db)).find(
        orgId,
        request.expectedMachineId,
      );
      if (expected === undefined) {
        throw new NotFoundError(
          "expected_machine.not_found",
          `no expected machine ${request.expectedMachineId} in this org`,
        );
      }
    }
    const fromExpected = (what: string): string =>
      expected === undefined ? "is required" : `is required: the expected machine has no ${what}`;
    const address = request.address ?? expected?.bmc_address ?? undefined;
    if (address === undefined)
      throw new ValidationError("bmc_explore.address_required", fromExpected("BMC address"), "body.address");
    const protocol: BmcDriverProtocol | undefined = request.protocol ?? expected?.bmc_protocol ?? undefined;
    if (protocol === undefined)
      throw new ValidationError(
        "bmc_explore.protocol_required",
        fromExpected("BMC protocol"),
        "body.protocol",
      );
    // The expected machine's stored credentials go only to the host stored with them (which only a change
    // that re-enters them can move); port and TLS policy, which it does not record, may be given here.
    if (
      request.credentials === undefined &&
      expected !== undefined &&
      request.address !== undefined &&
      request.address !== expected.bmc_address
    ) {
      throw new ValidationError(
        "bmc_explore.credentials_required",
        "are required when exploring another address than the expected machine's",
        "body.credentials",
      );
    }
    const credentials =
      request.credentials ??
      (expected !== undefined ? this.deps.expectedMachines.bmcCredentialsOf(expected) : null);
    if (credentials === null)
      throw new ValidationError(
        "bmc_explore.credentials_required",
        fromExpected("BMC credentials"),
        "body.credentials",
      );
    const tls = storedTls(request.tls ?? { mode: "verify" });
    return {
      target: {
        protocol,
        endpoint: {
          address,
          ...(request.port !== undefined ? { port: request.port } : {}),
          username: credentials.username,
          password: credentials.password,
          tls,
        },
      },
      tls,
      expected,
    };
  }

  /** The expected machine this BMC is: the one explored by, else by serial, else by BMC MAC, in this org. */
  private async expectedFor(
    orgId: string,
    inventory: OutOfBandInventory,
    mac: string,
    named: ExpectedMachineRow | undefined,
  ): Promise<ExpectedMatch | undefined> {
    if (named !== undefined) return { row: named, spec: await this.deps.store.specOfExpected(named.id) };
    const serial = inventory.serial?.trim();
    const match = await this.deps.expectedMachines.findForEnrollment({
      serial: serial === "" ? undefined : serial,
      bmcMac: mac,
    });
    return match !== undefined && match.row.org_id === orgId
      ? { row: match.row, spec: match.spec }
      : undefined;
  }

  private async record(
    orgId: string,
    mac: string,
    exploration: Exploration,
    inventory: OutOfBandInventory,
    expected: ExpectedMatch | undefined,
    trx: Db,
  ): Promise<Outcome> {
    const { store } = this.deps;
    const existing = await store.lockBmc(mac, trx);
    if (existing !== undefined && existing.org_id !== orgId) {
      // Physical identities are unique across orgs; the answer says so without naming anything of the other.
      throw new ConflictError("bmc.exists", `BMC ${mac} is already registered`, { macAddress: mac });
    }
    const found = await this.findMachine(orgId, mac, existing, inventory, trx);
    const machine =
      found === undefined
        ? await this.createMachine(orgId, mac, exploration, inventory, expected, trx)
        : { id: found.row.id, expectedMachineId: found.row.expected_machine_id };
    const machineId = machine.id;
    const { endpoint } = exploration.target;
    const values: BmcValues = {
      componentId: existing?.component_id ?? null,
      machineId,
      address: endpoint.address,
      port: endpoint.port ?? null,
      protocol: exploration.target.protocol,
      tls: exploration.tls,
      username: endpoint.username,
      credentials: this.sealedPassword(mac, endpoint.password, existing),
    };
    const oob = storedOobInventory(inventory);
    let bmc: Outcome["bmc"];
    if (existing === undefined) {
      await store.insertBmc(orgId, mac, values, { powerState: inventory.powerState, inventory: oob }, trx);
      bmc = "created";
    } else {
      bmc = sameBmc(existing, values) ? "unchanged" : "updated";
      if (bmc === "updated") await store.updateBmc(mac, values, trx);
      await store.recordObservation(
        mac,
        { kind: "answered", powerState: inventory.powerState, inventory: oob },
        trx,
      );
    }
    return {
      machineId,
      bmc,
      machine: found === undefined ? "created" : found.matchedBy === "bmc" ? "unchanged" : "linked",
      matchedBy: found?.matchedBy ?? null,
      inventoryChanged:
        existing !== undefined && canonicalJson(existing.oob_inventory ?? null) !== canonicalJson(oob),
      expectedMachineId: machine.expectedMachineId,
    };
  }

  /**
   * The machine behind the BMC: the one it is linked to, else by serial, system UUID or a NIC MAC (a MAC
   * identifies a machine only when no serial disagrees, as in enrollment). It must be in the org and
   * have no other BMC.
   */
  private async findMachine(
    orgId: string,
    mac: string,
    existing: BmcRow | undefined,
    inventory: OutOfBandInventory,
    trx: Db,
  ): Promise<{ row: MachineRow; matchedBy: ExploreMatch } | undefined> {
    const { machines, store } = this.deps;
    let found: { row: MachineRow; matchedBy: ExploreMatch } | undefined;
    if (existing?.machine_id != null) {
      const linked = await machines.get(existing.machine_id, trx);
      if (linked !== undefined) found = { row: linked, matchedBy: "bmc" };
    }
    const serial = inventory.serial?.trim() || undefined;
    const uuid = systemUuidOf(inventory.uuid);
    if (found === undefined) {
      const bySerial = serial === undefined ? undefined : await machines.findBySerial(serial, trx);
      const byUuid = uuid === undefined ? undefined : await machines.findBySystemUuid(uuid, trx);
      if (bySerial !== undefined && byUuid !== undefined && bySerial.id !== byUuid.id) {
        throw new ConflictError(
          "bmc_explore.identity_conflict",
          `serial ${serial} belongs to machine ${bySerial.id} but system UUID ${uuid} to machine ${byUuid.id}`,
          { serialMachineId: bySerial.id, uuidMachineId: byUuid.id },
        );
      }
      if (bySerial !== undefined) found = { row: bySerial, matchedBy: "serial" };
      else if (byUuid !== undefined) found = { row: byUuid, matchedBy: "system_uuid" };
    }
    if (found === undefined) {
      for (const nicMac of hostMacsOf(inventory)) {
        const byMac = await machines.findByInterfaceMac(nicMac, trx);
        if (byMac !== undefined && (byMac.serial_number === null || serial === undefined)) {
          found = { row: byMac, matchedBy: "nic_mac" };
          break;
        }
      }
    }
    if (found === undefined) return undefined;
    if (found.row.org_id !== orgId) {
      throw new ConflictError(
        "bmc_explore.machine_taken",
        `the machine behind BMC ${mac} is already registered`,
      );
    }
    const otherBmc = await store.bmcOfMachine(found.row.id, trx);
    if (otherBmc !== undefined && otherBmc !== mac) {
      throw new ConflictError(
        "bmc.machine_taken",
        `machine ${found.row.id} already has BMC ${otherBmc}; delete that BMC first if it was replaced`,
        { machineId: found.row.id, macAddress: otherBmc },
      );
    }
    return found;
  }

  /** A machine known only through its BMC: state `enrolled`, the out-of-band inventory, its NIC MACs. */
  private async createMachine(
    orgId: string,
    mac: string,
    exploration: Exploration,
    inventory: OutOfBandInventory,
    expected: ExpectedMatch | undefined,
    trx: Db,
  ): Promise<{ id: string; expectedMachineId: string | null }> {
    const { machines, lifecycle, store } = this.deps;
    const hardware = hardwareInventoryFromOob(inventory, exploration.target.endpoint.address);
    // The expected machine goes to this machine unless another already carries it (the link is unique).
    const claimable =
      expected !== undefined && (await store.machineOfExpected(expected.row.id, trx)) === undefined
        ? expected
        : undefined;
    const state: MachineState = { kind: "enrolled" };
    lifecycle.initialState(state);
    const id = await machines.insert(
      {
        orgId,
        serialNumber: hardware.system.serialNumber ?? null,
        systemUuid: hardware.system.uuid ?? null,
        manufacturer: hardware.system.manufacturer ?? null,
        model: hardware.system.productName ?? null,
        inventory: hardware,
        probes: {},
        inventoryDigest: inventoryDigest(hardware),
        bootMac: null,
        agentVersion: null,
        expectedMachineId: claimable?.row.id ?? null,
        hardwareSpec: claimable?.spec ?? null,
        hostname: claimable?.row.hostname ?? null,
        labels: claimable?.row.labels ?? {},
        state,
      },
      trx,
    );
    // A MAC another machine owns stays with it: out-of-band NIC lists include shared and virtual ports, and
    // only an agent booted on the machine can say a NIC really moved.
    const hostMacs = hostMacsOf(inventory);
    const owned = new Set((await machines.ownersOfMacs(hostMacs, id, trx)).map((owner) => owner.mac));
    await machines.replaceInterfaces(
      id,
      hostMacs
        .filter((nicMac) => !owned.has(nicMac))
        .map((nicMac) => {
          const nic = inventory.nics.find((candidate) => normalizeMac(candidate.mac) === nicMac);
          return {
            macAddress: nicMac,
            name: nic?.name ?? null,
            isBoot: false,
            speedMbps: nic?.speedMbps ?? null,
            driver: null,
          };
        }),
      trx,
    );
    await machines.insertEvent(
      id,
      "enrolled",
      { source: "bmc-exploration", bmcMac: mac, bmcAddress: exploration.target.endpoint.address },
      trx,
    );
    if (claimable !== undefined) {
      await machines.insertEvent(
        id,
        "expected_matched",
        { expectedMachineId: claimable.row.id, by: "bmc" },
        trx,
      );
    }
    await lifecycle.enqueue([id], trx);
    return { id, expectedMachineId: claimable?.row.id ?? null };
  }

  /** The stored ciphertext when the password did not change (re-encrypting would change the row). */
  private sealedPassword(mac: string, password: string, existing: BmcRow | undefined): string {
    const context = bmcPasswordContext(mac);
    if (existing !== undefined) {
      try {
        if (this.deps.vault.decrypt(existing.credentials, context) === password) return existing.credentials;
      } catch {
        // Unreadable with this vault: replace it with one sealed by the current key.
      }
    }
    return this.deps.vault.encrypt(password, context);
  }
}

/** The BMC's own MAC: reported by its manager, else the one the expected machine names. */
function bmcMacOf(inventory: OutOfBandInventory, exploration: Exploration): string {
  const reported = inventory.bmcMac === undefined ? undefined : normalizeMac(inventory.bmcMac);
  const mac = reported ?? exploration.expected?.bmc_mac ?? undefined;
  if (mac === undefined) {
    throw new DomainError(
      "bmc_explore.no_mac",
      `BMC ${exploration.target.endpoint.address} does not report the MAC address of its management interface; ` +
        "register it with POST …/bmcs, giving its MAC",
      { bmcAddress: exploration.target.endpoint.address },
    );
  }
  return mac;
}

function sameBmc(row: BmcRow, values: BmcValues): boolean {
  return (
    row.machine_id === values.machineId &&
    row.address === values.address &&
    row.port === values.port &&
    row.protocol === values.protocol &&
    isDeepStrictEqual(row.tls, values.tls) &&
    row.username === values.username &&
    row.credentials === values.credentials
  );
}
