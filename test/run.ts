/**
 * The test entry point (`npm test`): one embedded PostgreSQL for the whole run, a migrated template
 * database that every test file clones, then node:test over the test files (or those named as arguments).
 */
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { openDatabase } from "../src/db/database.ts";
import { startEmbeddedPostgres } from "../src/db/embedded-postgres.ts";
import { migrateToLatest } from "../src/db/migrate.ts";
import { createLogger } from "../src/observability/logger.ts";
import { TEMPLATE_DATABASE } from "./helpers/database.ts";

function testFiles(roots: string[]): string[] {
  const found: string[] = [];
  const visit = (entry: string): void => {
    if (statSync(entry).isDirectory()) {
      for (const child of readdirSync(entry).sort()) visit(path.join(entry, child));
    } else if (entry.endsWith(".test.ts")) {
      found.push(entry);
    }
  };
  for (const root of roots) visit(root);
  return found;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const files = testFiles(args.length > 0 ? args : ["test"]);
  if (files.length === 0) {
    console.error("no test files found");
    return 1;
  }
  const logger = createLogger("warn");
  const dataDir = mkdtempSync(path.join(tmpdir(), "ingot-test-"));
  chmodSync(dataDir, 0o755);
  const postgres = await startEmbeddedPostgres({
    dataDir,
    logger,
    settings: { fsync: "off", synchronous_commit: "off", full_page_writes: "off", max_connections: "400" },
  });
  try {
    const admin = new pg.Client({ connectionString: postgres.adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
    await admin.end();
    const template = openDatabase(postgres.adminUrl.replace(/\/postgres$/, `/${TEMPLATE_DATABASE}`), logger);
    await migrateToLatest(template.db, logger);
    await template.close();

    const concurrency = Number(process.env.INGOT_TEST_CONCURRENCY ?? Math.max(2, availableParallelism()));
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--test", `--test-concurrency=${concurrency}`, "--test-reporter=spec", ...files],
      { stdio: "inherit", env: { ...process.env, INGOT_TEST_ADMIN_URL: postgres.adminUrl } },
    );
    return await new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? 1)));
  } finally {
    await postgres.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
