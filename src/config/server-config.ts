import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import path from "node:path";
import { LOG_LEVELS, type LogLevel } from "../observability/logger.ts";
import {
  DHCP_MODES,
  type DhcpConfig,
  dhcpConfig,
  parseInterfaceName,
  parseIpv4,
  parseIpv4List,
  parseIpv4Range,
  parseIpv4Subnet,
  UEFI_BINARIES,
} from "./dhcp-config.ts";
import {
  ConfigError,
  type ConfigSources,
  option,
  parseBoolean,
  parseInteger,
  parseList,
  parseNonEmpty,
  parseOneOf,
  parseUrl,
  resolveOptions,
} from "./options.ts";

export const SERVER_OPTIONS = {
  host: option({
    flag: "--host <address>",
    env: ["INGOT_HOST"],
    description: "address the HTTP server binds to",
    default: "0.0.0.0",
    parse: parseNonEmpty,
  }),
  port: option({
    flag: "--port <port>",
    env: ["INGOT_PORT"],
    description: "HTTP port (0 picks a free one)",
    default: 8080,
    parse: parseInteger(0, 65535),
  }),
  dataDir: option({
    flag: "--data-dir <dir>",
    env: ["INGOT_DATA_DIR"],
    description: "directory for the embedded PostgreSQL, artifacts and generated secrets",
    default: "./data",
    parse: parseNonEmpty,
  }),
  databaseUrl: option<string>({
    flag: "--database-url <url>",
    env: ["INGOT_DATABASE_URL", "DATABASE_URL"],
    description: "external PostgreSQL (postgres://…); without it Ingot runs its own embedded PostgreSQL",
    parse: parseUrl(["postgres:", "postgresql:"]),
  }),
  publicUrl: option<string>({
    flag: "--public-url <url>",
    env: ["INGOT_PUBLIC_URL"],
    description: "URL machines and agents use to reach this server (default: derived from host and port)",
    parse: parseUrl(["http:", "https:"]),
  }),
  logLevel: option<LogLevel>({
    flag: "--log-level <level>",
    env: ["INGOT_LOG_LEVEL"],
    description: `log level (${LOG_LEVELS.join(", ")})`,
    default: "info",
    parse: parseOneOf(LOG_LEVELS),
  }),
  bodyLimit: option({
    flag: "--body-limit <bytes>",
    env: ["INGOT_BODY_LIMIT"],
    description: "largest accepted request body in bytes",
    default: 1_048_576,
    parse: parseInteger(1024, 256 * 1_048_576),
  }),
  sessionTtl: option({
    flag: "--session-ttl <seconds>",
    env: ["INGOT_SESSION_TTL"],
    description: "lifetime of a login session",
    default: 43_200,
    parse: parseInteger(60, 30 * 86_400),
  }),
  trustProxy: option<TrustProxy>({
    flag: "--trust-proxy <proxies>",
    env: ["INGOT_TRUST_PROXY"],
    description:
      "reverse proxies whose X-Forwarded-* headers count: false, how many sit in front (1), or their addresses/CIDRs",
    default: false,
    parse: parseTrustProxy,
  }),
  oidcIssuer: option<string>({
    flag: "--oidc-issuer <url>",
    env: ["INGOT_OIDC_ISSUER"],
    description: "accept JWT bearer tokens from this OIDC issuer",
    parse: parseUrl(["http:", "https:"]),
  }),
  oidcAudience: option<string>({
    flag: "--oidc-audience <aud>",
    env: ["INGOT_OIDC_AUDIENCE"],
    description: "required `aud` claim of OIDC tokens",
    parse: parseNonEmpty,
  }),
  oidcJwksUrl: option<string>({
    flag: "--oidc-jwks-url <url>",
    env: ["INGOT_OIDC_JWKS_URL"],
    description: "JWKS URL (default: from the issuer's discovery document)",
    parse: parseUrl(["http:", "https:"]),
  }),
  oidcOrg: option<string>({
    flag: "--oidc-org <org>",
    env: ["INGOT_OIDC_ORG"],
    description: "organization every OIDC caller belongs to (static mapping)",
    parse: parseNonEmpty,
  }),
  oidcOrgClaim: option<string>({
    flag: "--oidc-org-claim <claim>",
    env: ["INGOT_OIDC_ORG_CLAIM"],
    description: "claim that names the caller's organization",
    parse: parseNonEmpty,
  }),
  oidcRoles: option<string[]>({
    flag: "--oidc-roles <roles>",
    env: ["INGOT_OIDC_ROLES"],
    description: "comma-separated roles every OIDC caller gets (static mapping)",
    parse: parseList,
  }),
  oidcRolesClaim: option<string>({
    flag: "--oidc-roles-claim <claim>",
    env: ["INGOT_OIDC_ROLES_CLAIM"],
    description: "claim (array or space/comma-separated string; dots reach nested claims) that lists roles",
    parse: parseNonEmpty,
  }),
  dhcp: option({
    flag: "--dhcp <mode>",
    env: ["INGOT_DHCP"],
    description: "DHCP/TFTP boot service: off, full, or proxy (beside an existing DHCP server)",
    default: "off" as const,
    parse: parseOneOf(DHCP_MODES),
  }),
  dhcpInterface: option({
    flag: "--dhcp-interface <if>",
    env: ["INGOT_DHCP_INTERFACE"],
    description: "network interface the DHCP/TFTP service binds to",
    parse: parseInterfaceName,
  }),
  dhcpRange: option({
    flag: "--dhcp-range <start,end>",
    env: ["INGOT_DHCP_RANGE"],
    description: "addresses handed out in full mode",
    parse: parseIpv4Range,
  }),
  dhcpSubnet: option({
    flag: "--dhcp-subnet <cidr>",
    env: ["INGOT_DHCP_SUBNET"],
    description: "network served (CIDR): required for proxy; the netmask for full",
    parse: parseIpv4Subnet,
  }),
  dhcpRouter: option({
    flag: "--dhcp-router <address>",
    env: ["INGOT_DHCP_ROUTER"],
    description: "default gateway handed out in full mode (default: this host)",
    parse: parseIpv4,
  }),
  dhcpDns: option({
    flag: "--dhcp-dns <addresses>",
    env: ["INGOT_DHCP_DNS"],
    description: "comma-separated DNS servers handed out in full mode",
    parse: parseIpv4List,
  }),
  dhcpAllowlist: option({
    flag: "--dhcp-allowlist <bool>",
    env: ["INGOT_DHCP_ALLOWLIST"],
    description: "answer DHCP only for MAC addresses on the allowlist",
    default: false,
    parse: parseBoolean,
  }),
  dhcpUefiBinary: option({
    flag: "--dhcp-uefi-binary <file>",
    env: ["INGOT_DHCP_UEFI_BINARY"],
    description: `iPXE binary for x86-64 UEFI clients (${UEFI_BINARIES.join(", ")})`,
    default: "ipxe.efi" as const,
    parse: parseOneOf(UEFI_BINARIES),
  }),
  bmcTimeout: option({
    flag: "--bmc-timeout <seconds>",
    env: ["INGOT_BMC_TIMEOUT"],
    description: "deadline of one request to a BMC (an HTTP request, an ipmitool command)",
    default: 15,
    parse: parseInteger(1, 300),
  }),
  bmcOperationTimeout: option({
    flag: "--bmc-operation-timeout <seconds>",
    env: ["INGOT_BMC_OPERATION_TIMEOUT"],
    description:
      "deadline of one BMC operation (a power cycle, an inventory read), all its requests together",
    default: 60,
    parse: parseInteger(1, 3600),
  }),
  inventorySyncInterval: option({
    flag: "--inventory-sync-interval <seconds>",
    env: ["INGOT_INVENTORY_SYNC_INTERVAL"],
    description: "how often the inventory sync reads every BMC and rebuilds the drift records (0: never)",
    default: 300,
    parse: parseInteger(0, 7 * 86_400),
  }),
};

