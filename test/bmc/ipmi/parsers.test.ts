import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { classifyFailure, classifySessionProbe } from "../../../src/bmc/ipmi/ipmitool.ts";
import {
  parseBootdevConfirmation,
  parseBootParam5,
  parseChassisStatus,
  parsePowerControl,
} from "../../../src/bmc/ipmi/parse-chassis.ts";
import { IpmitoolParseError } from "../../../src/bmc/ipmi/parse-common.ts";
import {
  parseFruPrint,
  parseLanPrint,
  parseMcGuid,
  parseMcInfo,
  systemFru,
} from "../../../src/bmc/ipmi/parse-inventory.ts";
import { parseSelList } from "../../../src/bmc/ipmi/parse-sel.ts";
import { parseSdrElist, parseSensorList, toSensorReport } from "../../../src/bmc/ipmi/parse-sensors.ts";

const FIXTURES = path.resolve(import.meta.dirname, "fixtures");
const fixture = (name: string): string => readFileSync(path.join(FIXTURES, name), "utf8");

function sensorsOf(name: string): ReturnType<typeof toSensorReport> {
  return toSensorReport(parseSdrElist(fixture(name)));
}

describe("sdr elist", () => {
  it("reads ipmi_sim's sensors with units, kinds and threshold health", () => {
    const report = sensorsOf("ipmi-sim/sdr-elist.txt");
    const byName = new Map(report.sensors.map((s) => [s.name, s]));
    assert.deepEqual(byName.get("Inlet Temp"), {
      name: "Inlet Temp",
      kind: "temperature",
      value: 47,
      unit: "°C",
      health: "critical",
    });
    assert.deepEqual(byName.get("FAN1"), {
      name: "FAN1",
      kind: "fan",
      value: 5400,
      unit: "RPM",
      health: "ok",
    });
    assert.deepEqual(byName.get("3.3V"), {
      name: "3.3V",
      kind: "voltage",
      value: 3.3,
      unit: "V",
      health: "ok",
    });
    assert.deepEqual(byName.get("Pwr Consumption"), {
      name: "Pwr Consumption",
      kind: "power",
      value: 220,
      unit: "W",
      health: "ok",
    });
    assert.deepEqual(report.powerSupplies, [
      { name: "PSU1 Status", health: "ok" },
      { name: "PSU2 Status", health: "critical" },
    ]);
  });

  it("reads HPE iLO 3: watts and states on one PSU line, fans in percent, a disabled sensor", () => {
    const report = sensorsOf("hpe-proliant-dl360-g7/sdr-elist-full.txt");
    assert.deepEqual(report.powerSupplies, [
      { name: "Power Supply 1", health: "critical", outputWatts: 0 },
      { name: "Power Supply 2", health: "ok", outputWatts: 95 },
    ]);
    const byName = new Map(report.sensors.map((s) => [s.name, s]));
    assert.deepEqual(byName.get("Fan Block 1"), {
      name: "Fan Block 1",
      kind: "fan",
      value: 21.56,
      unit: "%",
      health: "ok",
    });
    assert.equal(byName.get("Temp 4")?.health, "unknown");
    assert.equal(byName.get("Temp 4")?.value, null);
    assert.equal(byName.get("Temp 28")?.value, 73);
    assert.equal(byName.get("Power Supplies")?.health, "warning", "non-redundant power is a warning");
    assert.equal(byName.get("Memory")?.health, "warning", "correctable ECC limit reached");
    assert.equal(byName.get("Power Meter")?.value, 100);
  });

  it("reads Supermicro X11: absent DIMMs and fans have no reading and unknown health", () => {
    const report = sensorsOf("supermicro/sdr-elist-full-x11.txt");
    const byName = new Map(report.sensors.map((s) => [s.name, s]));
    assert.equal(report.sensors.length, 27);
    assert.deepEqual(byName.get("FAN2"), {
      name: "FAN2",
      kind: "fan",
      value: null,
      unit: "",
      health: "unknown",
    });
    assert.deepEqual(byName.get("DIMMA2 Temp"), {
      name: "DIMMA2 Temp",
      kind: "temperature",
      value: null,
      unit: "",
      health: "unknown",
    });
    assert.equal(byName.get("12V")?.value, 12.51);
    assert.equal(byName.get("Chassis Intru")?.health, "ok");
    assert.deepEqual(report.powerSupplies, []);
  });

  it("reads Dell iDRAC: two sensors named Temp told apart by entity, PSU input current and voltage kept as sensors", () => {
    const report = sensorsOf("dell-poweredge/sdr-elist-12g.txt");
    const names = report.sensors.map((s) => s.name);
    assert.ok(names.includes("Temp (3.1)") && names.includes("Temp (3.2)"));
    const byName = new Map(report.sensors.map((s) => [s.name, s]));
    assert.deepEqual(byName.get("Current 1"), {
      name: "Current 1",
      kind: "current",
      value: 0.8,
      unit: "A",
      health: "ok",
    });
    assert.equal(byName.get("Voltage 2")?.kind, "voltage");
    assert.equal(byName.get("Fan Redundancy")?.health, "ok");
    const psus = sensorsOf("dell-poweredge/sdr-type-power-supply.txt");
    assert.deepEqual(psus.powerSupplies, [
      { name: "Power Supply 1", health: "ok" },
      { name: "Power Supply 2", health: "ok" },
    ]);
    assert.equal(psus.sensors[0]?.name, "PS Redundancy");
  });

  it("reads a PSU line that carries both watts and presence", () => {
    const report = sensorsOf("other/sdr-elist-telegraf.txt");
    assert.deepEqual(report.powerSupplies, [{ name: "Power Supply 1", health: "ok", outputWatts: 110 }]);
    assert.equal(report.sensors.find((s) => s.name === "SEL")?.health, "unknown");
  });

  it("refuses output that has no sensor rows at all", () => {
    assert.throws(() => parseSdrElist("Error: something odd\n"), IpmitoolParseError);
    assert.deepEqual(parseSdrElist(""), []);
  });
});

