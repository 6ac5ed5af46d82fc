import assert from "node:assert/strict";
import { before, describe, type TestContext, test } from "node:test";
import {
  createLabTls,
  type LabBootEvent,
  type LabTlsMaterial,
  type RedfishLabBmc,
  type RedfishLabOptions,
  startRedfishLab,
} from "../../../lab/redfish/index.ts";
import { eventually } from "../../helpers/app.ts";
import { call, messageId, type RawResponse } from "./helpers.ts";

const TIMING = {
  powerOnDelayMs: 600,
  powerOffDelayMs: 300,
  gracefulShutdownMs: 400,
  firmwareUpdateMs: 500,
  thermalTimeConstantMs: 300,
} as const;

let tls: LabTlsMaterial;
before(async () => {
  tls = await createLabTls();
});

async function labBmc(
  t: TestContext,
  options: Partial<Omit<RedfishLabOptions, "machines">> = {},
): Promise<RedfishLabBmc> {
  const lab = await startRedfishLab({ machines: 1, tls, timing: TIMING, ...options });
  t.after(() => lab.stop());
  return lab.bmcs[0] as RedfishLabBmc;
}

/** Authenticated raw request to a lab BMC. */
function bmcCall(bmc: RedfishLabBmc) {
  return (
    method: "GET" | "POST" | "PATCH" | "DELETE",
    path: string,
    options: { body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<RawResponse> =>
    call({ url: bmc.url, ca: tls.caCert }, method, path, { ...options, auth: bmc.credentials });
}

describe("startRedfishLab", () => {
  test("starts 20 BMCs on their own ports with distinct identities", async (t) => {
    const began = performance.now();
    const lab = await startRedfishLab({ machines: 20, vendor: "mixed" });
    const elapsed = performance.now() - began;
    t.after(() => lab.stop());
    console.log(`started 20 simulated Redfish BMCs (certificates included) in ${elapsed.toFixed(0)} ms`);
    assert.equal(lab.bmcs.length, 20);
    assert.equal(new Set(lab.bmcs.map((bmc) => bmc.port)).size, 20);
    assert.equal(new Set(lab.bmcs.map((bmc) => bmc.identity.serial)).size, 20);
    assert.equal(new Set(lab.bmcs.map((bmc) => bmc.identity.uuid)).size, 20);
    const macs = lab.bmcs.flatMap((bmc) => [...bmc.identity.nicMacs, bmc.identity.bmcMac]);
    assert.equal(new Set(macs).size, macs.length);
    assert.deepEqual(
      lab.bmcs.slice(0, 4).map((bmc) => bmc.vendor),
      ["openbmc", "ilo5", "openbmc", "ilo5"],
    );
    const answers = await Promise.all(
      lab.bmcs.map((bmc) => call({ url: bmc.url, ca: lab.tls.caCert }, "GET", "/redfish/v1")),
    );
    assert.ok(answers.every((answer) => answer.status === 200));
  });

  test("the same seed gives the same machines", async (t) => {
    const first = await startRedfishLab({ machines: 2, seed: 7, tls });
    const second = await startRedfishLab({ machines: 2, seed: 7, tls });
    t.after(async () => {
      await first.stop();
      await second.stop();
    });
    assert.deepEqual(
      first.bmcs.map((bmc) => bmc.identity),
      second.bmcs.map((bmc) => bmc.identity),
    );
  });
});

describe("simulated Redfish BMC", () => {
  test("the service root is public; everything else wants credentials", async (t) => {
    const bmc = await labBmc(t);
    const target = { url: bmc.url, ca: tls.caCert };
    assert.equal((await call(target, "GET", "/redfish/v1")).status, 200);
    const anonymous = await call(target, "GET", "/redfish/v1/Systems/system");
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers["www-authenticate"] ?? "", /Basic/);
    const wrong = await call(target, "GET", "/redfish/v1/Systems", {
      auth: { username: "admin", password: "nope" },
    });
    assert.equal(wrong.status, 401);
    assert.equal((await bmcCall(bmc)("GET", "/redfish/v1/Systems")).status, 200);
  });

  test("sessions: login gives a token and a Location; DELETE ends the session", async (t) => {
    const bmc = await labBmc(t);
    const target = { url: bmc.url, ca: tls.caCert };
    const refused = await call(target, "POST", "/redfish/v1/SessionService/Sessions", {
      body: { UserName: bmc.credentials.username, Password: "nope" },
    });
    assert.equal(refused.status, 401);
    const login = await call(target, "POST", "/redfish/v1/SessionService/Sessions", {
      body: { UserName: bmc.credentials.username, Password: bmc.credentials.password },
    });
    assert.equal(login.status, 201);
    const token = login.headers["x-auth-token"] ?? "";
    const location = login.headers.location ?? "";
    assert.match(location, /^\/redfish\/v1\/SessionService\/Sessions\/\w+$/);
    const headers = { "x-auth-token": token };
    assert.equal((await call(target, "GET", "/redfish/v1/Systems/system", { headers })).status, 200);
    assert.equal(bmc.state().sessions, 1);
    assert.equal((await call(target, "DELETE", location, { headers })).status, 204);
    assert.equal((await call(target, "GET", "/redfish/v1/Systems/system", { headers })).status, 401);
  });

  test("without sessions the root links no SessionService and only Basic works", async (t) => {
    const bmc = await labBmc(t, { quirks: { sessions: false } });
    const root = await call({ url: bmc.url, ca: tls.caCert }, "GET", "/redfish/v1");
    assert.equal(root.body.SessionService, undefined);
    assert.equal(root.body.Links, undefined);
    assert.equal((await bmcCall(bmc)("GET", "/redfish/v1/Systems/system")).status, 200);
  });

  test("power on takes time: Off → PoweringOn → On, with a log entry", async (t) => {
    const bmc = await labBmc(t);
    const http = bmcCall(bmc);
    const reset = await http("POST", "/redfish/v1/Systems/system/Actions/ComputerSystem.Reset", {
      body: { ResetType: "On" },
    });
    assert.equal(reset.status, 204);
    assert.equal((await http("GET", "/redfish/v1/Systems/system")).body.PowerState, "PoweringOn");
    const during = await http("POST", "/redfish/v1/Systems/system/Actions/ComputerSystem.Reset", {
      body: { ResetType: "ForceOff" },
    });
    assert.equal(during.status, 409, "no reset while a transition runs");
    await eventually(async () => {
      const system = await http("GET", "/redfish/v1/Systems/system");
      return system.body.PowerState === "On" ? true : undefined;
    });
    assert.deepEqual(
      bmc.state().systemLog.map((entry) => entry.message),
      ["Host system DC power is on"],
    );
    const entries = await http("GET", "/redfish/v1/Systems/system/LogServices/EventLog/Entries");
    assert.equal((entries.body.Members as unknown[]).length, 1);
  });

  test("iLO refuses On for a machine that is on; bmcweb accepts it", async (t) => {
    const ilo = await labBmc(t, { vendor: "ilo5", initialPowerState: "On" });
    const refused = await bmcCall(ilo)("POST", "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", {
      body: { ResetType: "On" },
    });
    assert.equal(refused.status, 400);
    assert.equal(messageId(refused), "iLO.2.14.InvalidOperationForSystemState");
    const bmcweb = await labBmc(t, { vendor: "openbmc", initialPowerState: "On" });
    const accepted = await bmcCall(bmcweb)(
      "POST",
      "/redfish/v1/Systems/system/Actions/ComputerSystem.Reset",
      {
        body: { ResetType: "On" },
      },
    );
    assert.equal(accepted.status, 204);
    const unknown = await bmcCall(bmcweb)("POST", "/redfish/v1/Systems/system/Actions/ComputerSystem.Reset", {
      body: { ResetType: "PushPowerButton" },
    });
    assert.equal(unknown.status, 400, "a ResetType the BMC does not advertise is refused");
  });

  test("a Once boot override is consumed by the next boot, and onBoot hears the device", async (t) => {
    const events: LabBootEvent[] = [];
    const bmc = await labBmc(t, {
      onBoot: (_device, event) => {
        events.push(event);
      },
    });
    const http = bmcCall(bmc);
    const system = await http("GET", "/redfish/v1/Systems/system");
    const patch = await http("PATCH", "/redfish/v1/Systems/system", {
      headers: { "if-match": system.headers.etag ?? "" },
      body: { Boot: { BootSourceOverrideEnabled: "Once", BootSourceOverrideTarget: "Pxe" } },
    });
    assert.equal(patch.status, 204);
    await http("POST", "/redfish/v1/Systems/system/Actions/ComputerSystem.Reset", {
      body: { ResetType: "On" },
    });
    await eventually(async () => (events.length === 1 ? true : undefined), { what: "boot" });
    assert.equal(events[0]?.bootDevice, "pxe");
    assert.equal(events[0]?.reason, "power-on");
    assert.equal(events[0]?.machine.nicMacs[0], bmc.identity.nicMacs[0]);
    const after = await http("GET", "/redfish/v1/Systems/system");
    const boot = after.body.Boot as Record<string, unknown>;
    assert.equal(boot.BootSourceOverrideEnabled, "Disabled");
    assert.equal(boot.BootSourceOverrideTarget, "None");
    await http("POST", "/redfish/v1/Systems/system/Actions/ComputerSystem.Reset", {
      body: { ResetType: "ForceRestart" },
    });
    await eventually(async () => (events.length === 2 ? true : undefined), { what: "second boot" });
    assert.deepEqual(
      events.map((event) => [event.bootDevice, event.reason, event.bootCount]),
      [
        ["pxe", "power-on", 1],
        ["disk", "reset", 2],
      ],
    );
  });

  test("ETags: a PATCH with a stale If-Match gets 412; iLO also puts the ETag in the body", async (t) => {
    const bmc = await labBmc(t, { vendor: "ilo5" });
    const http = bmcCall(bmc);
    const first = await http("GET", "/redfish/v1/Systems/1");
    assert.equal(first.body["@odata.etag"], first.headers.etag);
    const body = { Boot: { BootSourceOverrideEnabled: "Continuous", BootSourceOverrideTarget: "Hdd" } };
    const ok = await http("PATCH", "/redfish/v1/Systems/1", {
      headers: { "if-match": first.headers.etag ?? "" },
      body,
    });
    assert.equal(ok.status, 200);
    const second = await http("GET", "/redfish/v1/Systems/1");
    assert.notEqual(second.headers.etag, first.headers.etag);
    const stale = await http("PATCH", "/redfish/v1/Systems/1", {
      headers: { "if-match": first.headers.etag ?? "" },
      body,
    });
    assert.equal(stale.status, 412);
    bmc.faults.staleEtagOnce();
    const raced = await http("PATCH", "/redfish/v1/Systems/1", {
      headers: { "if-match": second.headers.etag ?? "" },
      body,
    });
    assert.equal(raced.status, 412, "the injected concurrent change moved the ETag on");
  });

  test("PATCH values are checked against the allowable values", async (t) => {
    const bmc = await labBmc(t, { quirks: { requireIfMatch: true, noBootMode: true } });
    const http = bmcCall(bmc);
    const body = { Boot: { BootSourceOverrideTarget: "Pxe" } };
    assert.equal((await http("PATCH", "/redfish/v1/Systems/system", { body })).status, 428);
    const etag = (await http("GET", "/redfish/v1/Systems/system")).headers.etag ?? "";
    const headers = { "if-match": etag };
    const http1 = await http("PATCH", "/redfish/v1/Systems/system", {
      headers,
      body: { Boot: { BootSourceOverrideTarget: "UefiHttp" } },
    });
    assert.equal(messageId(http1), "Base.1.8.PropertyValueNotInList");
    const mode = await http("PATCH", "/redfish/v1/Systems/system", {
      headers,
      body: { Boot: { BootSourceOverrideMode: "UEFI" } },
    });
    assert.equal(messageId(mode), "Base.1.8.PropertyUnknown");
    assert.equal(
      (await http("PATCH", "/redfish/v1/Systems/system", { headers, body: { AssetTag: "x" } })).status,
      400,
    );
  });

  test("a system with @Redfish.Settings refuses PATCH; its settings apply at the next boot", async (t) => {
    const bmc = await labBmc(t, { quirks: { bootOverrideViaSettings: true }, initialPowerState: "On" });
    const http = bmcCall(bmc);
    const system = await http("GET", "/redfish/v1/Systems/system");
    const settings = system.body["@Redfish.Settings"] as { SettingsObject: { "@odata.id": string } };
    const body = { Boot: { BootSourceOverrideEnabled: "Once", BootSourceOverrideTarget: "Cd" } };
    assert.equal((await http("PATCH", "/redfish/v1/Systems/system", { body })).status, 405);
    assert.equal((await http("PATCH", settings.SettingsObject["@odata.id"], { body })).status, 204);
    assert.equal((system.body.Boot as Record<string, unknown>).BootSourceOverrideTarget, "None");
    await http("POST", "/redfish/v1/Systems/system/Actions/ComputerSystem.Reset", {
      body: { ResetType: "GracefulRestart" },
    });
    await eventually(async () => (bmc.state().bootCount === 1 ? true : undefined));
    assert.equal(bmc.state().lastBoot?.bootDevice, "cd");
    assert.equal(bmc.state().pendingBootOverride, undefined);
  });

  test("SimpleUpdate creates a task whose monitor answers 202 until the firmware is flashed", async (t) => {
    const bmc = await labBmc(t, { vendor: "ilo5" });
    const http = bmcCall(bmc);
    const refused = await http("POST", "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate", {
      body: { ImageURI: "tftp://repo/ilo5_247.bin" },
    });
    assert.equal(refused.status, 400);
    const accepted = await http("POST", "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate", {
      body: { ImageURI: "https://repo/ilo5_2.47.fwpkg", TransferProtocol: "HTTPS" },
    });
    assert.equal(accepted.status, 202);
    assert.equal(accepted.body.TaskState, "Running");
    const monitor = accepted.headers.location ?? "";
    const running = await http("GET", monitor);
    assert.equal(running.status, 202);
    assert.equal(running.headers["retry-after"], "1");
    const done = await eventually(async () => {
      const answer = await http("GET", monitor);
      return answer.status === 200 ? answer : undefined;
    });
    assert.equal(done.body.TaskState, "Completed");
    assert.equal(done.body.PercentComplete, 100);
    const ilo = await http("GET", "/redfish/v1/UpdateService/FirmwareInventory/1");
    assert.equal(ilo.body.Version, "2.47");
    assert.equal((await http("GET", "/redfish/v1/Managers/1")).body.FirmwareVersion, "iLO 5 v2.47");
    assert.ok(bmc.state().managerLog.some((entry) => entry.message === "Firmware flashed (iLO 5 2.47)"));
  });

  test("sensors follow the power state", async (t) => {
    const bmc = await labBmc(t);
    const http = bmcCall(bmc);
    const read = async (id: string): Promise<number> =>
      Number((await http("GET", `/redfish/v1/Chassis/chassis/Sensors/${id}`)).body.Reading);
    const coldCpu = await read("temperature_CPU0_Temp");
    const idlePower = await read("power_total_power");
    assert.equal(await read("fantach_Fan0"), 0);
    await http("POST", "/redfish/v1/Systems/system/Actions/ComputerSystem.Reset", {
      body: { ResetType: "On" },
    });
    await eventually(async () => ((await read("temperature_CPU0_Temp")) > coldCpu + 20 ? true : undefined));
    assert.ok((await read("fantach_Fan0")) > 3000);
    assert.ok((await read("power_total_power")) > idlePower * 5);
    await http("POST", "/redfish/v1/Systems/system/Actions/ComputerSystem.Reset", {
      body: { ResetType: "ForceOff" },
    });
    await eventually(async () => ((await read("temperature_CPU0_Temp")) < coldCpu + 5 ? true : undefined));
    assert.equal(await read("fantach_Fan0"), 0);
  });

  test("iLO: case-insensitive paths and $expand of collection members", async (t) => {
    const bmc = await labBmc(t, { vendor: "ilo5" });
    const http = bmcCall(bmc);
    const system = await http("GET", "/redfish/v1/Systems/1");
    const bios = (system.body.Bios as { "@odata.id": string })["@odata.id"];
    assert.equal(bios, "/redfish/v1/systems/1/bios");
    assert.equal((await http("GET", bios)).status, 200);
    const expanded = await http("GET", "/redfish/v1/Systems/1/Memory?$expand=.($levels=1)");
    const dimms = expanded.body.Members as Array<Record<string, unknown>>;
    assert.equal(dimms.length, 16);
    assert.equal(dimms[0]?.CapacityMiB, 16384);
    assert.ok(typeof dimms[0]?.["@odata.etag"] === "string");
  });

  test("bmcweb: paths are case-sensitive, $expand is not offered, reset values live in ActionInfo", async (t) => {
    const bmc = await labBmc(t);
    const http = bmcCall(bmc);
    assert.equal((await http("GET", "/redfish/v1/systems/system")).status, 404);
    const plain = await http("GET", "/redfish/v1/Systems/system/Memory?$expand=.($levels=1)");
    assert.deepEqual(Object.keys((plain.body.Members as object[])[0] ?? {}), ["@odata.id"]);
    const info = await http("GET", "/redfish/v1/Systems/system/ResetActionInfo");
    const [parameter] = info.body.Parameters as Array<{ AllowableValues: string[] }>;
    assert.ok(parameter?.AllowableValues.includes("PowerCycle"));
    assert.equal(
      (await http("GET", "/redfish/v1/SessionService")).body["@odata.id"],
      "/redfish/v1/SessionService/",
    );
  });
});

describe("fault injection", () => {
  test("errors for the next N requests carry Retry-After; drops close the connection", async (t) => {
    const bmc = await labBmc(t);
    const http = bmcCall(bmc);
    bmc.faults.failNext(2, { status: 503, retryAfterSeconds: 3 });
    const first = await http("GET", "/redfish/v1/Systems");
    assert.equal(first.status, 503);
    assert.equal(first.headers["retry-after"], "3");
    assert.equal((await http("GET", "/redfish/v1/Systems")).status, 503);
    assert.equal((await http("GET", "/redfish/v1/Systems")).status, 200);
    bmc.faults.dropNext(1);
    await assert.rejects(http("GET", "/redfish/v1/Systems"), (error: Error & { code?: string }) => {
      return error.code === "UND_ERR_SOCKET" || error.code === "ECONNRESET";
    });
    assert.equal((await http("GET", "/redfish/v1/Systems")).status, 200);
    assert.deepEqual(
      bmc.requests().map((record) => record.status),
      [503, 503, 200, "dropped", 200],
    );
  });

  test("a failure rate fails about that share of requests, reproducibly", async (t) => {
    const bmc = await labBmc(t, { seed: 42 });
    const http = bmcCall(bmc);
    bmc.faults.failRate(0.5, { status: 500 });
    const results = [];
    for (let i = 0; i < 40; i++) results.push((await http("GET", "/redfish/v1/Systems")).status);
    const failures = results.filter((status) => status === 500).length;
    assert.ok(failures > 8 && failures < 32, `${failures} of 40 failed`);
    bmc.faults.clear();
    assert.equal((await http("GET", "/redfish/v1/Systems")).status, 200);
  });

  test("resets right after a power-off answer 409 for the configured window", async (t) => {
    const bmc = await labBmc(t, { vendor: "ilo5", initialPowerState: "On" });
    const http = bmcCall(bmc);
    bmc.faults.conflictAfterPowerOff(60_000);
    await http("POST", "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", {
      body: { ResetType: "ForceOff" },
    });
    await eventually(async () => (bmc.state().powerState === "Off" ? true : undefined));
    const on = await http("POST", "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", {
      body: { ResetType: "On" },
    });
    assert.equal(on.status, 409);
    bmc.faults.conflictAfterPowerOff(0);
    const again = await http("POST", "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", {
      body: { ResetType: "On" },
    });
    assert.equal(again.status, 200);
  });
});