/** BMC access and the inventory sync. */
export interface BmcConfig {
  readonly requestTimeoutMs: number;
  readonly operationTimeoutMs: number;
  /** 0: the periodic inventory sync does not run. */
  readonly inventorySyncIntervalMs: number;
}

export const DEFAULT_BMC_CONFIG: BmcConfig = {
  requestTimeoutMs: SERVER_OPTIONS.bmcTimeout.default * 1000,
  operationTimeoutMs: SERVER_OPTIONS.bmcOperationTimeout.default * 1000,
  inventorySyncIntervalMs: SERVER_OPTIONS.inventorySyncInterval.default * 1000,
};

/** false, a hop count, or the addresses of the proxies: never "trust everyone", which lets clients pick their address. */
export type TrustProxy = false | number | readonly string[];

function parseTrustProxy(raw: string): TrustProxy {
  const text = raw.trim().toLowerCase();
  if (["false", "no", "off", "0"].includes(text)) return false;
  if (["true", "yes", "on"].includes(text)) {
    throw new Error(
      "true would believe any client's X-Forwarded-For; give the number of proxies in front (e.g. 1) or their addresses",
    );
  }
  if (/^\d+$/.test(text)) return parseInteger(1, 16)(text);
  const proxies = parseList(raw);
  for (const proxy of proxies) {
    const [address = "", prefix] = proxy.split("/");
    const family = isIP(address);
    const prefixOk =
      prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32));
    if (family === 0 || !prefixOk) throw new Error(`not an address or CIDR: "${proxy}"`);
  }
  return proxies;
}

