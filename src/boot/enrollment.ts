import { sql } from "kysely";
import { DEFAULT_PROVIDER_ORG } from "../auth/model.ts";
import { ADVISORY_LOCKS, type Db } from "../db/database.ts";
import { ConflictError, UnavailableError } from "../errors.ts";
import { ExpectedMachineStore } from "../inventory/expected-machine-store.ts";
import { inventoryDb } from "../inventory/inventory-tables.ts";
import {
  diffInventories,
  inventoryDigest,
  type MachineState,
  summarize,
} from "../inventory/machine-model.ts";
import type { InterfaceInput, MachineRow, MachineStore } from "../inventory/machine-store.ts";
import type { HardwareSpec } from "../inventory/spec-profile-model.ts";
import type { Logger } from "../observability/logger.ts";
import type { AgentInstruction, EnrollmentRequest, EnrollmentResponse } from "../protocol/enrollment.ts";
import { MAC_ADDRESS_PATTERN } from "../protocol/inventory.ts";
import type { LifecycleStore } from "../statemachine/store.ts";
import type { BootTokens } from "./boot-tokens.ts";
import { planBoot } from "./ipxe.ts";

const MAC = new RegExp(MAC_ADDRESS_PATTERN);

export interface EnrollmentDeps {
  readonly db: Db;
  readonly machines: MachineStore;
  readonly lifecycle: LifecycleStore<MachineState>;
  readonly tokens: BootTokens;
  readonly logger: Logger;
  /** Whether a BMC is known for the machine, so it can be powered on again after the agent powers it off. */
  readonly hasBmc: (machineId: string, trx: Db) => Promise<boolean>;
}

/** The pre-registered machine an enrolling machine turned out to be, with the spec it is expected to meet. */
interface ExpectedMatch {
  readonly id: string;
  /** The machine already linked to this expected machine, if any. */
  readonly linkedMachineId: string | null;
  readonly orgId: string;
  readonly matchedBy: "serial" | "bmc_mac";
  readonly spec: HardwareSpec | null;
  readonly hostname: string | null;
  readonly labels: Record<string, string>;
}

async function expectedMatch(
  serial: string | null,
  bmcMac: string | undefined,
  trx: Db,
): Promise<ExpectedMatch | undefined> {
  const match = await new ExpectedMachineStore(inventoryDb(trx)).findForEnrollment({
    serial: serial ?? undefined,
    bmcMac,
  });
  if (match === undefined) return undefined;
  const linked = await sql<{
    id: string;
  }>`SELECT id FROM machines WHERE expected_machine_id = ${match.row.id}`.execute(trx);
  return {
    id: match.row.id,
    linkedMachineId: linked.rows[0]?.id ?? null,
    orgId: match.row.org_id,
    matchedBy: serial !== null && match.row.serial_number === serial ? "serial" : "bmc_mac",
    spec: match.spec,
    hostname: match.row.hostname,
    labels: match.row.labels,
  };
}

interface Identity {
  readonly serial: string | null;
  readonly uuid: string | null;
  readonly macs: readonly string[];
}

/**
 * Enrollment: an agent booted from an iPXE script reports the machine's hardware. The machine is found by
 * serial, then system UUID, then MAC, and created or updated. Enrolling the same hardware twice changes
 * nothing; changed hardware is recorded as an inventory-diff event. Serialised under one advisory lock, so
 * two agents of the same machine (or a machine and its moved NIC) cannot race into duplicates.
 */
export class EnrollmentService {
  constructor(private readonly deps: EnrollmentDeps) {}

