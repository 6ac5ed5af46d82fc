import assert from "node:assert/strict";
import type { LightMyRequestResponse } from "fastify";
import { sql } from "kysely";
import type { Caller, TestApp } from "../helpers/app.ts";

export const ORG = "default";
export const BASE = `/api/v1/orgs/${ORG}`;

/** Asserts the status, and on failure shows the body so the cause is in the test output. */
export function expectStatus(response: LightMyRequestResponse, status: number): void {
  assert.equal(
    response.statusCode,
    status,
    `expected ${status}, got ${response.statusCode}: ${response.body}`,
  );
}

/** Asserts a problem+json answer with the status, and that some error names `field`. */
export function expectProblem(response: LightMyRequestResponse, status: number, field?: string): void {
  expectStatus(response, status);
  assert.match(String(response.headers["content-type"]), /^application\/problem\+json/);
  if (field !== undefined) {
    const errors = (response.json().errors ?? []) as Array<{ field: string }>;
    assert.ok(
      errors.some((error) => error.field === field),
      `expected an error naming ${field}, got ${response.body}`,
    );
  }
}

/** POSTs and returns the created object, failing the test unless it answered 201. */
export async function create<T = Record<string, unknown>>(
  caller: Caller,
  url: string,
  payload: unknown,
): Promise<T> {
  const response = await caller({ method: "POST", url, payload: payload as Record<string, unknown> });
  expectStatus(response, 201);
  return response.json() as T;
}

/** Follows `nextCursor` through every page and returns all items. */
export async function allPages<T>(caller: Caller, url: string): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const separator = url.includes("?") ? "&" : "?";
    const response = await caller({
      method: "GET",
      url: cursor === null ? url : `${url}${separator}cursor=${encodeURIComponent(cursor)}`,
    });
    expectStatus(response, 200);
    const page = response.json() as { items: T[]; nextCursor: string | null };
    items.push(...page.items);
    cursor = page.nextCursor;
    pages++;
    assert.ok(pages < 1000, "pagination does not end");
  } while (cursor !== null);
  return { items, pages };
}

/** A machine row as enrollment would leave it; machines have no create API, the agent enrolls them. */
export async function insertMachine(app: TestApp, org: string, serial: string): Promise<string> {
  const result = await sql<{ id: string }>`
    INSERT INTO machines (org_id, serial_number, inventory, inventory_digest, state)
    SELECT id, ${serial}, '{}'::jsonb, 'test', '{"kind": "enrolled"}'::jsonb FROM orgs WHERE name = ${org}
    RETURNING id`.execute(app.database.handle.db);
  const id = result.rows[0]?.id;
  if (id === undefined) throw new Error(`no org ${org}`);
  return id;
}
