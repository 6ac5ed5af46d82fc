/**
 * HTTP building blocks for any entity with a lifecycle: TypeBox schemas for its state, last outcome and
 * SLA status, and `registerLifecycleRoutes`, which adds two read-only routes under an object's path —
 * "why is this object here, and what is it waiting for?":
 *
 *   GET {objectPath}/state           current state, version, time in state, SLA, last outcome, queue status
 *   GET {objectPath}/state-history   transitions, newest first, paginated
 *
 *   registerLifecycleRoutes(app, {
 *     store: machineStates, objectPath: "/api/v1/orgs/:org/machines/:id",
 *     params: StrictObject({ org: OrgName, id: Type.String() }),
 *     access: { orgRoles: ORG_READERS, providerRoles: PROVIDER_ROLES },
 *     resolveObjectId: async ({ org, id }) => await machines.idInOrg(org, id),  // undefined → 404
 *   });
 */
import type { FastifyRequest } from "fastify";
import { type Static, type TObject, type TSchema, Type } from "typebox";
import type { AccessPolicy } from "../auth/model.ts";
import { NotFoundError } from "../errors.ts";
import type { HttpApp } from "../http/app.ts";
import { decodeCursor, PageQueryFields, PageSchema, pageOf } from "../http/pagination.ts";
import { NullableTimestamp, StrictObject, Timestamp } from "../http/schema.ts";
import type { ErrorSource, LastOutcome } from "./handler.ts";
import type { StateShape } from "./model.ts";
import type { LifecycleStatus, LifecycleStore, StateHistoryEntry } from "./store.ts";

const ERROR_SOURCES: readonly ErrorSource[] = ["handler", "timeout", "transition_refused", "write"];

/** Any lifecycle state: a JSON object with a `kind`; entity types may pass their precise union instead. */
export const AnyStateSchema = Type.Object(
  { kind: Type.String({ description: "the state's place in the transition table" }) },
  { additionalProperties: true },
);

export const StateVersionSchema = Type.Object({
  number: Type.Integer({ minimum: 1, description: "bumped by every transition" }),
  enteredAt: Timestamp,
});

const OutcomeMeta = {
  by: Type.Union([Type.String(), Type.Null()], { description: "replica or actor that recorded it" }),
  since: Timestamp,
};

/** The controller's last answer about the object. */
export const LastOutcomeSchema = Type.Union([
  Type.Object({
    kind: Type.Literal("transition"),
    event: Type.String(),
    from: Type.String(),
    to: Type.String(),
    ...OutcomeMeta,
  }),
  Type.Object({
    kind: Type.Literal("wait"),
    reason: Type.String({ description: "what the object is waiting for" }),
    ...OutcomeMeta,
  }),
  Type.Object({
    kind: Type.Literal("error"),
    message: Type.String(),
    source: Type.Union(
      ERROR_SOURCES.map((source) => Type.Literal(source)),
      {
        description: "where the error came from",
      },
    ),
    ...OutcomeMeta,
  }),
]);

export const SlaStatusSchema = Type.Object({
  limitSeconds: Type.Number(),
  breached: Type.Boolean(),
  overBySeconds: Type.Number(),
});

export const ControllerQueueStatusSchema = Type.Object({
  queued: Type.Boolean({ description: "the controller has the object in its queue" }),
  processedBy: Type.Union([Type.String(), Type.Null()], { description: "replica handling it now" }),
  processingStartedAt: NullableTimestamp,
  nextAttemptAt: Type.Union([Timestamp, Type.Null()], {
    description: "earliest next attempt (backoff or re-check); while processed, when the claim expires",
  }),
  failures: Type.Integer({ description: "consecutive failed attempts" }),
});

export function LifecycleStatusSchema<T extends TSchema>(state: T) {
  return Type.Object({
    id: Type.String({ format: "uuid" }),
    state,
    kind: Type.String(),
    terminal: Type.Boolean(),
    version: StateVersionSchema,
    kindEnteredAt: Timestamp,
    timeInStateSeconds: Type.Number(),
    sla: Type.Union([SlaStatusSchema, Type.Null()]),
    lastOutcome: Type.Union([LastOutcomeSchema, Type.Null()]),
    controller: ControllerQueueStatusSchema,
    nextEvents: Type.Array(Type.Object({ event: Type.String(), to: Type.String() }), {
      description: "events the transition table allows from here",
    }),
    observedAt: Timestamp,
  });
}

export function StateHistoryEntrySchema<T extends TSchema>(state: T) {
  return Type.Object({
    version: Type.Integer({ minimum: 1 }),
    state,
    kind: Type.String(),
    fromKind: Type.Union([Type.String(), Type.Null()]),
    event: Type.String({ description: "`created` for the first entry" }),
    actor: Type.Union([Type.String(), Type.Null()]),
    enteredAt: Timestamp,
  });
}