  async enroll(token: string, request: EnrollmentRequest): Promise<EnrollmentResponse> {
    await this.deps.tokens.verify(token, request.bootMac, "enroll");
    const identity = identityOf(request);
    const digest = inventoryDigest(request.inventory);
    return await this.deps.db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(${ADVISORY_LOCKS.enrollment})`.execute(trx);
      const existing = await this.findExisting(identity, trx);
      const match = await expectedMatch(identity.serial, request.inventory.bmc?.macAddress, trx);
      // An expected machine describes one machine: another that matches it too (a shared BMC MAC) is not it.
      const expected =
        match !== undefined && (match.linkedMachineId === null || match.linkedMachineId === existing?.id)
          ? match
          : undefined;
      const machineId =
        existing === undefined
          ? await this.create(request, identity, digest, expected, trx)
          : await this.update(existing, request, identity, digest, expected, trx);
      const state = existing?.state.kind ?? "enrolled";
      return { machineId, state, next: await this.nextStep(machineId, trx) };
    });
  }

  /** Serial first, then system UUID, then any MAC; identities that lead to two machines are a conflict. */
  private async findExisting(identity: Identity, trx: Db): Promise<MachineRow | undefined> {
    const { machines } = this.deps;
    const bySerial = identity.serial === null ? undefined : await machines.findBySerial(identity.serial, trx);
    const byUuid = identity.uuid === null ? undefined : await machines.findBySystemUuid(identity.uuid, trx);
    if (bySerial !== undefined && byUuid !== undefined && bySerial.id !== byUuid.id) {
      throw new ConflictError(
        "enrollment.identity_conflict",
        `serial ${identity.serial} belongs to machine ${bySerial.id} but system UUID ${identity.uuid} to machine ${byUuid.id}`,
        { serialMachineId: bySerial.id, uuidMachineId: byUuid.id },
      );
    }
    const found = bySerial ?? byUuid;
    if (found !== undefined) return found;
    for (const mac of identity.macs) {
      const byMac = await machines.findByInterfaceMac(mac, trx);
      // A MAC identifies a machine only when the recorded machine has no stronger identity that disagrees.
      if (byMac !== undefined && (byMac.serial_number === null || identity.serial === null)) return byMac;
    }
    return undefined;
  }

  private async create(
    request: EnrollmentRequest,
    identity: Identity,
    digest: string,
    expected: ExpectedMatch | undefined,
    trx: Db,
  ): Promise<string> {
    const orgId = expected?.orgId ?? (await this.defaultOrgId(trx));
    const { machines, lifecycle } = this.deps;
    const state: MachineState = { kind: "enrolled" };
    lifecycle.initialState(state);
    const id = await machines.insert(
      {
        orgId,
        serialNumber: identity.serial,
        systemUuid: identity.uuid,
        manufacturer: request.inventory.system.manufacturer ?? null,
        model: request.inventory.system.productName ?? null,
        inventory: request.inventory,
        probes: request.probes,
        inventoryDigest: digest,
        bootMac: request.bootMac,
        agentVersion: request.agentVersion,
        expectedMachineId: expected?.id ?? null,
        hardwareSpec: expected?.spec ?? null,
        hostname: expected?.hostname ?? null,
        labels: expected?.labels ?? {},
        state,
      },
      trx,
    );
    await machines.replaceInterfaces(id, interfacesOf(request), trx);
    const summary = summarize(request.inventory);
    await machines.insertEvent(
      id,
      "enrolled",
      { bootMac: request.bootMac, agentVersion: request.agentVersion, summary },
      trx,
    );
    if (expected !== undefined) {
      await machines.insertEvent(
        id,
        "expected_matched",
        { expectedMachineId: expected.id, by: expected.matchedBy },
        trx,
      );
    }
    await lifecycle.enqueue([id], trx);
    this.deps.logger.info(
      { machineId: id, serial: identity.serial, bootMac: request.bootMac },
      "machine enrolled",
    );
    return id;
  }

  private async update(
    existing: MachineRow,
    request: EnrollmentRequest,
    identity: Identity,
    digest: string,
    expected: ExpectedMatch | undefined,
    trx: Db,
  ): Promise<string> {
    // Only a machine Ingot boots into the agent may report its hardware; anything else (held, ready,
    // deployed, retired) is never handed a boot token for itself, so a report about it is refused.
    if (planBoot({ state: existing.state, bootImage: existing.boot_image }).kind !== "agent") {
      throw new ConflictError(
        "enrollment.not_allowed",
        `machine ${existing.id} is ${existing.state.kind}; only enrolled or vetting machines report their hardware`,
        { machineId: existing.id, state: existing.state.kind },
      );
    }
    const expectedId = expected?.id ?? existing.expected_machine_id;
    // A report that lacks an identity (a probe failed, DMI unreadable) does not erase the one on record.
    const serial = identity.serial ?? existing.serial_number;
    const uuid = identity.uuid ?? existing.system_uuid;
    const unchanged =
      existing.inventory_digest === digest &&
      existing.serial_number === serial &&
      existing.system_uuid === uuid &&
      existing.boot_mac === request.bootMac &&
      existing.agent_version === request.agentVersion &&
      existing.expected_machine_id === expectedId;
    if (unchanged) return existing.id;

    const { machines } = this.deps;
    await machines.lock(existing.id, trx);
    const movedMacs = await machines.ownersOfMacs(identity.macs, existing.id, trx);
    await machines.updateEnrollment(
      existing.id,
      {
        serialNumber: serial,
        systemUuid: uuid,
        manufacturer: request.inventory.system.manufacturer ?? null,
        model: request.inventory.system.productName ?? null,
        inventory: request.inventory,
        probes: request.probes,
        inventoryDigest: digest,
        bootMac: request.bootMac,
        agentVersion: request.agentVersion,
        expectedMachineId: expectedId,
        hardwareSpec: expected?.spec ?? existing.hardware_spec,
      },
      trx,
    );
    await machines.replaceInterfaces(existing.id, interfacesOf(request), trx);
    const identityChanged =
      existing.serial_number !== identity.serial || existing.system_uuid !== identity.uuid;
    if (identityChanged) {
      await machines.insertEvent(
        existing.id,
        "identity_changed",
        {
          before: { serialNumber: existing.serial_number, systemUuid: existing.system_uuid },
          after: { serialNumber: identity.serial, systemUuid: identity.uuid },
        },
        trx,
      );
    }
    if (existing.inventory_digest !== digest || movedMacs.length > 0) {
      const changes = diffInventories(existing.inventory, request.inventory);
      await machines.insertEvent(existing.id, "inventory_changed", { changes, movedMacs }, trx);
      this.deps.logger.info({ machineId: existing.id, changes: changes.length }, "machine hardware changed");
    }
    if (expected !== undefined && existing.expected_machine_id !== expected.id) {
      await machines.insertEvent(
        existing.id,
        "expected_matched",
        { expectedMachineId: expected.id, by: expected.matchedBy },
        trx,
      );
    }
    return existing.id;
  }

  private async nextStep(machineId: string, trx: Db): Promise<AgentInstruction> {
    if (await this.deps.hasBmc(machineId, trx)) {
      return {
        action: "poweroff",
        message: `enrolled as ${machineId}; powering off until Ingot needs this machine`,
      };
    }
    return { action: "idle", message: `enrolled as ${machineId}; no BMC is known, so staying up` };
  }

  private async defaultOrgId(trx: Db): Promise<string> {
    const result = await sql<{
      id: string;
    }>`SELECT id FROM orgs WHERE name = ${DEFAULT_PROVIDER_ORG}`.execute(trx);
    const id = result.rows[0]?.id;
    if (id === undefined)
      throw new UnavailableError("enrollment.no_org", `the provider org ${DEFAULT_PROVIDER_ORG} is missing`);
    return id;
  }
}

function identityOf(request: EnrollmentRequest): Identity {
  const macs = new Set<string>([request.bootMac]);
  for (const nic of request.inventory.nics) {
    if (nic.macAddress !== undefined && MAC.test(nic.macAddress)) macs.add(nic.macAddress);
  }
  return {
    serial: request.inventory.system.serialNumber ?? null,
    uuid: request.inventory.system.uuid ?? null,
    macs: [...macs],
  };
}

/** The machine's Ethernet interfaces; the boot MAC is recorded even when the agent did not list its NIC. */
function interfacesOf(request: EnrollmentRequest): InterfaceInput[] {
  const interfaces = new Map<string, InterfaceInput>();
  for (const nic of request.inventory.nics) {
    if (nic.macAddress === undefined || !MAC.test(nic.macAddress)) continue;
    interfaces.set(nic.macAddress, {
      macAddress: nic.macAddress,
      name: nic.name,
      isBoot: nic.macAddress === request.bootMac,
      speedMbps: nic.speedMbps ?? null,
      driver: nic.driver ?? null,
    });
  }
  if (!interfaces.has(request.bootMac)) {
    interfaces.set(request.bootMac, {
      macAddress: request.bootMac,
      name: null,
      isBoot: true,
      speedMbps: null,
      driver: null,
    });
  }
  return [...interfaces.values()];
}
