import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type IpmiLab, startIpmiLab } from "../../lab/ipmi/index.ts";
import { type RedfishLab, type RedfishLabBmc, startRedfishLab } from "../../lab/redfish/index.ts";
import { createUserWithRole, startTestApp, type TestApp } from "../helpers/app.ts";
import { enrollmentRequest, storeFakeAgentImage, tokenFromScript } from "../helpers/enrollment.ts";
import { BASE, expectProblem, expectStatus } from "./helpers.ts";

const TIMING = { powerOnDelayMs: 100, powerOffDelayMs: 100, gracefulShutdownMs: 100 };

interface ExploreBody {
  bmc: {
    macAddress: string;
    machineId: string;
    hasCredentials: boolean;
    updatedAt: string;
    powerState: string;
  };
  machineId: string;
  expectedMachineId: string | null;
  outcome: { bmc: string; machine: string; matchedBy: string | null; inventoryChanged: boolean };
  powerState: string;
  inventory: { serial?: string; nics: Array<{ mac: string }> };
}

function redfishBody(bmc: RedfishLabBmc, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    address: bmc.host,
    port: bmc.port,
    protocol: "redfish",
    credentials: bmc.credentials,
    tls: { mode: "insecure-allow-self-signed" },
    ...overrides,
  };
}

/** A loopback TCP port nobody listens on. */
async function closedTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

/** A loopback UDP port nobody answers on. */
async function silentUdpPort(): Promise<number> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

