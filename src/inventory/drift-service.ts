import { Type } from "typebox";
import { NotFoundError } from "../errors.ts";
import { decodeCursor, type Page, pageOf } from "../http/pagination.ts";
import type { Drift, DriftListQuery, DriftSummary } from "./drift-model.ts";
import type { DriftRow, DriftStore } from "./drift-store.ts";
import type { MachineService } from "./machine-service.ts";
import type { OrgScope } from "./org-scope.ts";

const DriftCursor = Type.Object({ key: Type.String({ maxLength: 256 }) });

/** Reading drift: what the last inventory sync cycle recorded for an org, its machines and components. */
export class DriftService {
  constructor(
    private readonly orgs: OrgScope,
    private readonly store: DriftStore,
    private readonly machines: MachineService,
  ) {}

  async list(org: string, query: DriftListQuery): Promise<Page<Drift>> {
    const orgId = await this.orgs.idOf(org);
    const after = decodeCursor(query.cursor, DriftCursor);
    const rows = await this.store.list(
      orgId,
      { kind: query.kind, machineId: query.machine, componentId: query.component },
      after?.key,
      query.limit + 1,
    );
    return pageOf(rows, query.limit, toDrift, (row) => ({ key: row.key }));
  }

  async listForMachine(
    org: string,
    machineId: string,
    query: Omit<DriftListQuery, "machine">,
  ): Promise<Page<Drift>> {
    if ((await this.machines.resolve(org, machineId)) === undefined)
      throw new NotFoundError("machine.not_found", `no machine ${machineId} in ${org}`);
    return await this.list(org, { ...query, machine: machineId });
  }

  async summary(org: string): Promise<DriftSummary> {
    const orgId = await this.orgs.idOf(org);
    const [counts, cycle] = await Promise.all([this.store.counts(orgId), this.store.lastCycle()]);
    return {
      lastCycle:
        cycle === undefined
          ? null
          : {
              replica: cycle.replica,
              startedAt: cycle.started_at.toISOString(),
              finishedAt: cycle.finished_at.toISOString(),
            },
      counts,
    };
  }
}

function toDrift(row: DriftRow): Drift {
  return {
    key: row.key,
    kind: row.kind,
    subject: row.subject,
    machineId: row.machine_id,
    componentId: row.component_id,
    expectedMachineId: row.expected_machine_id,
    bmcMacAddress: row.bmc_mac,
    diffs: row.diffs.map((diff) => ({ ...diff, actual: diff.actual ?? null })) as Drift["diffs"],
    message: row.message,
    firstSeenAt: row.first_seen_at.toISOString(),
    detectedAt: row.detected_at.toISOString(),
  };
}
