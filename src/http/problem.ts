import type { FastifyError } from "fastify";
import { type Static, Type } from "typebox";
import {
  ConflictError,
  DomainError,
  ForbiddenError,
  NotFoundError,
  RateLimitedError,
  UnauthenticatedError,
  UnavailableError,
  UpstreamError,
  ValidationError,
} from "../errors.ts";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: "URI naming the kind of problem" }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    code: Type.String({ description: "stable machine-readable code, e.g. `validation.failed`" }),
    requestId: Type.Optional(Type.String()),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          field: Type.String({ description: "where the problem is, e.g. `body.name`" }),
          message: Type.String(),
        }),
      ),
    ),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { $id: "Problem", description: "RFC 9457 problem details" },
);
export type Problem = Static<typeof ProblemSchema>;

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

export function problem(
  status: number,
  code: string,
  detail?: string,
  extra: Partial<Problem> = {},
): Problem {
  return {
    type: `urn:ingot:problem:${code}`,
    title: TITLES[status] ?? "Error",
    status,
    code,
    ...(detail !== undefined ? { detail } : {}),
    ...extra,
  };
}

interface AjvIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** `/body` + `/spec/cpu` + missing `cores` → `body.spec.cpu.cores` */
function fieldOf(context: string, issue: AjvIssue): string {
  const segments = issue.instancePath
    .split("/")
    .filter((segment) => segment !== "")
    .map((segment) => segment.replace(/~1/g, "/").replace(/~0/g, "~"));
  const extra =
    typeof issue.params.missingProperty === "string"
      ? issue.params.missingProperty
      : typeof issue.params.additionalProperty === "string"
        ? issue.params.additionalProperty
        : undefined;
  if (extra !== undefined) segments.push(extra);
  return [context, ...segments].join(".");
}

function messageOf(issue: AjvIssue): string {
  if (issue.keyword === "additionalProperties") return "is not a known field";
  if (issue.keyword === "required") return "is required";
  return issue.message ?? "is invalid";
}

/** Maps any thrown value to the problem the client sees; the one place statuses are chosen. */
export function toProblem(error: unknown): Problem {
  if (error instanceof DomainError) return domainProblem(error);
  const fastifyError = error as Partial<FastifyError> & {
    validation?: AjvIssue[];
    validationContext?: string;
  };
  if (Array.isArray(fastifyError.validation)) {
    const context = fastifyError.validationContext ?? "body";
    const errors = fastifyError.validation.map((issue) => ({
      field: fieldOf(context, issue),
      message: messageOf(issue),
    }));
    const first = errors[0];
    const detail = first === undefined ? "request is invalid" : `${first.field} ${first.message}`;
    return problem(400, "validation.failed", detail, { errors });
  }
  const databaseProblem = invalidValueProblem(error);
  if (databaseProblem !== undefined) return databaseProblem;
  const status = fastifyError.statusCode;
  if (typeof status === "number" && status >= 400 && status < 500) {
    const code = FASTIFY_CODES[fastifyError.code ?? ""] ?? "request.invalid";
    return problem(status, code, fastifyError.message);
  }
  if (typeof status === "number" && status === 503)
    return problem(503, "service.unavailable", fastifyError.message);
  return problem(500, "internal", "an unexpected error occurred; the request id identifies it in the logs");
}

/** PostgreSQL refusing a value's text (a malformed UUID, date or number) that slipped past the schemas. */
const INVALID_VALUE_SQLSTATES = new Set(["22P02", "22007", "22008", "22003"]);

function invalidValueProblem(error: unknown): Problem | undefined {
  const candidate = error as { code?: unknown; severity?: unknown };
  if (typeof candidate.severity !== "string" || typeof candidate.code !== "string") return undefined;
  if (!INVALID_VALUE_SQLSTATES.has(candidate.code)) return undefined;
  return problem(400, "request.invalid_value", "a value in the request is not valid for its type");
}

const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: "request.malformed_json",
  FST_ERR_CTP_EMPTY_JSON_BODY: "request.empty_body",
  FST_ERR_CTP_BODY_TOO_LARGE: "request.too_large",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "request.unsupported_media_type",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "request.invalid_content_length",
};

function domainProblem(error: DomainError): Problem {
  const extra: Partial<Problem> = Object.keys(error.details).length > 0 ? { details: error.details } : {};
  if (error instanceof ValidationError) {
    return problem(400, error.code, `${error.field}: ${error.message}`, {
      ...extra,
      errors: [{ field: error.field, message: error.message }],
    });
  }
  if (error instanceof UnauthenticatedError) return problem(401, error.code, error.message, extra);
  if (error instanceof ForbiddenError) return problem(403, error.code, error.message, extra);
  if (error instanceof NotFoundError) return problem(404, error.code, error.message, extra);
  if (error instanceof ConflictError) return problem(409, error.code, error.message, extra);
  if (error instanceof RateLimitedError) return problem(429, error.code, error.message, extra);
  if (error instanceof UpstreamError)
    return problem(error.timedOut ? 504 : 502, error.code, error.message, extra);
  if (error instanceof UnavailableError) return problem(503, error.code, error.message, extra);
  return problem(422, error.code, error.message, extra);
}
