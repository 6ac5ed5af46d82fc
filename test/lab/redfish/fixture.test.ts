import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createLabTls, type RedfishFixtureBmc, startRedfishFixtureBmc } from "../../../lab/redfish/index.ts";
import { call, type RawResponse } from "./helpers.ts";

const FIXTURES = path.resolve(import.meta.dirname, "../../../../shared/fixtures/redfish");

describe("fixture mode", () => {
  let hpe: RedfishFixtureBmc;
  let openbmc: RedfishFixtureBmc;

  before(async () => {
    const tls = await createLabTls();
    [hpe, openbmc] = await Promise.all([
      startRedfishFixtureBmc({ directory: path.join(FIXTURES, "hpe-dl325-ilo5"), tls }),
      startRedfishFixtureBmc({ directory: path.join(FIXTURES, "openbmc-bmcweb"), tls }),
    ]);
  });
  after(async () => {
    await hpe.stop();
    await openbmc.stop();
  });

  const get = (bmc: RedfishFixtureBmc, resource: string, auth = true): Promise<RawResponse> =>
    call({ url: bmc.url, ca: bmc.tls.caCert }, "GET", resource, auth ? { auth: bmc.credentials } : {});

  test("serves each captured document as the body of its path", async () => {
    const file = JSON.parse(
      readFileSync(path.join(FIXTURES, "hpe-dl325-ilo5/Systems/1/index.json"), "utf8"),
    ) as Record<string, unknown>;
    const answer = await get(hpe, "/redfish/v1/Systems/1");
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, file);
    assert.equal(answer.headers.etag, file["@odata.etag"]);
    assert.ok(hpe.resources > 700);
  });

  test("the root is public, the rest needs the configured Basic credentials", async () => {
    assert.equal((await get(openbmc, "/redfish/v1", false)).status, 200);
    assert.equal((await get(openbmc, "/redfish/v1/Systems/system", false)).status, 401);
    const wrong = await call(
      { url: openbmc.url, ca: openbmc.tls.caCert },
      "GET",
      "/redfish/v1/Systems/system",
      {
        auth: { username: openbmc.credentials.username, password: "wrong" },
      },
    );
    assert.equal(wrong.status, 401);
  });

  test("is read-only: writes answer 405", async () => {
    const target = { url: hpe.url, ca: hpe.tls.caCert };
    for (const method of ["POST", "PATCH", "DELETE"] as const) {
      const answer = await call(target, method, "/redfish/v1/Systems/1", { auth: hpe.credentials, body: {} });
      assert.equal(answer.status, 405, method);
      assert.equal(answer.headers.allow, "GET, HEAD");
    }
    const login = await call(target, "POST", "/redfish/v1/SessionService/Sessions", {
      body: { UserName: "a", Password: "b" },
    });
    assert.equal(login.status, 405);
  });

  test("paths match case-insensitively and trailing slashes are ignored, as on iLO", async () => {
    const system = await get(hpe, "/redfish/v1/Systems/1");
    const bios = (system.body.Bios as { "@odata.id": string })["@odata.id"];
    assert.equal(bios, "/redfish/v1/systems/1/bios");
    assert.equal((await get(hpe, bios)).status, 200);
    assert.equal((await get(openbmc, "/redfish/v1/SessionService/")).status, 200);
  });

  test("$expand is honoured where the tree's root advertises it", async () => {
    const expanded = await get(hpe, "/redfish/v1/Systems/1/Memory?$expand=.($levels=1)");
    const dimms = expanded.body.Members as Array<Record<string, unknown>>;
    assert.equal(dimms.length, 16);
    assert.equal(dimms[0]?.CapacityMiB, 16384);
    const plain = await get(openbmc, "/redfish/v1/UpdateService/FirmwareInventory?$expand=.($levels=1)");
    assert.deepEqual(Object.keys((plain.body.Members as object[])[0] ?? {}), ["@odata.id"]);
  });

  test("captured error bodies and unknown paths are 404", async () => {
    const reaped = await get(hpe, "/redfish/v1/TaskService/Tasks/9");
    assert.equal(reaped.status, 404);
    assert.ok("error" in reaped.body);
    assert.equal((await get(hpe, "/redfish/v1/Systems/2")).status, 404);
  });
});
