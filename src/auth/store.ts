import { type Generated, type Kysely, type Selectable, sql } from "kysely";
import { ADVISORY_LOCKS, type Db } from "../db/database.ts";
import type { Membership, OrgKind, Role } from "./model.ts";

interface OrgsTable {
  id: Generated<string>;
  name: string;
  kind: OrgKind;
  display_name: string;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

interface UsersTable {
  id: Generated<string>;
  username: string;
  display_name: string;
  password_hash: string | null;
  disabled: Generated<boolean>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

interface MembershipsTable {
  user_id: string;
  org_id: string;
  org_kind: OrgKind;
  role: Role;
  created_at: Generated<Date>;
}

interface SessionsTable {
  id: Generated<string>;
  user_id: string;
  secret_hash: Buffer;
  created_at: Generated<Date>;
  expires_at: Date;
  address: string | null;
}

interface ApiTokensTable {
  id: Generated<string>;
  user_id: string;
  name: string;
  secret_hash: Buffer;
  created_at: Generated<Date>;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

interface LoginThrottleTable {
  key: string;
  window_started_at: Date;
  failures: number;
}

export type IdentityTables = {
  orgs: OrgsTable;
  users: UsersTable;
  memberships: MembershipsTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  login_throttle: LoginThrottleTable;
};

export type OrgRow = Selectable<OrgsTable>;
export type UserRow = Selectable<UsersTable>;
export type ApiTokenRow = Selectable<ApiTokensTable>;
export type SessionRow = Selectable<SessionsTable>;
export interface MemberRow {
  username: string;
  display_name: string;
  role: Role;
  created_at: Date;
}

type IdentityDb = Kysely<IdentityTables>;

/** SQL for orgs, users, memberships, sessions, API tokens and login throttling. */
export class IdentityStore {
  constructor(private readonly db: IdentityDb) {}

  static on(db: Db): IdentityStore {
    return new IdentityStore(db.withTables<IdentityTables>());
  }

  async transaction<T>(work: (store: IdentityStore) => Promise<T>): Promise<T> {
    return await this.db.transaction().execute(async (trx) => await work(new IdentityStore(trx)));
  }

  async listOrgs(limit: number, afterName: string | undefined, names?: readonly string[]): Promise<OrgRow[]> {
    let query = this.db.selectFrom("orgs").selectAll().orderBy("name").limit(limit);
    if (afterName !== undefined) query = query.where("name", ">", afterName);
    if (names !== undefined)
      query = names.length === 0 ? query.where(sql<boolean>`false`) : query.where("name", "in", names);
    return await query.execute();
  }

  async findOrg(name: string): Promise<OrgRow | undefined> {
    return await this.db.selectFrom("orgs").selectAll().where("name", "=", name).executeTakeFirst();
  }

  /** Inserts unless the name is taken; returns undefined when it was. */
  async insertOrg(org: { name: string; kind: OrgKind; displayName: string }): Promise<OrgRow | undefined> {
    return await this.db
      .insertInto("orgs")
      .values({ name: org.name, kind: org.kind, display_name: org.displayName })
      .onConflict((oc) => oc.column("name").doNothing())
      .returningAll()
      .executeTakeFirst();
  }

  async updateOrg(name: string, displayName: string): Promise<OrgRow | undefined> {
    return await this.db
      .updateTable("orgs")
      .set({ display_name: displayName, updated_at: sql`now()` })
      .where("name", "=", name)
      .returningAll()
      .executeTakeFirst();
  }

