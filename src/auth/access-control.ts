import cookie from "@fastify/cookie";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ForbiddenError, UnauthenticatedError } from "../errors.ts";
import type { HttpApp } from "../http/app.ts";
import type { Logger } from "../observability/logger.ts";
import type { AuditService } from "./audit.ts";
import { type AccessPolicy, decideAccess, type Principal } from "./model.ts";
import type { IdentityService } from "./service.ts";

export const SESSION_COOKIE = "ingot_session";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Who may call the route; required on every `/api/` route (see AccessPolicy). */
    access?: AccessPolicy;
  }
  interface FastifyRequest {
    principal: Principal | undefined;
    /** What the audit entry names as the target; defaults to the path parameters. */
    auditTarget: string | undefined;
    /** Org of the audit entry when the path has no `{org}` (e.g. a login). */
    auditOrg: string | undefined;
    /** Actor of the audit entry when there is no principal (e.g. a failed login names the username tried). */
    auditActor: string | undefined;
  }
}

const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export interface AccessControlDeps {
  readonly identity: IdentityService;
  readonly audit: AuditService;
  readonly logger: Logger;
}

/**
 * Authentication, authorization and auditing for every route, driven by the `access` policy each route
 * declares. A route under `/api/` without a policy is a startup error, so nothing is left open by mistake.
 */
export async function registerAccessControl(app: HttpApp, deps: AccessControlDeps): Promise<void> {
  await app.register(cookie);
  app.decorateRequest("principal", undefined);
  app.decorateRequest("auditTarget", undefined);
  app.decorateRequest("auditOrg", undefined);
  app.decorateRequest("auditActor", undefined);

  app.addHook("onRoute", (route) => {
    if (!route.url.startsWith("/api/")) return;
    const access = route.config?.access;
    if (access === undefined)
      throw new Error(`${String(route.method)} ${route.url} declares no access policy`);
    if (route.schema !== undefined && !("public" in access)) {
      route.schema.security = [{ bearerAuth: [] }, { sessionCookie: [] }];
      route.schema.description = [route.schema.description, describeAccess(access)]
        .filter(Boolean)
        .join("\n\n");
    }
  });

  app.addHook("onRequest", async (request) => {
    const policy = request.routeOptions.config.access;
    if (policy === undefined || "public" in policy) return;
    request.principal = await deps.identity.authenticate({
      bearer: bearerToken(request),
      sessionCookie: request.cookies[SESSION_COOKIE],
    });
    const decision = decideAccess(policy, request.principal, orgParam(request));
    if (decision === "unauthenticated") throw new UnauthenticatedError();
    if (decision === "forbidden") {
      throw new ForbiddenError(
        orgParam(request) === undefined
          ? "your roles do not allow this"
          : `your roles in org ${orgParam(request)} do not allow this`,
      );
    }
  });

  app.addHook("onSend", async (request, reply) => {
    if (!MUTATING.has(request.method) || !request.url.startsWith("/api/")) return;
    if (request.routeOptions.url === undefined) return;
    await recordAudit(deps, request, reply);
  });
}

async function recordAudit(
  deps: AccessControlDeps,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const principal = request.principal;
  const params = (request.params ?? {}) as Record<string, string>;
  const target =
    request.auditTarget ??
    Object.entries(params)
      .map(([key, value]) => `${key}=${value}`)
      .join(" ");
  try {
    await deps.audit.record({
      actor: principal?.name ?? request.auditActor ?? "anonymous",
      actorKind: principal?.kind ?? "anonymous",
      orgName: orgParam(request) ?? request.auditOrg ?? soleOrg(principal) ?? null,
      action: request.routeOptions.schema?.operationId ?? `${request.method} ${request.routeOptions.url}`,
      target,
      result: reply.statusCode < 400 ? "success" : "failure",
      statusCode: reply.statusCode,
      requestId: request.id,
      method: request.method,
      path: request.url.split("?")[0] ?? request.url,
    });
  } catch (error) {
    deps.logger.error({ err: error, requestId: request.id }, "audit entry could not be written");
  }
}

/**
 * The org an action outside any `{org}` path belongs to: the caller's only org. A caller with several has
 * none, and the entry goes to the provider's view (entries without an org), never to one of their tenants.
 */
function soleOrg(principal: Principal | undefined): string | undefined {
  const orgs = new Set(principal?.memberships.map((membership) => membership.org));
  return orgs.size === 1 ? [...orgs][0] : undefined;
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (match?.[1] === undefined)
    throw new UnauthenticatedError("Authorization header must be `Bearer <token>`");
  return match[1];
}

function orgParam(request: FastifyRequest): string | undefined {
  const params = request.params as Record<string, unknown> | undefined;
  return typeof params?.org === "string" ? params.org : undefined;
}

function describeAccess(access: AccessPolicy): string {
  if ("public" in access) return "Access: public.";
  if ("authenticated" in access) return "Access: any authenticated caller.";
  const parts: string[] = [];
  if (access.orgRoles !== undefined) parts.push(`role in {org}: ${access.orgRoles.join(", ")}`);
  if (access.providerRoles !== undefined) parts.push(`provider role: ${access.providerRoles.join(", ")}`);
  return `Access: ${parts.join("; or ")}.`;
}
