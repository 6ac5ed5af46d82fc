import { Type } from "typebox";
import type { HttpApp } from "../http/app.ts";
import { PageQueryFields, PageSchema } from "../http/pagination.ts";
import { NullableTimestamp, OrgName, OrgParams, StrictObject, Timestamp } from "../http/schema.ts";
import { SESSION_COOKIE } from "./access-control.ts";
import type { AuditService } from "./audit.ts";
import {
  ORG_KINDS,
  ORG_READERS,
  ORG_WRITERS,
  PROVIDER_ROLES,
  type Principal,
  ROLES,
  USERNAME_PATTERN,
} from "./model.ts";
import type { IdentityService } from "./service.ts";

const RoleSchema = Type.Enum(ROLES);
const Username = Type.String({ pattern: USERNAME_PATTERN, description: "lower-case login name" });
const Password = Type.String({ minLength: 1, maxLength: 1024 });
const DisplayName = Type.String({ minLength: 1, maxLength: 200 });

const MembershipSchema = Type.Object({
  org: Type.String(),
  orgKind: Type.Enum(ORG_KINDS),
  role: RoleSchema,
});
const UserSchema = Type.Object({
  username: Type.String(),
  displayName: Type.String(),
  disabled: Type.Boolean(),
  createdAt: Timestamp,
  memberships: Type.Array(MembershipSchema),
});
const OrgSchema = Type.Object({
  name: Type.String(),
  kind: Type.Enum(ORG_KINDS),
  displayName: Type.String(),
  createdAt: Timestamp,
});
const MemberSchema = Type.Object({
  username: Type.String(),
  displayName: Type.String(),
  role: RoleSchema,
  since: Timestamp,
});
const ApiTokenSchema = Type.Object({
  id: Type.String({ format: "uuid" }),
  name: Type.String(),
  createdAt: Timestamp,
  expiresAt: NullableTimestamp,
  revokedAt: NullableTimestamp,
  lastUsedAt: NullableTimestamp,
});
const AuditEntrySchema = Type.Object({
  id: Type.Integer(),
  at: Timestamp,
  actor: Type.String(),
  actorKind: Type.String(),
  org: Type.Union([Type.String(), Type.Null()]),
  action: Type.String({ description: "the operationId of the route" }),
  target: Type.String(),
  result: Type.Union([Type.Literal("success"), Type.Literal("failure")]),
  statusCode: Type.Integer(),
  requestId: Type.String(),
  method: Type.String(),
  path: Type.String(),
});

const PROVIDER_ADMIN = { providerRoles: ["provider-admin"] } as const;
const PROVIDER_STAFF = { providerRoles: PROVIDER_ROLES } as const;

function caller(principal: Principal | undefined): Principal {
  if (principal === undefined) throw new Error("route requires authentication but has no principal");
  return principal;
}

