import { createRemoteJWKSet, type JWTPayload, errors as joseErrors, jwtVerify } from "jose";
import type { OidcConfig } from "../config/server-config.ts";
import { UnauthenticatedError, UnavailableError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";
import { isRole, type Membership, type OrgKind, type Principal, roleFitsOrgKind } from "./model.ts";

type JwksResolver = ReturnType<typeof createRemoteJWKSet>;

const FETCH_TIMEOUT_MS = 5_000;

/**
 * Verifies OIDC/JWT bearer tokens against the issuer's JWKS and maps claims to an org and roles.
 * jose caches the key set and refetches it when a token names an unknown key id, which is how
 * key rotation at the identity provider is picked up without a restart.
 */
export class OidcVerifier {
  private jwks: Promise<JwksResolver> | undefined;

  constructor(
    private readonly config: OidcConfig,
    private readonly logger: Logger,
    /** Least time between key set refetches triggered by unknown key ids, so bogus tokens cannot hammer the IdP. */
    private readonly refetchCooldownMs = 30_000,
  ) {}

  async verify(token: string, orgKindOf: (org: string) => Promise<OrgKind | undefined>): Promise<Principal> {
    const payload = await this.verifySignature(token);
    const org = this.orgOf(payload);
    const kind = org === undefined ? undefined : await orgKindOf(org);
    const memberships: Membership[] = [];
    if (org !== undefined && kind !== undefined) {
      for (const role of this.rolesOf(payload)) {
        if (isRole(role) && roleFitsOrgKind(role, kind)) memberships.push({ org, orgKind: kind, role });
      }
    }
    const subject = typeof payload.sub === "string" ? payload.sub : "unknown";
    return { kind: "oidc", name: `oidc:${subject}`, userId: null, memberships };
  }

  private async verifySignature(token: string): Promise<JWTPayload> {
    const jwks = await this.keySet();
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer: this.config.issuer,
        audience: this.config.audience,
      });
      return payload;
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new UnauthenticatedError("token has expired");
      if (error instanceof joseErrors.JWKSTimeout) {
        throw new UnavailableError("auth.idp_unavailable", "identity provider did not answer in time");
      }
      if (error instanceof joseErrors.JOSEError) {
        throw new UnauthenticatedError(`token rejected: ${error.code}`);
      }
      this.logger.warn({ err: error }, "fetching the OIDC key set failed");
      throw new UnavailableError("auth.idp_unavailable", "identity provider key set is unreachable");
    }
  }

  private async keySet(): Promise<JwksResolver> {
    this.jwks ??= this.discoverJwksUrl().then((url) =>
      createRemoteJWKSet(new URL(url), {
        timeoutDuration: FETCH_TIMEOUT_MS,
        cooldownDuration: this.refetchCooldownMs,
      }),
    );
    try {
      return await this.jwks;
    } catch (error) {
      this.jwks = undefined;
      this.logger.warn({ err: error }, "OIDC discovery failed");
      throw new UnavailableError("auth.idp_unavailable", "identity provider discovery failed");
    }
  }

  private async discoverJwksUrl(): Promise<string> {
    if (this.config.jwksUrl !== undefined) return this.config.jwksUrl;
    const url = `${this.config.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
    const response = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    const document = (await response.json()) as { jwks_uri?: unknown };
    if (typeof document.jwks_uri !== "string") throw new Error(`${url} has no jwks_uri`);
    return document.jwks_uri;
  }

  private orgOf(payload: JWTPayload): string | undefined {
    if ("static" in this.config.org) return this.config.org.static;
    const value = claim(payload, this.config.org.claim);
    return typeof value === "string" && value !== "" ? value : undefined;
  }

  private rolesOf(payload: JWTPayload): string[] {
    if ("static" in this.config.roles) return [...this.config.roles.static];
    const value = claim(payload, this.config.roles.claim);
    if (Array.isArray(value)) return value.filter((item): item is string => typeof item === "string");
    if (typeof value === "string") return value.split(/[\s,]+/).filter((item) => item !== "");
    return [];
  }
}

/** Reads `realm_access.roles`-style dotted paths; a claim whose own name has dots is found first. */
function claim(payload: JWTPayload, path: string): unknown {
  if (path in payload) return payload[path];
  let current: unknown = payload;
  for (const part of path.split(".")) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}
