import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/config/options.ts";
import { loadServerConfig, SERVER_OPTIONS } from "../../src/config/server-config.ts";

const none = { flags: {}, env: {}, file: {} };

describe("server configuration", () => {
  it("has sane defaults", () => {
    const config = loadServerConfig(none);
    assert.equal(config.port, 8080);
    assert.equal(config.host, "0.0.0.0");
    assert.equal(config.dataDir, path.resolve("./data"));
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.oidc, undefined);
  });

  it("takes flags over environment over config file", () => {
    const file = { port: 7000, dataDir: "/from-file" };
    assert.equal(loadServerConfig({ flags: {}, env: {}, file }).port, 7000);
    assert.equal(loadServerConfig({ flags: {}, env: { INGOT_PORT: "7100" }, file }).port, 7100);
    assert.equal(loadServerConfig({ flags: { port: "7200" }, env: { INGOT_PORT: "7100" }, file }).port, 7200);
    assert.equal(loadServerConfig({ flags: {}, env: {}, file }).dataDir, "/from-file");
  });

  it("reads DATABASE_URL and INGOT_DATABASE_URL", () => {
    const url = "postgres://u:p@db.internal:5432/ingot";
    assert.equal(loadServerConfig({ ...none, env: { DATABASE_URL: url } }).databaseUrl, url);
    assert.equal(loadServerConfig({ ...none, env: { INGOT_DATABASE_URL: url } }).databaseUrl, url);
  });

  it("reports every problem at once", () => {
    assert.throws(
      () =>
        loadServerConfig({
          flags: { port: "99999", logLevel: "loud" },
          env: { INGOT_ADMIN_PASSWORD: "short" },
          file: { colour: "blue" },
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(error.problems, [
          'config file: unknown setting "colour"',
          "--port: must be between 0 and 65535, got 99999",
          '--log-level: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
        ]);
        return true;
      },
    );
    assert.throws(() => loadServerConfig({ ...none, env: { INGOT_ADMIN_PASSWORD: "short" } }), /at least 12/);
  });

  it("needs a complete OIDC mapping", () => {
    assert.throws(() => loadServerConfig({ ...none, flags: { oidcOrg: "acme" } }), /need --oidc-issuer/);
    assert.throws(
      () => loadServerConfig({ ...none, flags: { oidcIssuer: "https://idp.example", oidcOrg: "acme" } }),
      /exactly one of --oidc-roles or --oidc-roles-claim/,
    );
    assert.throws(
      () =>
        loadServerConfig({
          ...none,
          flags: { oidcIssuer: "https://idp.example", oidcOrg: "acme", oidcRoles: "tenant-viewer" },
        }),
      /OIDC needs --oidc-audience/,
    );
    const config = loadServerConfig({
      ...none,
      flags: {
        oidcIssuer: "https://idp.example",
        oidcAudience: "ingot",
        oidcOrgClaim: "org",
        oidcRoles: "tenant-viewer, tenant-admin",
      },
    });
    assert.deepEqual(config.oidc?.org, { claim: "org" });
    assert.deepEqual(config.oidc?.roles, { static: ["tenant-viewer", "tenant-admin"] });
  });

  it("is documented in the README, option by option", () => {
    const readme = readFileSync(path.resolve(import.meta.dirname, "../../README.md"), "utf8");
    for (const spec of Object.values(SERVER_OPTIONS)) {
      const flag = spec.flag.split(" ")[0] ?? "";
      assert.ok(readme.includes(`\`${flag}\``), `README does not document ${flag}`);
      for (const variable of spec.env)
        assert.ok(readme.includes(variable), `README does not document ${variable}`);
    }
  });
});
