import { sql } from "kysely";
import { registerAccessControl } from "../auth/access-control.ts";
import { AuditService } from "../auth/audit.ts";
import { AuditStore } from "../auth/audit-store.ts";
import { OidcVerifier } from "../auth/oidc.ts";
import { registerAuthRoutes } from "../auth/routes.ts";
import { IdentityService, type LoginThrottleLimits } from "../auth/service.ts";
import { IdentityStore } from "../auth/store.ts";
import type { CredentialsVault } from "../bmc/vault.ts";
import type { ServerConfig } from "../config/server-config.ts";
import type { Db } from "../db/database.ts";
import { pendingMigrations } from "../db/migrate.ts";
import { createHttpApp, type HttpApp, type ReadinessReport } from "../http/app.ts";
import { registerInventoryRoutes } from "../inventory/inventory-routes.ts";
import { createInventoryServices, type InventoryServices } from "../inventory/inventory-services.ts";
import type { Logger } from "../observability/logger.ts";
import { createMetrics, type Metrics } from "../observability/metrics.ts";
import { PeriodicJobs } from "./periodic.ts";
import { INGOT_VERSION } from "./version.ts";

export interface Services {
  readonly identity: IdentityService;
  readonly audit: AuditService;
  readonly vault: CredentialsVault;
  readonly inventory: InventoryServices;
}

export interface AssembledApp {
  readonly http: HttpApp;
  readonly services: Services;
  readonly metrics: Metrics;
  readonly jobs: PeriodicJobs;
}

export interface AssembleOptions {
  readonly db: Db;
  readonly config: ServerConfig;
  readonly logger: Logger;
  /** Encrypts BMC credentials at rest; opened from the data dir or INGOT_VAULT_KEY at the composition root. */
  readonly vault: CredentialsVault;
  /** Tests tighten the login throttle to exercise it without hundreds of requests. */
  readonly loginThrottle?: LoginThrottleLimits;
}

/** Wires services, HTTP routes and background jobs on an open, migrated database. Does not listen. */
export async function assembleApp(options: AssembleOptions): Promise<AssembledApp> {
  const { db, config, logger } = options;
  const metrics = createMetrics();
  const oidc =
    config.oidc === undefined
      ? undefined
      : new OidcVerifier(config.oidc, logger.child({ component: "oidc" }));
  const identity = new IdentityService({
    store: IdentityStore.on(db),
    logger: logger.child({ component: "identity" }),
    sessionTtlSeconds: config.sessionTtlSeconds,
    oidc,
    ...(options.loginThrottle !== undefined ? { loginThrottle: options.loginThrottle } : {}),
  });
  const audit = new AuditService(new AuditStore(db));
  const inventory = createInventoryServices({
    db,
    vault: options.vault,
    logger: logger.child({ component: "inventory" }),
  });

  const http = await createHttpApp({
    logger,
    metrics,
    version: INGOT_VERSION,
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    readiness: () => readiness(db),
  });
  await registerAccessControl(http, { identity, audit, logger });
  registerAuthRoutes(http, identity, audit);
  await registerInventoryRoutes(http, inventory);

  const jobs = new PeriodicJobs(logger);
  jobs.every("expired-sessions", 10 * 60_000, () => identity.deleteExpiredSessions());

  return { http, services: { identity, audit, vault: options.vault, inventory }, metrics, jobs };
}

async function readiness(db: Db): Promise<ReadinessReport> {
  try {
    await sql`SELECT 1`.execute(db);
  } catch (error) {
    return { ready: false, checks: { database: error instanceof Error ? error.message : String(error) } };
  }
  const pending = await pendingMigrations(db);
  if (pending.length > 0)
    return { ready: false, checks: { database: "ok", migrations: `pending: ${pending.join(", ")}` } };
  return { ready: true, checks: { database: "ok", migrations: "ok" } };
}
