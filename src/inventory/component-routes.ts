import type { HttpApp } from "../http/app.ts";
import { PageSchema } from "../http/pagination.ts";
import { OrgParams } from "../http/schema.ts";
import {
  ComponentCreateSchema,
  ComponentListQuerySchema,
  ComponentSchema,
  ComponentUpdateSchema,
} from "./component-model.ts";
import type { ComponentService } from "./component-service.ts";
import { IdParams, INVENTORY_READ, INVENTORY_WRITE } from "./inventory-schema.ts";

const TAGS = ["components"];

export function registerComponentRoutes(app: HttpApp, components: ComponentService): void {
  app.get(
    "/api/v1/orgs/:org/components",
    {
      schema: {
        operationId: "listComponents",
        tags: TAGS,
        summary: "Live components of the org (removed ones with includeDeleted=true), by rack and type",
        params: OrgParams,
        querystring: ComponentListQuerySchema,
        response: { 200: PageSchema(ComponentSchema) },
      },
      config: { access: INVENTORY_READ },
    },
    async (request) => await components.list(request.params.org, request.query),
  );

  app.post(
    "/api/v1/orgs/:org/components",
    {
      schema: {
        operationId: "createComponent",
        tags: TAGS,
        params: OrgParams,
        body: ComponentCreateSchema,
        response: { 201: ComponentSchema },
      },
      config: { access: INVENTORY_WRITE },
    },
    async (request, reply) => {
      const component = await components.create(request.params.org, request.body);
      request.auditTarget = `component=${component.id}`;
      return reply.status(201).send(component);
    },
  );

  app.get(
    "/api/v1/orgs/:org/components/:id",
    {
      schema: {
        operationId: "getComponent",
        tags: TAGS,
        summary: "A component, removed ones included",
        params: IdParams,
        response: { 200: ComponentSchema },
      },
      config: { access: INVENTORY_READ },
    },
    async (request) => await components.get(request.params.org, request.params.id),
  );

  app.patch(
    "/api/v1/orgs/:org/components/:id",
    {
      schema: {
        operationId: "updateComponent",
        tags: TAGS,
        params: IdParams,
        body: ComponentUpdateSchema,
        response: { 200: ComponentSchema },
      },
      config: { access: INVENTORY_WRITE },
    },
    async (request) => await components.update(request.params.org, request.params.id, request.body),
  );

  app.delete(
    "/api/v1/orgs/:org/components/:id",
    {
      schema: {
        operationId: "removeComponent",
        tags: TAGS,
        summary:
          "Remove a component (soft delete: it stays readable, and its serial may be registered again)",
        params: IdParams,
      },
      config: { access: INVENTORY_WRITE },
    },
    async (request, reply) => {
      await components.remove(request.params.org, request.params.id);
      return reply.status(204).send();
    },
  );
}