export interface OidcConfig {
  readonly issuer: string;
  readonly audience: string;
  readonly jwksUrl: string | undefined;
  readonly org: { readonly static: string } | { readonly claim: string };
  readonly roles: { readonly static: readonly string[] } | { readonly claim: string };
}

export interface ServerConfig {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  /** Explicit public URL; when undefined it is derived from the bound address once listening. */
  readonly publicUrl: string | undefined;
  readonly logLevel: LogLevel;
  readonly bodyLimit: number;
  readonly sessionTtlSeconds: number;
  readonly trustProxy: TrustProxy;
  readonly oidc: OidcConfig | undefined;
  readonly dhcp: DhcpConfig;
  /** Omitted (configs built in code, tests): DEFAULT_BMC_CONFIG. */
  readonly bmc?: BmcConfig;
  /** INGOT_ADMIN_PASSWORD: never a flag, so it does not show in `ps`. */
  readonly adminPassword: string | undefined;
}

/** Reads a JSON config file (`--config`); keys are the flag names in camelCase. */
export function readConfigFile(file: string | undefined): Record<string, unknown> {
  if (file === undefined) return {};
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError([`config file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`]);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new Error("expected a JSON object");
    }
    return parsed as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError([`config file ${file}: ${error instanceof Error ? error.message : String(error)}`]);
  }
}

export function loadServerConfig(sources: ConfigSources): ServerConfig {
  const values = resolveOptions(SERVER_OPTIONS, sources);
  const adminPassword = sources.env.INGOT_ADMIN_PASSWORD;
  const problems: string[] = [];
  if (adminPassword !== undefined && adminPassword !== "" && adminPassword.length < 12) {
    problems.push("INGOT_ADMIN_PASSWORD: must be at least 12 characters");
  }
  const oidc = oidcConfig(values, problems);
  const dhcp = dhcpConfig(values, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    host: values.host,
    port: values.port,
    dataDir: path.resolve(values.dataDir),
    databaseUrl: values.databaseUrl,
    publicUrl: values.publicUrl?.replace(/\/+$/, ""),
    logLevel: values.logLevel,
    bodyLimit: values.bodyLimit,
    sessionTtlSeconds: values.sessionTtl,
    trustProxy: values.trustProxy,
    oidc,
    dhcp,
    bmc: {
      requestTimeoutMs: values.bmcTimeout * 1000,
      operationTimeoutMs: values.bmcOperationTimeout * 1000,
      inventorySyncIntervalMs: values.inventorySyncInterval * 1000,
    },
    adminPassword: adminPassword === "" ? undefined : adminPassword,
  };
}

function oidcConfig(
  values: ReturnType<typeof resolveOptions<typeof SERVER_OPTIONS>>,
  problems: string[],
): OidcConfig | undefined {
  const anyOidc = [
    values.oidcAudience,
    values.oidcJwksUrl,
    values.oidcOrg,
    values.oidcOrgClaim,
    values.oidcRoles,
    values.oidcRolesClaim,
  ].some((value) => value !== undefined);
  if (values.oidcIssuer === undefined) {
    if (anyOidc) problems.push("--oidc-* settings need --oidc-issuer");
    return undefined;
  }
  // Without an audience, any token the issuer minted for any other application would be accepted.
  if (values.oidcAudience === undefined)
    problems.push("OIDC needs --oidc-audience (the client id tokens are minted for)");
  if ((values.oidcOrg === undefined) === (values.oidcOrgClaim === undefined)) {
    problems.push("OIDC needs exactly one of --oidc-org or --oidc-org-claim");
  }
  if ((values.oidcRoles === undefined) === (values.oidcRolesClaim === undefined)) {
    problems.push("OIDC needs exactly one of --oidc-roles or --oidc-roles-claim");
  }
  return {
    issuer: values.oidcIssuer,
    audience: values.oidcAudience ?? "",
    jwksUrl: values.oidcJwksUrl,
    org: values.oidcOrg !== undefined ? { static: values.oidcOrg } : { claim: values.oidcOrgClaim ?? "" },
    roles:
      values.oidcRoles !== undefined ? { static: values.oidcRoles } : { claim: values.oidcRolesClaim ?? "" },
  };
}

/** The URL machines use to reach us: explicit, else the bound address (a wildcard becomes a LAN address). */
export function derivePublicUrl(config: ServerConfig, boundPort: number): string {
  if (config.publicUrl !== undefined) return config.publicUrl;
  const wildcard = config.host === "0.0.0.0" || config.host === "::";
  const host = wildcard ? (firstLanAddress() ?? "127.0.0.1") : config.host;
  const bracketed = host.includes(":") ? `[${host}]` : host;
  return `http://${bracketed}:${boundPort}`;
}

function firstLanAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === "IPv4" && !address.internal) return address.address;
    }
  }
  return undefined;
}