  async deleteOrg(name: string): Promise<boolean> {
    const result = await this.db.deleteFrom("orgs").where("name", "=", name).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async countProviderOrgs(): Promise<number> {
    const row = await this.db
      .selectFrom("orgs")
      .select((eb) => eb.fn.countAll<number>().as("count"))
      .where("kind", "=", "provider")
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async listUsers(limit: number, afterUsername: string | undefined): Promise<UserRow[]> {
    let query = this.db.selectFrom("users").selectAll().orderBy("username").limit(limit);
    if (afterUsername !== undefined) query = query.where("username", ">", afterUsername);
    return await query.execute();
  }

  async findUserByName(username: string): Promise<UserRow | undefined> {
    return await this.db.selectFrom("users").selectAll().where("username", "=", username).executeTakeFirst();
  }

  async findUserById(id: string): Promise<UserRow | undefined> {
    return await this.db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();
  }

  async insertUser(user: {
    username: string;
    displayName: string;
    passwordHash: string | null;
  }): Promise<UserRow | undefined> {
    return await this.db
      .insertInto("users")
      .values({ username: user.username, display_name: user.displayName, password_hash: user.passwordHash })
      .onConflict((oc) => oc.column("username").doNothing())
      .returningAll()
      .executeTakeFirst();
  }

  async updateUser(
    username: string,
    changes: { displayName?: string; passwordHash?: string; disabled?: boolean },
  ): Promise<UserRow | undefined> {
    return await this.db
      .updateTable("users")
      .set({
        ...(changes.displayName !== undefined ? { display_name: changes.displayName } : {}),
        ...(changes.passwordHash !== undefined ? { password_hash: changes.passwordHash } : {}),
        ...(changes.disabled !== undefined ? { disabled: changes.disabled } : {}),
        updated_at: sql`now()`,
      })
      .where("username", "=", username)
      .returningAll()
      .executeTakeFirst();
  }

  async deleteUser(username: string): Promise<boolean> {
    const result = await this.db.deleteFrom("users").where("username", "=", username).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async membershipsOf(userId: string): Promise<Membership[]> {
    const rows = await this.db
      .selectFrom("memberships")
      .innerJoin("orgs", "orgs.id", "memberships.org_id")
      .select(["orgs.name as org", "memberships.org_kind as orgKind", "memberships.role as role"])
      .where("memberships.user_id", "=", userId)
      .orderBy("orgs.name")
      .execute();
    return rows;
  }

  async listMembers(orgId: string, limit: number, afterUsername: string | undefined): Promise<MemberRow[]> {
    let query = this.db
      .selectFrom("memberships")
      .innerJoin("users", "users.id", "memberships.user_id")
      .select(["users.username", "users.display_name", "memberships.role", "memberships.created_at"])
      .where("memberships.org_id", "=", orgId)
      .orderBy("users.username")
      .limit(limit);
    if (afterUsername !== undefined) query = query.where("users.username", ">", afterUsername);
    return await query.execute();
  }

  async upsertMembership(userId: string, org: OrgRow, role: Role): Promise<void> {
    await this.db
      .insertInto("memberships")
      .values({ user_id: userId, org_id: org.id, org_kind: org.kind, role })
      .onConflict((oc) => oc.columns(["user_id", "org_id"]).doUpdateSet({ role }))
      .execute();
  }

  async deleteMembership(userId: string, orgId: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom("memberships")
      .where("user_id", "=", userId)
      .where("org_id", "=", orgId)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  /** Serialises changes to who is a provider admin, so two concurrent demotions cannot leave nobody in charge. */
  async lockProviderAdminChanges(): Promise<void> {
    await sql`SELECT pg_advisory_xact_lock(${ADVISORY_LOCKS.providerAdmins})`.execute(this.db);
  }

  /** Memberships of enabled users with provider-admin; call under lockProviderAdminChanges. */
  async enabledProviderAdmins(): Promise<Array<{ userId: string; orgId: string }>> {
    return await this.db
      .selectFrom("memberships")
      .innerJoin("users", "users.id", "memberships.user_id")
      .select(["memberships.user_id as userId", "memberships.org_id as orgId"])
      .where("memberships.role", "=", "provider-admin")
      .where("users.disabled", "=", false)
      .execute();
  }

  async insertSession(session: {
    userId: string;
    secretHash: Buffer;
    expiresAt: Date;
    address: string | null;
  }): Promise<string> {
    const row = await this.db
      .insertInto("sessions")
      .values({
        user_id: session.userId,
        secret_hash: session.secretHash,
        expires_at: session.expiresAt,
        address: session.address,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    return row.id;
  }

  async findLiveSession(
    id: string,
  ): Promise<(SessionRow & { username: string; disabled: boolean }) | undefined> {
    return await this.db
      .selectFrom("sessions")
      .innerJoin("users", "users.id", "sessions.user_id")
      .selectAll("sessions")
      .select(["users.username", "users.disabled"])
      .where("sessions.id", "=", id)
      .where("sessions.expires_at", ">", sql<Date>`now()`)
      .executeTakeFirst();
  }

  async deleteSession(id: string): Promise<void> {
    await this.db.deleteFrom("sessions").where("id", "=", id).execute();
  }

  async deleteSessionsOf(userId: string): Promise<void> {
    await this.db.deleteFrom("sessions").where("user_id", "=", userId).execute();
  }

  async deleteExpiredSessions(): Promise<number> {
    const result = await this.db
      .deleteFrom("sessions")
      .where("expires_at", "<=", sql<Date>`now()`)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async insertApiToken(token: {
    userId: string;
    name: string;
    secretHash: Buffer;
    expiresAt: Date | null;
  }): Promise<ApiTokenRow> {
    return await this.db
      .insertInto("api_tokens")
      .values({
        user_id: token.userId,
        name: token.name,
        secret_hash: token.secretHash,
        expires_at: token.expiresAt,
        revoked_at: null,
        last_used_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async findApiToken(
    id: string,
  ): Promise<(ApiTokenRow & { username: string; disabled: boolean }) | undefined> {
    return await this.db
      .selectFrom("api_tokens")
      .innerJoin("users", "users.id", "api_tokens.user_id")
      .selectAll("api_tokens")
      .select(["users.username", "users.disabled"])
      .where("api_tokens.id", "=", id)
      .executeTakeFirst();
  }

  async listApiTokens(userId: string, limit: number, after: { createdAt: Date; id: string } | undefined) {
    let query = this.db
      .selectFrom("api_tokens")
      .selectAll()
      .where("user_id", "=", userId)
      .orderBy("created_at", "desc")
      .orderBy("id", "desc")
      .limit(limit);
    if (after !== undefined) {
      query = query.where((eb) =>
        eb.or([
          eb("created_at", "<", after.createdAt),
          eb.and([eb("created_at", "=", after.createdAt), eb("id", "<", after.id)]),
        ]),
      );
    }
    return await query.execute();
  }

  async revokeApiToken(id: string, userId: string): Promise<ApiTokenRow | undefined> {
    return await this.db
      .updateTable("api_tokens")
      .set({ revoked_at: sql`coalesce(revoked_at, now())` })
      .where("id", "=", id)
      .where("user_id", "=", userId)
      .returningAll()
      .executeTakeFirst();
  }

  /** Records use at most once a minute per token, so busy tokens do not turn every read into a write. */
  async touchApiToken(id: string): Promise<void> {
    await this.db
      .updateTable("api_tokens")
      .set({ last_used_at: sql`now()` })
      .where("id", "=", id)
      .where((eb) =>
        eb.or([
          eb("last_used_at", "is", null),
          eb("last_used_at", "<", sql<Date>`now() - interval '1 minute'`),
        ]),
      )
      .execute();
  }

  /**
   * Counts a login attempt against `key` before the password is checked, in one statement, so concurrent
   * guesses cannot all pass a check made before any of them is recorded. Returns the attempts in the
   * window that is open now (a window older than `windowSeconds` starts over).
   */
  async reserveLoginAttempt(
    key: string,
    windowSeconds: number,
  ): Promise<{ attempts: number; windowStartedAt: Date }> {
    const result = await sql<{ failures: number; window_started_at: Date }>`
      INSERT INTO login_throttle (key, window_started_at, failures) VALUES (${key}, now(), 1)
      ON CONFLICT (key) DO UPDATE SET
        failures = CASE WHEN login_throttle.window_started_at > now() - make_interval(secs => ${windowSeconds})
                        THEN login_throttle.failures + 1 ELSE 1 END,
        window_started_at = CASE WHEN login_throttle.window_started_at > now() - make_interval(secs => ${windowSeconds})
                                 THEN login_throttle.window_started_at ELSE now() END
      RETURNING failures, window_started_at
    `.execute(this.db);
    const row = result.rows[0];
    if (row === undefined) throw new Error("login attempt was not recorded");
    return { attempts: row.failures, windowStartedAt: row.window_started_at };
  }

  /** Gives back an attempt that succeeded, so successful logins do not use up an address's allowance. */
  async releaseLoginAttempt(key: string): Promise<void> {
    await sql`UPDATE login_throttle SET failures = greatest(failures - 1, 0) WHERE key = ${key}`.execute(
      this.db,
    );
  }

  async clearLoginFailures(key: string): Promise<void> {
    await this.db.deleteFrom("login_throttle").where("key", "=", key).execute();
  }
}
