import type { HttpApp } from "../http/app.ts";
import { PageSchema } from "../http/pagination.ts";
import { OrgParams } from "../http/schema.ts";
import { IdParams, INVENTORY_READ, INVENTORY_WRITE } from "./inventory-schema.ts";
import { RackCreateSchema, RackListQuerySchema, RackSchema, RackUpdateSchema } from "./rack-model.ts";
import type { RackService } from "./rack-service.ts";

const TAGS = ["racks"];

export function registerRackRoutes(app: HttpApp, racks: RackService): void {
  app.get(
    "/api/v1/orgs/:org/racks",
    {
      schema: {
        operationId: "listRacks",
        tags: TAGS,
        summary: "Racks of the org, filtered by site, status and labels, searched by name, serial or model",
        params: OrgParams,
        querystring: RackListQuerySchema,
        response: { 200: PageSchema(RackSchema) },
      },
      config: { access: INVENTORY_READ },
    },
    async (request) => await racks.list(request.params.org, request.query),
  );

  app.post(
    "/api/v1/orgs/:org/racks",
    {
      schema: {
        operationId: "createRack",
        tags: TAGS,
        params: OrgParams,
        body: RackCreateSchema,
        response: { 201: RackSchema },
      },
      config: { access: INVENTORY_WRITE },
    },
    async (request, reply) => {
      const rack = await racks.create(request.params.org, request.body);
      request.auditTarget = `rack=${rack.id}`;
      return reply.status(201).send(rack);
    },
  );

  app.get(
    "/api/v1/orgs/:org/racks/:id",
    {
      schema: { operationId: "getRack", tags: TAGS, params: IdParams, response: { 200: RackSchema } },
      config: { access: INVENTORY_READ },
    },
    async (request) => await racks.get(request.params.org, request.params.id),
  );

  app.patch(
    "/api/v1/orgs/:org/racks/:id",
    {
      schema: {
        operationId: "updateRack",
        tags: TAGS,
        summary: "Change a rack; its status only moves forward (new → ingesting → ingested)",
        params: IdParams,
        body: RackUpdateSchema,
        response: { 200: RackSchema },
      },
      config: { access: INVENTORY_WRITE },
    },
    async (request) => await racks.update(request.params.org, request.params.id, request.body),
  );

  app.delete(
    "/api/v1/orgs/:org/racks/:id",
    {
      schema: {
        operationId: "deleteRack",
        tags: TAGS,
        summary: "Delete a rack that never held a component",
        params: IdParams,
      },
      config: { access: INVENTORY_WRITE },
    },
    async (request, reply) => {
      await racks.delete(request.params.org, request.params.id);
      return reply.status(204).send();
    },
  );
}
