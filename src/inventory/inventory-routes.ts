import type { HttpApp } from "../http/app.ts";
import { registerBmcRoutes } from "./bmc-routes.ts";
import { registerComponentRoutes } from "./component-routes.ts";
import { registerExpectedMachineRoutes } from "./expected-machine-routes.ts";
import type { InventoryServices } from "./inventory-services.ts";
import { registerRackRoutes } from "./rack-routes.ts";
import { registerSiteRoutes } from "./site-routes.ts";
import { registerSpecProfileRoutes } from "./spec-profile-routes.ts";

/** Sites, racks, components, BMCs, spec profiles and expected machines under `/api/v1/orgs/{org}/…`. */
export async function registerInventoryRoutes(app: HttpApp, services: InventoryServices): Promise<void> {
  registerSiteRoutes(app, services.sites);
  registerRackRoutes(app, services.racks);
  registerComponentRoutes(app, services.components);
  registerBmcRoutes(app, services.bmcs);
  registerSpecProfileRoutes(app, services.specProfiles);
  await registerExpectedMachineRoutes(app, services.expectedMachines);
}
