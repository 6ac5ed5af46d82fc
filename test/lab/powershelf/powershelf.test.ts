import assert from "node:assert/strict";
import { after, before, describe, type TestContext, test } from "node:test";
import {
  type LabPowerShelf,
  machineLoad,
  type PowerShelfLabOptions,
  type ShelfPowerEvent,
  startPowerShelfLab,
} from "../../../lab/powershelf/index.ts";
import {
  createLabTls,
  type LabTlsMaterial,
  type RedfishLab,
  startRedfishLab,
} from "../../../lab/redfish/index.ts";
import { eventually } from "../../helpers/app.ts";
import { call, type RawResponse } from "../redfish/helpers.ts";

const TIMING = {
  powerOnDelayMs: 400,
  powerOffDelayMs: 200,
  outletDelayMs: 150,
  cycleOffMs: 300,
  firmwareUpdateMs: 400,
} as const;

const CHASSIS = "/redfish/v1/Chassis/PowerShelf";
const SHELF = "/redfish/v1/PowerEquipment/PowerShelves/1";

let tls: LabTlsMaterial;
before(async () => {
  tls = await createLabTls();
});

async function labShelf(
  t: TestContext,
  options: Partial<Omit<PowerShelfLabOptions, "shelves">> = {},
): Promise<LabPowerShelf> {
  const lab = await startPowerShelfLab({ shelves: 1, tls, timing: TIMING, outlets: 4, ...options });
  t.after(() => lab.stop());
  return lab.shelves[0] as LabPowerShelf;
}

function http(shelf: LabPowerShelf) {
  return (method: "GET" | "POST" | "PATCH" | "DELETE", path: string, body?: unknown): Promise<RawResponse> =>
    call({ url: shelf.url, ca: tls.caCert }, method, path, {
      ...(body !== undefined ? { body } : {}),
      auth: shelf.credentials,
    });
}

async function reachable(url: string): Promise<boolean> {
  try {
    await call({ url, ca: tls.caCert }, "GET", "/redfish/v1");
    return true;
  } catch (error) {
    const code =
      (error as { code?: string; cause?: { code?: string } }).cause?.code ??
      (error as { code?: string }).code;
    if (code === "ECONNREFUSED") return false;
    throw error;
  }
}

async function powerState(shelf: LabPowerShelf, path: string): Promise<unknown> {
  return (await http(shelf)("GET", path)).body.PowerState;
}

