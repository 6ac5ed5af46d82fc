import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Value } from "typebox/value";
import {
  type AgentOutcome,
  type LabFleet,
  renderFleetTable,
  startLabFleet,
} from "../../../lab/fleet/index.ts";
import { EnrollmentRequestSchema } from "../../../src/protocol/enrollment.ts";
import { eventually, startTestApp, type TestApp } from "../../helpers/app.ts";
import { storeFakeAgentImage } from "../../helpers/enrollment.ts";
import { spawnIngot } from "../../helpers/server-process.ts";

const BASE = "/api/v1/orgs/default";
const TIMING = {
  powerOnDelayMs: 100,
  powerOffDelayMs: 100,
  gracefulShutdownMs: 100,
  thermalTimeConstantMs: 1_000,
};

function expectStatus(response: { statusCode: number; body: string }, status: number): void {
  assert.equal(
    response.statusCode,
    status,
    `expected ${status}, got ${response.statusCode}: ${response.body}`,
  );
}

describe("ingot lab: a simulated fleet registered with a running server", () => {
  let app: TestApp;
  let dataDir: string;
  let token: string;
  let fleet: LabFleet;
  const outcomes: AgentOutcome[] = [];

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "ingot-fleet-"));
    chmodSync(dataDir, 0o755);
    app = await startTestApp({
      config: {
        dataDir,
        bmc: { requestTimeoutMs: 5_000, operationTimeoutMs: 30_000, inventorySyncIntervalMs: 0 },
      },
      listen: { publicHost: "127.0.0.1" },
    });
    await storeFakeAgentImage(dataDir);
    const created = await app.admin({ method: "POST", url: "/api/v1/auth/tokens", payload: { name: "lab" } });
    expectStatus(created, 201);
    token = created.json().token;
  });
  after(async () => {
    await fleet?.stop();
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("starts 20 machines and registers each through the API", async () => {
    fleet = await startLabFleet({
      server: app.publicUrl(),
      token,
      machines: 20,
      seed: 2024,
      timing: TIMING,
      onAgentOutcome: (outcome) => outcomes.push(outcome),
    });
    assert.equal(fleet.members.length, 20);
    assert.equal(new Set(fleet.members.map((member) => member.machineId)).size, 20);
    const table = renderFleetTable(fleet.members);
    assert.equal(table.split("\n").length, 22);
    assert.match(table, new RegExp(fleet.members[7]?.bmcMac ?? "missing"));
  });

  it("shows every machine's power state and out-of-band inventory in the API", async () => {
    const list = await app.admin({ method: "GET", url: `${BASE}/bmcs?limit=100` });
    expectStatus(list, 200);
    const bmcs = list.json().items as Array<{ macAddress: string; powerState: string; machineId: string }>;
    assert.equal(bmcs.length, 20);
    assert.ok(bmcs.every((bmc) => bmc.powerState === "off" && bmc.machineId !== null));
    for (const member of fleet.members) {
      const inventory = await app.admin({ method: "GET", url: `${BASE}/bmcs/${member.bmcMac}/inventory` });
      expectStatus(inventory, 200);
      const body = inventory.json();
      assert.equal(body.inventory.serial, member.serial);
      assert.equal(body.inventory.nics.length, member.redfish?.identity.nicMacs.length);
      assert.ok(body.inventory.cpus.length > 0);
    }
    const machines = await app.admin({ method: "GET", url: `${BASE}/machines?limit=100&state=enrolled` });
    assert.equal(machines.json().items.length, 20);
  });

  it("enrolls a machine powered on with a PXE override through the API, through its simulated agent", async () => {
    const member = fleet.members[3];
    assert.ok(member?.redfish);
    const lab = member.redfish;
    const agent = fleet.agents.get(member.bmcMac);
    assert.ok(agent);
    assert.ok(Value.Check(EnrollmentRequestSchema, agent.enrollmentRequest()));
    const machineUrl = `${BASE}/machines/${member.machineId}`;
    const before = (await app.admin({ method: "GET", url: machineUrl })).json();
    assert.equal(before.agentVersion, null);

    const boot = await app.admin({
      method: "POST",
      url: `${machineUrl}/boot-device`,
      payload: { device: "pxe", persistence: "once" },
    });
    expectStatus(boot, 200);
    expectStatus(
      await app.admin({ method: "POST", url: `${machineUrl}/power`, payload: { action: "on" } }),
      202,
    );

    const enrolled = await eventually(
      async () => {
        const machine = (await app.admin({ method: "GET", url: machineUrl })).json();
        return machine.agentVersion !== null ? machine : undefined;
      },
      { what: "the simulated agent to enroll the machine" },
    );
    assert.equal(enrolled.agentVersion, "lab-sim-1");
    assert.equal(enrolled.state.kind, "enrolled");
    assert.equal(enrolled.bootMac, lab.identity.nicMacs[0]);
    assert.equal(enrolled.serialNumber, lab.identity.serial);
    assert.ok(enrolled.inventory.disks.every((disk: { name: string }) => !disk.name.startsWith("bmc-drive")));
    assert.ok(enrolled.inventory.memory.totalBytes > 0);
    assert.deepEqual(outcomes.at(-1), {
      kind: "enrolled",
      machineId: member.machineId,
      state: "enrolled",
      next: "poweroff",
    });
    // A machine with a BMC is told to power off until Ingot needs it.
    await eventually(async () => (lab.state().powerState === "Off" ? true : undefined), {
      what: "the agent to power the machine off",
    });
    const events = (await app.admin({ method: "GET", url: `${machineUrl}/events` })).json();
    assert.ok(events.items.some((event: { kind: string }) => event.kind === "inventory_changed"));
  });

  it("does nothing for a machine that boots from its disk", async () => {
    const member = fleet.members[4];
    assert.ok(member?.redfish);
    const lab = member.redfish;
    const seen = outcomes.length;
    const boots = lab.state().bootCount;
    expectStatus(
      await app.admin({
        method: "POST",
        url: `${BASE}/machines/${member.machineId}/power`,
        payload: { action: "on" },
      }),
      202,
    );
    await eventually(async () => (lab.state().bootCount > boots ? true : undefined));
    assert.equal(lab.state().lastBoot?.bootDevice, "disk");
    assert.equal(outcomes.length, seen);
    const machine = (await app.admin({ method: "GET", url: `${BASE}/machines/${member.machineId}` })).json();
    assert.equal(machine.agentVersion, null);
  });

  it("runs as `ingot lab --machines N --server URL --token T` until interrupted", {
    timeout: 120_000,
  }, async () => {
    const lab = spawnIngot(
      [
        "lab",
        "--machines",
        "2",
        "--server",
        app.publicUrl(),
        "--token",
        token,
        "--tls",
        "insecure",
        "--fast",
      ],
      { INGOT_TOKEN: undefined },
    );
    try {
      const table = await eventually(
        async () => {
          if (lab.child.exitCode !== null) throw new Error(`ingot lab exited early:\n${lab.stderr()}`);
          return /lab-node-1/.test(lab.stdout()) ? lab.stdout() : undefined;
        },
        { timeoutMs: 90_000, what: "ingot lab to print its table" },
      );
      const rows = table.trim().split("\n");
      assert.equal(rows.length, 4, table);
      assert.match(
        rows[0] ?? "",
        /^#\s+name\s+protocol\s+vendor\s+BMC\s+BMC MAC\s+serial\s+power\s+machine$/,
      );
      const macs = rows.slice(2).map((row) => row.split(/\s+/)[5]);
      for (const mac of macs) {
        expectStatus(await app.admin({ method: "GET", url: `${BASE}/bmcs/${mac}` }), 200);
      }
    } finally {
      lab.kill("SIGINT");
    }
    assert.equal(await lab.exited(), 0, lab.stderr());
    assert.match(lab.stderr(), /stopping/);
  });

  it("refuses to start without a usable token", { timeout: 60_000 }, async () => {
    const lab = spawnIngot(
      ["lab", "run", "--machines", "1", "--server", app.publicUrl(), "--token", "not-a-token"],
      {
        INGOT_TOKEN: undefined,
      },
    );
    assert.equal(await lab.exited(), 1);
    assert.match(lab.stderr(), /401/);
  });
});