/** Identity and access API: login, sessions, tokens, orgs, users, memberships and the audit log. */
export function registerAuthRoutes(app: HttpApp, identity: IdentityService, audit: AuditService): void {
  app.post(
    "/api/v1/auth/login",
    {
      schema: {
        operationId: "login",
        tags: ["auth"],
        summary: "Log in with a username and password; sets an httpOnly session cookie",
        body: StrictObject({ username: Type.String({ minLength: 1, maxLength: 128 }), password: Password }),
        response: { 200: Type.Object({ user: UserSchema, expiresAt: Timestamp }) },
      },
      config: { access: { public: true } },
    },
    async (request, reply) => {
      request.auditActor = request.body.username.toLowerCase();
      const session = await identity.login(request.body.username, request.body.password, request.ip);
      request.principal = session.principal;
      reply.setCookie(SESSION_COOKIE, session.cookie, {
        httpOnly: true,
        sameSite: "strict",
        secure: request.protocol === "https",
        path: "/",
        expires: session.expiresAt,
      });
      return { user: await identity.me(session.principal), expiresAt: session.expiresAt.toISOString() };
    },
  );

  app.post(
    "/api/v1/auth/logout",
    {
      schema: { operationId: "logout", tags: ["auth"], summary: "End the current session" },
      config: { access: { authenticated: true } },
    },
    async (request, reply) => {
      await identity.logout(caller(request.principal));
      reply.clearCookie(SESSION_COOKIE, { path: "/" });
      return reply.status(204).send();
    },
  );

  app.get(
    "/api/v1/auth/me",
    {
      schema: {
        operationId: "getCurrentUser",
        tags: ["auth"],
        summary: "Who am I, and which roles do I hold in which orgs",
        response: { 200: UserSchema },
      },
      config: { access: { authenticated: true } },
    },
    async (request) => await identity.me(caller(request.principal)),
  );

  app.post(
    "/api/v1/auth/password",
    {
      schema: {
        operationId: "changeOwnPassword",
        tags: ["auth"],
        summary: "Change your own password; ends all your sessions",
        body: StrictObject({ currentPassword: Password, newPassword: Password }),
      },
      config: { access: { authenticated: true } },
    },
    async (request, reply) => {
      await identity.changeOwnPassword(
        caller(request.principal),
        request.body.currentPassword,
        request.body.newPassword,
      );
      reply.clearCookie(SESSION_COOKIE, { path: "/" });
      return reply.status(204).send();
    },
  );

  app.post(
    "/api/v1/auth/tokens",
    {
      schema: {
        operationId: "createApiToken",
        tags: ["auth"],
        summary: "Create an API token acting as you; the secret is shown only in this response",
        body: StrictObject({
          name: Type.String({ minLength: 1, maxLength: 100 }),
          expiresAt: Type.Optional(Timestamp),
        }),
        response: { 201: Type.Object({ token: Type.String(), apiToken: ApiTokenSchema }) },
      },
      config: { access: { authenticated: true } },
    },
    async (request, reply) => {
      const expiresAt = request.body.expiresAt === undefined ? undefined : new Date(request.body.expiresAt);
      const created = await identity.createApiToken(caller(request.principal), request.body.name, expiresAt);
      request.auditTarget = `token=${created.apiToken.id}`;
      return reply.status(201).send(created);
    },
  );

  app.get(
    "/api/v1/auth/tokens",
    {
      schema: {
        operationId: "listApiTokens",
        tags: ["auth"],
        querystring: StrictObject({ ...PageQueryFields }),
        response: { 200: PageSchema(ApiTokenSchema) },
      },
      config: { access: { authenticated: true } },
    },
    async (request) =>
      await identity.listApiTokens(caller(request.principal), request.query.limit, request.query.cursor),
  );

  app.delete(
    "/api/v1/auth/tokens/:id",
    {
      schema: {
        operationId: "revokeApiToken",
        tags: ["auth"],
        params: StrictObject({ id: Type.String({ format: "uuid" }) }),
        response: { 200: ApiTokenSchema },
      },
      config: { access: { authenticated: true } },
    },
    async (request) => await identity.revokeApiToken(caller(request.principal), request.params.id),
  );

  app.get(
    "/api/v1/orgs",
    {
      schema: {
        operationId: "listOrgs",
        tags: ["orgs"],
        summary: "Orgs you belong to; provider members see all",
        querystring: StrictObject({ ...PageQueryFields }),
        response: { 200: PageSchema(OrgSchema) },
      },
      config: { access: { authenticated: true } },
    },
    async (request) =>
      await identity.listOrgs(caller(request.principal), request.query.limit, request.query.cursor),
  );

  app.post(
    "/api/v1/orgs",
    {
      schema: {
        operationId: "createOrg",
        tags: ["orgs"],
        body: StrictObject({
          name: OrgName,
          kind: Type.Enum(ORG_KINDS),
          displayName: Type.Optional(DisplayName),
        }),
        response: { 201: OrgSchema },
      },
      config: { access: PROVIDER_ADMIN },
    },
    async (request, reply) => {
      request.auditTarget = `org=${request.body.name}`;
      return reply.status(201).send(await identity.createOrg(request.body));
    },
  );

  app.get(
    "/api/v1/orgs/:org",
    {
      schema: { operationId: "getOrg", tags: ["orgs"], params: OrgParams, response: { 200: OrgSchema } },
      config: { access: { orgRoles: ORG_READERS, ...PROVIDER_STAFF } },
    },
    async (request) => await identity.getOrg(request.params.org),
  );

  app.patch(
    "/api/v1/orgs/:org",
    {
      schema: {
        operationId: "updateOrg",
        tags: ["orgs"],
        params: OrgParams,
        body: StrictObject({ displayName: DisplayName }),
        response: { 200: OrgSchema },
      },
      config: { access: PROVIDER_ADMIN },
    },
    async (request) => await identity.updateOrg(request.params.org, request.body.displayName),
  );

  app.delete(
    "/api/v1/orgs/:org",
    {
      schema: { operationId: "deleteOrg", tags: ["orgs"], params: OrgParams },
      config: { access: PROVIDER_ADMIN },
    },
    async (request, reply) => {
      await identity.deleteOrg(request.params.org);
      return reply.status(204).send();
    },
  );

  const MemberParams = StrictObject({ org: OrgName, username: Username });

  app.get(
    "/api/v1/orgs/:org/members",
    {
      schema: {
        operationId: "listOrgMembers",
        tags: ["orgs"],
        params: OrgParams,
        querystring: StrictObject({ ...PageQueryFields }),
        response: { 200: PageSchema(MemberSchema) },
      },
      config: { access: { orgRoles: ORG_READERS, ...PROVIDER_STAFF } },
    },
    async (request) =>
      await identity.listMembers(request.params.org, request.query.limit, request.query.cursor),
  );

  app.put(
    "/api/v1/orgs/:org/members/:username",
    {
      schema: {
        operationId: "putOrgMember",
        tags: ["orgs"],
        summary: "Grant a user a role in the org (replacing any role they had there)",
        params: MemberParams,
        body: StrictObject({ role: RoleSchema }),
        response: { 200: MemberSchema },
      },
      config: { access: { orgRoles: ORG_WRITERS, ...PROVIDER_ADMIN } },
    },
    async (request) =>
      await identity.putMember(request.params.org, request.params.username, request.body.role),
  );

  app.delete(
    "/api/v1/orgs/:org/members/:username",
    {
      schema: { operationId: "removeOrgMember", tags: ["orgs"], params: MemberParams },
      config: { access: { orgRoles: ORG_WRITERS, ...PROVIDER_ADMIN } },
    },
    async (request, reply) => {
      await identity.removeMember(request.params.org, request.params.username);
      return reply.status(204).send();
    },
  );

  const UserParams = StrictObject({ username: Username });

  app.get(
    "/api/v1/users",
    {
      schema: {
        operationId: "listUsers",
        tags: ["users"],
        querystring: StrictObject({ ...PageQueryFields }),
        response: { 200: PageSchema(UserSchema) },
      },
      config: { access: PROVIDER_STAFF },
    },
    async (request) => await identity.listUsers(request.query.limit, request.query.cursor),
  );

  app.post(
    "/api/v1/users",
    {
      schema: {
        operationId: "createUser",
        tags: ["users"],
        body: StrictObject({
          username: Username,
          displayName: Type.Optional(DisplayName),
          password: Password,
        }),
        response: { 201: UserSchema },
      },
      config: { access: PROVIDER_ADMIN },
    },
    async (request, reply) => {
      request.auditTarget = `username=${request.body.username}`;
      return reply.status(201).send(await identity.createUser(request.body));
    },
  );

  app.get(
    "/api/v1/users/:username",
    {
      schema: { operationId: "getUser", tags: ["users"], params: UserParams, response: { 200: UserSchema } },
      config: { access: PROVIDER_STAFF },
    },
    async (request) => await identity.getUser(request.params.username),
  );

  app.patch(
    "/api/v1/users/:username",
    {
      schema: {
        operationId: "updateUser",
        tags: ["users"],
        summary: "Rename, reset the password of, disable or enable a user; disabling ends their sessions",
        params: UserParams,
        body: StrictObject({
          displayName: Type.Optional(DisplayName),
          password: Type.Optional(Password),
          disabled: Type.Optional(Type.Boolean()),
        }),
        response: { 200: UserSchema },
      },
      config: { access: PROVIDER_ADMIN },
    },
    async (request) => await identity.updateUser(request.params.username, request.body),
  );

  app.delete(
    "/api/v1/users/:username",
    {
      schema: { operationId: "deleteUser", tags: ["users"], params: UserParams },
      config: { access: PROVIDER_ADMIN },
    },
    async (request, reply) => {
      await identity.deleteUser(request.params.username);
      return reply.status(204).send();
    },
  );

  app.get(
    "/api/v1/orgs/:org/audit",
    {
      schema: {
        operationId: "listAuditEntries",
        tags: ["audit"],
        summary: "Audit log of the org, newest first",
        params: OrgParams,
        querystring: StrictObject({
          ...PageQueryFields,
          actor: Type.Optional(Type.String({ maxLength: 200 })),
          action: Type.Optional(Type.String({ maxLength: 200 })),
          result: Type.Optional(Type.Union([Type.Literal("success"), Type.Literal("failure")])),
          target: Type.Optional(Type.String({ maxLength: 500, description: "prefix match" })),
          since: Type.Optional(Timestamp),
          until: Type.Optional(Timestamp),
        }),
        response: { 200: PageSchema(AuditEntrySchema) },
      },
      config: { access: { orgRoles: ORG_READERS } },
    },
    async (request) => {
      const { limit, cursor, ...filters } = request.query;
      const org = await identity.getOrg(request.params.org);
      return await audit.list(org, filters, limit, cursor);
    },
  );
}
