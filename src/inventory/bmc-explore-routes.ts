import type { HttpApp } from "../http/app.ts";
import { OrgParams } from "../http/schema.ts";
import { BmcInventorySchema, ExploreRequestSchema, ExploreResultSchema } from "./bmc-explore-model.ts";
import type { BmcExploreService } from "./bmc-explore-service.ts";
import { BmcParams } from "./bmc-model.ts";
import { INVENTORY_READ, INVENTORY_WRITE } from "./inventory-schema.ts";

const TAGS = ["bmcs"];

export function registerBmcExploreRoutes(app: HttpApp, explorer: BmcExploreService): void {
  app.post(
    "/api/v1/orgs/:org/bmcs/explore",
    {
      schema: {
        operationId: "exploreBmc",
        tags: TAGS,
        summary:
          "Read a BMC's out-of-band inventory, register the BMC and create or link its machine; idempotent",
        description:
          "201 when the BMC was registered by this call, 200 when it was known. A BMC that does not answer " +
          "gives 502 (refused, unreachable) or 504 (no answer in time); refused credentials give 422.",
        params: OrgParams,
        body: ExploreRequestSchema,
        response: { 200: ExploreResultSchema, 201: ExploreResultSchema },
      },
      config: { access: INVENTORY_WRITE },
    },
    async (request, reply) => {
      const target = request.body.address ?? `expected-machine=${request.body.expectedMachineId ?? "?"}`;
      request.auditTarget = `bmc=${target}`;
      const { result, created } = await explorer.explore(request.params.org, request.body);
      request.auditTarget = `bmc=${result.bmc.macAddress} address=${result.bmc.address} machine=${result.machineId}`;
      return reply.status(created ? 201 : 200).send(result);
    },
  );

  app.get(
    "/api/v1/orgs/:org/bmcs/:mac/inventory",
    {
      schema: {
        operationId: "getBmcInventory",
        tags: TAGS,
        summary: "What the BMC last reported out of band, with its power state and last contact",
        params: BmcParams,
        response: { 200: BmcInventorySchema },
      },
      config: { access: INVENTORY_READ },
    },
    async (request) => await explorer.inventoryOf(request.params.org, request.params.mac),
  );
}
