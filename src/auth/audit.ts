import { Type } from "typebox";
import { decodeCursor, type Page, pageOf } from "../http/pagination.ts";
import type { AuditEntryInput, AuditResult, AuditRow, AuditStore } from "./audit-store.ts";

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  actorKind: string;
  org: string | null;
  action: string;
  target: string;
  result: AuditResult;
  statusCode: number;
  requestId: string;
  method: string;
  path: string;
}

export interface AuditFilters {
  readonly actor?: string | undefined;
  readonly action?: string | undefined;
  readonly result?: AuditResult | undefined;
  readonly target?: string | undefined;
  readonly since?: string | undefined;
  readonly until?: string | undefined;
}

const IdCursor = Type.Object({ id: Type.Integer() });

/** The audit log: who did what to which target in which org, with what result. Append-only. */
export class AuditService {
  constructor(private readonly store: AuditStore) {}

  async record(entry: AuditEntryInput): Promise<void> {
    await this.store.insert(entry);
  }

  async list(
    org: { name: string; kind: "provider" | "tenant" },
    filters: AuditFilters,
    limit: number,
    cursor: string | undefined,
  ): Promise<Page<AuditEntry>> {
    const after = decodeCursor(cursor, IdCursor);
    const rows = await this.store.list({
      org: org.name,
      includeOrgless: org.kind === "provider",
      actor: filters.actor,
      action: filters.action,
      result: filters.result,
      target: filters.target,
      since: filters.since === undefined ? undefined : new Date(filters.since),
      until: filters.until === undefined ? undefined : new Date(filters.until),
      beforeId: after?.id,
      limit: limit + 1,
    });
    return pageOf(rows, limit, toAuditEntry, (row) => ({ id: row.id }));
  }
}

function toAuditEntry(row: AuditRow): AuditEntry {
  return {
    id: row.id,
    at: row.at.toISOString(),
    actor: row.actor,
    actorKind: row.actor_kind,
    org: row.org_name,
    action: row.action,
    target: row.target,
    result: row.result,
    statusCode: row.status_code,
    requestId: row.request_id,
    method: row.method,
    path: row.path,
  };
}
