import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type RedfishLab, type RedfishLabBmc, startRedfishLab } from "../../lab/redfish/index.ts";
import { createUserWithRole, eventually, startTestApp, type TestApp } from "../helpers/app.ts";
import { BASE, expectProblem, expectStatus } from "./helpers.ts";

const TIMING = {
  powerOnDelayMs: 150,
  powerOffDelayMs: 100,
  gracefulShutdownMs: 150,
  thermalTimeConstantMs: 500,
};

describe("machine power API", () => {
  let app: TestApp;
  let lab: RedfishLab;
  const machineOf = new Map<number, string>();

  before(async () => {
    app = await startTestApp({
      config: { bmc: { requestTimeoutMs: 1_000, operationTimeoutMs: 10_000, inventorySyncIntervalMs: 0 } },
    });
    lab = await startRedfishLab({ machines: 3, vendor: "mixed", timing: TIMING });
    for (const [index, target] of lab.bmcs.entries()) {
      const response = await app.admin({
        method: "POST",
        url: `${BASE}/bmcs/explore`,
        payload: {
          address: target.host,
          port: target.port,
          protocol: "redfish",
          credentials: target.credentials,
          tls: { mode: "verify", ca: lab.tls.caCert },
        },
      });
      expectStatus(response, 201);
      machineOf.set(index, response.json().machineId);
    }
  });
  after(async () => {
    await app.close();
    await lab.stop();
  });

  function bmc(index: number): RedfishLabBmc {
    const found = lab.bmcs[index];
    assert.ok(found);
    return found;
  }

  function url(index: number, what: string): string {
    return `${BASE}/machines/${machineOf.get(index)}/${what}`;
  }

  async function power(index: number, action: string) {
    return await app.admin({ method: "POST", url: url(index, "power"), payload: { action } });
  }

  async function powerState(
    index: number,
  ): Promise<{ powerState: string; bootOverride: Record<string, string> }> {
    const response = await app.admin({ method: "GET", url: url(index, "power") });
    expectStatus(response, 200);
    return response.json();
  }

  it("powers a machine on through its BMC and records the state seen", async () => {
    const response = await power(0, "on");
    expectStatus(response, 202);
    const body = response.json();
    assert.equal(body.action, "on");
    assert.equal(body.bmc.macAddress, bmc(0).identity.bmcMac);
    assert.equal(body.bmc.port, bmc(0).port);
    await eventually(async () => (bmc(0).state().powerState === "On" ? true : undefined), {
      what: "the lab machine to power on",
    });
    assert.equal((await powerState(0)).powerState, "on");
    const row = await app.admin({ method: "GET", url: `${BASE}/bmcs/${bmc(0).identity.bmcMac}` });
    assert.equal(row.json().powerState, "on");
    assert.equal(row.json().lastError, null);

    const audit = (await app.admin({ method: "GET", url: `${BASE}/audit?action=powerMachine` })).json();
    assert.equal(audit.items[0].result, "success");
    assert.match(audit.items[0].target, new RegExp(`machine=${machineOf.get(0)} .*action=on`));
  });

  it("sets a one-time PXE boot that the next boot uses up", async () => {
    const set = await app.admin({
      method: "POST",
      url: url(0, "boot-device"),
      payload: { device: "pxe", persistence: "once", mode: "uefi" },
    });
    expectStatus(set, 200);
    assert.deepEqual(set.json().bootOverride, { device: "pxe", persistence: "once", mode: "uefi" });
    assert.deepEqual((await powerState(0)).bootOverride, {
      device: "pxe",
      persistence: "once",
      mode: "uefi",
    });
    const boots = bmc(0).state().bootCount;
    expectStatus(await power(0, "force-restart"), 202);
    await eventually(async () => (bmc(0).state().bootCount > boots ? true : undefined), {
      what: "the lab machine to boot again",
    });
    assert.equal(bmc(0).state().lastBoot?.bootDevice, "pxe");
    const after = await powerState(0);
    assert.equal(after.bootOverride.device, "none");
    assert.equal(after.bootOverride.persistence, "disabled");
  });

  it("reads the sensors", async () => {
    const response = await app.admin({ method: "GET", url: url(0, "sensors") });
    expectStatus(response, 200);
    const body = response.json();
    assert.equal(body.bmc.macAddress, bmc(0).identity.bmcMac);
    const temperatures = body.sensors.filter((sensor: { kind: string }) => sensor.kind === "temperature");
    assert.ok(temperatures.length > 0);
    assert.ok(temperatures.every((sensor: { unit: string }) => sensor.unit === "°C"));
    assert.ok(body.powerSupplies.length > 0);
  });

  it("powers off a machine with an iLO-style BMC and cycles it", async () => {
    expectStatus(await power(1, "on"), 202);
    await eventually(async () => (bmc(1).state().powerState === "On" ? true : undefined));
    const boots = bmc(1).state().bootCount;
    // iLO 5 has no PowerCycle: the driver turns it into ForceOff, wait, On.
    expectStatus(await power(1, "cycle"), 202);
    await eventually(async () => (bmc(1).state().bootCount > boots ? true : undefined), {
      what: "the cycled machine to boot",
    });
    expectStatus(await power(1, "force-off"), 202);
    await eventually(async () => ((await powerState(1)).powerState === "off" ? true : undefined));
  });

  it("lets provider viewers read and only provider admins act", async () => {
    const viewer = await createUserWithRole(app, {
      username: "power-viewer",
      org: "default",
      role: "provider-viewer",
    });
    expectStatus(await viewer({ method: "GET", url: url(0, "power") }), 200);
    expectStatus(await viewer({ method: "GET", url: url(0, "sensors") }), 200);
    expectProblem(await viewer({ method: "POST", url: url(0, "power"), payload: { action: "off" } }), 403);
    expectProblem(
      await viewer({
        method: "POST",
        url: url(0, "boot-device"),
        payload: { device: "pxe", persistence: "once" },
      }),
      403,
    );
  });

  it("refuses unknown actions and machines", async () => {
    expectProblem(await power(0, "explode"), 400, "body.action");
    expectProblem(
      await app.admin({
        method: "POST",
        url: url(0, "boot-device"),
        payload: { device: "floppy", persistence: "once" },
      }),
      400,
      "body.device",
    );
    expectProblem(
      await app.admin({
        method: "GET",
        url: `${BASE}/machines/00000000-0000-4000-8000-000000000000/power`,
      }),
      404,
    );
  });

  describe("when the BMC misbehaves", () => {
    it("answers 504 quickly when the BMC is slower than the deadline, and records the error", async () => {
      bmc(2).faults.setLatency(4_000);
      try {
        const started = Date.now();
        const response = await app.admin({ method: "GET", url: url(2, "power") });
        expectProblem(response, 504);
        assert.equal(response.json().code, "bmc.timeout");
        assert.match(
          response.json().detail,
          new RegExp(`BMC 127\\.0\\.0\\.1:${bmc(2).port} \\(${bmc(2).identity.bmcMac}\\)`),
        );
        assert.ok(Date.now() - started < 4_000, "the call waited for the slow BMC");
      } finally {
        bmc(2).faults.clear();
      }
      const row = await app.admin({ method: "GET", url: `${BASE}/bmcs/${bmc(2).identity.bmcMac}` });
      assert.match(row.json().lastError, /within 1000 ms/);
    });

    it("retries a 503 and succeeds", async () => {
      bmc(2).clearRequests();
      bmc(2).faults.failNext(1, { status: 503, retryAfterSeconds: 0, match: { method: "GET" } });
      const response = await app.admin({ method: "GET", url: url(2, "power") });
      expectStatus(response, 200);
      const statuses = bmc(2)
        .requests()
        .map((request) => request.status);
      assert.ok(statuses.includes(503), `the BMC answered ${statuses.join(", ")}`);
      const row = await app.admin({ method: "GET", url: `${BASE}/bmcs/${bmc(2).identity.bmcMac}` });
      assert.equal(row.json().lastError, null);
    });

    it("answers 502 when the BMC is down, and recovers when it is back", async () => {
      await bmc(2).setAcPower(false);
      try {
        const response = await power(2, "on");
        expectProblem(response, 502);
        assert.equal(response.json().code, "bmc.unreachable");
        assert.match(response.json().detail, new RegExp(`127\\.0\\.0\\.1:${bmc(2).port}`));
        const audit = (await app.admin({ method: "GET", url: `${BASE}/audit?action=powerMachine` })).json();
        assert.equal(audit.items[0].result, "failure");
        assert.equal(audit.items[0].statusCode, 502);
      } finally {
        await bmc(2).setAcPower(true);
      }
      expectStatus(await power(2, "on"), 202);
      await eventually(async () => (bmc(2).state().powerState === "On" ? true : undefined));
    });

    it("answers 409 for a machine without a BMC", async () => {
      expectStatus(await app.admin({ method: "DELETE", url: `${BASE}/bmcs/${bmc(2).identity.bmcMac}` }), 204);
      const response = await power(2, "on");
      expectProblem(response, 409);
      assert.equal(response.json().code, "machine.no_bmc");
      assert.match(response.json().detail, /has no BMC.*bmcs\/explore/);
      expectProblem(await app.admin({ method: "GET", url: url(2, "sensors") }), 409);
    });
  });
});
