import assert from "node:assert/strict";
import { before, describe, type TestContext, test } from "node:test";
import {
  createLabTls,
  type LabBootDevice,
  type LabTlsMaterial,
  type RedfishLabBmc,
  type RedfishLabOptions,
  type RedfishVendor,
  startRedfishLab,
} from "../../../lab/redfish/index.ts";
import { PROFILES } from "../../../lab/redfish/profiles.ts";
import { BmcError, type BmcLogEntry } from "../../../src/bmc/driver.ts";
import type { RedfishDriver, RedfishDriverOptions } from "../../../src/bmc/redfish/index.ts";
import { eventually } from "../../helpers/app.ts";
import { deadline, FAST_TIMING, fastDriver, watchPower } from "./helpers.ts";

let tls: LabTlsMaterial;
before(async () => {
  tls = await createLabTls();
});

async function labBmc(
  t: TestContext,
  options: Partial<Omit<RedfishLabOptions, "machines">> = {},
): Promise<RedfishLabBmc> {
  const lab = await startRedfishLab({ machines: 1, tls, timing: FAST_TIMING, ...options });
  t.after(() => lab.stop());
  return lab.bmcs[0] as RedfishLabBmc;
}

function driverFor(t: TestContext, bmc: RedfishLabBmc, options: RedfishDriverOptions = {}): RedfishDriver {
  const driver = fastDriver(bmc.endpoint(), options);
  t.after(() => driver.close());
  return driver;
}

function resetPosts(bmc: RedfishLabBmc): number {
  return bmc.requests().filter((r) => r.method === "POST" && r.url.endsWith("ComputerSystem.Reset")).length;
}

