import { Type } from "typebox";
import type { HttpApp } from "../http/app.ts";
import { PageQueryFields, PageSchema } from "../http/pagination.ts";
import { OrgParams, StrictObject } from "../http/schema.ts";
import { DRIFT_KINDS, DriftListQuerySchema, DriftSchema, DriftSummarySchema } from "./drift-model.ts";
import type { DriftService } from "./drift-service.ts";
import { IdParams, INVENTORY_READ } from "./inventory-schema.ts";

const TAGS = ["drift"];
const REBUILT =
  "The periodic inventory sync rebuilds these records every cycle in one transaction, so a page never " +
  "mixes two cycles' records (a cursor spans cycles: keys are stable).";

export function registerDriftRoutes(app: HttpApp, drift: DriftService): void {
  app.get(
    "/api/v1/orgs/:org/drift",
    {
      schema: {
        operationId: "listDrift",
        tags: TAGS,
        summary:
          "Inventory drift: present but not expected, expected but not answering, and field mismatches",
        description: REBUILT,
        params: OrgParams,
        querystring: DriftListQuerySchema,
        response: { 200: PageSchema(DriftSchema) },
      },
      config: { access: INVENTORY_READ },
    },
    async (request) => await drift.list(request.params.org, request.query),
  );

  app.get(
    "/api/v1/orgs/:org/drift/summary",
    {
      schema: {
        operationId: "getDriftSummary",
        tags: TAGS,
        summary: "Drift counts by kind, and when the last inventory sync cycle ran",
        params: OrgParams,
        response: { 200: DriftSummarySchema },
      },
      config: { access: INVENTORY_READ },
    },
    async (request) => await drift.summary(request.params.org),
  );

  app.get(
    "/api/v1/orgs/:org/machines/:id/drift",
    {
      schema: {
        operationId: "listMachineDrift",
        tags: TAGS,
        summary: "Inventory drift of one machine (and of components and expected machines recorded with it)",
        description: REBUILT,
        params: IdParams,
        querystring: StrictObject({ ...PageQueryFields, kind: Type.Optional(Type.Enum(DRIFT_KINDS)) }),
        response: { 200: PageSchema(DriftSchema) },
      },
      config: { access: INVENTORY_READ },
    },
    async (request) => await drift.listForMachine(request.params.org, request.params.id, request.query),
  );
}
