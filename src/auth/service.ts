import { Type } from "typebox";
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  RateLimitedError,
  UnauthenticatedError,
  ValidationError,
} from "../errors.ts";
import { decodeCursor, type Page, pageOf } from "../http/pagination.ts";
import type { Logger } from "../observability/logger.ts";
import {
  BOOTSTRAP_ADMIN,
  DEFAULT_PROVIDER_ORG,
  type Membership,
  MIN_PASSWORD_LENGTH,
  type OrgKind,
  type Principal,
  type Role,
  roleFitsOrgKind,
} from "./model.ts";
import type { OidcVerifier } from "./oidc.ts";
import {
  formatApiToken,
  formatSessionCookie,
  generatePassword,
  hashPassword,
  newSecret,
  parseApiToken,
  parseSessionCookie,
  secretMatches,
  verifyPassword,
} from "./secrets.ts";
import type { ApiTokenRow, IdentityStore, MemberRow, OrgRow, UserRow } from "./store.ts";

export interface Org {
  name: string;
  kind: OrgKind;
  displayName: string;
  createdAt: string;
}

export interface User {
  username: string;
  displayName: string;
  disabled: boolean;
  createdAt: string;
  memberships: Membership[];
}

export interface Member {
  username: string;
  displayName: string;
  role: Role;
  since: string;
}

export interface ApiToken {
  id: string;
  name: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export interface Credentials {
  readonly bearer?: string | undefined;
  readonly sessionCookie?: string | undefined;
}

export interface LoginThrottleLimits {
  readonly windowSeconds: number;
  readonly perUser: number;
  readonly perAddress: number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottleLimits = {
  windowSeconds: 900,
  perUser: 10,
  perAddress: 100,
};

export interface IdentityServiceOptions {
  readonly store: IdentityStore;
  readonly logger: Logger;
  readonly sessionTtlSeconds: number;
  readonly oidc?: OidcVerifier | undefined;
  readonly loginThrottle?: LoginThrottleLimits;
}

/** restrict_violation and foreign_key_violation: rows elsewhere still refer to the one being deleted. */
const STILL_REFERENCED = new Set(["23001", "23503"]);

const NameCursor = Type.Object({ name: Type.String() });
const TokenCursor = Type.Object({ createdAt: Type.String(), id: Type.String() });

/** Use cases of identity and access: login, sessions, API tokens, OIDC callers, orgs, users, memberships. */
export class IdentityService {
  private readonly store: IdentityStore;
  private readonly logger: Logger;
  private readonly sessionTtlSeconds: number;
  private readonly oidc: OidcVerifier | undefined;
  private readonly throttle: LoginThrottleLimits;

  constructor(options: IdentityServiceOptions) {
    this.store = options.store;
    this.logger = options.logger;
    this.sessionTtlSeconds = options.sessionTtlSeconds;
    this.oidc = options.oidc;
    this.throttle = options.loginThrottle ?? DEFAULT_LOGIN_THROTTLE;
  }

  /**
   * Creates the provider org `default` and the user `admin` on first start. Safe when replicas start
   * together: inserts that lose the race do nothing. Returns the password only if this call generated it.
   */
  /**
   * Creates the provider org `default` and the user `admin` on the very first start, and never again (an
   * operator who deletes `admin` keeps it deleted). Safe when replicas start together: only the one whose
   * insert of the org wins goes on. A generated password is handed to `persist` before the transaction
   * commits, so it cannot be lost between the two.
   */
  async bootstrap(
    adminPassword: string | undefined,
    persist: (generatedPassword: string) => Promise<void> = async () => {},
  ): Promise<{ generatedAdminPassword: string | undefined }> {
    return await this.store.transaction(async (store) => {
      const org = await store.insertOrg({
        name: DEFAULT_PROVIDER_ORG,
        kind: "provider",
        displayName: "Default provider",
      });
      if (org === undefined) return { generatedAdminPassword: undefined };
      const password = adminPassword ?? generatePassword();
      const admin = await store.insertUser({
        username: BOOTSTRAP_ADMIN,
        displayName: "Administrator",
        passwordHash: await hashPassword(password),
      });
      if (admin === undefined) throw new Error(`user ${BOOTSTRAP_ADMIN} exists before its org was created`);
      await store.upsertMembership(admin.id, org, "provider-admin");
      if (adminPassword === undefined) await persist(password);
      this.logger.info({ org: org.name, user: admin.username }, "bootstrapped provider org and admin user");
      return { generatedAdminPassword: adminPassword === undefined ? password : undefined };
    });
  }

