import { type Generated, type Kysely, type Selectable, sql } from "kysely";
import type { Db } from "../db/database.ts";

export type ActorKind = "anonymous" | "session" | "token" | "oidc" | "agent" | "system";
export type AuditResult = "success" | "failure";

interface AuditLogTable {
  id: Generated<number>;
  at: Generated<Date>;
  actor: string;
  actor_kind: ActorKind;
  org_name: string | null;
  action: string;
  target: string;
  result: AuditResult;
  status_code: number;
  request_id: string;
  method: string;
  path: string;
}

export type AuditTables = {
  audit_log: AuditLogTable;
};

export type AuditRow = Selectable<AuditLogTable>;

export interface AuditEntryInput {
  readonly actor: string;
  readonly actorKind: ActorKind;
  readonly orgName: string | null;
  readonly action: string;
  readonly target: string;
  readonly result: AuditResult;
  readonly statusCode: number;
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
}

export interface AuditQuery {
  readonly org: string;
  /** Entries without an org (failed logins of unknown users, system events) belong to the provider view. */
  readonly includeOrgless: boolean;
  readonly actor?: string;
  readonly action?: string;
  readonly result?: AuditResult;
  readonly target?: string;
  readonly since?: Date;
  readonly until?: Date;
  readonly beforeId?: number;
  readonly limit: number;
}

export class AuditStore {
  private readonly db: Kysely<AuditTables>;

  constructor(db: Db) {
    this.db = db.withTables<AuditTables>();
  }

  async insert(entry: AuditEntryInput): Promise<void> {
    await this.db
      .insertInto("audit_log")
      .values({
        actor: entry.actor,
        actor_kind: entry.actorKind,
        org_name: entry.orgName,
        action: entry.action,
        target: entry.target,
        result: entry.result,
        status_code: entry.statusCode,
        request_id: entry.requestId,
        method: entry.method,
        path: entry.path,
      })
      .execute();
  }

  async list(query: AuditQuery): Promise<AuditRow[]> {
    let select = this.db
      .selectFrom("audit_log")
      .selectAll()
      .where((eb) =>
        query.includeOrgless
          ? eb.or([eb("org_name", "=", query.org), eb("org_name", "is", null)])
          : eb("org_name", "=", query.org),
      )
      .orderBy("id", "desc")
      .limit(query.limit);
    if (query.actor !== undefined) select = select.where("actor", "=", query.actor);
    if (query.action !== undefined) select = select.where("action", "=", query.action);
    if (query.result !== undefined) select = select.where("result", "=", query.result);
    if (query.target !== undefined)
      select = select.where("target", "like", sql<string>`${escapeLike(query.target)} || '%'`);
    if (query.since !== undefined) select = select.where("at", ">=", query.since);
    if (query.until !== undefined) select = select.where("at", "<", query.until);
    if (query.beforeId !== undefined) select = select.where("id", "<", query.beforeId);
    return await select.execute();
  }
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}