describe("BMC exploration", () => {
  let app: TestApp;
  let lab: RedfishLab;
  let dataDir: string;

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "ingot-explore-"));
    chmodSync(dataDir, 0o755);
    app = await startTestApp({
      config: {
        dataDir,
        bmc: { requestTimeoutMs: 1_000, operationTimeoutMs: 10_000, inventorySyncIntervalMs: 0 },
      },
    });
    lab = await startRedfishLab({ machines: 6, vendor: "mixed", timing: TIMING });
  });
  after(async () => {
    await app.close();
    await lab.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  function labBmc(index: number): RedfishLabBmc {
    const bmc = lab.bmcs[index];
    assert.ok(bmc);
    return bmc;
  }

  async function explore(body: Record<string, unknown>) {
    return await app.admin({ method: "POST", url: `${BASE}/bmcs/explore`, payload: body });
  }

  async function count(table: string): Promise<number> {
    const result = await app.database.handle.pool.query(`SELECT count(*)::int AS n FROM ${table}`);
    return result.rows[0].n;
  }

  async function bmcRow(mac: string): Promise<{ credentials: string; updated_at: Date; machine_id: string }> {
    const result = await app.database.handle.pool.query("SELECT * FROM bmcs WHERE mac_address = $1", [mac]);
    return result.rows[0];
  }

  it("registers a Redfish BMC and creates its machine from the out-of-band inventory", async () => {
    const bmc = labBmc(0);
    const response = await explore(redfishBody(bmc, { tls: { mode: "verify", ca: lab.tls.caCert } }));
    expectStatus(response, 201);
    assert.doesNotMatch(response.body, new RegExp(bmc.credentials.password));
    const body = response.json() as ExploreBody;
    assert.equal(body.bmc.macAddress, bmc.identity.bmcMac);
    assert.equal(body.bmc.hasCredentials, true);
    assert.equal(body.bmc.machineId, body.machineId);
    assert.equal(body.bmc.powerState, "off");
    assert.deepEqual(body.outcome, {
      bmc: "created",
      machine: "created",
      matchedBy: null,
      inventoryChanged: false,
    });
    assert.equal(body.inventory.serial, bmc.identity.serial);

    const machine = await app.admin({ method: "GET", url: `${BASE}/machines/${body.machineId}` });
    expectStatus(machine, 200);
    const detail = machine.json();
    assert.equal(detail.state.kind, "enrolled");
    assert.equal(detail.serialNumber, bmc.identity.serial);
    assert.equal(detail.systemUuid, bmc.identity.uuid);
    assert.equal(detail.bootMac, null);
    assert.equal(detail.agentVersion, null);
    assert.deepEqual(
      detail.interfaces.map((nic: { macAddress: string }) => nic.macAddress).sort(),
      [...bmc.identity.nicMacs].sort(),
    );
    assert.equal(detail.summary.cpuCores, 64);
    assert.equal(detail.summary.memoryBytes, 16 * 32 * 2 ** 30);

    const stored = await bmcRow(bmc.identity.bmcMac);
    assert.match(stored.credentials, /^ingot-vault:v1:/);
    assert.ok(!stored.credentials.includes(bmc.credentials.password));

    const inventory = await app.admin({
      method: "GET",
      url: `${BASE}/bmcs/${bmc.identity.bmcMac}/inventory`,
    });
    expectStatus(inventory, 200);
    const oob = inventory.json();
    assert.equal(oob.powerState, "off");
    assert.equal(oob.lastError, null);
    assert.ok(oob.lastContactAt !== null);
    assert.equal(oob.inventory.serial, bmc.identity.serial);
    assert.equal(oob.inventory.uuid, bmc.identity.uuid);
    assert.deepEqual(
      oob.inventory.nics.map((nic: { mac: string }) => nic.mac.toLowerCase()).sort(),
      [...bmc.identity.nicMacs].sort(),
    );
    assert.ok(oob.inventory.firmware.length > 0);

    const audit = await app.admin({ method: "GET", url: `${BASE}/audit?action=exploreBmc` });
    expectStatus(audit, 200);
    const entry = audit.json().items[0];
    assert.equal(entry.result, "success");
    assert.match(entry.target, new RegExp(bmc.identity.bmcMac));
  });

  it("changes nothing when the same BMC is explored again", async () => {
    const bmc = labBmc(0);
    const before = await bmcRow(bmc.identity.bmcMac);
    const counts = {
      machines: await count("machines"),
      events: await count("machine_events"),
      bmcs: await count("bmcs"),
    };
    const response = await explore(redfishBody(bmc, { tls: { mode: "verify", ca: lab.tls.caCert } }));
    expectStatus(response, 200);
    const body = response.json() as ExploreBody;
    assert.deepEqual(body.outcome, {
      bmc: "unchanged",
      machine: "unchanged",
      matchedBy: "bmc",
      inventoryChanged: false,
    });
    assert.equal(body.machineId, before.machine_id);
    const afterRow = await bmcRow(bmc.identity.bmcMac);
    assert.equal(afterRow.credentials, before.credentials, "the password was not sealed again");
    assert.equal(afterRow.updated_at.getTime(), before.updated_at.getTime());
    assert.deepEqual(
      { machines: await count("machines"), events: await count("machine_events"), bmcs: await count("bmcs") },
      counts,
    );
  });

  it("records a new TLS policy as an update of the same BMC and machine", async () => {
    const bmc = labBmc(0);
    const response = await explore(redfishBody(bmc));
    expectStatus(response, 200);
    const body = response.json() as ExploreBody;
    assert.equal(body.outcome.bmc, "updated");
    assert.equal(body.outcome.machine, "unchanged");
  });

  it("explores the BMC an expected machine names, and the machine carries the expectation", async () => {
    const bmc = labBmc(1);
    const expected = await app.admin({
      method: "POST",
      url: `${BASE}/expected-machines`,
      payload: {
        serial: bmc.identity.serial,
        bmcMac: bmc.identity.bmcMac,
        bmcAddress: bmc.host,
        bmcProtocol: "redfish",
        bmcCredentials: bmc.credentials,
        hostname: "node-1",
        labels: { pool: "lab" },
      },
    });
    expectStatus(expected, 201);
    const expectedId = expected.json().id as string;
    const response = await explore({
      expectedMachineId: expectedId,
      port: bmc.port,
      tls: { mode: "insecure-allow-self-signed" },
    });
    expectStatus(response, 201);
    const body = response.json() as ExploreBody;
    assert.equal(body.expectedMachineId, expectedId);
    const machine = (await app.admin({ method: "GET", url: `${BASE}/machines/${body.machineId}` })).json();
    assert.equal(machine.expectedMachineId, expectedId);
    assert.equal(machine.hostname, "node-1");
    assert.deepEqual(machine.labels, { pool: "lab" });
  });

  it("refuses an expected machine without what exploration needs, naming the field", async () => {
    const expected = await app.admin({
      method: "POST",
      url: `${BASE}/expected-machines`,
      payload: { serial: "NO-BMC-DETAILS" },
    });
    expectStatus(expected, 201);
    expectProblem(await explore({ expectedMachineId: expected.json().id }), 400, "body.address");
    expectProblem(await explore({ address: "127.0.0.1", protocol: "redfish" }), 400, "body.credentials");
    expectProblem(
      await explore({ address: "127.0.0.1", credentials: { username: "a", password: "b" } }),
      400,
      "body.protocol",
    );
  });

  it("links a machine that enrolled over the network before its BMC was explored", async () => {
    const bmc = labBmc(2);
    await storeFakeAgentImage(dataDir);
    const nic = bmc.identity.nicMacs[0] ?? "";
    const script = await app.anonymous({ method: "GET", url: `/boot/v1/ipxe?mac=${nic}` });
    const enrolled = await app.anonymous({
      method: "POST",
      url: "/agent/v1/enroll",
      headers: { authorization: `Bearer ${tokenFromScript(script.body)}` },
      payload: enrollmentRequest({ serial: bmc.identity.serial, bootMac: nic }) as unknown as Record<
        string,
        unknown
      >,
    });
    expectStatus(enrolled, 200);
    const machineId = enrolled.json().machineId as string;
    const response = await explore(redfishBody(bmc));
    expectStatus(response, 201);
    const body = response.json() as ExploreBody;
    assert.equal(body.machineId, machineId);
    assert.deepEqual(body.outcome, {
      bmc: "created",
      machine: "linked",
      matchedBy: "serial",
      inventoryChanged: false,
    });
    const machine = (await app.admin({ method: "GET", url: `${BASE}/machines/${machineId}` })).json();
    assert.equal(machine.agentVersion, "0.1.0", "the in-band inventory is kept");
  });

  it("answers 422 naming the BMC when it refuses the credentials, and registers nothing", async () => {
    const bmc = labBmc(3);
    const bmcs = await count("bmcs");
    const response = await explore(
      redfishBody(bmc, { credentials: { username: "admin", password: "wrong-password" } }),
    );
    expectProblem(response, 422);
    const problem = response.json();
    assert.equal(problem.code, "bmc.credentials_refused");
    assert.match(problem.detail, new RegExp(`127\\.0\\.0\\.1:${bmc.port}`));
    assert.equal(await count("bmcs"), bmcs);
    const audit = (await app.admin({ method: "GET", url: `${BASE}/audit?action=exploreBmc` })).json();
    assert.equal(audit.items[0].result, "failure");
    assert.equal(audit.items[0].statusCode, 422);
  });

  it("answers 502 naming the address when nothing listens there", async () => {
    const port = await closedTcpPort();
    const response = await explore({
      address: "127.0.0.1",
      port,
      protocol: "redfish",
      credentials: { username: "admin", password: "whatever" },
    });
    expectProblem(response, 502);
    assert.equal(response.json().code, "bmc.unreachable");
    assert.match(response.json().detail, new RegExp(`127\\.0\\.0\\.1:${port}`));
  });

  it("answers 504 when the BMC is slower than the deadline", async () => {
    const bmc = labBmc(4);
    bmc.faults.setLatency(3_000);
    try {
      const started = Date.now();
      const response = await explore(redfishBody(bmc));
      expectProblem(response, 504);
      assert.equal(response.json().code, "bmc.timeout");
      assert.ok(Date.now() - started < 3_000, "the call was not cut at the request deadline");
    } finally {
      bmc.faults.clear();
    }
  });

  it("is for provider admins only", async () => {
    const viewer = await createUserWithRole(app, {
      username: "explore-viewer",
      org: "default",
      role: "provider-viewer",
    });
    const response = await viewer({
      method: "POST",
      url: `${BASE}/bmcs/explore`,
      payload: redfishBody(labBmc(5)),
    });
    expectProblem(response, 403);
    const inventory = await viewer({
      method: "GET",
      url: `${BASE}/bmcs/${labBmc(0).identity.bmcMac}/inventory`,
    });
    expectStatus(inventory, 200);
  });
});

