import { randomBytes } from "node:crypto";
import pg from "pg";
import { type DatabaseHandle, openDatabase } from "../../src/db/database.ts";
import { createLogger } from "../../src/observability/logger.ts";

export const TEMPLATE_DATABASE = "ingot_template";

export interface TestDatabase {
  readonly url: string;
  readonly handle: DatabaseHandle;
  drop(): Promise<void>;
}

function adminUrl(): string {
  const url = process.env.INGOT_TEST_ADMIN_URL;
  if (url === undefined) {
    throw new Error(
      "INGOT_TEST_ADMIN_URL is not set: run tests through `npm test` or `npx tsx test/run.ts <files>`",
    );
  }
  return url;
}

/**
 * A fresh database for one test file: a clone of the migrated template (fast), or an empty database
 * for tests of migration itself.
 */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const name = `test_${randomBytes(6).toString("hex")}`;
  const template = options.migrated === false ? "template0" : TEMPLATE_DATABASE;
  await adminQuery(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  const url = adminUrl().replace(/\/postgres$/, `/${name}`);
  const handle = openDatabase(url, createLogger("silent"));
  return {
    url,
    handle,
    async drop() {
      await handle.close();
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

async function adminQuery(text: string): Promise<void> {
  // CREATE DATABASE … TEMPLATE fails while another session is connected to the template; retry briefly.
  for (let attempt = 0; ; attempt++) {
    const client = new pg.Client({ connectionString: adminUrl() });
    await client.connect();
    try {
      await client.query(text);
      return;
    } catch (error) {
      if (attempt >= 20 || !String(error).includes("is being accessed by other users")) throw error;
    } finally {
      await client.end();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