describe("sensor list", () => {
  it("reads readings and threshold status, and leaves discrete masks unknown", () => {
    const report = toSensorReport(parseSensorList(fixture("ipmi-sim/sensor-list.txt")));
    const byName = new Map(report.sensors.map((s) => [s.name, s]));
    assert.deepEqual(byName.get("Inlet Temp"), {
      name: "Inlet Temp",
      kind: "temperature",
      value: 47,
      unit: "°C",
      health: "critical",
    });
    assert.equal(byName.get("FAN2")?.value, 5280);
    assert.equal(byName.get("Power Unit")?.health, "unknown");
    assert.deepEqual(report.powerSupplies, [
      { name: "PSU1 Status", health: "unknown" },
      { name: "PSU2 Status", health: "unknown" },
    ]);
  });
});

describe("sel elist / sel list", () => {
  it("reads ipmitool 1.8.19 dates (two-digit year, zone) and the threshold detail column", () => {
    const entries = parseSelList(fixture("ipmi-sim/sel-elist.txt"));
    assert.equal(entries.length, 5);
    assert.deepEqual(entries[2], {
      id: "3",
      created: "2026-11-23T17:04:44Z",
      severity: "critical",
      message:
        "Temperature Inlet Temp: Upper Critical going high (asserted); Reading 47 > Threshold 45 degrees C",
    });
    assert.equal(entries[1]?.severity, "warning", "non-critical is a warning, not critical");
    assert.equal(entries[3]?.severity, "critical");
    assert.equal(entries[4]?.message, "Power Unit Power Unit: Power off/down (asserted)");
    assert.equal(entries[4]?.severity, "ok");
  });

  it("reads ipmitool 1.8.18 dates and vendor wording", () => {
    assert.deepEqual(parseSelList(fixture("hpe-proliant-dl360-g7/sel-list.txt"))[0], {
      id: "0",
      created: "2021-06-29T08:18:06Z",
      severity: "warning",
      message: "Memory #0x2b: Correctable ECC logging limit reached (asserted)",
    });
    const psu = parseSelList(fixture("supermicro/sel-elist-psu-failure.txt"));
    assert.deepEqual(
      psu.map((e) => e.severity),
      ["warning", "warning", "critical", "ok"],
    );
    assert.equal(psu[2]?.message, "Power Supply PS1 Status: Failure detected (asserted)");
    const ac = parseSelList(fixture("supermicro/sel-elist-ac-lost.txt"));
    assert.deepEqual(
      ac.map((e) => e.severity),
      ["ok", "ok", "critical"],
    );
  });

  it("skips elided lines and keeps hex record ids", () => {
    const dell = parseSelList(fixture("dell-poweredge/sel-list.txt"));
    assert.deepEqual(
      dell.map((e) => e.id),
      ["1", "11"],
    );
    assert.equal(dell[1]?.severity, "critical");
    assert.equal(
      parseSelList("  1a | 03/14/2024 | 10:04:19 | Fan #0x30 | Lower Critical going low | Asserted")[0]?.id,
      "1a",
    );
  });

  it("gives entries logged before the clock was set, or in an unknown zone, no timestamp", () => {
    const [preInit] = parseSelList(
      "   1 |  Pre-Init  |0000001865| Power Unit Power Unit | Power off/down | Asserted",
    );
    assert.deepEqual(preInit, {
      id: "1",
      severity: "ok",
      message: "Power Unit Power Unit: Power off/down (asserted)",
    });
    const [zoned] = parseSelList(
      "   2 | 11/23/26 | 16:52:16 CET | Power Unit #0x0a | Power off/down | Asserted",
    );
    assert.equal(zoned?.created, undefined);
    assert.deepEqual(parseSelList("SEL has no entries\n"), []);
  });
});

