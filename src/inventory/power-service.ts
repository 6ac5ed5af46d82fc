import type { BmcConnections } from "../bmc/connections.ts";
import {
  type BmcDriver,
  BmcError,
  type BootOverrideState,
  type PowerAction,
  type PowerState,
  type SensorReport,
} from "../bmc/driver.ts";
import { bmcFailure } from "../bmc/failures.ts";
import { ConflictError, errorMessage, NotFoundError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";
import type { BmcExploreStore } from "./bmc-explore-store.ts";
import type { BmcService } from "./bmc-service.ts";
import type { BmcStore } from "./bmc-store.ts";
import type { BmcRow } from "./inventory-tables.ts";
import type { MachineStore } from "./machine-store.ts";
import type { OrgScope } from "./org-scope.ts";
import type { BmcReferenceView, BootDeviceRequest, PowerActionRequest } from "./power-model.ts";

export interface PowerServiceDeps {
  readonly orgs: OrgScope;
  readonly machines: MachineStore;
  readonly bmcStore: BmcStore;
  readonly bmcs: BmcService;
  readonly observations: BmcExploreStore;
  readonly connections: BmcConnections;
  readonly logger: Logger;
}

/**
 * Actions a driver may carry out in several steps (off, wait for off, on): an IPMI graceful restart waits
 * up to 5 minutes for the OS, a Redfish BMC without PowerCycle gets ForceOff and On. Their deadline covers that.
 */
const MULTI_STEP_ACTIONS: ReadonlySet<PowerAction> = new Set([
  "restart",
  "graceful-restart",
  "cycle",
  "force-restart",
]);
const MULTI_STEP_TIMEOUT_MS = 6 * 60_000;

/**
 * Power, boot device, power status and sensors of a machine, through the BMC linked to it. Every call has
 * a deadline (BmcConnections); what the BMC showed (power state, or the error) is recorded on its row, and
 * a failure becomes the problem for it (src/bmc/failures.ts): 502 refused or unreachable, 504 no answer.
 */
export class PowerService {
  constructor(private readonly deps: PowerServiceDeps) {}

  async setPower(
    org: string,
    machineId: string,
    request: PowerActionRequest,
  ): Promise<{ powerState: PowerState | null; bmc: BmcReferenceView }> {
    const { bmc, result } = await this.withBmc(
      org,
      machineId,
      `power ${request.action}`,
      async (driver, signal) => {
        await driver.setPower(request.action, signal);
        // The action is done once the BMC accepted it; the state read after it is a courtesy.
        return await driver.getPowerState(signal).catch(() => null);
      },
      // Cut off between its off and on steps, a restart or cycle would leave the machine off.
      MULTI_STEP_ACTIONS.has(request.action) ? { timeoutMs: MULTI_STEP_TIMEOUT_MS } : {},
    );
    this.deps.logger.info({ machineId, bmc: bmc.macAddress, action: request.action }, "power action sent");
    if (result !== null)
      await this.deps.observations.recordObservation(bmc.macAddress, {
        kind: "answered",
        powerState: result,
      });
    return { powerState: result, bmc };
  }

  async getPower(
    org: string,
    machineId: string,
  ): Promise<{ powerState: PowerState; bootOverride: BootOverrideState | null; bmc: BmcReferenceView }> {
    const { bmc, result } = await this.withBmc(
      org,
      machineId,
      "read the power state",
      async (driver, signal) => {
        const powerState = await driver.getPowerState(signal);
        const bootOverride = await driver.getBootOverride(signal).catch((error: unknown) => {
          if (error instanceof BmcError && error.kind === "unsupported") return null;
          throw error;
        });
        return { powerState, bootOverride };
      },
    );
    await this.deps.observations.recordObservation(bmc.macAddress, {
      kind: "answered",
      powerState: result.powerState,
    });
    return { ...result, bmc };
  }

  async setBootDevice(
    org: string,
    machineId: string,
    request: BootDeviceRequest,
  ): Promise<{ bootOverride: BootOverrideState | null; bmc: BmcReferenceView }> {
    const { bmc, result } = await this.withBmc(
      org,
      machineId,
      `set the boot device to ${request.device} (${request.persistence})`,
      async (driver, signal) => {
        await driver.setBootOverride(
          {
            device: request.device,
            persistence: request.persistence,
            ...(request.mode !== undefined ? { mode: request.mode } : {}),
          },
          signal,
        );
        // Read back where the BMC allows it (a change through @Redfish.Settings shows at the next boot).
        return await driver.getBootOverride(signal).catch(() => null);
      },
    );
    this.deps.logger.info({ machineId, bmc: bmc.macAddress, ...request }, "boot override set");
    return { bootOverride: result, bmc };
  }

  async sensors(org: string, machineId: string): Promise<SensorReport & { bmc: BmcReferenceView }> {
    const { bmc, result } = await this.withBmc(org, machineId, "read the sensors", (driver, signal) =>
      driver.getSensors(signal),
    );
    return { ...result, bmc };
  }

  /** Runs a call on the machine's BMC; records a failure on the BMC row and turns it into its problem. */
  private async withBmc<T>(
    org: string,
    machineId: string,
    operation: string,
    work: (driver: BmcDriver, signal: AbortSignal) => Promise<T>,
    options: { timeoutMs?: number } = {},
  ): Promise<{ bmc: BmcReferenceView; result: T }> {
    const row = await this.bmcOfMachine(org, machineId);
    const bmc: BmcReferenceView = {
      macAddress: row.mac_address,
      address: row.address,
      port: row.port,
      protocol: row.protocol,
    };
    const endpoint = this.deps.bmcs.endpointOf(row);
    try {
      const result = await this.deps.connections.use(
        { protocol: row.protocol, endpoint },
        operation,
        work,
        options,
      );
      return { bmc, result };
    } catch (error) {
      await this.deps.observations
        .recordObservation(row.mac_address, { kind: "failed", error: errorMessage(error) })
        .catch((recordError: unknown) =>
          this.deps.logger.warn({ err: recordError, bmc: row.mac_address }, "could not record the BMC error"),
        );
      throw bmcFailure(error, { address: row.address, port: row.port, macAddress: row.mac_address });
    }
  }

  private async bmcOfMachine(org: string, machineId: string): Promise<BmcRow> {
    const orgId = await this.deps.orgs.idOf(org);
    const machine = await this.deps.machines.get(machineId);
    if (machine === undefined || machine.org_id !== orgId)
      throw new NotFoundError("machine.not_found", `no machine ${machineId} in ${org}`);
    const row = await this.deps.bmcStore.findByMachine(machineId);
    if (row === undefined) {
      throw new ConflictError(
        "machine.no_bmc",
        `machine ${machineId} has no BMC, so it cannot be powered or read remotely; register its BMC with ` +
          `POST /api/v1/orgs/${org}/bmcs/explore`,
        { machineId },
      );
    }
    return row;
  }
}
