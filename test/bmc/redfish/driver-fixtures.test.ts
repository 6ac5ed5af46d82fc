/**
 * The driver against real captured BMC trees, served read-only by the lab's fixture mode. Expected values
 * are read from the fixture files themselves, so the test checks the driver, not a transcription.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createLabTls, type RedfishFixtureBmc, startRedfishFixtureBmc } from "../../../lab/redfish/index.ts";
import { BmcError } from "../../../src/bmc/driver.ts";
import type { RedfishDriver } from "../../../src/bmc/redfish/index.ts";
import { deadline, FIXTURES, fastDriver } from "./helpers.ts";

type Doc = Record<string, unknown>;

function reader(tree: string): (resource: string) => Doc {
  return (resource) =>
    JSON.parse(readFileSync(path.join(FIXTURES, tree, resource, "index.json"), "utf8")) as Doc;
}

function members(doc: Doc): string[] {
  return (doc.Members as Array<{ "@odata.id": string }>).map((member) =>
    member["@odata.id"].replace("/redfish/v1/", ""),
  );
}

function lowerMac(value: unknown): string {
  return String(value).toLowerCase();
}

async function rejection(promise: Promise<unknown>): Promise<BmcError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BmcError);
    return error;
  }
  assert.fail("expected the call to fail");
}

describe("Redfish driver against the HPE ProLiant DL325 Gen10 Plus (iLO 5) tree", () => {
  const read = reader("hpe-dl325-ilo5");
  let bmc: RedfishFixtureBmc;
  let driver: RedfishDriver;

  before(async () => {
    bmc = await startRedfishFixtureBmc({
      directory: path.join(FIXTURES, "hpe-dl325-ilo5"),
      tls: await createLabTls(),
    });
    driver = fastDriver(bmc.endpoint());
  });
  after(async () => {
    await driver.close();
    await bmc.stop();
  });

  test("inventory fields match the captured documents", async () => {
    const inventory = await driver.getInventory(deadline());
    const system = read("Systems/1");
    assert.equal(inventory.serial, system.SerialNumber);
    assert.equal(inventory.serial, "MXQ019020B");
    assert.equal(inventory.model, system.Model);
    assert.equal(inventory.manufacturer, system.Manufacturer);
    assert.equal(inventory.uuid, system.UUID);
    assert.equal(inventory.sku, system.SKU);
    assert.equal(inventory.biosVersion, system.BiosVersion);
    assert.equal(inventory.powerState, "on");

    const processors = members(read("Systems/1/Processors")).map(read);
    assert.equal(inventory.cpus.length, processors.length);
    assert.deepEqual(inventory.cpus[0], {
      model: String(processors[0]?.Model).trim(),
      cores: processors[0]?.TotalCores,
      threads: processors[0]?.TotalThreads,
    });
    const summary = system.MemorySummary as Doc;
    assert.equal(inventory.memoryBytes, Number(summary.TotalSystemMemoryGiB) * 1024 ** 3);
    const dimmMiB = members(read("Systems/1/Memory"))
      .map(read)
      .reduce((sum, dimm) => sum + Number(dimm.CapacityMiB ?? 0), 0);
    assert.equal(inventory.memoryBytes, dimmMiB * 1024 * 1024, "summary and DIMMs agree");

    const nics = members(read("Systems/1/EthernetInterfaces")).map(read);
    assert.deepEqual(
      inventory.nics.map((nic) => nic.mac),
      nics.map((nic) => lowerMac(nic.MACAddress)),
    );
    assert.equal(inventory.nics[0]?.speedMbps, nics[0]?.SpeedMbps);

    const firmware = members(read("UpdateService/FirmwareInventory")).map(read);
    assert.deepEqual(
      inventory.firmware.map((item) => [item.id, item.name, item.version]),
      firmware.map((item) => [item.Id, item.Name, item.Version]),
    );
    const manager = read("Managers/1");
    assert.equal(inventory.bmcFirmwareVersion, manager.FirmwareVersion);
    assert.equal(inventory.bmcMac, lowerMac(read("Managers/1/EthernetInterfaces/1").MACAddress));
    assert.deepEqual(inventory.drives, [], "this iLO lists its disks only under the OEM SmartStorage");
  });

  test("uses $expand as the service root advertises, and Basic when the session login is refused", async () => {
    await driver.getInventory(deadline());
    assert.ok(bmc.requests().some((r) => r.url.endsWith("/Processors?$expand=.($levels=1)")));
    assert.ok(
      bmc.requests().some((r) => r.method === "POST" && r.url.endsWith("/Sessions") && r.status === 405),
    );
    assert.equal(driver.authMode, "basic");
  });

  test("sensors come from the legacy Thermal and Power resources", async () => {
    const report = await driver.getSensors(deadline());
    const thermal = read("Chassis/1/Thermal");
    const present = (items: unknown): Doc[] =>
      (items as Doc[]).filter((item) => (item.Status as Doc | undefined)?.State !== "Absent");
    const temperatures = present(thermal.Temperatures);
    assert.deepEqual(
      report.sensors
        .filter((sensor) => sensor.kind === "temperature")
        .map((sensor) => [sensor.name, sensor.value]),
      temperatures.map((item) => [item.Name, item.ReadingCelsius]),
    );
    const fans = report.sensors.filter((sensor) => sensor.kind === "fan");
    assert.equal(fans.length, present(thermal.Fans).length);
    assert.ok(fans.every((fan) => fan.unit === "%"));
    const power = read("Chassis/1/Power");
    const control = (power.PowerControl as Doc[])[0] as Doc;
    const consumed = report.sensors.filter((sensor) => sensor.kind === "power");
    assert.deepEqual(
      consumed.map((sensor) => sensor.value),
      [control.PowerConsumedWatts],
    );
    const supplies = power.PowerSupplies as Doc[];
    assert.deepEqual(
      report.powerSupplies.map((supply) => [supply.health, supply.capacityWatts, supply.outputWatts]),
      supplies.map((supply) => ["ok", supply.PowerCapacityWatts, supply.LastPowerOutputWatts]),
    );
    assert.equal(new Set(report.powerSupplies.map((supply) => supply.name)).size, supplies.length);
  });

  test("log entries are the newest across IML, security log and iLO event log", async () => {
    const entries = await driver.getLogEntries(5, deadline());
    const all = [
      "Systems/1/LogServices/IML/Entries",
      "Systems/1/LogServices/SL/Entries",
      "Managers/1/LogServices/IEL/Entries",
    ].flatMap((collection) => read(collection).Members as Doc[]);
    const dated = all.filter((entry) => !Number.isNaN(Date.parse(String(entry.Created))));
    assert.equal(all.length - dated.length, 10, 'the capture has ten entries stamped "0000-00-00T00:00:00Z"');
    const newest = [...dated]
      .sort((a, b) => Date.parse(String(b.Created)) - Date.parse(String(a.Created)))
      .slice(0, 5);
    assert.deepEqual(
      entries.map((entry) => entry.created),
      newest.map((entry) => entry.Created),
    );
    assert.ok(entries.every((entry) => entry.message.length > 0 && entry.id.startsWith("/redfish/v1/")));
    const everything = await driver.getLogEntries(1_000, deadline());
    assert.equal(everything.length, all.length);
    assert.deepEqual(
      everything.slice(-10).map((entry) => entry.created),
      Array(10).fill(undefined),
      "entries without a real time come last, without one",
    );
  });

  test("boot override and power state are read; writes are refused by the read-only fixture", async () => {
    assert.equal(await driver.getPowerState(deadline()), "on");
    assert.deepEqual(await driver.getBootOverride(deadline()), {
      device: "none",
      persistence: "disabled",
      mode: "uefi",
    });
    const error = await rejection(driver.setBootOverride({ device: "pxe", persistence: "once" }, deadline()));
    assert.equal(error.kind, "rejected");
    assert.equal(error.status, 405);
    const patches = bmc.requests().filter((r) => r.method === "PATCH");
    assert.ok(patches.length >= 1);
  });

  test("a firmware update posts to the advertised SimpleUpdate target", async () => {
    const error = await rejection(
      driver.startFirmwareUpdate({ imageUri: "https://repo.example/ilo5_247.fwpkg" }, deadline()),
    );
    assert.equal(error.kind, "rejected", "the fixture refuses the write; the request reached the target");
    assert.ok(
      bmc
        .requests()
        .some(
          (r) =>
            r.method === "POST" && r.url === "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
        ),
    );
    const unsupported = await rejection(
      driver.startFirmwareUpdate({ imageUri: "tftp://repo.example/ilo5_247.fwpkg" }, deadline()),
    );
    assert.equal(unsupported.kind, "unsupported", "TFTP is not in TransferProtocol@Redfish.AllowableValues");
  });
});

describe("Redfish driver against the stock OpenBMC (bmcweb) tree", () => {
  const read = reader("openbmc-bmcweb");
  let bmc: RedfishFixtureBmc;
  let driver: RedfishDriver;

  before(async () => {
    bmc = await startRedfishFixtureBmc({
      directory: path.join(FIXTURES, "openbmc-bmcweb"),
      tls: await createLabTls(),
    });
    driver = fastDriver(bmc.endpoint());
  });
  after(async () => {
    await driver.close();
    await bmc.stop();
  });

  test("inventory reports what the tree has and leaves out what it does not", async () => {
    const inventory = await driver.getInventory(deadline());
    const system = read("Systems/system");
    assert.equal(system.SerialNumber, undefined);
    assert.equal(inventory.serial, undefined);
    assert.equal(inventory.uuid, undefined);
    assert.equal(inventory.powerState, "off");
    assert.equal(inventory.memoryBytes, undefined, "TotalSystemMemoryGiB 0 means unknown");
    assert.deepEqual(inventory.cpus, []);
    assert.deepEqual(inventory.nics, []);
    const firmware = members(read("UpdateService/FirmwareInventory")).map(read);
    assert.deepEqual(
      inventory.firmware.map((item) => [item.id, item.version, item.updateable]),
      firmware.map((item) => [item.Id, item.Version, item.Updateable]),
    );
    const manager = read("Managers/bmc");
    assert.equal(inventory.bmcFirmwareVersion, manager.FirmwareVersion);
    assert.equal(inventory.bmcMac, lowerMac(read("Managers/bmc/EthernetInterfaces/eth0").MACAddress));
    assert.ok(
      !bmc.requests().some((r) => r.url.includes("$expand")),
      "bmcweb here does not advertise $expand",
    );
  });

  test("sensors are read from the Sensors collection first, then the legacy resources", async () => {
    bmc.clearRequests();
    const report = await driver.getSensors(deadline());
    const collection = read("Chassis/chassis/Sensors");
    assert.equal((collection.Members as unknown[]).length, 0);
    assert.deepEqual(report, { sensors: [], powerSupplies: [] }, "this QEMU BMC has no sensors to report");
    const urls = bmc.requests().map((r) => r.url);
    assert.ok(urls.includes("/redfish/v1/Chassis/chassis/Sensors"));
    assert.ok(urls.includes("/redfish/v1/Chassis/chassis/Thermal"));
    assert.ok(urls.includes("/redfish/v1/Chassis/chassis/Power"));
  });

  test("the newest journal entries come first", async () => {
    const entries = await driver.getLogEntries(3, deadline());
    const journal = read("Managers/bmc/LogServices/Journal/Entries").Members as Doc[];
    const newest = [...journal]
      .sort((a, b) => Date.parse(String(b.Created)) - Date.parse(String(a.Created)))
      .slice(0, 3);
    assert.deepEqual(
      entries.map((entry) => [entry.id, entry.message]),
      newest.map((entry) => [entry["@odata.id"], entry.Message]),
    );
  });

  test("reset values come from the ActionInfo resource", async () => {
    bmc.clearRequests();
    const error = await rejection(driver.setPower("on", deadline()));
    assert.equal(error.kind, "rejected");
    assert.ok(bmc.requests().some((r) => r.url === "/redfish/v1/Systems/system/ResetActionInfo"));
    assert.ok(bmc.requests().some((r) => r.method === "POST" && r.url.endsWith("/ComputerSystem.Reset")));
  });

  test("a BMC without SimpleUpdate says unsupported", async () => {
    const error = await rejection(
      driver.startFirmwareUpdate({ imageUri: "https://repo.example/obmc.tar" }, deadline()),
    );
    assert.equal(error.kind, "unsupported");
    assert.match(error.message, /SimpleUpdate/);
  });
});
