export const ORG_KINDS = ["provider", "tenant"] as const;
export type OrgKind = (typeof ORG_KINDS)[number];

export const PROVIDER_ROLES = ["provider-admin", "provider-viewer"] as const;
export const TENANT_ROLES = ["tenant-admin", "tenant-viewer"] as const;
export const ROLES = [...PROVIDER_ROLES, ...TENANT_ROLES] as const;
export type ProviderRole = (typeof PROVIDER_ROLES)[number];
export type TenantRole = (typeof TENANT_ROLES)[number];
export type Role = (typeof ROLES)[number];

export const ORG_NAME_PATTERN = "^[a-z0-9][a-z0-9-]{0,62}$";
export const USERNAME_PATTERN = "^[a-z0-9][a-z0-9._@-]{0,127}$";
export const MIN_PASSWORD_LENGTH = 12;

export const DEFAULT_PROVIDER_ORG = "default";
export const BOOTSTRAP_ADMIN = "admin";

export function roleFitsOrgKind(role: Role, kind: OrgKind): boolean {
  return kind === "provider" ? isProviderRole(role) : !isProviderRole(role);
}

export function isProviderRole(role: string): role is ProviderRole {
  return (PROVIDER_ROLES as readonly string[]).includes(role);
}

export function isRole(role: string): role is Role {
  return (ROLES as readonly string[]).includes(role);
}

export interface Membership {
  readonly org: string;
  readonly orgKind: OrgKind;
  readonly role: Role;
}

export type PrincipalKind = "session" | "token" | "oidc";

/** Who is calling: a logged-in user, an API token acting as its user, or an OIDC subject. */
export interface Principal {
  readonly kind: PrincipalKind;
  /** username, or `oidc:<sub>` for OIDC callers */
  readonly name: string;
  /** null for OIDC callers, who have no user row */
  readonly userId: string | null;
  readonly memberships: readonly Membership[];
  /** set when authenticated by an API token or session, for revocation and audit */
  readonly credentialId?: string;
}

/**
 * What a route requires, declared on the route. Routes under `/api/` must declare one.
 * - `public`: no authentication.
 * - `authenticated`: any caller with valid credentials.
 * - `orgRoles`: a role in the `{org}` of the path.
 * - `providerRoles`: a role in any provider org (infrastructure-wide administration).
 * When both role lists are given, either grants access.
 */
export type AccessPolicy =
  | { readonly public: true }
  | { readonly authenticated: true }
  | { readonly orgRoles?: readonly Role[]; readonly providerRoles?: readonly ProviderRole[] };

export type AccessDecision = "allowed" | "unauthenticated" | "forbidden";

export function decideAccess(
  policy: AccessPolicy,
  principal: Principal | undefined,
  orgParam: string | undefined,
): AccessDecision {
  if ("public" in policy) return "allowed";
  if (principal === undefined) return "unauthenticated";
  if ("authenticated" in policy) return "allowed";
  const { orgRoles = [], providerRoles = [] } = policy;
  const inOrg =
    orgParam !== undefined &&
    principal.memberships.some((m) => m.org === orgParam && orgRoles.includes(m.role));
  const asProvider = principal.memberships.some(
    (m) => m.orgKind === "provider" && (providerRoles as readonly Role[]).includes(m.role),
  );
  return inOrg || asProvider ? "allowed" : "forbidden";
}

/** Roles that may read org-scoped data of their own org. */
export const ORG_READERS: readonly Role[] = ROLES;
/** Roles that may change org-scoped data of their own org. */
export const ORG_WRITERS: readonly Role[] = ["provider-admin", "tenant-admin"];
