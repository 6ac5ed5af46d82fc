import type { DomainError } from "../errors.ts";

/** The fields of a PostgreSQL error (pg's DatabaseError) that say which rule was broken. */
export interface PgErrorFields {
  readonly code: string;
  readonly constraint: string | undefined;
}

export function pgErrorOf(error: unknown): PgErrorFields | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { code, constraint } = error as { code?: unknown; constraint?: unknown };
  if (typeof code !== "string" || !/^[0-9A-Z]{5}$/.test(code)) return undefined;
  return { code, constraint: typeof constraint === "string" ? constraint : undefined };
}

/**
 * Constraint name → the domain error it means. The service checks first and answers clearly; this is
 * for the race the check cannot see (two requests creating the same rack name at once), where the
 * database constraint is what refuses, and the client should still get a 409 naming the clash, not a 500.
 */
export type ConstraintErrors = Readonly<Record<string, () => DomainError>>;

export async function translateConstraintErrors<T>(
  work: () => Promise<T>,
  errors: ConstraintErrors,
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const fields = pgErrorOf(error);
    const make = fields?.constraint === undefined ? undefined : errors[fields.constraint];
    if (make !== undefined) throw make();
    throw error;
  }
}
