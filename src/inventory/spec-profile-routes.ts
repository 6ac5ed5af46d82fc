import type { HttpApp } from "../http/app.ts";
import { PageSchema } from "../http/pagination.ts";
import { OrgParams } from "../http/schema.ts";
import { IdParams, INVENTORY_READ, INVENTORY_WRITE } from "./inventory-schema.ts";
import {
  SpecProfileCreateSchema,
  SpecProfileListQuerySchema,
  SpecProfileSchema,
  SpecProfileUpdateSchema,
} from "./spec-profile-model.ts";
import type { SpecProfileService } from "./spec-profile-service.ts";

const TAGS = ["hardware-spec-profiles"];
const PATH = "/api/v1/orgs/:org/hardware-spec-profiles";

export function registerSpecProfileRoutes(app: HttpApp, profiles: SpecProfileService): void {
  app.get(
    PATH,
    {
      schema: {
        operationId: "listHardwareSpecProfiles",
        tags: TAGS,
        params: OrgParams,
        querystring: SpecProfileListQuerySchema,
        response: { 200: PageSchema(SpecProfileSchema) },
      },
      config: { access: INVENTORY_READ },
    },
    async (request) => await profiles.list(request.params.org, request.query),
  );

  app.post(
    PATH,
    {
      schema: {
        operationId: "createHardwareSpecProfile",
        tags: TAGS,
        params: OrgParams,
        body: SpecProfileCreateSchema,
        response: { 201: SpecProfileSchema },
      },
      config: { access: INVENTORY_WRITE },
    },
    async (request, reply) => {
      const profile = await profiles.create(request.params.org, request.body);
      request.auditTarget = `hardwareSpecProfile=${profile.id}`;
      return reply.status(201).send(profile);
    },
  );

  app.get(
    `${PATH}/:id`,
    {
      schema: {
        operationId: "getHardwareSpecProfile",
        tags: TAGS,
        params: IdParams,
        response: { 200: SpecProfileSchema },
      },
      config: { access: INVENTORY_READ },
    },
    async (request) => await profiles.get(request.params.org, request.params.id),
  );

  app.patch(
    `${PATH}/:id`,
    {
      schema: {
        operationId: "updateHardwareSpecProfile",
        tags: TAGS,
        summary: "Rename, redescribe or replace the spec of a profile",
        params: IdParams,
        body: SpecProfileUpdateSchema,
        response: { 200: SpecProfileSchema },
      },
      config: { access: INVENTORY_WRITE },
    },
    async (request) => await profiles.update(request.params.org, request.params.id, request.body),
  );

  app.delete(
    `${PATH}/:id`,
    {
      schema: {
        operationId: "deleteHardwareSpecProfile",
        tags: TAGS,
        summary: "Delete a profile no expected machine refers to",
        params: IdParams,
      },
      config: { access: INVENTORY_WRITE },
    },
    async (request, reply) => {
      await profiles.delete(request.params.org, request.params.id);
      return reply.status(204).send();
    },
  );
}
