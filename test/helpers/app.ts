import { randomBytes } from "node:crypto";
import type { InjectOptions, LightMyRequestResponse } from "fastify";
import type { LoginThrottleLimits } from "../../src/auth/service.ts";
import { CredentialsVault } from "../../src/bmc/vault.ts";
import type { ServerConfig } from "../../src/config/server-config.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { type AssembledApp, assembleApp } from "../../src/server/app.ts";
import { createTestDatabase, type TestDatabase } from "./database.ts";

export const ADMIN_PASSWORD = "correct-horse-battery-staple";

export function testConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  return {
    host: "127.0.0.1",
    port: 0,
    dataDir: "/nonexistent",
    databaseUrl: undefined,
    publicUrl: "http://127.0.0.1:8080",
    logLevel: "silent",
    bodyLimit: 1_048_576,
    sessionTtlSeconds: 3600,
    trustProxy: false,
    oidc: undefined,
    dhcp: { mode: "off" },
    adminPassword: ADMIN_PASSWORD,
    ...overrides,
  };
}

export type Caller = (options: InjectOptions) => Promise<LightMyRequestResponse>;

export interface TestApp {
  readonly assembled: AssembledApp;
  readonly database: TestDatabase;
  /** The URL machines use to reach the app (meaningful with the `listen` option). */
  publicUrl(): string;
  /** Requests with no credentials. */
  readonly anonymous: Caller;
  /** Requests as the bootstrapped provider admin, through a real login session. */
  readonly admin: Caller;
  /** Logs in and returns a caller carrying that session's cookie. */
  loginAs(username: string, password: string): Promise<Caller>;
  /** A caller carrying `Authorization: Bearer <token>`. */
  withBearer(token: string): Caller;
  close(): Promise<void>;
}

/** The real application (routes, services, hooks) on a fresh clone of the migrated test database. */
export async function startTestApp(
  options: {
    config?: Partial<ServerConfig>;
    loginThrottle?: LoginThrottleLimits;
    /** Runs before the app is ready: the place to register extra routes a test needs. */
    beforeReady?: (assembled: AssembledApp, database: TestDatabase) => Promise<void> | void;
    /**
     * Listen for real on 127.0.0.1 (a free port); machines reach the server at `http://<publicHost>:<port>`,
     * e.g. 10.0.2.2, which is the host's loopback seen from a QEMU VM on user networking.
     */
    listen?: { readonly host?: string; readonly publicHost: string };
  } = {},
): Promise<TestApp> {
  const database = await createTestDatabase();
  const config = testConfig(options.config);
  let publicUrl = config.publicUrl ?? "http://127.0.0.1:8080";
  const assembled = await assembleApp({
    db: database.handle.db,
    config,
    logger: createLogger("silent"),
    vault: CredentialsVault.fromKey(randomBytes(32)),
    publicUrl: () => publicUrl,
    ...(options.loginThrottle !== undefined ? { loginThrottle: options.loginThrottle } : {}),
  });
  await assembled.services.identity.bootstrap(config.adminPassword);
  await options.beforeReady?.(assembled, database);
  await assembled.http.ready();
  const http = assembled.http;
  if (options.listen !== undefined) {
    await http.listen({ host: options.listen.host ?? "127.0.0.1", port: 0 });
    const address = http.server.address();
    if (address === null || typeof address !== "object") throw new Error("the test app is not listening");
    publicUrl = `http://${options.listen.publicHost}:${address.port}`;
  }
  const anonymous: Caller = async (request) => await http.inject(request);
  const withHeaders =
    (headers: Record<string, string>): Caller =>
    async (request) =>
      await http.inject({
        ...request,
        headers: { ...headers, ...(request.headers as Record<string, string>) },
      });
  const loginAs = async (username: string, password: string): Promise<Caller> => {
    const response = await http.inject({
      method: "POST",
      url: "/api/v1/auth/login",
      payload: { username, password },
    });
    if (response.statusCode !== 200) throw new Error(`login as ${username} failed: ${response.body}`);
    const cookie = response.cookies.find((c) => c.name === "ingot_session");
    if (cookie === undefined) throw new Error("login set no session cookie");
    return withHeaders({ cookie: `ingot_session=${cookie.value}` });
  };
  const admin = await loginAs("admin", ADMIN_PASSWORD);
  return {
    assembled,
    database,
    publicUrl: () => publicUrl,
    anonymous,
    admin,
    loginAs,
    withBearer: (token) => withHeaders({ authorization: `Bearer ${token}` }),
    async close() {
      await http.close();
      await assembled.jobs.stop();
      await database.drop();
    },
  };
}

/** Creates a user with a role in an org through the API, and returns a logged-in caller for it. */
export async function createUserWithRole(
  app: TestApp,
  input: { username: string; org: string; role: string; password?: string },
): Promise<Caller> {
  const password = input.password ?? "a-long-enough-password";
  const created = await app.admin({
    method: "POST",
    url: "/api/v1/users",
    payload: { username: input.username, password },
  });
  if (created.statusCode !== 201) throw new Error(`create user failed: ${created.body}`);
  const granted = await app.admin({
    method: "PUT",
    url: `/api/v1/orgs/${input.org}/members/${input.username}`,
    payload: { role: input.role },
  });
  if (granted.statusCode !== 200) throw new Error(`grant role failed: ${granted.body}`);
  return await app.loginAs(input.username, password);
}

export async function createOrg(app: TestApp, name: string, kind: "provider" | "tenant"): Promise<void> {
  const response = await app.admin({ method: "POST", url: "/api/v1/orgs", payload: { name, kind } });
  if (response.statusCode !== 201) throw new Error(`create org failed: ${response.body}`);
}

/** Polls until `check` returns a value other than undefined, or fails after the deadline. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  { timeoutMs = 10_000, intervalMs = 50, what = "condition" } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
