import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Ajv } from "ajv";
import addFormatsPlugin from "ajv-formats";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifySchemaCompiler,
  LogController,
  type RawServerDefault,
} from "fastify";
import { ValidationError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import { PROBLEM_CONTENT_TYPE, ProblemSchema, problem, toProblem } from "./problem.ts";

export type HttpApp = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, string>>;
}

export interface HttpAppOptions {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly version: string;
  readonly bodyLimit: number;
  /** false, a hop count, or proxy addresses (see TrustProxy in src/config). */
  readonly trustProxy: false | number | readonly string[];
  readonly readiness: () => Promise<ReadinessReport>;
}

const addFormats = addFormatsPlugin as unknown as (ajv: Ajv) => Ajv;

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Builds the Fastify app with Ingot's HTTP conventions: problem+json errors, request ids, strict schemas,
 * metrics, OpenAPI 3.1 and the platform endpoints. Domain routes are registered on the result.
 */
export async function createHttpApp(options: HttpAppOptions): Promise<HttpApp> {
  const app: HttpApp = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit,
    trustProxy: trustProxySetting(options.trustProxy),
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (request) => {
      const incoming = request.headers["x-request-id"];
      return typeof incoming === "string" && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(validatorCompiler());

  app.addSchema(ProblemSchema);
  app.addHook("onRoute", (route) => {
    assertStrictBody(route.method, route.url, route.schema?.body);
    if (route.schema !== undefined) {
      route.schema.response = {
        "4xx": { $ref: "Problem#" },
        "5xx": { $ref: "Problem#" },
        ...(route.schema.response as Record<string, unknown> | undefined),
      };
    }
  });

  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
  });
  // PostgreSQL cannot store U+0000 in text or jsonb; refuse it at the edge, naming where it is.
  app.addHook("preValidation", async (request) => {
    const field =
      nulCharacterAt(request.body, "body") ??
      nulCharacterAt(request.query, "querystring") ??
      nulCharacterAt(request.params, "params");
    if (field !== undefined) {
      throw new ValidationError("request.nul_character", "must not contain the NUL character", field);
    }
  });
  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unmatched";
    options.metrics.httpRequestDuration.observe(
      { method: request.method, route, status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    request.log.info(
      {
        method: request.method,
        url: request.url,
        statusCode: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      "request completed",
    );
  });

  app.setErrorHandler(async (error, request, reply) => {
    const body = { ...toProblem(error), instance: request.url, requestId: request.id };
    if (body.status >= 500) request.log.error({ err: error }, "request failed");
    else request.log.debug({ err: error, code: body.code }, "request rejected");
    const retryAfter = body.details?.retryAfterSeconds;
    if (typeof retryAfter === "number") reply.header("retry-after", String(Math.ceil(retryAfter)));
    if (body.status === 401) reply.header("www-authenticate", 'Bearer realm="ingot"');
    return reply.status(body.status).type(PROBLEM_CONTENT_TYPE).send(body);
  });
  app.setNotFoundHandler(async (request, reply) => {
    const body = problem(
      404,
      "route.not_found",
      `no route for ${request.method} ${request.url.split("?")[0]}`,
      {
        instance: request.url,
        requestId: request.id,
      },
    );
    return reply.status(404).type(PROBLEM_CONTENT_TYPE).send(body);
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Ingot API",
        version: options.version,
        description:
          "Bare-metal fleet controller. Errors are RFC 9457 problem+json. Org-scoped resources live under " +
          "`/api/v1/orgs/{org}/…`.",
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: "http", scheme: "bearer", description: "API token (ingot_…) or OIDC JWT" },
          sessionCookie: { type: "apiKey", in: "cookie", name: "ingot_session" },
        },
      },
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, index) => String(json.$id ?? `def-${index}`),
    },
  });
  await app.register(swaggerUi, { routePrefix: "/docs", uiConfig: { docExpansion: "list" } });

  app.get("/healthz", { schema: { hide: true } }, async () => ({ status: "ok" }));
  app.get("/readyz", { schema: { hide: true } }, async (_request, reply) => {
    const report = await options.readiness().catch((error: unknown) => ({
      ready: false,
      checks: { readiness: error instanceof Error ? error.message : String(error) },
    }));
    return reply
      .status(report.ready ? 200 : 503)
      .send({ status: report.ready ? "ready" : "not ready", ...report });
  });
  app.get("/metrics", { schema: { hide: true } }, async (_request, reply) => {
    return reply.type(options.metrics.registry.contentType).send(await options.metrics.registry.metrics());
  });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  return app;
}

/**
 * Query strings, path parameters and headers arrive as text and are coerced to their declared types;
 * bodies are JSON and are not: `{"name": 42}` where a string is expected is an error, not "42".
 */
function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const base = { allErrors: true, useDefaults: true, removeAdditional: false, strict: false } as const;
  const forBody = addFormats(new Ajv({ ...base, coerceTypes: false }));
  const forText = addFormats(new Ajv({ ...base, coerceTypes: "array" }));
  return ({ schema, httpPart }) => (httpPart === "body" ? forBody : forText).compile(schema as object);
}

/** The path of the first string (or object key) holding U+0000, e.g. `body.inventory.system.productName`. */
function nulCharacterAt(value: unknown, path: string): string | undefined {
  if (typeof value === "string") return value.includes("\u0000") ? path : undefined;
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = nulCharacterAt(item, `${path}.${index}`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof value === "object" && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if (key.includes("\u0000")) return path;
      const found = nulCharacterAt(item, `${path}.${key}`);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** Fastify's form of the setting: proxy addresses as a list, a hop count as "trust the first n hops". */
function trustProxySetting(
  setting: false | number | readonly string[],
): false | string[] | ((address: string, hop: number) => boolean) {
  if (setting === false) return false;
  if (typeof setting === "number") return (_address, hop) => hop < setting;
  return [...setting];
}

/** Unknown body fields must be refused, not silently dropped: every object body schema must say so. */
function assertStrictBody(method: string | string[], url: string, body: unknown): void {
  if (body === undefined || body === null || typeof body !== "object") return;
  const schema = body as { type?: unknown; additionalProperties?: unknown };
  if (schema.type === "object" && schema.additionalProperties !== false) {
    throw new Error(`${String(method)} ${url}: body schema must set additionalProperties: false`);
  }
}