export interface LifecycleRoutesOptions<S extends StateShape, P extends TObject> {
  readonly store: LifecycleStore<S, string>;
  /** The object's own path, e.g. `/api/v1/orgs/:org/machines/:id`. */
  readonly objectPath: string;
  /** Schema of the path parameters of `objectPath`. */
  readonly params: P;
  readonly access: AccessPolicy;
  /** The object's id for these parameters, or undefined (→ 404) when it does not exist or is not visible. */
  readonly resolveObjectId: (params: Static<P>, request: FastifyRequest) => Promise<string | undefined>;
  /** Schema of the entity's states for the OpenAPI document; defaults to any object with a `kind`. */
  readonly stateSchema?: TSchema;
  readonly tags?: readonly string[];
  /** PascalCase name in operation ids (`get<Name>State`); defaults to the entity name. */
  readonly operationName?: string;
}

const HistoryCursor = Type.Object({ v: Type.Integer() });

export function registerLifecycleRoutes<S extends StateShape, P extends TObject>(
  app: HttpApp,
  options: LifecycleRoutesOptions<S, P>,
): void {
  const { store } = options;
  const entity = store.lifecycle.entity;
  const name = options.operationName ?? pascalCase(entity);
  const stateSchema = options.stateSchema ?? AnyStateSchema;
  const tags = [...(options.tags ?? [store.lifecycle.table])];
  const objectId = async (request: FastifyRequest): Promise<string> => {
    const id = await options.resolveObjectId(request.params as Static<P>, request);
    if (id === undefined)
      throw new NotFoundError(`${entity}.not_found`, `${entity.replaceAll("_", " ")} not found`);
    return id;
  };
  // Typed loosely on purpose: the state schema is chosen per entity, the handlers build the JSON themselves.
  const statusSchema: TSchema = LifecycleStatusSchema(stateSchema);
  const historyPageSchema: TSchema = PageSchema(StateHistoryEntrySchema(stateSchema));
  const params: TSchema = options.params;
  const notFound = () => new NotFoundError(`${entity}.not_found`, `${entity.replaceAll("_", " ")} not found`);

  app.get(
    `${options.objectPath}/state`,
    {
      schema: {
        operationId: `get${name}State`,
        tags,
        summary: `Current state of the ${entity.replaceAll("_", " ")}: version, time in state, SLA, last controller outcome`,
        params,
        response: { 200: statusSchema },
      },
      config: { access: options.access },
    },
    async (request) => {
      const status = await store.status(await objectId(request));
      if (status === undefined) throw notFound();
      return statusJson(status);
    },
  );

  app.get(
    `${options.objectPath}/state-history`,
    {
      schema: {
        operationId: `list${name}StateHistory`,
        tags,
        summary: `State transitions of the ${entity.replaceAll("_", " ")}, newest first (the newest 250 are kept)`,
        params,
        querystring: StrictObject({ ...PageQueryFields }),
        response: { 200: historyPageSchema },
      },
      config: { access: options.access },
    },
    async (request) => {
      const query = request.query as { limit: number; cursor?: string };
      const id = await objectId(request);
      const cursor = decodeCursor(query.cursor, HistoryCursor);
      const rows = await store.history(id, {
        limit: query.limit + 1,
        ...(cursor !== undefined ? { beforeVersion: cursor.v } : {}),
      });
      return pageOf(rows, query.limit, historyJson, (row) => ({ v: row.version }));
    },
  );
}

function statusJson<S extends StateShape>(status: LifecycleStatus<S>) {
  return {
    id: status.id,
    state: status.state,
    kind: status.state.kind,
    terminal: status.terminal,
    version: { number: status.version, enteredAt: status.enteredAt.toISOString() },
    kindEnteredAt: status.kindEnteredAt.toISOString(),
    timeInStateSeconds: status.timeInStateSeconds,
    sla: status.sla,
    lastOutcome: status.lastOutcome === null ? null : lastOutcomeJson(status.lastOutcome),
    controller: {
      queued: status.queue.queued,
      processedBy: status.queue.processedBy,
      processingStartedAt: status.queue.processingStartedAt?.toISOString() ?? null,
      nextAttemptAt: status.queue.availableAt?.toISOString() ?? null,
      failures: status.queue.failures,
    },
    nextEvents: status.nextEvents,
    observedAt: status.observedAt.toISOString(),
  };
}

function lastOutcomeJson(last: LastOutcome) {
  return { ...last.outcome, by: last.by, since: last.since.toISOString() };
}

function historyJson<S extends StateShape>(entry: StateHistoryEntry<S>) {
  return {
    version: entry.version,
    state: entry.state,
    kind: entry.state.kind,
    fromKind: entry.fromKind,
    event: entry.event,
    actor: entry.actor,
    enteredAt: entry.enteredAt.toISOString(),
  };
}

function pascalCase(snake: string): string {
  return snake
    .split("_")
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");
}
