import type { Migration } from "kysely";
import * as identityAndAudit from "./0001-identity-and-audit.ts";
import * as controllerRuntime from "./0002-controller-runtime.ts";
import * as inventory from "./0003-inventory.ts";
import * as inventoryDrift from "./0004-inventory-drift.ts";

/**
 * Every migration, in order. Forward-only: a landed migration is never edited; a change is a new file.
 * Names sort in the order they run.
 */
export const MIGRATIONS: Record<string, Migration> = {
  "0001-identity-and-audit": identityAndAudit,
  "0002-controller-runtime": controllerRuntime,
  "0003-inventory": inventory,
  "0004-inventory-drift": inventoryDrift,
};
