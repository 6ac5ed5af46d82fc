import { Command, CommanderError, Option } from "commander";
import { ConfigError, type OptionTable } from "../config/options.ts";
import {
  loadServerConfig,
  readConfigFile,
  SERVER_OPTIONS,
  type ServerConfig,
} from "../config/server-config.ts";
import { DataDirError } from "../db/embedded-postgres.ts";
import { migrateToLatest } from "../db/migrate.ts";
import { createLogger, type Logger } from "../observability/logger.ts";
import { openServerDatabase, startServer } from "../server/server.ts";
import { INGOT_VERSION } from "../version.ts";
import { registerImageCommands } from "./image-commands.ts";
import { registerLabCommands } from "./lab-commands.ts";

const SHUTDOWN_DEADLINE_MS = 10_000;

function addOptions(command: Command, table: OptionTable): Command {
  for (const spec of Object.values(table)) {
    const envNote = spec.env.length > 0 ? ` [env: ${spec.env.join(", ")}]` : "";
    const defaultNote = spec.default === undefined ? "" : ` (default: ${String(spec.default)})`;
    command.addOption(new Option(spec.flag, `${spec.description}${defaultNote}${envNote}`));
  }
  return command.option("--config <file>", "JSON file with settings named like the flags in camelCase");
}

function serverConfigFrom(flags: Record<string, string | undefined>): ServerConfig {
  return loadServerConfig({ flags, env: process.env, file: readConfigFile(flags.config) });
}

async function runServer(flags: Record<string, string | undefined>): Promise<void> {
  const config = serverConfigFrom(flags);
  const logger = createLogger(config.logLevel);
  const server = await startServer(config, {
    logger,
    onAdminPasswordGenerated: (password, file) => {
      process.stderr.write(
        `\n  Ingot created the user "admin" with password: ${password}\n` +
          `  (shown once; also stored with mode 0600 in ${file})\n\n`,
      );
    },
  });
  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals += 1;
      if (signals > 1) {
        logger.warn({ signal }, "second signal: exiting now");
        process.exit(1);
      }
      logger.info({ signal }, "shutting down");
      const deadline = setTimeout(() => {
        logger.error("shutdown took longer than 10 s; exiting");
        process.exit(1);
      }, SHUTDOWN_DEADLINE_MS);
      deadline.unref();
      server
        .stop()
        .then(() => {
          clearTimeout(deadline);
          logger.flush();
          resolve();
        })
        .catch((error: unknown) => {
          logger.error({ err: error }, "shutdown failed");
          process.exit(1);
        });
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}

async function runMigrations(flags: Record<string, string | undefined>): Promise<void> {
  const config = serverConfigFrom(flags);
  const logger: Logger = createLogger(config.logLevel);
  const { database, embedded } = await openServerDatabase(config, logger);
  try {
    const { applied } = await migrateToLatest(database.db, logger);
    process.stdout.write(
      applied.length === 0
        ? "database is up to date\n"
        : `applied ${applied.length}: ${applied.join(", ")}\n`,
    );
  } finally {
    await database.close();
    await embedded?.stop();
  }
}

function buildProgram(): Command {
  const program = new Command()
    .name("ingot")
    .description("Ingot bare-metal fleet controller")
    .version(INGOT_VERSION, "-V, --version")
    .showHelpAfterError()
    .exitOverride();

  addOptions(
    program.command("server").description("run the API, boot services and background work"),
    SERVER_OPTIONS,
  )
    .allowExcessArguments(false)
    .action(async (flags: Record<string, string | undefined>) => await runServer(flags));

  const db = program.command("db").description("database maintenance");
  addOptions(db.command("migrate").description("apply pending database migrations and exit"), SERVER_OPTIONS)
    .allowExcessArguments(false)
    .action(async (flags: Record<string, string | undefined>) => await runMigrations(flags));

  registerImageCommands(program);
  registerLabCommands(program);

  program
    .command("version")
    .description("print the version")
    .action(() => {
      process.stdout.write(`ingot ${INGOT_VERSION} (node ${process.version})\n`);
    });
  return program;
}

/** Known failures print one clear line and exit non-zero; a stack trace only with INGOT_DEBUG=1. */
async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof ConfigError) {
      process.stderr.write(`ingot: ${error.message}\n`);
      return 2;
    }
    const message = error instanceof DataDirError || error instanceof Error ? error.message : String(error);
    process.stderr.write(`ingot: ${message}\n`);
    if (process.env.INGOT_DEBUG === "1" && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv);
