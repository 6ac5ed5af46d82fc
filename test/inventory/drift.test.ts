import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { type RedfishLab, type RedfishLabBmc, startRedfishLab } from "../../lab/redfish/index.ts";
import { BmcConnections } from "../../src/bmc/connections.ts";
import { bmcDriverFactory } from "../../src/bmc/driver-factory.ts";
import { ADVISORY_LOCKS, type DatabaseHandle, openDatabase } from "../../src/db/database.ts";
import { BmcExploreStore } from "../../src/inventory/bmc-explore-store.ts";
import { DriftStore } from "../../src/inventory/drift-store.ts";
import { InventorySync, type SyncCycleResult } from "../../src/inventory/drift-sync.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { eventually, startTestApp, type TestApp } from "../helpers/app.ts";
import { allPages, BASE, expectProblem, expectStatus } from "./helpers.ts";

interface DriftItem {
  key: string;
  kind: string;
  subject: string;
  machineId: string | null;
  componentId: string | null;
  expectedMachineId: string | null;
  bmcMacAddress: string | null;
  diffs: Array<{ field: string; expected: unknown; actual: unknown; rule: string }>;
  message: string;
  firstSeenAt: string;
  detectedAt: string;
}

const GIB = 2 ** 30;

describe("inventory sync and drift", () => {
  let app: TestApp;
  let lab: RedfishLab;
  const machineOf = new Map<number, string>();
  let ghostId: string;
  let componentId: string;

  before(async () => {
    app = await startTestApp({
      config: { bmc: { requestTimeoutMs: 1_000, operationTimeoutMs: 10_000, inventorySyncIntervalMs: 0 } },
    });
    lab = await startRedfishLab({ machines: 4, vendor: "openbmc" });

    // 0: expected by its BMC MAC, but with another serial and more memory than it has.
    await expected({
      serial: "WRONG-SERIAL-0",
      bmcMac: bmc(0).identity.bmcMac,
      spec: { memory: { minBytes: 1024 * GIB }, cpu: { minCores: 64 } },
    });
    // 2: expected by serial, and it meets its spec; 3: expected, and will stop answering.
    await expected({ serial: bmc(2).identity.serial, spec: { memory: { minBytes: 512 * GIB } } });
    await expected({ serial: bmc(3).identity.serial });
    // Nobody answers for this one.
    ghostId = await expected({ serial: "GHOST-0001" });
    // 1 is explored but nobody expects it.
    for (const index of [0, 1, 2, 3]) machineOf.set(index, await explore(bmc(index)));
    const component = await app.admin({
      method: "POST",
      url: `${BASE}/components`,
      payload: {
        type: "compute",
        manufacturer: "Ingot Lab",
        serial: bmc(2).identity.serial,
        firmwareVersion: "9.9.9",
        machineId: machineOf.get(2),
      },
    });
    expectStatus(component, 201);
    componentId = component.json().id;
    await bmc(3).setAcPower(false);
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

  async function expected(payload: Record<string, unknown>): Promise<string> {
    const response = await app.admin({ method: "POST", url: `${BASE}/expected-machines`, payload });
    expectStatus(response, 201);
    return response.json().id;
  }

  async function explore(target: RedfishLabBmc): Promise<string> {
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
    return response.json().machineId;
  }

  async function runCycle(): Promise<SyncCycleResult> {
    return await app.assembled.services.inventorySync.runCycle();
  }

  async function drift(query = ""): Promise<DriftItem[]> {
    return (await allPages<DriftItem>(app.admin, `${BASE}/drift?limit=2${query}`)).items;
  }

  let firstCycle: DriftItem[];

  it("records a serial and a spec that differ from the expected machine as a mismatch with field diffs", async () => {
    const result = await runCycle();
    assert.equal(result.kind, "completed");
    assert.deepEqual(result.kind === "completed" && { bmcs: result.bmcs, answered: result.answered }, {
      bmcs: 4,
      answered: 3,
    });
    firstCycle = await drift();
    const mismatch = firstCycle.find(
      (item) => item.kind === "mismatch" && item.machineId === machineOf.get(0),
    );
    assert.ok(mismatch, JSON.stringify(firstCycle, null, 2));
    assert.equal(mismatch.bmcMacAddress, bmc(0).identity.bmcMac);
    assert.deepEqual(mismatch.diffs, [
      { field: "serial", expected: "WRONG-SERIAL-0", actual: bmc(0).identity.serial, rule: "equal" },
      { field: "memoryBytes", expected: 1024 * GIB, actual: 512 * GIB, rule: "at_least" },
    ]);
    const perMachine = await app.admin({ method: "GET", url: `${BASE}/machines/${machineOf.get(0)}/drift` });
    expectStatus(perMachine, 200);
    assert.deepEqual(
      perMachine.json().items.map((item: DriftItem) => item.key),
      [mismatch.key],
    );
  });

  it("records an expected machine nobody answers for, and one whose BMC went dark, as missing_in_actual", async () => {
    const missing = await drift("&kind=missing_in_actual");
    const ghost = missing.find((item) => item.expectedMachineId === ghostId);
    assert.ok(ghost);
    assert.match(ghost.message, /GHOST-0001/);
    const dark = missing.find((item) => item.machineId === machineOf.get(3) && item.componentId === null);
    assert.ok(dark, JSON.stringify(missing, null, 2));
    assert.match(dark.message, /does not answer/);
    const row = await app.database.handle.pool.query("SELECT last_error FROM bmcs WHERE mac_address = $1", [
      bmc(3).identity.bmcMac,
    ]);
    assert.match(row.rows[0].last_error, /127\.0\.0\.1/);
  });

  it("records a BMC nobody expects as missing_in_expected", async () => {
    const unexpected = await drift("&kind=missing_in_expected");
    assert.deepEqual(
      unexpected.map((item) => item.machineId),
      [machineOf.get(1)],
    );
    assert.equal(unexpected[0]?.bmcMacAddress, bmc(1).identity.bmcMac);
  });

  it("holds a component's firmware version against what its BMC reports", async () => {
    const items = await drift(`&component=${componentId}`);
    assert.equal(items.length, 1);
    assert.equal(items[0]?.kind, "mismatch");
    const diff = items[0]?.diffs[0];
    assert.equal(diff?.field, "firmwareVersion");
    assert.equal(diff?.rule, "one_of");
    assert.ok(Array.isArray(diff?.actual) && diff.actual.includes("1.4.2-ingot"));
    assert.equal(
      (await drift()).filter((item) => item.machineId === machineOf.get(2) && item.componentId === null)
        .length,
      0,
      "machine 2 meets its spec",
    );
  });

  it("records what each BMC showed on its row", async () => {
    const rows = await app.database.handle.pool.query(
      "SELECT mac_address, power_state, last_contact_at, last_error, oob_inventory FROM bmcs WHERE mac_address = $1",
      [bmc(1).identity.bmcMac],
    );
    const row = rows.rows[0];
    assert.equal(row.power_state, "off");
    assert.equal(row.last_error, null);
    assert.equal(row.oob_inventory.serial, bmc(1).identity.serial);
  });

  it("rebuilds the records each cycle instead of adding to them", async () => {
    const summaryBefore = (await app.admin({ method: "GET", url: `${BASE}/drift/summary` })).json();
    await runCycle();
    const second = await drift();
    assert.deepEqual(
      second.map((item) => item.key),
      firstCycle.map((item) => item.key),
    );
    for (const item of second) {
      const earlier = firstCycle.find((candidate) => candidate.key === item.key);
      assert.equal(item.firstSeenAt, earlier?.firstSeenAt, "first seen survives the rebuild");
      assert.ok(item.detectedAt > (earlier?.detectedAt ?? ""));
    }
    const summary = (await app.admin({ method: "GET", url: `${BASE}/drift/summary` })).json();
    assert.ok(summary.lastCycle.finishedAt > summaryBefore.lastCycle.finishedAt);
    assert.deepEqual(summary.counts, summaryBefore.counts);

    const deleted = await app.admin({ method: "DELETE", url: `${BASE}/expected-machines/${ghostId}` });
    expectStatus(deleted, 204);
    await runCycle();
    const third = await drift();
    assert.equal(third.length, second.length - 1);
    assert.ok(!third.some((item) => item.expectedMachineId === ghostId));
  });

  it("shows readers one whole cycle, never a half-written one", async () => {
    const total = (await drift()).length;
    for (const serial of ["LATE-1", "LATE-2", "LATE-3"]) await expected({ serial });
    const counts = new Set<number>();
    let done = false;
    const cycle = runCycle().finally(() => {
      done = true;
    });
    while (!done) {
      const result = await app.database.handle.pool.query("SELECT count(*)::int AS n FROM inventory_drift");
      counts.add(result.rows[0].n);
    }
    await cycle;
    for (const count of counts)
      assert.ok(count === total || count === total + 3, `a reader saw ${count} records`);
    assert.equal((await drift()).length, total + 3);
  });

  it("lists with filters and pagination, for provider staff of the org", async () => {
    const page = await app.admin({ method: "GET", url: `${BASE}/drift?limit=1` });
    expectStatus(page, 200);
    assert.equal(page.json().items.length, 1);
    assert.ok(page.json().nextCursor !== null);
    expectProblem(
      await app.admin({ method: "GET", url: `${BASE}/drift?kind=sideways` }),
      400,
      "querystring.kind",
    );
    expectProblem(
      await app.admin({ method: "GET", url: `${BASE}/drift?cursor=nonsense` }),
      400,
      "querystring.cursor",
    );
    expectProblem(
      await app.admin({ method: "GET", url: `${BASE}/machines/00000000-0000-4000-8000-000000000000/drift` }),
      404,
    );
    expectProblem(await app.anonymous({ method: "GET", url: `${BASE}/drift` }), 401);
  });

  describe("between replicas", () => {
    let replica: DatabaseHandle;
    let connections: BmcConnections;

    before(() => {
      replica = openDatabase(app.database.url, createLogger("silent"));
      connections = new BmcConnections({ factory: bmcDriverFactory({ requestTimeoutMs: 5_000 }) });
    });
    after(async () => {
      await connections.close();
      await replica.close();
    });

    function otherReplica(): InventorySync {
      return new InventorySync({
        db: replica.db,
        store: new DriftStore(replica.db),
        observations: new BmcExploreStore(replica.db),
        bmcs: app.assembled.services.inventory.bmcs,
        connections,
        logger: createLogger("silent"),
        replica: "replica-b",
      });
    }

    async function lastCycle(): Promise<{ replica: string; finished_at: Date } | undefined> {
      const result = await app.database.handle.pool.query(
        "SELECT replica, finished_at FROM inventory_sync_cycles",
      );
      return result.rows[0];
    }

    it("skips a cycle while another replica holds the sync lock", async () => {
      const before = await lastCycle();
      const results = await replica.db.connection().execute(async (holder) => {
        await sql`SELECT pg_advisory_lock(${ADVISORY_LOCKS.inventorySync})`.execute(holder);
        try {
          return [await runCycle(), await otherReplica().runCycle()];
        } finally {
          await sql`SELECT pg_advisory_unlock(${ADVISORY_LOCKS.inventorySync})`.execute(holder);
        }
      });
      assert.deepEqual(
        results.map((result) => result.kind),
        ["skipped", "skipped"],
      );
      assert.deepEqual(await lastCycle(), before);
      assert.equal((await otherReplica().runCycle()).kind, "completed");
      assert.equal((await lastCycle())?.replica, "replica-b");
    });

    it("runs one cycle at a time when two replicas start together", async () => {
      bmc(1).faults.setLatency(150);
      try {
        const results = await Promise.all([runCycle(), otherReplica().runCycle()]);
        assert.deepEqual(results.map((result) => result.kind).sort(), ["completed", "skipped"]);
      } finally {
        bmc(1).faults.clear();
      }
      const keys = (await drift()).map((item) => item.key);
      assert.equal(new Set(keys).size, keys.length);
    });

    it("writes nothing when stopped in the middle of a cycle", async () => {
      const before = await lastCycle();
      const sync = otherReplica();
      bmc(1).faults.setLatency(1_000);
      bmc(0).clearRequests();
      try {
        const running = sync.runCycle();
        // BMC 0 answers at once, BMC 1 takes a second: once 0 was read, the cycle is in its read phase.
        await eventually(async () => (bmc(0).requests().length > 0 ? true : undefined), {
          what: "the cycle to read BMC 0",
        });
        sync.stop();
        const result = await running;
        assert.equal(result.kind, "skipped");
      } finally {
        bmc(1).faults.clear();
      }
      assert.deepEqual(await lastCycle(), before);
      assert.equal((await sync.runCycle()).kind, "skipped");
    });
  });
});