describe("simulated power shelf", () => {
  test("offers a PowerShelf chassis and a PowerDistribution with outlets and supplies; wants credentials", async (t) => {
    const shelf = await labShelf(t, { psus: 3 });
    const anonymous = { url: shelf.url, ca: tls.caCert };
    const root = await call(anonymous, "GET", "/redfish/v1");
    assert.equal(root.status, 200);
    assert.deepEqual(root.body.PowerEquipment, { "@odata.id": "/redfish/v1/PowerEquipment" });
    assert.equal((await call(anonymous, "GET", CHASSIS)).status, 401);
    assert.equal(
      (await call(anonymous, "GET", CHASSIS, { auth: { username: "admin", password: "wrong" } })).status,
      401,
    );

    const chassis = await http(shelf)("GET", CHASSIS);
    assert.equal(chassis.body.ChassisType, "PowerShelf");
    assert.equal(chassis.body.PowerState, "On");
    assert.deepEqual((chassis.body.Actions as Record<string, Record<string, unknown>>)["#Chassis.Reset"], {
      target: `${CHASSIS}/Actions/Chassis.Reset`,
      "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "PowerCycle"],
    });
    const supplies = await http(shelf)("GET", `${CHASSIS}/PowerSubsystem/PowerSupplies`);
    assert.equal(supplies.body["Members@odata.count"], 3);
    const distribution = await http(shelf)("GET", SHELF);
    assert.equal(distribution.body.EquipmentType, "PowerShelf");
    const outlets = await http(shelf)("GET", `${SHELF}/Outlets`);
    assert.equal(outlets.body["Members@odata.count"], 4);
    const outlet = await http(shelf)("GET", `${SHELF}/Outlets/OUT1`);
    assert.equal(outlet.body.PowerState, "On");
    assert.deepEqual(
      (outlet.body.Actions as Record<string, Record<string, unknown>>)["#Outlet.PowerControl"]?.[
        "PowerState@Redfish.AllowableValues"
      ],
      ["On", "Off", "PowerCycle"],
    );
    assert.equal((await http(shelf)("PATCH", CHASSIS, { PowerState: "Off" })).status, 405);
  });

  describe("feeding simulated machines", () => {
    let machines: RedfishLab;
    before(async () => {
      machines = await startRedfishLab({
        machines: 2,
        tls,
        initialPowerState: "On",
        timing: { powerOnDelayMs: 100, powerOffDelayMs: 100 },
      });
    });
    after(() => machines.stop());

    test("shelf ForceOff cuts every machine it feeds (BMC dark, host off); On brings the BMCs back, hosts stay off", async (t) => {
      const shelf = await labShelf(t);
      const [onBus, onOutlet] = machines.bmcs;
      assert.ok(onBus !== undefined && onOutlet !== undefined);
      const events: ShelfPowerEvent[] = [];
      shelf.onPowerChange((event) => events.push(event));
      t.after(shelf.connect(machineLoad(onBus)));
      t.after(shelf.connect(machineLoad(onOutlet), "OUT2"));
      assert.equal(onBus.state().powerState, "On");
      assert.ok(await reachable(onBus.url));

      const off = await http(shelf)("POST", `${CHASSIS}/Actions/Chassis.Reset`, { ResetType: "ForceOff" });
      assert.equal(off.status, 204);
      assert.equal(await powerState(shelf, CHASSIS), "PoweringOff");
      await eventually(async () => ((await powerState(shelf, CHASSIS)) === "Off" ? true : undefined));
      for (const bmc of [onBus, onOutlet]) {
        await eventually(async () => ((await reachable(bmc.url)) ? undefined : true), { what: "BMC dark" });
        assert.equal(bmc.state().powerState, "Off");
        assert.equal(bmc.acPower, false);
      }
      assert.equal((await http(shelf)("GET", `${SHELF}/Outlets/OUT2`)).body.PowerState, "Off");
      assert.equal(shelf.state().outputWatts, 0);

      const on = await http(shelf)("POST", `${CHASSIS}/Actions/Chassis.Reset`, { ResetType: "On" });
      assert.equal(on.status, 204);
      assert.equal(await powerState(shelf, CHASSIS), "PoweringOn");
      assert.equal(await reachable(onBus.url), false, "the machines get power only once the shelf is on");
      await eventually(async () => ((await powerState(shelf, CHASSIS)) === "On" ? true : undefined));
      for (const bmc of [onBus, onOutlet]) {
        await eventually(async () => ((await reachable(bmc.url)) ? true : undefined), { what: "BMC back" });
        assert.equal(bmc.state().powerState, "Off", "AC restored leaves the host off");
        assert.ok(bmc.state().systemLog.some((entry) => entry.message === "AC power lost"));
      }
      assert.deepEqual(
        events.filter((event) => event.source === "shelf").map((event) => event.state),
        ["PoweringOff", "Off", "PoweringOn", "On"],
      );
    });

    test("an outlet switches alone: Off cuts only its machine; PowerCycle turns it off and on again", async (t) => {
      const shelf = await labShelf(t);
      const [first, second] = machines.bmcs;
      assert.ok(first !== undefined && second !== undefined);
      await first.setAcPower(true);
      await second.setAcPower(true);
      t.after(shelf.connect(machineLoad(first), "OUT1"));
      t.after(shelf.connect(machineLoad(second), "OUT2"));
      const outletEvents: ShelfPowerEvent[] = [];
      shelf.onPowerChange((event) => {
        if (event.source === "OUT1") outletEvents.push(event);
      });

      const off = await http(shelf)("POST", `${SHELF}/Outlets/OUT1/Actions/Outlet.PowerControl`, {
        PowerState: "Off",
      });
      assert.equal(off.status, 204);
      await eventually(async () =>
        (await powerState(shelf, `${SHELF}/Outlets/OUT1`)) === "Off" ? true : undefined,
      );
      assert.equal(first.acPower, false);
      assert.equal(second.acPower, true, "the other outlet keeps its machine powered");
      assert.ok(await reachable(second.url));

      const cycle = await http(shelf)("POST", `${SHELF}/Outlets/OUT2/Actions/Outlet.PowerControl`, {
        PowerState: "PowerCycle",
      });
      assert.equal(cycle.status, 204);
      await eventually(async () => (second.acPower ? undefined : true), { what: "cycle off" });
      await eventually(async () => (second.acPower ? true : undefined), { what: "cycle on" });

      const bad = await http(shelf)("POST", `${SHELF}/Outlets/OUT1/Actions/Outlet.PowerControl`, {
        PowerState: "Sideways",
      });
      assert.equal(bad.status, 400);
      const on = await http(shelf)("POST", `${SHELF}/Outlets/OUT1/Actions/Outlet.PowerControl`, {
        PowerState: "On",
      });
      assert.equal(on.status, 204);
      await eventually(async () => (first.acPower ? true : undefined), { what: "outlet on" });
      assert.deepEqual(
        outletEvents.map((event) => event.state),
        ["PoweringOff", "Off", "PoweringOn", "On"],
      );
    });

    test("readings follow the load: output watts rise when a fed machine's host powers on", async (t) => {
      const shelf = await labShelf(t);
      const [machine] = machines.bmcs;
      assert.ok(machine !== undefined);
      await machine.setAcPower(true);
      t.after(shelf.connect(machineLoad(machine, { on: 500, off: 20 }), "OUT3"));
      const outputWatts = async (): Promise<number> => {
        let sum = 0;
        for (const id of ["PSU0", "PSU1", "PSU2", "PSU3", "PSU4", "PSU5"]) {
          const metrics = await http(shelf)("GET", `${CHASSIS}/PowerSubsystem/PowerSupplies/${id}/Metrics`);
          sum += (metrics.body.OutputPowerWatts as { Reading: number }).Reading;
        }
        return sum;
      };
      const idle = await outputWatts();
      assert.ok(Math.abs(idle - 65) < 1, `an off host draws standby power plus the shelf's own (${idle} W)`);
      const outlet = await http(shelf)("GET", `${SHELF}/Outlets/OUT3`);
      assert.deepEqual(outlet.body.PowerWatts, { Reading: 20 });

      const on = await call(
        { url: machine.url, ca: tls.caCert },
        "POST",
        "/redfish/v1/Systems/system/Actions/ComputerSystem.Reset",
        {
          body: { ResetType: "On" },
          auth: machine.credentials,
        },
      );
      assert.equal(on.status, 204);
      await eventually(async () => (machine.state().powerState === "On" ? true : undefined));
      const busy = await outputWatts();
      assert.ok(Math.abs(busy - 545) < 1, `a running host draws its full load (${busy} W)`);
      const input = (await http(shelf)("GET", `${CHASSIS}/Sensors/InputPower`)).body.Reading as number;
      assert.ok(input > busy, "input exceeds output by the conversion loss");
    });
  });

  test("outlets cannot be switched while the shelf is off", async (t) => {
    const shelf = await labShelf(t, { initialPowerState: "Off" });
    const answer = await http(shelf)("POST", `${SHELF}/Outlets/OUT1/Actions/Outlet.PowerControl`, {
      PowerState: "On",
    });
    assert.equal(answer.status, 409);
    assert.match(JSON.stringify(answer.body), /power the shelf on/);
  });

  test("a failed supply reports Critical; without any working supply the bus is dead", async (t) => {
    const shelf = await labShelf(t, { psus: 2 });
    let fed = true;
    const load = {
      name: "load",
      setAcPower: (present: boolean): void => {
        fed = present;
      },
      watts: () => 100,
    };
    t.after(shelf.connect(load));
    shelf.setPsuFailed(0, true);
    const psu = await http(shelf)("GET", `${CHASSIS}/PowerSubsystem/PowerSupplies/PSU0`);
    assert.deepEqual(psu.body.Status, { Health: "Critical", State: "UnavailableOffline" });
    assert.equal(((await http(shelf)("GET", CHASSIS)).body.Status as { Health: string }).Health, "Warning");
    assert.equal(fed, true, "one working supply still feeds the bus");
    const survivor = await http(shelf)("GET", `${CHASSIS}/PowerSubsystem/PowerSupplies/PSU1/Metrics`);
    assert.equal((survivor.body.OutputPowerWatts as { Reading: number }).Reading, 145);
    shelf.setPsuFailed(1, true);
    assert.equal(fed, false);
    assert.equal(((await http(shelf)("GET", CHASSIS)).body.Status as { Health: string }).Health, "Critical");
    shelf.setPsuFailed(1, false);
    assert.equal(fed, true);
  });

  test("SimpleUpdate flashes the PMC through a task; a corrupt image fails the task", async (t) => {
    const shelf = await labShelf(t);
    const accepted = await http(shelf)(
      "POST",
      "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
      {
        ImageURI: "https://firmware.example/pmc-1.5.0.bin",
      },
    );
    assert.equal(accepted.status, 202);
    const monitor = accepted.headers.location ?? "";
    assert.equal((await http(shelf)("GET", monitor)).status, 202);
    await eventually(async () => ((await http(shelf)("GET", monitor)).status === 200 ? true : undefined));
    assert.equal((await http(shelf)("GET", "/redfish/v1/Managers/PMC")).body.FirmwareVersion, "1.5.0");
    assert.equal(
      (await http(shelf)("GET", "/redfish/v1/UpdateService/FirmwareInventory/PSU")).body.Version,
      "3.1.0",
    );

    const psu = await http(shelf)("POST", "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate", {
      ImageURI: "https://firmware.example/psu-corrupt-3.2.0.bin",
      Targets: ["/redfish/v1/UpdateService/FirmwareInventory/PSU"],
    });
    assert.equal(psu.status, 202);
    const failed = await eventually(async () => {
      const answer = await http(shelf)("GET", psu.headers.location ?? "");
      return answer.status === 200 ? answer : undefined;
    });
    assert.equal(failed.body.TaskState, "Exception");
    assert.equal(
      (await http(shelf)("GET", "/redfish/v1/UpdateService/FirmwareInventory/PSU")).body.Version,
      "3.1.0",
    );
    const ftp = await http(shelf)("POST", "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate", {
      ImageURI: "ftp://firmware.example/pmc-1.6.0.bin",
    });
    assert.equal(ftp.status, 400);
  });

  test("faults and sessions work as on the lab BMCs", async (t) => {
    const shelf = await labShelf(t);
    shelf.faults.failNext(1, { status: 503, retryAfterSeconds: 2 });
    const failed = await http(shelf)("GET", CHASSIS);
    assert.equal(failed.status, 503);
    assert.equal(failed.headers["retry-after"], "2");
    assert.equal((await http(shelf)("GET", CHASSIS)).status, 200);

    const target = { url: shelf.url, ca: tls.caCert };
    const login = await call(target, "POST", "/redfish/v1/SessionService/Sessions", {
      body: { UserName: shelf.credentials.username, Password: shelf.credentials.password },
    });
    assert.equal(login.status, 201);
    const headers = { "x-auth-token": login.headers["x-auth-token"] ?? "" };
    assert.equal((await call(target, "GET", CHASSIS, { headers })).status, 200);
    shelf.expireSessions();
    assert.equal((await call(target, "GET", CHASSIS, { headers })).status, 401);
    assert.ok(shelf.requests().some((record) => record.status === 503));
  });
});
