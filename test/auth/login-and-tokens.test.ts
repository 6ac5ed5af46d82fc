import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ADMIN_PASSWORD, createOrg, createUserWithRole, startTestApp, type TestApp } from "../helpers/app.ts";

describe("login, sessions and API tokens", () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ loginThrottle: { windowSeconds: 900, perUser: 3, perAddress: 1000 } });
  });
  after(async () => await app.close());

  it("sets an httpOnly SameSite session cookie and reports who you are", async () => {
    const response = await app.anonymous({
      method: "POST",
      url: "/api/v1/auth/login",
      payload: { username: "admin", password: ADMIN_PASSWORD },
    });
    assert.equal(response.statusCode, 200);
    const cookie = response.cookies.find((c) => c.name === "ingot_session");
    assert.ok(cookie);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Strict");
    const me = await app.anonymous({
      method: "GET",
      url: "/api/v1/auth/me",
      headers: { cookie: `ingot_session=${cookie.value}` },
    });
    assert.equal(me.statusCode, 200);
    assert.deepEqual(me.json().memberships, [
      { org: "default", orgKind: "provider", role: "provider-admin" },
    ]);
  });

  it("refuses a wrong password and an unknown user alike", async () => {
    for (const payload of [
      { username: "admin", password: "wrong-password" },
      { username: "nobody", password: "wrong-password" },
    ]) {
      const response = await app.anonymous({ method: "POST", url: "/api/v1/auth/login", payload });
      assert.equal(response.statusCode, 401);
      assert.equal(response.json().detail, "invalid username or password");
      assert.equal(response.cookies.length, 0);
    }
  });

  it("throttles a user after repeated failures, even with the right password", async () => {
    await app.admin({
      method: "POST",
      url: "/api/v1/users",
      payload: { username: "victim", password: "victim-password-1" },
    });
    for (let attempt = 0; attempt < 3; attempt++) {
      const failed = await app.anonymous({
        method: "POST",
        url: "/api/v1/auth/login",
        payload: { username: "victim", password: "guess" },
      });
      assert.equal(failed.statusCode, 401);
    }
    const throttled = await app.anonymous({
      method: "POST",
      url: "/api/v1/auth/login",
      payload: { username: "victim", password: "victim-password-1" },
    });
    assert.equal(throttled.statusCode, 429);
    assert.equal(throttled.json().code, "auth.login_throttled");
    assert.ok(Number(throttled.headers["retry-after"]) > 0);
  });

  it("throttles concurrent guesses too: they cannot all pass the check before any is counted", async () => {
    await app.admin({
      method: "POST",
      url: "/api/v1/users",
      payload: { username: "burst", password: "burst-password-1" },
    });
    const responses = await Promise.all(
      Array.from({ length: 12 }, () =>
        app.anonymous({
          method: "POST",
          url: "/api/v1/auth/login",
          payload: { username: "burst", password: "guess" },
        }),
      ),
    );
    const unauthorized = responses.filter((response) => response.statusCode === 401).length;
    const throttled = responses.filter((response) => response.statusCode === 429).length;
    assert.equal(unauthorized, 3, "only the allowance of guesses is checked");
    assert.equal(throttled, 9);
  });

  it("ends the session on logout", async () => {
    const caller = await app.loginAs("admin", ADMIN_PASSWORD);
    assert.equal((await caller({ method: "GET", url: "/api/v1/auth/me" })).statusCode, 200);
    assert.equal((await caller({ method: "POST", url: "/api/v1/auth/logout" })).statusCode, 204);
    assert.equal((await caller({ method: "GET", url: "/api/v1/auth/me" })).statusCode, 401);
  });

  it("refuses a forged or malformed session cookie", async () => {
    for (const cookie of ["garbage", `${"0".repeat(8)}-0000-0000-0000-${"0".repeat(12)}.${"A".repeat(43)}`]) {
      const response = await app.anonymous({
        method: "GET",
        url: "/api/v1/auth/me",
        headers: { cookie: `ingot_session=${cookie}` },
      });
      assert.equal(response.statusCode, 401);
    }
  });

  it("shows an API token's secret once, accepts it as a bearer token, and refuses it once revoked", async () => {
    const created = await app.admin({ method: "POST", url: "/api/v1/auth/tokens", payload: { name: "ci" } });
    assert.equal(created.statusCode, 201);
    const { token, apiToken } = created.json();
    assert.match(token, /^ingot_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/);

    const listed = await app.admin({ method: "GET", url: "/api/v1/auth/tokens" });
    assert.ok(!listed.body.includes(token.slice(39)), "the list never contains the secret");
    assert.ok(listed.json().items.some((item: { id: string }) => item.id === apiToken.id));

    const bearer = app.withBearer(token);
    const me = await bearer({ method: "GET", url: "/api/v1/auth/me" });
    assert.equal(me.statusCode, 200);
    assert.equal(me.json().username, "admin");
    const stored = await app.database.handle.pool.query("SELECT secret_hash FROM api_tokens WHERE id = $1", [
      apiToken.id,
    ]);
    assert.ok(!stored.rows[0].secret_hash.toString("utf8").includes(token.slice(39)), "stored hashed");

    const revoked = await app.admin({ method: "DELETE", url: `/api/v1/auth/tokens/${apiToken.id}` });
    assert.equal(revoked.statusCode, 200);
    assert.ok(revoked.json().revokedAt);
    const refused = await bearer({ method: "GET", url: "/api/v1/auth/me" });
    assert.equal(refused.statusCode, 401);
    assert.equal(refused.json().detail, "API token has been revoked");
  });

  it("refuses an expired token, a tampered token and a malformed Authorization header", async () => {
    const created = await app.admin({
      method: "POST",
      url: "/api/v1/auth/tokens",
      payload: { name: "short-lived", expiresAt: new Date(Date.now() + 60_000).toISOString() },
    });
    const { token, apiToken } = created.json();
    assert.equal((await app.withBearer(token)({ method: "GET", url: "/api/v1/auth/me" })).statusCode, 200);
    await app.database.handle.pool.query(
      "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1",
      [apiToken.id],
    );
    const expired = await app.withBearer(token)({ method: "GET", url: "/api/v1/auth/me" });
    assert.equal(expired.statusCode, 401);
    assert.equal(expired.json().detail, "API token has expired");

    const tampered = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
    assert.equal((await app.withBearer(tampered)({ method: "GET", url: "/api/v1/auth/me" })).statusCode, 401);
    assert.equal(
      (await app.withBearer("not-a-token")({ method: "GET", url: "/api/v1/auth/me" })).statusCode,
      401,
    );
    const basic = await app.anonymous({
      method: "GET",
      url: "/api/v1/auth/me",
      headers: { authorization: "Basic YWRtaW46eA==" },
    });
    assert.equal(basic.statusCode, 401);
    assert.equal(basic.headers["www-authenticate"], 'Bearer realm="ingot"');
  });

  it("does not let an API token create tokens", async () => {
    const created = await app.admin({
      method: "POST",
      url: "/api/v1/auth/tokens",
      payload: { name: "parent" },
    });
    const child = await app.withBearer(created.json().token)({
      method: "POST",
      url: "/api/v1/auth/tokens",
      payload: { name: "child" },
    });
    assert.equal(child.statusCode, 403);
  });

  it("answers a forged session cookie with 401, not an error", async () => {
    const response = await app.anonymous({
      method: "GET",
      url: "/api/v1/auth/me",
      headers: { cookie: `ingot_session=${"-".repeat(36)}.${"A".repeat(43)}` },
    });
    assert.equal(response.statusCode, 401);
  });

  it("refuses an expiry in the past, naming the field", async () => {
    const response = await app.admin({
      method: "POST",
      url: "/api/v1/auth/tokens",
      payload: { name: "old", expiresAt: "2001-01-01T00:00:00Z" },
    });
    assert.equal(response.statusCode, 400);
    assert.equal(response.json().errors[0].field, "body.expiresAt");
  });

  it("ends a disabled user's sessions and tokens", async () => {
    await createOrg(app, "disabled-co", "tenant");
    const caller = await createUserWithRole(app, {
      username: "leaver",
      org: "disabled-co",
      role: "tenant-admin",
    });
    const token = (
      await caller({ method: "POST", url: "/api/v1/auth/tokens", payload: { name: "t" } })
    ).json().token;
    const disabled = await app.admin({
      method: "PATCH",
      url: "/api/v1/users/leaver",
      payload: { disabled: true },
    });
    assert.equal(disabled.statusCode, 200);
    assert.equal((await caller({ method: "GET", url: "/api/v1/auth/me" })).statusCode, 401);
    assert.equal((await app.withBearer(token)({ method: "GET", url: "/api/v1/auth/me" })).statusCode, 401);
  });

  it("changes your own password only with the current one, and ends your sessions", async () => {
    await createOrg(app, "pw-co", "tenant");
    const caller = await createUserWithRole(app, {
      username: "changer",
      org: "pw-co",
      role: "tenant-viewer",
      password: "first-password-1",
    });
    const wrong = await caller({
      method: "POST",
      url: "/api/v1/auth/password",
      payload: { currentPassword: "nope", newPassword: "second-password-2" },
    });
    assert.equal(wrong.statusCode, 400);
    assert.equal(wrong.json().errors[0].field, "body.currentPassword");
    const weak = await caller({
      method: "POST",
      url: "/api/v1/auth/password",
      payload: { currentPassword: "first-password-1", newPassword: "short" },
    });
    assert.equal(weak.json().errors[0].field, "body.newPassword");
    const changed = await caller({
      method: "POST",
      url: "/api/v1/auth/password",
      payload: { currentPassword: "first-password-1", newPassword: "second-password-2" },
    });
    assert.equal(changed.statusCode, 204);
    assert.equal((await caller({ method: "GET", url: "/api/v1/auth/me" })).statusCode, 401);
    await app.loginAs("changer", "second-password-2");
  });
});