describe("fru print, mc info, mc guid, lan print", () => {
  it("reads the system identity from the built-in FRU", () => {
    assert.deepEqual(systemFru(parseFruPrint(fixture("ipmi-sim/fru-print.txt"))), {
      manufacturer: "Ingot Lab",
      model: "Simulated Server S1",
      serial: "ILAB-CAPTURE-01",
      sku: "ILAB-S1",
      boardManufacturer: "Ingot Lab",
      boardProduct: "ILAB-MB-01",
      boardSerial: "BILAB-CAPTURE-01",
      chassisSerial: "ILAB-CAPTURE-01",
      assetTag: "capture",
    });
  });

  it("reads FRU output without a device header (fru print 0) and blank vendor fields", () => {
    assert.deepEqual(systemFru(parseFruPrint(fixture("dell-poweredge/fru-print-0-xe8545.txt"))), {
      manufacturer: "DELL",
      model: "PowerEdge T-XE8545",
      serial: "DW4SFT3",
      boardManufacturer: "DELL",
      boardProduct: "PowerEdge T-XE8545",
      boardSerial: "MXWSJ00263003M",
    });
    const hpe = systemFru(parseFruPrint(fixture("hpe-proliant-dl360-g7/fru-print.txt")));
    assert.equal(hpe.model, "ProLiant DL360 G7");
    assert.equal(hpe.serial, undefined, "HPE iLO 3 leaves the serial fields empty");
  });

  it("picks the builtin device (ID 0) among several FRUs", () => {
    const text = [
      "FRU Device Description : Builtin FRU Device (ID 0)",
      " Board Mfg             : DELL",
      " Board Product         : PowerEdge R730",
      " Board Serial          : CN7792157700UA",
      " Product Serial        : D8B9T52",
      "",
      "FRU Device Description : PS1 (ID 1)",
      " Board Mfg             : DELL",
      " Board Product         : PWR SPLY,750W,RDNT,DELTA",
      "",
      "FRU Device Description : BP0 (ID 12)",
      " Device not present (Timeout)",
    ].join("\n");
    const devices = parseFruPrint(text);
    assert.deepEqual(
      devices.map((d) => d.id),
      [0, 1],
    );
    assert.deepEqual(systemFru(devices), {
      manufacturer: "DELL",
      model: "PowerEdge R730",
      serial: "D8B9T52",
      boardManufacturer: "DELL",
      boardProduct: "PowerEdge R730",
      boardSerial: "CN7792157700UA",
    });
  });

  it("reads BMC firmware and maker from mc info", () => {
    assert.deepEqual(parseMcInfo(fixture("ipmi-sim/mc-info.txt")), {
      firmwareRevision: "2.61",
      ipmiVersion: "2.0",
      manufacturerId: 4753,
      manufacturerName: "MontaVista Software, Inc.",
      productId: 3842,
    });
    assert.equal(
      parseMcInfo(fixture("hpe-proliant-dl360-g7/mc-info.txt")).manufacturerName,
      "Hewlett-Packard",
    );
    assert.deepEqual(parseMcInfo(fixture("dell-poweredge/mc-info-r720xd.txt")), {
      firmwareRevision: "2.65",
      ipmiVersion: "2.0",
      manufacturerId: 674,
      manufacturerName: "Dell Inc.",
      productId: 256,
    });
    assert.throws(() => parseMcInfo("Device ID : 32\n"), IpmitoolParseError);
  });

  it("reads the GUID and the BMC MAC, and treats zeros as absent", () => {
    assert.equal(parseMcGuid(fixture("ipmi-sim/mc-guid.txt")), "6b1c9d1e-52a5-4c3e-9d53-2f3a4a0c1b7e");
    assert.equal(parseMcGuid("System GUID  : 00000000-0000-0000-0000-000000000000\n"), undefined);
    assert.deepEqual(parseLanPrint(fixture("ipmi-sim/lan-print.txt")), {
      macAddress: "02:1b:1a:00:00:01",
      ipAddress: "127.0.0.1",
      ipSource: "Static Address",
    });
    assert.deepEqual(parseLanPrint("MAC Address             : 00:00:00:00:00:00\n"), {});
  });
});

