import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { CredentialsVault } from "../bmc/vault.ts";
import { knownBootMacs } from "../boot/allowlist.ts";
import { DnsmasqSupervisor, ipxeChainUrl } from "../boot/dnsmasq.ts";
import { derivePublicUrl, type ServerConfig } from "../config/server-config.ts";
import { type DatabaseHandle, openDatabase } from "../db/database.ts";
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from "../db/embedded-postgres.ts";
import { migrateToLatest } from "../db/migrate.ts";
import type { Logger } from "../observability/logger.ts";
import { type AssembledApp, assembleApp } from "./app.ts";

export interface RunningServer {
  readonly url: string;
  readonly publicUrl: string;
  readonly port: number;
  /** Stops accepting, drains requests, stops background work, closes the database; idempotent. */
  stop(): Promise<void>;
}

export interface StartServerOptions {
  readonly logger: Logger;
  /** Called once when this start generated the admin password (it is also written to the data dir). */
  readonly onAdminPasswordGenerated?: (password: string, file: string) => void;
}

/** A running PostgreSQL for the server: the embedded one under the data dir, or DATABASE_URL. */
export async function openServerDatabase(
  config: ServerConfig,
  logger: Logger,
): Promise<{ database: DatabaseHandle; embedded: EmbeddedPostgresHandle | undefined }> {
  const embedded =
    config.databaseUrl === undefined
      ? await startEmbeddedPostgres({ dataDir: config.dataDir, logger })
      : undefined;
  const url = config.databaseUrl ?? embedded?.url ?? "";
  try {
    const database = openDatabase(url, logger);
    return { database, embedded };
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
}

/**
 * Replicas on one database must share the vault key, or each can read only the BMC passwords it stored
 * itself. Said loudly at start, since the failure otherwise shows only later, as refused BMC calls.
 */
async function warnAboutForeignVaultKeys(
  assembled: AssembledApp,
  vault: CredentialsVault,
  config: ServerConfig,
  logger: Logger,
): Promise<void> {
  const foreign = (await assembled.services.inventory.secrets.sealingKeyIds()).filter(
    (id) => !vault.holds(id),
  );
  if (foreign.length > 0) {
    logger.error(
      { keyIds: foreign, keyId: vault.keyId },
      "stored BMC credentials are sealed with vault keys this server does not hold: give every replica the same INGOT_VAULT_KEY",
    );
  } else if (config.databaseUrl !== undefined && process.env.INGOT_VAULT_KEY === undefined) {
    logger.warn(
      { keyId: vault.keyId },
      "external database without INGOT_VAULT_KEY: replicas with other data directories will not read each other's BMC credentials",
    );
  }
}

/** How long shutdown waits for requests in flight; the CLI exits after 10 s in all. */
const HTTP_DRAIN_MS = 5_000;

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function startServer(config: ServerConfig, options: StartServerOptions): Promise<RunningServer> {
  const { logger } = options;
  const { database, embedded } = await openServerDatabase(config, logger);
  let assembled: AssembledApp | undefined;
  let dnsmasq: DnsmasqSupervisor | undefined;
  const closeAll = async (): Promise<void> => {
    try {
      await dnsmasq?.stop();
      if (assembled !== undefined) {
        const drained = await settlesWithin(assembled.http.close(), HTTP_DRAIN_MS);
        if (!drained) logger.warn(`requests still running after ${HTTP_DRAIN_MS / 1000} s; closing anyway`);
        await assembled.jobs.stop();
      }
    } finally {
      // Whatever failed above, the database goes down with the server.
      await database
        .close()
        .catch((error: unknown) => logger.warn({ err: error }, "closing the pool failed"));
      await embedded?.stop();
    }
  };
  try {
    await migrateToLatest(database.db, logger);
    const vault = await CredentialsVault.open({ dataDir: config.dataDir, env: process.env });
    // With --port 0 the public URL is known only once listening; until then nothing can ask for it.
    let publicUrl = derivePublicUrl(config, config.port);
    assembled = await assembleApp({ db: database.db, config, logger, vault, publicUrl: () => publicUrl });
    await warnAboutForeignVaultKeys(assembled, vault, config, logger);
    const passwordFile = path.join(config.dataDir, "admin-password");
    const { generatedAdminPassword } = await assembled.services.identity.bootstrap(
      config.adminPassword,
      async (password) => {
        await mkdir(config.dataDir, { recursive: true });
        await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
      },
    );
    if (generatedAdminPassword !== undefined) {
      options.onAdminPasswordGenerated?.(generatedAdminPassword, passwordFile);
    }
    await assembled.http.listen({ host: config.host, port: config.port });
    const address = assembled.http.server.address();
    const port = typeof address === "object" && address !== null ? address.port : config.port;
    const host = config.host.includes(":") ? `[${config.host}]` : config.host;
    publicUrl = derivePublicUrl(config, port);
    if (config.dhcp.mode !== "off") {
      const db = database.db;
      dnsmasq = new DnsmasqSupervisor({
        logger: logger.child({ component: "dnsmasq" }),
        settings: { dhcp: config.dhcp, chainUrl: ipxeChainUrl(publicUrl) },
        allowlist: (signal) => knownBootMacs(db, signal),
        paths: { dataDir: config.dataDir },
        registry: assembled.metrics.registry,
      });
      await dnsmasq.start();
    }
    logger.info({ port, publicUrl, embeddedDatabase: embedded !== undefined }, "ingot server listening");
    let stopping: Promise<void> | undefined;
    return {
      url: `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`,
      publicUrl,
      port,
      stop: () => {
        stopping ??= closeAll().then(() => logger.info("ingot server stopped"));
        return stopping;
      },
    };
  } catch (error) {
    await closeAll().catch((closeError: unknown) =>
      logger.error({ err: closeError }, "cleanup after failed start"),
    );
    throw error;
  }
}
