import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { OidcVerifier } from "../../src/auth/oidc.ts";
import type { OidcConfig } from "../../src/config/server-config.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { createOrg, startTestApp, type TestApp } from "../helpers/app.ts";

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

/** A minimal identity provider on loopback: discovery document plus a JWKS whose keys can be rotated. */
class FakeIdentityProvider {
  private server: Server | undefined;
  keys: JWK[] = [];
  jwksFetches = 0;
  issuer = "";

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      response.setHeader("content-type", "application/json");
      if (request.url === "/.well-known/openid-configuration") {
        response.end(JSON.stringify({ issuer: this.issuer, jwks_uri: `${this.issuer}/jwks` }));
      } else if (request.url === "/jwks") {
        this.jwksFetches += 1;
        response.end(JSON.stringify({ keys: this.keys }));
      } else {
        response.statusCode = 404;
        response.end("{}");
      }
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    this.issuer = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async newKey(kid: string): Promise<PrivateKey> {
    const { publicKey, privateKey } = await generateKeyPair("RS256");
    this.keys = [{ ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" }];
    return privateKey;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

async function sign(
  key: PrivateKey,
  kid: string,
  issuer: string,
  claims: Record<string, unknown>,
  options: { audience?: string; expiresIn?: string | number } = {},
): Promise<string> {
  return await new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256", kid })
    .setIssuer(issuer)
    .setSubject("sub-1")
    .setAudience(options.audience ?? "ingot")
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? "5m")
    .sign(key);
}

describe("OIDC bearer tokens", () => {
  const idp = new FakeIdentityProvider();
  let key: PrivateKey;
  let app: TestApp;
  before(async () => {
    await idp.start();
    key = await idp.newKey("k1");
    app = await startTestApp({
      config: {
        oidc: {
          issuer: idp.issuer,
          audience: "ingot",
          jwksUrl: undefined,
          org: { claim: "org" },
          roles: { claim: "realm_access.roles" },
        },
      },
    });
    await createOrg(app, "acme", "tenant");
  });
  after(async () => {
    await app.close();
    await idp.stop();
  });

  it("maps the org and roles claims to access", async () => {
    const token = await sign(key, "k1", idp.issuer, {
      org: "acme",
      realm_access: { roles: ["tenant-admin", "junk"] },
    });
    const caller = app.withBearer(token);
    const me = await caller({ method: "GET", url: "/api/v1/auth/me" });
    assert.equal(me.statusCode, 200);
    assert.equal(me.json().username, "oidc:sub-1");
    assert.deepEqual(me.json().memberships, [{ org: "acme", orgKind: "tenant", role: "tenant-admin" }]);
    assert.equal((await caller({ method: "GET", url: "/api/v1/orgs/acme/audit" })).statusCode, 200);
    assert.equal((await caller({ method: "GET", url: "/api/v1/orgs/default/audit" })).statusCode, 403);
  });

  it("ignores roles that do not fit the org's kind", async () => {
    const token = await sign(key, "k1", idp.issuer, {
      org: "acme",
      realm_access: { roles: ["provider-admin"] },
    });
    const caller = app.withBearer(token);
    assert.deepEqual((await caller({ method: "GET", url: "/api/v1/auth/me" })).json().memberships, []);
    assert.equal((await caller({ method: "GET", url: "/api/v1/users" })).statusCode, 403);
  });

  it("refuses expired, wrongly addressed, foreign and malformed tokens with 401", async () => {
    const expired = await sign(
      key,
      "k1",
      idp.issuer,
      { org: "acme" },
      { expiresIn: Math.floor(Date.now() / 1000) - 60 },
    );
    const expiredResponse = await app.withBearer(expired)({ method: "GET", url: "/api/v1/auth/me" });
    assert.equal(expiredResponse.statusCode, 401);
    assert.equal(expiredResponse.json().detail, "token has expired");

    const wrongAudience = await sign(key, "k1", idp.issuer, { org: "acme" }, { audience: "someone-else" });
    assert.equal(
      (await app.withBearer(wrongAudience)({ method: "GET", url: "/api/v1/auth/me" })).statusCode,
      401,
    );

    const wrongIssuer = await sign(key, "k1", "https://elsewhere.invalid", { org: "acme" });
    assert.equal(
      (await app.withBearer(wrongIssuer)({ method: "GET", url: "/api/v1/auth/me" })).statusCode,
      401,
    );

    const { privateKey: strangerKey } = await generateKeyPair("RS256");
    const forged = await sign(strangerKey, "k1", idp.issuer, { org: "acme" });
    assert.equal((await app.withBearer(forged)({ method: "GET", url: "/api/v1/auth/me" })).statusCode, 401);

    assert.equal(
      (await app.withBearer("aaa.bbb.ccc")({ method: "GET", url: "/api/v1/auth/me" })).statusCode,
      401,
    );
  });

  it("picks up a rotated signing key without a restart", async () => {
    const verifier = new OidcVerifier(
      {
        issuer: idp.issuer,
        audience: "ingot",
        jwksUrl: `${idp.issuer}/jwks`,
        org: { static: "acme" },
        roles: { static: ["tenant-viewer"] },
      } satisfies OidcConfig,
      createLogger("silent"),
      0,
    );
    const orgKind = async (): Promise<"tenant"> => "tenant";
    const before = await sign(key, "k1", idp.issuer, {});
    assert.equal((await verifier.verify(before, orgKind)).memberships[0]?.role, "tenant-viewer");
    const fetchesBefore = idp.jwksFetches;
    const rotated = await idp.newKey("k2");
    const after = await sign(rotated, "k2", idp.issuer, {});
    assert.equal((await verifier.verify(after, orgKind)).name, "oidc:sub-1");
    assert.equal(idp.jwksFetches, fetchesBefore + 1, "the key set was fetched again once");
    await verifier.verify(after, orgKind);
    assert.equal(idp.jwksFetches, fetchesBefore + 1, "known keys are served from the cache");
    await assert.rejects(
      verifier.verify(before, orgKind),
      { code: "auth.unauthenticated" },
      "the retired key is gone",
    );
  });
});