async function rejection(promise: Promise<unknown>): Promise<BmcError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BmcError, `expected a BmcError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the call to fail");
}

for (const vendor of ["openbmc", "ilo5"] as const satisfies readonly RedfishVendor[]) {
  describe(`Redfish driver against a simulated ${vendor} BMC`, () => {
    test("powers on through PoweringOn and off through PoweringOff", async (t) => {
      const bmc = await labBmc(t, { vendor });
      const driver = driverFor(t, bmc);
      assert.equal(await driver.getPowerState(deadline()), "off");
      await driver.setPower("on", deadline());
      assert.deepEqual(await watchPower(driver, "on"), ["powering-on", "on"]);
      await driver.setPower("off", deadline());
      assert.deepEqual(await watchPower(driver, "off"), ["powering-off", "off"]);
      assert.equal(bmc.state().bootCount, 1);
    });

    test("a power cycle turns the machine off and boots it again", async (t) => {
      const bmc = await labBmc(t, { vendor, initialPowerState: "On" });
      const driver = driverFor(t, bmc);
      await driver.setPower("cycle", deadline());
      await eventually(async () => (bmc.state().bootCount === 1 ? true : undefined), { what: "a boot" });
      assert.equal(await driver.getPowerState(deadline()), "on");
      const log = bmc.state().systemLog.map((entry) => entry.message);
      assert.deepEqual(log, [PROFILES[vendor].logs.powerOff, PROFILES[vendor].logs.powerOn]);
      // bmcweb offers PowerCycle; iLO does not, so the driver sends ForceOff, waits for Off, then On.
      assert.equal(resetPosts(bmc), vendor === "openbmc" ? 1 : 2);
    });

    test("on for a machine that is already on changes nothing", async (t) => {
      const bmc = await labBmc(t, { vendor, initialPowerState: "On" });
      const driver = driverFor(t, bmc);
      await driver.setPower("on", deadline());
      assert.equal(resetPosts(bmc), 0);
      assert.equal(bmc.state().bootCount, 0);
    });

    test("a restart of a machine that is off powers it on", async (t) => {
      const bmc = await labBmc(t, { vendor });
      const driver = driverFor(t, bmc);
      await driver.setPower("force-restart", deadline());
      await watchPower(driver, "on");
      assert.equal(bmc.state().lastBoot?.reason, "power-on");
    });

    test("a Once boot override is used by the next boot and then cleared", async (t) => {
      const bmc = await labBmc(t, { vendor });
      const boots: LabBootDevice[] = [];
      bmc.onBoot((device) => {
        boots.push(device);
      });
      const driver = driverFor(t, bmc);
      await driver.setBootOverride({ device: "pxe", persistence: "once" }, deadline());
      assert.deepEqual(await driver.getBootOverride(deadline()), {
        device: "pxe",
        persistence: "once",
        mode: "uefi",
      });
      await driver.setPower("on", deadline());
      await watchPower(driver, "on");
      assert.deepEqual(boots, ["pxe"]);
      assert.deepEqual(await driver.getBootOverride(deadline()), {
        device: "none",
        persistence: "disabled",
        mode: "uefi",
      });
      await driver.setPower("force-restart", deadline());
      await eventually(async () => (boots.length === 2 ? true : undefined), { what: "second boot" });
      assert.deepEqual(boots, ["pxe", "disk"]);
    });

    test("a continuous override in legacy mode survives reboots", async (t) => {
      const bmc = await labBmc(t, { vendor, initialPowerState: "On" });
      const driver = driverFor(t, bmc);
      await driver.setBootOverride({ device: "disk", persistence: "continuous", mode: "legacy" }, deadline());
      assert.deepEqual(bmc.state().bootOverride, { enabled: "Continuous", target: "Hdd", mode: "Legacy" });
      await driver.setPower("force-restart", deadline());
      await eventually(async () => (bmc.state().bootCount === 1 ? true : undefined), { what: "a boot" });
      assert.equal(bmc.state().lastBoot?.bootMode, "legacy");
      assert.deepEqual(await driver.getBootOverride(deadline()), {
        device: "disk",
        persistence: "continuous",
        mode: "legacy",
      });
    });

    test("inventory reports the machine's identity and hardware", async (t) => {
      const bmc = await labBmc(t, { vendor });
      const driver = driverFor(t, bmc);
      const inventory = await driver.getInventory(deadline());
      const profile = PROFILES[vendor];
      assert.equal(inventory.serial, bmc.identity.serial);
      assert.equal(inventory.uuid, bmc.identity.uuid);
      assert.equal(inventory.manufacturer, profile.manufacturer);
      assert.equal(inventory.model, profile.model);
      assert.equal(inventory.sku, profile.sku);
      assert.equal(inventory.powerState, "off");
      assert.deepEqual(
        inventory.nics.map((nic) => nic.mac),
        bmc.identity.nicMacs,
      );
      assert.equal(inventory.bmcMac, bmc.identity.bmcMac);
      assert.deepEqual(
        inventory.cpus,
        profile.hardware.cpus.map(({ model, cores, threads }) => ({ model, cores, threads })),
      );
      const memoryMiB = profile.hardware.dimmsMiB.reduce((sum, mib) => sum + mib, 0);
      assert.equal(inventory.memoryBytes, memoryMiB * 1024 * 1024);
      assert.deepEqual(
        inventory.drives.map((drive) => drive.sizeBytes),
        profile.hardware.drives.map((drive) => drive.sizeBytes),
      );
      assert.deepEqual(
        inventory.firmware.map((item) => [item.id, item.version]),
        profile.firmware.map((item) => [item.id, item.version]),
      );
      const bios = profile.firmware.find((item) => item.role === "bios");
      assert.equal(inventory.biosVersion, bios?.version);
      const bmcFirmware = profile.firmware.find((item) => item.role === "bmc");
      assert.equal(inventory.bmcFirmwareVersion, profile.managerFirmwareVersion(bmcFirmware?.version ?? ""));
      const expanded = bmc.requests().some((r) => r.url.includes("$expand=.($levels=1)"));
      assert.equal(expanded, profile.expand, "uses $expand exactly when the service root advertises it");
    });

    test("sensors warm up after power on and fans stop after power off", async (t) => {
      const bmc = await labBmc(t, { vendor });
      const driver = driverFor(t, bmc);
      const cpuTemperature = async (): Promise<number> => {
        const report = await driver.getSensors(deadline());
        const cpu = report.sensors.find((sensor) => sensor.kind === "temperature" && /CPU/.test(sensor.name));
        assert.ok(cpu?.value !== null && cpu?.value !== undefined, "a CPU temperature is reported");
        return cpu.value;
      };
      const cold = await cpuTemperature();
      await driver.setPower("on", deadline());
      await watchPower(driver, "on");
      await eventually(async () => ((await cpuTemperature()) > cold + 15 ? true : undefined), {
        what: "warm CPU",
      });
      const running = await driver.getSensors(deadline());
      const fans = running.sensors.filter((sensor) => sensor.kind === "fan");
      assert.equal(fans.length, PROFILES[vendor].fanCount, "absent fan bays are not readings");
      assert.ok(fans.every((fan) => (fan.value ?? 0) > 0));
      assert.equal(running.powerSupplies.length, 2);
      assert.equal(new Set(running.powerSupplies.map((supply) => supply.name)).size, 2);
      const measured = running.sensors.filter(
        (sensor) => sensor.kind === "temperature" || sensor.kind === "fan",
      );
      assert.ok(measured.every((sensor) => sensor.health === "ok"));
      await driver.setPower("off", deadline());
      await watchPower(driver, "off");
      const stopped = await driver.getSensors(deadline());
      assert.ok(stopped.sensors.filter((sensor) => sensor.kind === "fan").every((fan) => fan.value === 0));
      const sensorResources = bmc.requests().some((r) => r.url.includes("/Sensors/"));
      assert.equal(
        sensorResources,
        vendor === "openbmc",
        "reads Sensor resources where the chassis has them",
      );
    });

    test("power events appear in the log, newest first", async (t) => {
      const bmc = await labBmc(t, { vendor });
      const driver = driverFor(t, bmc);
      await driver.setPower("on", deadline());
      await watchPower(driver, "on");
      await driver.setPower("off", deadline());
      await watchPower(driver, "off");
      // iLO stamps to the second, so entries of other logs in the same second may interleave.
      const entries: BmcLogEntry[] = (await driver.getLogEntries(10, deadline()))
        .filter((entry) => entry.id.includes("/Systems/"))
        .slice(0, 2);
      assert.deepEqual(
        entries.map((entry) => entry.message),
        [PROFILES[vendor].logs.powerOff, PROFILES[vendor].logs.powerOn],
      );
      assert.ok(entries.every((entry) => entry.severity === "ok" && entry.created !== undefined));
    });

    test("a firmware update runs as a task to completion and changes the inventory", async (t) => {
      const bmc = await labBmc(t, { vendor });
      const driver = driverFor(t, bmc);
      const started = await driver.startFirmwareUpdate(
        { imageUri: "https://repo.example/bmc-9.8.7.bin" },
        deadline(),
      );
      assert.match(started.handle, /^\/redfish\/v1\/TaskService\/Tasks\/\d+$/);
      assert.equal(started.state, "running");
      const percents: number[] = [];
      const done = await eventually(
        async () => {
          const status = await driver.getFirmwareUpdateStatus(started.handle, deadline());
          if (status.percent !== undefined) percents.push(status.percent);
          return status.state === "running" ? undefined : status;
        },
        { what: "update task" },
      );
      assert.equal(done.state, "completed");
      assert.equal(done.percent, 100);
      assert.ok(done.messages.length >= 2);
      assert.deepEqual(
        percents,
        [...percents].sort((a, b) => a - b),
        "progress only moves forward",
      );
      const inventory = await driver.getInventory(deadline());
      const bmcFirmware = PROFILES[vendor].firmware.find((item) => item.role === "bmc");
      assert.equal(inventory.firmware.find((item) => item.id === bmcFirmware?.id)?.version, "9.8.7");
      assert.equal(inventory.bmcFirmwareVersion, PROFILES[vendor].managerFirmwareVersion("9.8.7"));
    });

    test("a firmware update can target a component by inventory id", async (t) => {
      const bmc = await labBmc(t, { vendor });
      const driver = driverFor(t, bmc);
      const bios = PROFILES[vendor].firmware.find((item) => item.role === "bios");
      assert.ok(bios !== undefined);
      const started = await driver.startFirmwareUpdate(
        { imageUri: "https://repo.example/bios-3.1.0.bin", targets: [bios.id] },
        deadline(),
      );
      await eventually(async () => {
        const status = await driver.getFirmwareUpdateStatus(started.handle, deadline());
        return status.state === "completed" ? status : undefined;
      });
      assert.equal((await driver.getInventory(deadline())).biosVersion, "3.1.0");
      const unknown = await rejection(
        driver.startFirmwareUpdate(
          { imageUri: "https://repo.example/x-1.0.bin", targets: ["nope"] },
          deadline(),
        ),
      );
      assert.equal(unknown.kind, "rejected");
    });

    test("a corrupt image ends the update task failed", async (t) => {
      const bmc = await labBmc(t, { vendor });
      const driver = driverFor(t, bmc);
      const started = await driver.startFirmwareUpdate(
        { imageUri: "https://repo.example/corrupt-2.0.bin" },
        deadline(),
      );
      const done = await eventually(async () => {
        const status = await driver.getFirmwareUpdateStatus(started.handle, deadline());
        return status.state === "running" ? undefined : status;
      });
      assert.equal(done.state, "failed");
      assert.match(done.messages.join(" "), /verification failed/);
    });

    test("a transfer protocol the BMC does not offer is unsupported", async (t) => {
      const bmc = await labBmc(t, { vendor });
      const driver = driverFor(t, bmc);
      const error = await rejection(
        driver.startFirmwareUpdate({ imageUri: "ftp://repo.example/fw-1.0.bin" }, deadline()),
      );
      assert.equal(error.kind, "unsupported");
      assert.match(error.message, /FTP/);
      assert.equal(bmc.state().tasks.length, 0);
    });

    test("logs in with a session, reuses it, and deletes it on close", async (t) => {
      const bmc = await labBmc(t, { vendor });
      const driver = fastDriver(bmc.endpoint());
      await driver.getPowerState(deadline());
      await driver.getInventory(deadline());
      assert.equal(driver.authMode, "session");
      assert.equal(bmc.state().sessions, 1);
      await driver.close();
      assert.equal(bmc.state().sessions, 0);
      assert.ok(
        bmc.requests().some((r) => r.method === "DELETE" && r.url.includes("/SessionService/Sessions/")),
      );
    });

    test("logs in again once when the session expired", async (t) => {
      const bmc = await labBmc(t, { vendor });
      const driver = driverFor(t, bmc);
      await driver.getPowerState(deadline());
      bmc.expireSessions();
      assert.equal(await driver.getPowerState(deadline()), "off");
      const logins = bmc.requests().filter((r) => r.method === "POST" && r.url.endsWith("/Sessions"));
      assert.equal(logins.length, 2);
      assert.ok(bmc.requests().some((r) => r.status === 401));
    });

    test("falls back to Basic authentication when the BMC has no sessions", async (t) => {
      const bmc = await labBmc(t, { vendor, quirks: { sessions: false } });
      const driver = driverFor(t, bmc);
      assert.equal(await driver.getPowerState(deadline()), "off");
      assert.equal(driver.authMode, "basic");
      assert.equal(bmc.state().sessions, 0);
    });

    test("a wrong password is an auth error that does not repeat the password", async (t) => {
      const bmc = await labBmc(t, { vendor });
      const password = "wrong-horse-battery-staple";
      const driver = driverFor(t, bmc);
      const wrong = fastDriver(bmc.endpoint({ password }));
      t.after(() => wrong.close());
      const error = await rejection(wrong.getPowerState(deadline()));
      assert.equal(error.kind, "auth");
      assert.ok(!error.message.includes(password));
      assert.ok(!error.message.includes(bmc.credentials.password));
      assert.equal(await driver.getPowerState(deadline()), "off", "the right password still works");
    });
  });
}

describe("Redfish driver and vendor quirks", () => {
  test("HTTP boot is unsupported on a BMC that does not offer UefiHttp", async (t) => {
    const bmc = await labBmc(t, { vendor: "openbmc" });
    const driver = driverFor(t, bmc);
    const error = await rejection(
      driver.setBootOverride({ device: "http", persistence: "once" }, deadline()),
    );
    assert.equal(error.kind, "unsupported");
    assert.match(error.message, /UefiHttp/);
    assert.ok(!bmc.requests().some((r) => r.method === "PATCH"), "nothing was sent");
  });

  test("an action no advertised ResetType can perform is unsupported, and nothing is sent", async (t) => {
    const bmc = await labBmc(t, {
      vendor: "ilo5",
      initialPowerState: "On",
      resetTypes: ["On", "GracefulShutdown"],
    });
    const driver = driverFor(t, bmc);
    const error = await rejection(driver.setPower("cycle", deadline()));
    assert.equal(error.kind, "unsupported");
    assert.match(error.message, /cannot cycle: the BMC offers ResetType On, GracefulShutdown/);
    assert.equal(resetPosts(bmc), 0);
    await driver.setPower("graceful-shutdown", deadline());
    await watchPower(driver, "off");
  });

  test("HTTP boot works where UefiHttp is offered", async (t) => {
    const bmc = await labBmc(t, { vendor: "ilo5" });
    const driver = driverFor(t, bmc);
    const boots: LabBootDevice[] = [];
    bmc.onBoot((device) => {
      boots.push(device);
    });
    await driver.setBootOverride({ device: "http", persistence: "once" }, deadline());
    await driver.setPower("on", deadline());
    await eventually(async () => (boots.length === 1 ? true : undefined));
    assert.deepEqual(boots, ["http"]);
  });

  test("a system that refuses PATCH takes the override through its @Redfish.Settings object", async (t) => {
    const bmc = await labBmc(t, { vendor: "openbmc", quirks: { bootOverrideViaSettings: true } });
    const driver = driverFor(t, bmc);
    const boots: LabBootDevice[] = [];
    bmc.onBoot((device) => {
      boots.push(device);
    });
    await driver.setBootOverride({ device: "pxe", persistence: "once" }, deadline());
    assert.deepEqual(bmc.state().pendingBootOverride, {
      BootSourceOverrideEnabled: "Once",
      BootSourceOverrideTarget: "Pxe",
      BootSourceOverrideMode: "UEFI",
    });
    assert.ok(bmc.requests().some((r) => r.method === "PATCH" && r.status === 405));
    await driver.setPower("on", deadline());
    await eventually(async () => (boots.length === 1 ? true : undefined));
    assert.deepEqual(boots, ["pxe"]);
    assert.equal(bmc.state().pendingBootOverride, undefined);
  });

  test("no BootSourceOverrideMode: the PATCH leaves Mode out, and asking for a mode is unsupported", async (t) => {
    const bmc = await labBmc(t, { vendor: "ilo5", quirks: { noBootMode: true, requireIfMatch: true } });
    const driver = driverFor(t, bmc);
    await driver.setBootOverride({ device: "pxe", persistence: "continuous" }, deadline());
    assert.equal(bmc.state().bootOverride.target, "Pxe");
    const error = await rejection(
      driver.setBootOverride({ device: "pxe", persistence: "continuous", mode: "legacy" }, deadline()),
    );
    assert.equal(error.kind, "unsupported");
    assert.ok(!bmc.requests().some((r) => r.status === 428), "If-Match was always sent");
  });

  test("a reset answered 202 is followed through its task monitor, honouring Retry-After", async (t) => {
    const bmc = await labBmc(t, { vendor: "openbmc", quirks: { resetTasks: true } });
    const driver = driverFor(t, bmc);
    await driver.setPower("on", deadline());
    assert.equal(bmc.state().powerState, "On", "the call returned once the BMC's task had finished");
    const requests = bmc.requests();
    const post = requests.find((r) => r.method === "POST" && r.url.endsWith("ComputerSystem.Reset"));
    const polls = requests.filter((r) => r.url.endsWith("/Monitor"));
    assert.equal(post?.status, 202);
    assert.ok(polls.length >= 1);
    assert.equal(polls.at(-1)?.status, 200);
    assert.ok((polls[0]?.at ?? 0) - (post?.at ?? 0) >= 900, "waited Retry-After before polling");
  });

  test("without a Sensors collection, readings come from ThermalSubsystem and legacy Power", async (t) => {
    const bmc = await labBmc(t, {
      vendor: "openbmc",
      initialPowerState: "On",
      quirks: { noSensorsCollection: true },
    });
    const driver = driverFor(t, bmc);
    const report = await driver.getSensors(deadline());
    const profile = PROFILES.openbmc;
    assert.deepEqual(
      report.sensors.filter((sensor) => sensor.kind === "temperature").map((sensor) => sensor.name),
      profile.temperatures.map((spec) => spec.name),
    );
    const fans = report.sensors.filter((sensor) => sensor.kind === "fan");
    assert.equal(fans.length, profile.fanCount);
    assert.ok(fans.every((fan) => fan.unit === "%" && (fan.value ?? 0) > 0));
    assert.deepEqual(
      report.sensors.filter((sensor) => sensor.kind === "power").map((sensor) => sensor.name),
      ["Chassis Power Control"],
    );
    assert.deepEqual(
      report.powerSupplies.map((supply) => supply.name),
      ["PSU0", "PSU1"],
    );
    assert.ok(report.powerSupplies.every((supply) => (supply.inputWatts ?? 0) > (supply.outputWatts ?? 0)));
    assert.ok(!bmc.requests().some((r) => r.url.includes("/Sensors")));
  });

  test("the driver is usable as a BmcDriver for many machines at once", async (t) => {
    const lab = await startRedfishLab({ machines: 6, vendor: "mixed", tls, timing: FAST_TIMING });
    t.after(() => lab.stop());
    const drivers = lab.bmcs.map((bmc) => driverFor(t, bmc));
    await Promise.all(drivers.map((driver) => driver.setPower("on", deadline())));
    await Promise.all(drivers.map((driver) => watchPower(driver, "on")));
    const serials = await Promise.all(
      drivers.map(async (driver) => (await driver.getInventory(deadline())).serial),
    );
    assert.deepEqual(
      serials,
      lab.bmcs.map((bmc) => bmc.identity.serial),
    );
  });
});
