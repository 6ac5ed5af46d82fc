import { sql } from "kysely";
import { registerAccessControl } from "../auth/access-control.ts";
import { AuditService } from "../auth/audit.ts";
import { AuditStore } from "../auth/audit-store.ts";
import { OidcVerifier } from "../auth/oidc.ts";
import { registerAuthRoutes } from "../auth/routes.ts";
import { IdentityService, type LoginThrottleLimits } from "../auth/service.ts";
import { IdentityStore } from "../auth/store.ts";
import { BmcConnections } from "../bmc/connections.ts";
import { bmcDriverFactory } from "../bmc/driver-factory.ts";
import type { CredentialsVault } from "../bmc/vault.ts";
import { isKnownBootMac } from "../boot/allowlist.ts";
import { BootService } from "../boot/boot-service.ts";
import { BootTokens } from "../boot/boot-tokens.ts";
import { EnrollmentService } from "../boot/enrollment.ts";
import { registerBootRoutes } from "../boot/routes.ts";
import { DEFAULT_BMC_CONFIG, type ServerConfig } from "../config/server-config.ts";
import type { Db } from "../db/database.ts";
import { pendingMigrations } from "../db/migrate.ts";
import { createHttpApp, type HttpApp, type ReadinessReport } from "../http/app.ts";
import { ArtifactStore } from "../images/artifact-store.ts";
import { registerBmcExploreRoutes } from "../inventory/bmc-explore-routes.ts";
import { BmcExploreService } from "../inventory/bmc-explore-service.ts";
import { BmcExploreStore } from "../inventory/bmc-explore-store.ts";
import { BmcStore } from "../inventory/bmc-store.ts";
import { registerDriftRoutes } from "../inventory/drift-routes.ts";
import { DriftService } from "../inventory/drift-service.ts";
import { DriftStore } from "../inventory/drift-store.ts";
import { createInventorySyncMetrics, InventorySync } from "../inventory/drift-sync.ts";
import { registerInventoryRoutes } from "../inventory/inventory-routes.ts";
import { createInventoryServices, type InventoryServices } from "../inventory/inventory-services.ts";
import { inventoryDb } from "../inventory/inventory-tables.ts";
import { MachineLifecycle } from "../inventory/machine-model.ts";
import { registerMachineRoutes } from "../inventory/machine-routes.ts";
import { MachineService } from "../inventory/machine-service.ts";
import { MachineStore } from "../inventory/machine-store.ts";
import { OrgScope } from "../inventory/org-scope.ts";
import { registerPowerRoutes } from "../inventory/power-routes.ts";
import { PowerService } from "../inventory/power-service.ts";
import type { Logger } from "../observability/logger.ts";
import { createMetrics, type Metrics } from "../observability/metrics.ts";
import { LifecycleStore } from "../statemachine/store.ts";
import { INGOT_VERSION } from "../version.ts";
import { PeriodicJobs } from "./periodic.ts";

export interface Services {
  readonly identity: IdentityService;
  readonly audit: AuditService;
  readonly vault: CredentialsVault;
  readonly inventory: InventoryServices;
  readonly machines: MachineService;
  readonly enrollment: EnrollmentService;
  readonly boot: BootService;
  readonly artifacts: ArtifactStore;
  /** Open BMC drivers shared by exploration, the power API and the inventory sync. */
  readonly bmcConnections: BmcConnections;
  readonly explorer: BmcExploreService;
  readonly power: PowerService;
  readonly drift: DriftService;
  readonly inventorySync: InventorySync;
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
  /** Base URL machines reach this server at; known only once it listens, hence a function. */
  readonly publicUrl: () => string;
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

  const machineStore = new MachineStore(db);
  const machineLifecycle = new LifecycleStore(db, MachineLifecycle);
  const orgs = new OrgScope(inventoryDb(db));
  const machines = new MachineService(db, machineStore, machineLifecycle, orgs);
  const artifacts = ArtifactStore.forDataDir(config.dataDir);
  const bootTokens = new BootTokens(db);
  const boot = new BootService({
    machines: machineStore,
    tokens: bootTokens,
    artifacts,
    logger: logger.child({ component: "boot" }),
    publicUrl: options.publicUrl,
    ...(config.dhcp.mode !== "off" && config.dhcp.allowlist
      ? {
          isKnownMac: (mac: string) => isKnownBootMac(db, mac),
        }
      : {}),
  });
  const enrollment = new EnrollmentService({
    db,
    machines: machineStore,
    lifecycle: machineLifecycle,
    tokens: bootTokens,
    logger: logger.child({ component: "enrollment" }),
    hasBmc: (machineId, trx) => machineStore.hasBmc(machineId, trx),
  });

  const bmcConfig = config.bmc ?? DEFAULT_BMC_CONFIG;
  const bmcLogger = logger.child({ component: "bmc" });
  const bmcConnections = new BmcConnections({
    factory: bmcDriverFactory({ logger: bmcLogger, requestTimeoutMs: bmcConfig.requestTimeoutMs }),
    operationTimeoutMs: bmcConfig.operationTimeoutMs,
    logger: bmcLogger,
  });
  const bmcObservations = new BmcExploreStore(db);
  const explorer = new BmcExploreService({
    db,
    orgs,
    store: bmcObservations,
    machines: machineStore,
    lifecycle: machineLifecycle,
    expectedMachines: inventory.expectedMachines,
    vault: options.vault,
    connections: bmcConnections,
    logger: logger.child({ component: "bmc-explore" }),
  });
  const power = new PowerService({
    orgs,
    machines: machineStore,
    bmcStore: new BmcStore(inventoryDb(db)),
    bmcs: inventory.bmcs,
    observations: bmcObservations,
    connections: bmcConnections,
    logger: logger.child({ component: "power" }),
  });
  const driftStore = new DriftStore(db);
  const drift = new DriftService(orgs, driftStore, machines);
  const inventorySync = new InventorySync({
    db,
    store: driftStore,
    observations: bmcObservations,
    bmcs: inventory.bmcs,
    connections: bmcConnections,
    logger: logger.child({ component: "inventory-sync" }),
    metrics: createInventorySyncMetrics(metrics.registry),
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
  registerMachineRoutes(http, machines);
  registerBmcExploreRoutes(http, explorer);
  registerPowerRoutes(http, power);
  registerDriftRoutes(http, drift);
  await registerBootRoutes(http, { boot, enrollment, artifacts });

  const jobs = new PeriodicJobs(logger);
  jobs.every("expired-sessions", 10 * 60_000, () => identity.deleteExpiredSessions());
  jobs.every("expired-boot-tokens", 10 * 60_000, () => bootTokens.deleteExpired());
  if (bmcConfig.inventorySyncIntervalMs > 0) {
    jobs.every("inventory-sync", bmcConfig.inventorySyncIntervalMs, () => inventorySync.runCycle());
  }
  // When shutdown begins, a sync cycle in progress stops without writing and BMC sessions close, so requests
  // waiting on an unanswering BMC end now instead of holding the drain.
  http.addHook("preClose", async () => {
    inventorySync.stop();
    await bmcConnections.close();
  });

  return {
    http,
    services: {
      identity,
      audit,
      vault: options.vault,
      inventory,
      machines,
      enrollment,
      boot,
      artifacts,
      bmcConnections,
      explorer,
      power,
      drift,
      inventorySync,
    },
    metrics,
    jobs,
  };
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