  async login(
    usernameInput: string,
    password: string,
    address: string,
  ): Promise<{ cookie: string; expiresAt: Date; principal: Principal }> {
    const username = usernameInput.toLowerCase();
    const userKey = `user:${username}`;
    const addressKey = `address:${address}`;
    const window = this.throttle.windowSeconds;
    const perUser = await this.store.reserveLoginAttempt(userKey, window);
    const perAddress = await this.store.reserveLoginAttempt(addressKey, window);
    if (perUser.attempts > this.throttle.perUser) throw this.throttled(perUser.windowStartedAt);
    if (perAddress.attempts > this.throttle.perAddress) throw this.throttled(perAddress.windowStartedAt);
    const user = await this.store.findUserByName(username);
    const passwordOk = await verifyPassword(user?.password_hash, password);
    if (user === undefined || !passwordOk || user.disabled) {
      throw new UnauthenticatedError("invalid username or password");
    }
    await this.store.clearLoginFailures(userKey);
    await this.store.releaseLoginAttempt(addressKey);
    const secret = newSecret();
    const expiresAt = new Date(Date.now() + this.sessionTtlSeconds * 1000);
    const sessionId = await this.store.insertSession({
      userId: user.id,
      secretHash: secret.hash,
      expiresAt,
      address,
    });
    const principal = await this.principalOf(user.id, user.username, "session", sessionId);
    return { cookie: formatSessionCookie(sessionId, secret.secret), expiresAt, principal };
  }

  private throttled(windowStartedAt: Date): RateLimitedError {
    const retryAfter = Math.max(
      1,
      Math.ceil((windowStartedAt.getTime() + this.throttle.windowSeconds * 1000 - Date.now()) / 1000),
    );
    return new RateLimitedError(
      "auth.login_throttled",
      "too many failed logins; try again later",
      retryAfter,
    );
  }

  async logout(principal: Principal): Promise<void> {
    if (principal.kind === "session" && principal.credentialId !== undefined) {
      await this.store.deleteSession(principal.credentialId);
    }
  }

  /** Resolves the caller from a bearer token or a session cookie; a bearer token, when present, decides. */
  async authenticate(credentials: Credentials): Promise<Principal | undefined> {
    if (credentials.bearer !== undefined) return await this.authenticateBearer(credentials.bearer);
    if (credentials.sessionCookie !== undefined)
      return await this.authenticateSession(credentials.sessionCookie);
    return undefined;
  }

  private async authenticateBearer(token: string): Promise<Principal> {
    const apiToken = parseApiToken(token);
    if (apiToken !== undefined) {
      const row = await this.store.findApiToken(apiToken.id);
      if (row === undefined || !secretMatches(apiToken.secret, row.secret_hash)) {
        throw new UnauthenticatedError("invalid API token");
      }
      if (row.revoked_at !== null) throw new UnauthenticatedError("API token has been revoked");
      if (row.expires_at !== null && row.expires_at.getTime() <= Date.now()) {
        throw new UnauthenticatedError("API token has expired");
      }
      if (row.disabled) throw new UnauthenticatedError("user is disabled");
      await this.store.touchApiToken(row.id);
      return await this.principalOf(row.user_id, row.username, "token", row.id);
    }
    if (this.oidc !== undefined && token.split(".").length === 3) {
      return await this.oidc.verify(token, async (name) => (await this.store.findOrg(name))?.kind);
    }
    throw new UnauthenticatedError("bearer token is not an Ingot API token or a valid JWT");
  }