describe("BMC exploration over IPMI", () => {
  let app: TestApp;
  let lab: IpmiLab;

  before(async () => {
    app = await startTestApp({
      config: { bmc: { requestTimeoutMs: 3_000, operationTimeoutMs: 20_000, inventorySyncIntervalMs: 0 } },
    });
    lab = await startIpmiLab({
      machines: [{ name: "ipmi-0", serial: "IPMI-SN-0001", bmcMac: "02:1b:1a:00:00:01", firmware: "2.61" }],
    });
  });
  after(async () => {
    await app.close();
    await lab.stop();
  });

  function body(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    const machine = lab.machines[0];
    assert.ok(machine);
    return {
      address: machine.endpoint.address,
      port: machine.endpoint.port,
      protocol: "ipmi",
      credentials: { username: machine.endpoint.username, password: machine.endpoint.password },
      ...overrides,
    };
  }

  it("registers an IPMI BMC by the MAC it reports and creates the machine; again changes nothing", async () => {
    const first = await app.admin({ method: "POST", url: `${BASE}/bmcs/explore`, payload: body() });
    expectStatus(first, 201);
    const created = first.json() as ExploreBody;
    assert.equal(created.bmc.macAddress, "02:1b:1a:00:00:01");
    assert.equal(created.inventory.serial, "IPMI-SN-0001");
    const machine = (await app.admin({ method: "GET", url: `${BASE}/machines/${created.machineId}` })).json();
    assert.equal(machine.serialNumber, "IPMI-SN-0001");
    assert.equal(machine.state.kind, "enrolled");

    const second = await app.admin({ method: "POST", url: `${BASE}/bmcs/explore`, payload: body() });
    expectStatus(second, 200);
    const again = second.json() as ExploreBody;
    assert.equal(again.machineId, created.machineId);
    assert.deepEqual(again.outcome, {
      bmc: "unchanged",
      machine: "unchanged",
      matchedBy: "bmc",
      inventoryChanged: false,
    });
  });

  it("answers 422 for a refused password", async () => {
    const response = await app.admin({
      method: "POST",
      url: `${BASE}/bmcs/explore`,
      payload: body({
        credentials: { username: lab.machines[0]?.endpoint.username, password: "wrongpass1" },
      }),
    });
    expectProblem(response, 422);
    assert.equal(response.json().code, "bmc.credentials_refused");
  });

  it("answers 502 or 504 naming the address when no BMC answers, within the deadline", async () => {
    const port = await silentUdpPort();
    const started = Date.now();
    const response = await app.admin({
      method: "POST",
      url: `${BASE}/bmcs/explore`,
      payload: body({ port }),
    });
    assert.ok([502, 504].includes(response.statusCode), `got ${response.statusCode}: ${response.body}`);
    assert.match(response.json().detail, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.ok(Date.now() - started < 20_000);
  });
});
