/**
 * Domain errors. Services throw these; the HTTP layer maps each class to a status and an RFC 9457
 * problem type in one place (src/http/problem.ts). `code` is stable and part of the API contract.
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Input that passed the schema but breaks a rule; `field` names the offending input, e.g. `body.role`. */
export class ValidationError extends DomainError {
  constructor(
    code: string,
    message: string,
    readonly field: string,
    details: Record<string, unknown> = {},
  ) {
    super(code, message, { ...details, field });
  }
}

export class NotFoundError extends DomainError {}

/** The request clashes with current state: a duplicate name, a rule that forbids it now. */
export class ConflictError extends DomainError {}

export class UnauthenticatedError extends DomainError {
  constructor(message = "authentication required") {
    super("auth.unauthenticated", message);
  }
}

export class ForbiddenError extends DomainError {
  constructor(message = "not allowed") {
    super("auth.forbidden", message);
  }
}

export class RateLimitedError extends DomainError {
  constructor(
    code: string,
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(code, message, { retryAfterSeconds });
  }
}

/** A dependency outside the process (a BMC, an identity provider) failed or did not answer in time. */
export class UpstreamError extends DomainError {
  constructor(
    code: string,
    message: string,
    readonly timedOut: boolean,
    details: Record<string, unknown> = {},
  ) {
    super(code, message, details);
  }
}

export class UnavailableError extends DomainError {}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