describe("chassis", () => {
  it("reads power state and faults from chassis status", () => {
    assert.equal(parseChassisStatus(fixture("ipmi-sim/chassis-status-on.txt")).powerState, "on");
    assert.equal(parseChassisStatus(fixture("ipmi-sim/chassis-status-off.txt")).powerState, "off");
    const fault = parseChassisStatus(fixture("other/chassis-status-fan-fault.txt"));
    assert.equal(fault.coolingFault, true);
    assert.equal(fault.mainPowerFault, false);
    assert.equal(fault.lastPowerEvent, "ac-failed");
    assert.throws(() => parseChassisStatus("Chassis Power is on\n"), IpmitoolParseError);
  });

  it("reads boot parameter 5: device, persistence, mode", () => {
    assert.deepEqual(parseBootParam5(fixture("ipmi-sim/bootparam-get-5-pxe.txt")), {
      device: "pxe",
      persistence: "once",
      mode: "legacy",
    });
    assert.deepEqual(parseBootParam5(fixture("other/bootparam-get-5-valid-pxe.txt")), {
      device: "pxe",
      persistence: "once",
      mode: "legacy",
    });
    const uefiDisk = [
      "Boot parameter version: 1",
      "Boot parameter 5 is valid/unlocked",
      "Boot parameter data: e008000000",
      " Boot Flags :",
      "   - Boot Flag Valid",
      "   - Options apply to all future boots",
      "   - BIOS EFI boot ",
      "   - Boot Device Selector : Force Boot from default Hard-Drive",
    ].join("\n");
    assert.deepEqual(parseBootParam5(uefiDisk), { device: "disk", persistence: "continuous", mode: "uefi" });
    const none = uefiDisk.replace("Force Boot from default Hard-Drive", "No override");
    assert.deepEqual(parseBootParam5(none), { device: "none", persistence: "disabled", mode: "uefi" });
    assert.equal(parseBootParam5(uefiDisk.replace("default Hard-Drive", "CD/DVD")).device, "cd");
    assert.equal(
      parseBootParam5(uefiDisk.replace("Boot from default Hard-Drive", "Boot into BIOS Setup")).device,
      "bios",
    );
    assert.equal(
      parseBootParam5(
        uefiDisk.replace("Boot from default Hard-Drive", "Boot from Floppy/primary removable media"),
      ).device,
      "other",
    );
  });

  it("requires the confirmation lines of power control and bootdev", () => {
    assert.equal(parsePowerControl("Chassis Power Control: Up/On\n"), "Up/On");
    assert.throws(() => parsePowerControl(""), IpmitoolParseError);
    assert.equal(parseBootdevConfirmation("Set Boot Device to pxe\n"), "pxe");
    assert.throws(() => parseBootdevConfirmation(""), IpmitoolParseError);
  });
});

describe("ipmitool failures", () => {
  // stderr of ipmitool 1.8.19 against ipmi_sim, as captured while building the lab.
  const SESSION = "Error: Unable to establish IPMI v2 / RMCP+ session\n";

  it("treats a failed session as 'no session' until the verbose probe says why", () => {
    assert.equal(classifyFailure(SESSION).kind, "no-session");
    const wrongPassword = classifySessionProbe(
      `Loading IANA PEN Registry...\n> RAKP 2 HMAC is invalid\n${SESSION}`,
    );
    assert.equal(wrongPassword.kind === "final" && wrongPassword.error.kind, "auth");
    const unknownUser = classifySessionProbe(
      `Loading IANA PEN Registry...\nRAKP 2 message indicates an error : unauthorized name\n${SESSION}`,
    );
    assert.equal(unknownUser.kind === "final" && unknownUser.error.kind, "auth");
    const silent = classifySessionProbe(
      "Loading IANA PEN Registry...\nGet Auth Capabilities error\nError issuing Get Channel Authentication Capabilities request\n" +
        SESSION,
    );
    assert.equal(silent.kind, "no-session");
    const cipher = classifySessionProbe(
      `Error in open session response message : invalid authentication algorithm\n${SESSION}`,
    );
    assert.equal(cipher.kind === "final" && cipher.error.kind, "rejected");
  });

  it("separates busy BMCs, refusals and unsupported commands", () => {
    assert.equal(classifyFailure("No response from remote controller\n").kind, "transient");
    const refused = classifyFailure("Set Chassis Boot Parameter 5 failed: Unspecified error\n");
    assert.equal(refused.kind === "final" && refused.error.kind, "rejected");
    assert.match(refused.kind === "final" ? refused.error.message : "", /Boot Parameter 5 failed/);
    const privilege = classifyFailure(
      "Set Chassis Power Control to Up/On failed: Insufficient privilege level\n",
    );
    assert.equal(privilege.kind === "final" && privilege.error.kind, "auth");
    const unsupported = classifyFailure("Invalid command\n");
    assert.equal(unsupported.kind === "final" && unsupported.error.kind, "unsupported");
  });
});
