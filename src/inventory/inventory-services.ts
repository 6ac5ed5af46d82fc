import type { CredentialsVault } from "../bmc/vault.ts";
import type { Db } from "../db/database.ts";
import type { Logger } from "../observability/logger.ts";
import { BmcService } from "./bmc-service.ts";
import { BmcStore } from "./bmc-store.ts";
import { ComponentService } from "./component-service.ts";
import { ComponentStore } from "./component-store.ts";
import { ExpectedMachineService } from "./expected-machine-service.ts";
import { ExpectedMachineStore } from "./expected-machine-store.ts";
import { InventorySecretStore } from "./inventory-secrets.ts";
import { inventoryDb } from "./inventory-tables.ts";
import { OrgScope } from "./org-scope.ts";
import { RackService } from "./rack-service.ts";
import { RackStore } from "./rack-store.ts";
import { SiteService } from "./site-service.ts";
import { SiteStore } from "./site-store.ts";
import { SpecProfileService } from "./spec-profile-service.ts";
import { SpecProfileStore } from "./spec-profile-store.ts";

/** The inventory services other than machines, built on one database handle. */
export interface InventoryServices {
  readonly sites: SiteService;
  readonly racks: RackService;
  readonly components: ComponentService;
  readonly bmcs: BmcService;
  readonly specProfiles: SpecProfileService;
  readonly expectedMachines: ExpectedMachineService;
  /** For `vault.rotate(newKey, secrets)`: every BMC password the inventory stores. */
  readonly secrets: InventorySecretStore;
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
    specProfiles: new SpecProfileService(orgs, new SpecProfileStore(db)),
    expectedMachines: new ExpectedMachineService(
      orgs,
      new ExpectedMachineStore(db),
      deps.vault,
      deps.logger.child({ component: "expected-machines" }),
    ),
    secrets: new InventorySecretStore(db),
  };
}
