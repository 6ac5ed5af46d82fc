import type { HttpApp } from "../http/app.ts";
import { PageSchema } from "../http/pagination.ts";
import { OrgParams } from "../http/schema.ts";
import { IdParams, INVENTORY_READ, INVENTORY_WRITE } from "./inventory-schema.ts";
import { SiteCreateSchema, SiteListQuerySchema, SiteSchema, SiteUpdateSchema } from "./site-model.ts";
import type { SiteService } from "./site-service.ts";

const TAGS = ["sites"];

export function registerSiteRoutes(app: HttpApp, sites: SiteService): void {
  app.get(
    "/api/v1/orgs/:org/sites",
    {
      schema: {
        operationId: "listSites",
        tags: TAGS,
        params: OrgParams,
        querystring: SiteListQuerySchema,
        response: { 200: PageSchema(SiteSchema) },
      },
      config: { access: INVENTORY_READ },
    },
    async (request) => await sites.list(request.params.org, request.query),
  );

  app.post(
    "/api/v1/orgs/:org/sites",
    {
      schema: {
        operationId: "createSite",
        tags: TAGS,
        params: OrgParams,
        body: SiteCreateSchema,
        response: { 201: SiteSchema },
      },
      config: { access: INVENTORY_WRITE },
    },
    async (request, reply) => {
      const site = await sites.create(request.params.org, request.body);
      request.auditTarget = `site=${site.id}`;
      return reply.status(201).send(site);
    },
  );

  app.get(
    "/api/v1/orgs/:org/sites/:id",
    {
      schema: { operationId: "getSite", tags: TAGS, params: IdParams, response: { 200: SiteSchema } },
      config: { access: INVENTORY_READ },
    },
    async (request) => await sites.get(request.params.org, request.params.id),
  );

  app.patch(
    "/api/v1/orgs/:org/sites/:id",
    {
      schema: {
        operationId: "updateSite",
        tags: TAGS,
        params: IdParams,
        body: SiteUpdateSchema,
        response: { 200: SiteSchema },
      },
      config: { access: INVENTORY_WRITE },
    },
    async (request) => await sites.update(request.params.org, request.params.id, request.body),
  );

  app.delete(
    "/api/v1/orgs/:org/sites/:id",
    {
      schema: {
        operationId: "deleteSite",
        tags: TAGS,
        summary: "Delete a site that no rack stands in",
        params: IdParams,
      },
      config: { access: INVENTORY_WRITE },
    },
    async (request, reply) => {
      await sites.delete(request.params.org, request.params.id);
      return reply.status(204).send();
    },
  );
}
