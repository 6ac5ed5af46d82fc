import { Type } from "typebox";
import type { Principal } from "../auth/model.ts";
import type { HttpApp } from "../http/app.ts";
import { PageQueryFields, PageSchema, SortQueryField } from "../http/pagination.ts";
import { OrgName, StrictObject, Timestamp } from "../http/schema.ts";
import { HardwareInventorySchema } from "../protocol/inventory.ts";
import { registerLifecycleRoutes } from "../statemachine/routes.ts";
import { LabelFilterField, LabelsSchema } from "./labels.ts";
import { SearchQueryField } from "./listing.ts";
import { MachineStates, OPERATOR_MACHINE_EVENTS } from "./machine-model.ts";
import type { MachineService } from "./machine-service.ts";
import { MACHINE_SORT_FIELDS } from "./machine-store.ts";

const READERS = { orgRoles: ["provider-admin", "provider-viewer"] } as const;
const WRITERS = { orgRoles: ["provider-admin"] } as const;

const MachineParams = StrictObject({ org: OrgName, id: Type.String({ format: "uuid" }) });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Union([schema, Type.Null()]);

const MachineStateSchema = Type.Object(
  {
    kind: Type.Enum(MachineStates.states),
    reason: Type.Optional(Type.String()),
    heldFrom: Type.Optional(Type.String()),
  },
  { description: "lifecycle state; `held` carries the reason and the state it was held from" },
);

const BootImageSchema = StrictObject(
  {
    kernel: Type.String({ minLength: 1, maxLength: 1024, description: "artifact name or http(s) URL" }),
    initrd: Type.String({ minLength: 1, maxLength: 1024, description: "artifact name or http(s) URL" }),
    cmdline: Type.String({ maxLength: 4096, pattern: "^[^\\r\\n]*$", description: "kernel command line" }),
  },
  { description: "what the machine boots when ready" },
);

const SummarySchema = Type.Object({
  cpuModel: Nullable(Type.String()),
  cpuSockets: Nullable(Type.Integer()),
  cpuCores: Nullable(Type.Integer()),
  cpuThreads: Nullable(Type.Integer()),
  memoryBytes: Nullable(Type.Integer()),
  disks: Type.Array(
    Type.Object({
      name: Type.String(),
      model: Nullable(Type.String()),
      serialNumber: Nullable(Type.String()),
      sizeBytes: Type.Integer(),
      kind: Type.String(),
    }),
  ),
  nics: Type.Array(
    Type.Object({
      name: Type.String(),
      macAddress: Nullable(Type.String()),
      speedMbps: Nullable(Type.Integer()),
      driver: Nullable(Type.String()),
    }),
  ),
  gpus: Type.Array(
    Type.Object({
      model: Nullable(Type.String()),
      serialNumber: Nullable(Type.String()),
      uuid: Nullable(Type.String()),
      memoryBytes: Nullable(Type.Integer()),
    }),
  ),
  bmcAddress: Nullable(Type.String()),
  bmcMac: Nullable(Type.String()),
});

const MachineProperties = {
  id: Type.String({ format: "uuid" }),
  org: Type.String(),
  serialNumber: Nullable(Type.String()),
  systemUuid: Nullable(Type.String()),
  manufacturer: Nullable(Type.String()),
  model: Nullable(Type.String()),
  hostname: Nullable(Type.String()),
  labels: Type.Record(Type.String(), Type.String()),
  state: MachineStateSchema,
  stateVersion: Type.Integer(),
  stateEnteredAt: Timestamp,
  rack: Nullable(Type.String()),
  bootMac: Nullable(Type.String()),
  agentVersion: Nullable(Type.String()),
  expectedMachineId: Nullable(Type.String()),
  hardwareSpec: Nullable(Type.Record(Type.String(), Type.Unknown())),
  bootImage: Nullable(BootImageSchema),
  summary: SummarySchema,
  enrolledAt: Timestamp,
  inventoryUpdatedAt: Timestamp,
};
export const MachineSchema = Type.Object(MachineProperties);
export const MachineDetailSchema = Type.Object({
  ...MachineProperties,
  inventory: HardwareInventorySchema,
  interfaces: Type.Array(
    Type.Object({
      macAddress: Type.String(),
      name: Nullable(Type.String()),
      isBoot: Type.Boolean(),
      speedMbps: Nullable(Type.Integer()),
      driver: Nullable(Type.String()),
    }),
  ),
});
const MachineEventSchema = Type.Object({
  id: Type.Integer(),
  at: Timestamp,
  kind: Type.String(),
  details: Type.Record(Type.String(), Type.Unknown()),
});

