import type { FastifyReply, FastifyRequest } from "fastify";
import { Type } from "typebox";
import type { HttpApp } from "../http/app.ts";
import { PageSchema } from "../http/pagination.ts";
import { PROBLEM_CONTENT_TYPE, type Problem, problem } from "../http/problem.ts";
import { OrgParams } from "../http/schema.ts";
import { CSV_COLUMNS } from "./expected-machine-import.ts";
import {
  ExpectedMachineCreateSchema,
  ExpectedMachineListQuerySchema,
  ExpectedMachineSchema,
  ExpectedMachineUpdateSchema,
  IMPORT_BODY_LIMIT_BYTES,
  ImportResultSchema,
  ImportRowSchema,
  MAX_IMPORT_ROWS,
} from "./expected-machine-model.ts";
import { type ExpectedMachineService, ImportRejectedError } from "./expected-machine-service.ts";
import { IdParams, INVENTORY_READ, INVENTORY_WRITE } from "./inventory-schema.ts";

const TAGS = ["expected-machines"];
const PATH = "/api/v1/orgs/:org/expected-machines";

export async function registerExpectedMachineRoutes(
  app: HttpApp,
  machines: ExpectedMachineService,
): Promise<void> {
  app.get(
    PATH,
    {
      schema: {
        operationId: "listExpectedMachines",
        tags: TAGS,
        summary:
          "Expected machines of the org, by rack, profile and labels, searched by serial, BMC MAC or hostname",
        params: OrgParams,
        querystring: ExpectedMachineListQuerySchema,
        response: { 200: PageSchema(ExpectedMachineSchema) },
      },
      config: { access: INVENTORY_READ },
    },
    async (request) => await machines.list(request.params.org, request.query),
  );

  app.post(
    PATH,
    {
      schema: {
        operationId: "createExpectedMachine",
        tags: TAGS,
        summary:
          "Announce a machine by serial number and/or BMC MAC address; BMC credentials are never returned",
        params: OrgParams,
        body: ExpectedMachineCreateSchema,
        response: { 201: ExpectedMachineSchema },
      },
      config: { access: INVENTORY_WRITE },
    },
    async (request, reply) => {
      const machine = await machines.create(request.params.org, request.body);
      request.auditTarget = `expectedMachine=${machine.id}`;
      return reply.status(201).send(machine);
    },
  );

  app.get(
    `${PATH}/:id`,
    {
      schema: {
        operationId: "getExpectedMachine",
        tags: TAGS,
        params: IdParams,
        response: { 200: ExpectedMachineSchema },
      },
      config: { access: INVENTORY_READ },
    },
    async (request) => await machines.get(request.params.org, request.params.id),
  );

  app.patch(
    `${PATH}/:id`,
    {
      schema: {
        operationId: "updateExpectedMachine",
        tags: TAGS,
        summary: "Change an expected machine; null clears a field",
        params: IdParams,
        body: ExpectedMachineUpdateSchema,
        response: { 200: ExpectedMachineSchema },
      },
      config: { access: INVENTORY_WRITE },
    },
    async (request) => await machines.update(request.params.org, request.params.id, request.body),
  );

  app.delete(
    `${PATH}/:id`,
    {
      schema: { operationId: "deleteExpectedMachine", tags: TAGS, params: IdParams },
      config: { access: INVENTORY_WRITE },
    },
    async (request, reply) => {
      await machines.delete(request.params.org, request.params.id);
      return reply.status(204).send();
    },
  );

  // The CSV parser exists only inside this plugin: no other route accepts text/csv.
  await app.register(async (scope: HttpApp) => {
    scope.addContentTypeParser("text/csv", { parseAs: "string" }, (_request, body, done) => done(null, body));
    scope.post(
      `${PATH}/import`,
      {
        bodyLimit: IMPORT_BODY_LIMIT_BYTES,
        schema: {
          operationId: "importExpectedMachines",
          tags: TAGS,
          summary: "Create or update many expected machines from a CSV file or a JSON array, all or nothing",
          description:
            `\`text/csv\` with a header row naming any of the columns ${CSV_COLUMNS.join(", ")} ` +
            "(labels as `key=value;key=value`), or `application/json`: an array of rows with the same names " +
            `(and an optional inline \`spec\`). At most ${MAX_IMPORT_ROWS} rows. Rows are matched to stored ` +
            "expected machines by serial (else by BMC MAC) and replace them; re-importing a file changes " +
            "nothing. Any invalid row rejects the whole file with a 400 problem listing `rows[i].field` errors.",
          params: OrgParams,
          body: {
            content: {
              "text/csv": { schema: Type.String() },
              "application/json": { schema: Type.Array(ImportRowSchema) },
            },
          },
          response: { 200: ImportResultSchema },
        },
        // The body schema documents the rows; the service checks them, so that CSV and JSON errors read
        // alike (`rows[3].bmcMac`, not `body.3.bmcMac`) and come with the checks a schema cannot make.
        attachValidation: true,
        config: { access: INVENTORY_WRITE },
      },
      async (request, reply) => {
        const invalid = request.validationError as (Error & { validationContext?: string }) | undefined;
        if (invalid !== undefined && invalid.validationContext !== "body") throw invalid;
        const body: unknown = request.body;
        try {
          if (typeof body === "string")
            return await machines.import(request.params.org, { format: "csv", text: body });
          if (Array.isArray(body))
            return await machines.import(request.params.org, { format: "json", rows: body });
          return sendProblem(
            request,
            reply,
            problem(400, "validation.failed", "body must be an array of rows", {
              errors: [{ field: "body", message: "must be an array of rows" }],
            }),
          );
        } catch (error) {
          if (!(error instanceof ImportRejectedError)) throw error;
          return sendProblem(
            request,
            reply,
            problem(400, error.code, `${error.field}: ${error.message}`, {
              errors: [...error.errors],
              details: error.details,
            }),
          );
        }
      },
    );
  });
}

/** A problem with every row error (the shared error handler reports one field per error). */
function sendProblem(request: FastifyRequest, reply: FastifyReply, body: Problem): FastifyReply {
  return reply
    .status(body.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send({ ...body, instance: request.url, requestId: request.id });
}