  private async authenticateSession(cookie: string): Promise<Principal> {
    const parsed = parseSessionCookie(cookie);
    const session = parsed === undefined ? undefined : await this.store.findLiveSession(parsed.id);
    if (parsed === undefined || session === undefined || !secretMatches(parsed.secret, session.secret_hash)) {
      throw new UnauthenticatedError("session is invalid or has expired");
    }
    if (session.disabled) throw new UnauthenticatedError("user is disabled");
    return await this.principalOf(session.user_id, session.username, "session", session.id);
  }

  private async principalOf(
    userId: string,
    username: string,
    kind: "session" | "token",
    credentialId: string,
  ): Promise<Principal> {
    return {
      kind,
      name: username,
      userId,
      credentialId,
      memberships: await this.store.membershipsOf(userId),
    };
  }

  async changeOwnPassword(principal: Principal, currentPassword: string, newPassword: string): Promise<void> {
    const user = principal.userId === null ? undefined : await this.store.findUserById(principal.userId);
    if (user === undefined)
      throw new ValidationError("auth.no_password", "OIDC users have no password here", "body");
    if (!(await verifyPassword(user.password_hash, currentPassword))) {
      throw new ValidationError("auth.wrong_password", "is not the current password", "body.currentPassword");
    }
    assertPasswordStrength(newPassword, "body.newPassword");
    await this.store.transaction(async (store) => {
      await store.updateUser(user.username, { passwordHash: await hashPassword(newPassword) });
      await store.deleteSessionsOf(user.id);
    });
  }

  async createApiToken(
    principal: Principal,
    name: string,
    expiresAt: Date | undefined,
  ): Promise<{ token: string; apiToken: ApiToken }> {
    if (principal.userId === null) {
      throw new ValidationError("token.needs_user", "OIDC callers cannot mint API tokens", "body");
    }
    // A leaked short-lived token must not be able to turn itself into a permanent one.
    if (principal.kind === "token")
      throw new ForbiddenError("API tokens cannot create API tokens; log in to create one");
    if (expiresAt !== undefined && expiresAt.getTime() <= Date.now()) {
      throw new ValidationError("token.expiry_in_past", "must be in the future", "body.expiresAt");
    }
    const secret = newSecret();
    const row = await this.store.insertApiToken({
      userId: principal.userId,
      name,
      secretHash: secret.hash,
      expiresAt: expiresAt ?? null,
    });
    return { token: formatApiToken(row.id, secret.secret), apiToken: toApiToken(row) };
  }

  async listApiTokens(
    principal: Principal,
    limit: number,
    cursor: string | undefined,
  ): Promise<Page<ApiToken>> {
    if (principal.userId === null) return { items: [], nextCursor: null };
    const after = decodeCursor(cursor, TokenCursor);
    const rows = await this.store.listApiTokens(
      principal.userId,
      limit + 1,
      after === undefined ? undefined : { createdAt: new Date(after.createdAt), id: after.id },
    );
    return pageOf(rows, limit, toApiToken, (row) => ({
      createdAt: row.created_at.toISOString(),
      id: row.id,
    }));
  }

  async revokeApiToken(principal: Principal, id: string): Promise<ApiToken> {
    const row = principal.userId === null ? undefined : await this.store.revokeApiToken(id, principal.userId);
    if (row === undefined) throw new NotFoundError("token.not_found", `no API token ${id} of yours`);
    return toApiToken(row);
  }

  async me(principal: Principal): Promise<User> {
    if (principal.userId === null) {
      return {
        username: principal.name,
        displayName: principal.name,
        disabled: false,
        createdAt: new Date(0).toISOString(),
        memberships: [...principal.memberships],
      };
    }
    return await this.getUser(principal.name);
  }

  async listOrgs(principal: Principal, limit: number, cursor: string | undefined): Promise<Page<Org>> {
    const after = decodeCursor(cursor, NameCursor);
    const seesAll = principal.memberships.some((m) => m.orgKind === "provider");
    const visible = seesAll ? undefined : principal.memberships.map((m) => m.org);
    const rows = await this.store.listOrgs(limit + 1, after?.name, visible);
    return pageOf(rows, limit, toOrg, (row) => ({ name: row.name }));
  }

  async getOrg(name: string): Promise<Org> {
    return toOrg(await this.requireOrg(name));
  }

