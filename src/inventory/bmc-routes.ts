import type { HttpApp } from "../http/app.ts";
import { PageSchema } from "../http/pagination.ts";
import { OrgParams } from "../http/schema.ts";
import { BmcCreateSchema, BmcListQuerySchema, BmcParams, BmcSchema, BmcUpdateSchema } from "./bmc-model.ts";
import type { BmcService } from "./bmc-service.ts";
import { INVENTORY_READ, INVENTORY_WRITE } from "./inventory-schema.ts";

const TAGS = ["bmcs"];

export function registerBmcRoutes(app: HttpApp, bmcs: BmcService): void {
  app.get(
    "/api/v1/orgs/:org/bmcs",
    {
      schema: {
        operationId: "listBmcs",
        tags: TAGS,
        params: OrgParams,
        querystring: BmcListQuerySchema,
        response: { 200: PageSchema(BmcSchema) },
      },
      config: { access: INVENTORY_READ },
    },
    async (request) => await bmcs.list(request.params.org, request.query),
  );

  app.post(
    "/api/v1/orgs/:org/bmcs",
    {
      schema: {
        operationId: "createBmc",
        tags: TAGS,
        summary: "Register a BMC by its MAC address; the password is encrypted at rest and never returned",
        params: OrgParams,
        body: BmcCreateSchema,
        response: { 201: BmcSchema },
      },
      config: { access: INVENTORY_WRITE },
    },
    async (request, reply) => {
      const bmc = await bmcs.create(request.params.org, request.body);
      request.auditTarget = `bmc=${bmc.macAddress}`;
      return reply.status(201).send(bmc);
    },
  );

  app.get(
    "/api/v1/orgs/:org/bmcs/:mac",
    {
      schema: { operationId: "getBmc", tags: TAGS, params: BmcParams, response: { 200: BmcSchema } },
      config: { access: INVENTORY_READ },
    },
    async (request) => await bmcs.get(request.params.org, request.params.mac),
  );

  app.patch(
    "/api/v1/orgs/:org/bmcs/:mac",
    {
      schema: {
        operationId: "updateBmc",
        tags: TAGS,
        summary: "Change a BMC; `credentials` replaces both username and password",
        params: BmcParams,
        body: BmcUpdateSchema,
        response: { 200: BmcSchema },
      },
      config: { access: INVENTORY_WRITE },
    },
    async (request) => await bmcs.update(request.params.org, request.params.mac, request.body),
  );

  app.delete(
    "/api/v1/orgs/:org/bmcs/:mac",
    {
      schema: { operationId: "deleteBmc", tags: TAGS, params: BmcParams },
      config: { access: INVENTORY_WRITE },
    },
    async (request, reply) => {
      await bmcs.delete(request.params.org, request.params.mac);
      return reply.status(204).send();
    },
  );
}
