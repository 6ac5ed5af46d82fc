import type { CredentialsVault } from "../bmc/vault.ts";
import type { Db } from "../db/database.ts";
import type { Logger } from "../observability/logger.ts";
import { BmcService } from "./bmc-service.ts";
import { BmcStore } from "./bmc-store.ts";
import { ComponentService } from "./component-service.ts";
import { ComponentStore } from "./component-store.ts";
import { inventoryDb } from "./inventory-tables.ts";
import { OrgScope } from "./org-scope.ts";
import { RackService } from "./rack-service.ts";
import { RackStore } from "./rack-store.ts";
import { SiteService } from "./site-service.ts";
import { SiteStore } from "./site-store.ts";

/** The inventory services other than machines, built on one database handle. */
export interface InventoryServices {
  readonly sites: SiteService;
  readonly racks: RackService;
  readonly components: ComponentService;
  readonly bmcs: BmcService;
}

export interface InventoryDeps {
  readonly db: Db;
  readonly vault: CredentialsVault;
  readonly logger: Logger;
}

export function createInventoryServices(deps: InventoryDeps): InventoryServices {
  const db = inventoryDb(deps.db);
  const orgs = new OrgScope(db);
  return {
    sites: new SiteService(orgs, new SiteStore(db)),
    racks: new RackService(orgs, new RackStore(db)),
    components: new ComponentService(orgs, new ComponentStore(db)),
    bmcs: new BmcService(orgs, new BmcStore(db), deps.vault),
  };
}