  async createOrg(input: { name: string; kind: OrgKind; displayName?: string | undefined }): Promise<Org> {
    const row = await this.store.insertOrg({
      name: input.name,
      kind: input.kind,
      displayName: input.displayName ?? input.name,
    });
    if (row === undefined) throw new ConflictError("org.exists", `org ${input.name} already exists`);
    return toOrg(row);
  }

  async updateOrg(name: string, displayName: string): Promise<Org> {
    const row = await this.store.updateOrg(name, displayName);
    if (row === undefined) throw orgNotFound(name);
    return toOrg(row);
  }

  async deleteOrg(name: string): Promise<void> {
    await this.store.transaction(async (store) => {
      const org = await store.findOrg(name);
      if (org === undefined) throw orgNotFound(name);
      if (org.kind === "provider" && (await store.countProviderOrgs()) <= 1) {
        throw new ConflictError("org.last_provider", "the last provider org cannot be deleted");
      }
      await this.assertProviderAdminRemains(store, { orgId: org.id });
      await store.deleteOrg(name).catch((error: unknown) => {
        if (STILL_REFERENCED.has(String((error as { code?: string }).code))) {
          throw new ConflictError(
            "org.not_empty",
            `org ${name} still owns resources (sites, racks, machines…)`,
          );
        }
        throw error;
      });
    });
  }

  async listUsers(limit: number, cursor: string | undefined): Promise<Page<User>> {
    const after = decodeCursor(cursor, NameCursor);
    const rows = await this.store.listUsers(limit + 1, after?.name);
    const page = pageOf(
      rows,
      limit,
      (row) => row,
      (row) => ({ name: row.username }),
    );
    const items = await Promise.all(
      page.items.map(async (row) => toUser(row, await this.store.membershipsOf(row.id))),
    );
    return { items, nextCursor: page.nextCursor };
  }

  async getUser(username: string): Promise<User> {
    const row = await this.requireUser(username);
    return toUser(row, await this.store.membershipsOf(row.id));
  }

  async createUser(input: {
    username: string;
    displayName?: string | undefined;
    password: string;
  }): Promise<User> {
    assertPasswordStrength(input.password, "body.password");
    const row = await this.store.insertUser({
      username: input.username,
      displayName: input.displayName ?? input.username,
      passwordHash: await hashPassword(input.password),
    });
    if (row === undefined) throw new ConflictError("user.exists", `user ${input.username} already exists`);
    return toUser(row, []);
  }

  async updateUser(
    username: string,
    changes: {
      displayName?: string | undefined;
      password?: string | undefined;
      disabled?: boolean | undefined;
    },
  ): Promise<User> {
    if (changes.password !== undefined) assertPasswordStrength(changes.password, "body.password");
    const passwordHash = changes.password === undefined ? undefined : await hashPassword(changes.password);
    return await this.store.transaction(async (store) => {
      const existing = await store.findUserByName(username);
      if (existing === undefined) throw userNotFound(username);
      if (changes.disabled === true) await this.assertProviderAdminRemains(store, { userId: existing.id });
      const row = await store.updateUser(username, {
        ...(changes.displayName !== undefined ? { displayName: changes.displayName } : {}),
        ...(passwordHash !== undefined ? { passwordHash } : {}),
        ...(changes.disabled !== undefined ? { disabled: changes.disabled } : {}),
      });
      if (row === undefined) throw userNotFound(username);
      if (passwordHash !== undefined || changes.disabled === true) await store.deleteSessionsOf(row.id);
      return toUser(row, await store.membershipsOf(row.id));
    });
  }

  async deleteUser(username: string): Promise<void> {
    await this.store.transaction(async (store) => {
      const user = await store.findUserByName(username);
      if (user === undefined) throw userNotFound(username);
      await this.assertProviderAdminRemains(store, { userId: user.id });
      await store.deleteUser(username);
    });
  }

  async listMembers(orgName: string, limit: number, cursor: string | undefined): Promise<Page<Member>> {
    const org = await this.requireOrg(orgName);
    const after = decodeCursor(cursor, NameCursor);
    const rows = await this.store.listMembers(org.id, limit + 1, after?.name);
    return pageOf(rows, limit, toMember, (row) => ({ name: row.username }));
  }