function actorOf(principal: Principal | undefined): string {
  return principal?.name ?? "unknown";
}

export function registerMachineRoutes(app: HttpApp, machines: MachineService): void {
  app.get(
    "/api/v1/orgs/:org/machines",
    {
      schema: {
        operationId: "listMachines",
        tags: ["machines"],
        summary: "Machines of the org, filtered and sorted on the server",
        params: StrictObject({ org: OrgName }),
        querystring: StrictObject({
          ...PageQueryFields,
          state: Type.Optional(Type.Enum(MachineStates.states)),
          rack: Type.Optional(Type.String({ maxLength: 64, description: "rack name" })),
          label: LabelFilterField,
          q: SearchQueryField,
          sort: SortQueryField(MACHINE_SORT_FIELDS),
        }),
        response: { 200: PageSchema(MachineSchema) },
      },
      config: { access: READERS },
    },
    async (request) => {
      const { limit, cursor, sort, ...filters } = request.query;
      return await machines.list(request.params.org, filters, { limit, cursor, sort });
    },
  );

  app.get(
    "/api/v1/orgs/:org/machines/:id",
    {
      schema: {
        operationId: "getMachine",
        tags: ["machines"],
        params: MachineParams,
        response: { 200: MachineDetailSchema },
      },
      config: { access: READERS },
    },
    async (request) => await machines.get(request.params.org, request.params.id),
  );

  app.patch(
    "/api/v1/orgs/:org/machines/:id",
    {
      schema: {
        operationId: "updateMachine",
        tags: ["machines"],
        summary: "Set hostname, labels (replacing them) or the image a ready machine boots",
        params: MachineParams,
        body: StrictObject({
          hostname: Type.Optional(
            Nullable(
              Type.String({
                pattern: "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$",
                maxLength: 253,
              }),
            ),
          ),
          labels: Type.Optional(LabelsSchema),
          bootImage: Type.Optional(Nullable(BootImageSchema)),
        }),
        response: { 200: MachineDetailSchema },
      },
      config: { access: WRITERS },
    },
    async (request) => await machines.update(request.params.org, request.params.id, request.body),
  );

  app.post(
    "/api/v1/orgs/:org/machines/:id/lifecycle",
    {
      schema: {
        operationId: "fireMachineEvent",
        tags: ["machines"],
        summary:
          "Fire an operator event (mark_ready, hold, release_hold, retire); refused with 409 when the state does not allow it",
        params: MachineParams,
        body: StrictObject({
          event: Type.Enum(OPERATOR_MACHINE_EVENTS),
          reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
        }),
        response: { 200: MachineDetailSchema },
      },
      config: { access: WRITERS },
    },
    async (request) =>
      await machines.fireEvent(
        request.params.org,
        request.params.id,
        request.body.event,
        request.body.reason,
        actorOf(request.principal),
      ),
  );

  app.get(
    "/api/v1/orgs/:org/machines/:id/events",
    {
      schema: {
        operationId: "listMachineEvents",
        tags: ["machines"],
        summary:
          "Enrollments, hardware changes (field-level inventory diffs) and expected-machine matches, newest first",
        params: MachineParams,
        querystring: StrictObject({ ...PageQueryFields }),
        response: { 200: PageSchema(MachineEventSchema) },
      },
      config: { access: READERS },
    },
    async (request) =>
      await machines.events(request.params.org, request.params.id, request.query.limit, request.query.cursor),
  );

  registerLifecycleRoutes(app, {
    store: machines.lifecycle,
    objectPath: "/api/v1/orgs/:org/machines/:id",
    params: MachineParams,
    access: READERS,
    resolveObjectId: async (params) => await machines.resolve(params.org, params.id),
    stateSchema: MachineStateSchema,
    tags: ["machines"],
  });
}