  async putMember(orgName: string, username: string, role: Role): Promise<Member> {
    return await this.store.transaction(async (store) => {
      const org = await store.findOrg(orgName);
      if (org === undefined) throw orgNotFound(orgName);
      if (!roleFitsOrgKind(role, org.kind)) {
        throw new ValidationError(
          "member.role_mismatch",
          `a ${org.kind} org cannot grant ${role}`,
          "body.role",
        );
      }
      const user = await store.findUserByName(username);
      if (user === undefined) throw userNotFound(username);
      if (role !== "provider-admin")
        await this.assertProviderAdminRemains(store, { userId: user.id, orgId: org.id });
      await store.upsertMembership(user.id, org, role);
      return {
        username: user.username,
        displayName: user.display_name,
        role,
        since: new Date().toISOString(),
      };
    });
  }

  async removeMember(orgName: string, username: string): Promise<void> {
    await this.store.transaction(async (store) => {
      const org = await store.findOrg(orgName);
      if (org === undefined) throw orgNotFound(orgName);
      const user = await store.findUserByName(username);
      if (user === undefined) throw userNotFound(username);
      await this.assertProviderAdminRemains(store, { userId: user.id, orgId: org.id });
      if (!(await store.deleteMembership(user.id, org.id))) {
        throw new NotFoundError("member.not_found", `${username} is not a member of ${orgName}`);
      }
    });
  }

  /**
   * Nobody may take away the last enabled provider admin: that would lock every operator out. `excluding`
   * names the memberships about to go (a user's, an org's, or one user's in one org).
   */
  private async assertProviderAdminRemains(
    store: IdentityStore,
    excluding: { userId?: string; orgId?: string },
  ): Promise<void> {
    await store.lockProviderAdminChanges();
    const admins = await store.enabledProviderAdmins();
    const remaining = admins.filter(
      (admin) =>
        !(
          (excluding.userId === undefined || admin.userId === excluding.userId) &&
          (excluding.orgId === undefined || admin.orgId === excluding.orgId)
        ),
    );
    if (admins.length > 0 && remaining.length === 0) {
      throw new ConflictError(
        "member.last_provider_admin",
        "this would remove the last enabled provider admin",
      );
    }
  }

  async deleteExpiredSessions(): Promise<number> {
    return await this.store.deleteExpiredSessions();
  }

  private async requireOrg(name: string): Promise<OrgRow> {
    const org = await this.store.findOrg(name);
    if (org === undefined) throw orgNotFound(name);
    return org;
  }

  private async requireUser(username: string): Promise<UserRow> {
    const user = await this.store.findUserByName(username);
    if (user === undefined) throw userNotFound(username);
    return user;
  }
}

function assertPasswordStrength(password: string, field: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new ValidationError(
      "auth.weak_password",
      `must be at least ${MIN_PASSWORD_LENGTH} characters`,
      field,
    );
  }
}

function orgNotFound(name: string): NotFoundError {
  return new NotFoundError("org.not_found", `no org named ${name}`);
}

function userNotFound(username: string): NotFoundError {
  return new NotFoundError("user.not_found", `no user named ${username}`);
}

function toOrg(row: OrgRow): Org {
  return {
    name: row.name,
    kind: row.kind,
    displayName: row.display_name,
    createdAt: row.created_at.toISOString(),
  };
}

function toUser(row: UserRow, memberships: Membership[]): User {
  return {
    username: row.username,
    displayName: row.display_name,
    disabled: row.disabled,
    createdAt: row.created_at.toISOString(),
    memberships,
  };
}

function toMember(row: MemberRow): Member {
  return {
    username: row.username,
    displayName: row.display_name,
    role: row.role,
    since: row.created_at.toISOString(),
  };
}

function toApiToken(row: ApiTokenRow): ApiToken {
  return {
    id: row.id,
    name: row.name,
    createdAt: row.created_at.toISOString(),
    expiresAt: row.expires_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
  };
}
