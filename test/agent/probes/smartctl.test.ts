import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { mergeDisk } from "../../../agent/probes/disks.ts";
import { parseSmartctlJson, smartctlOutputUsable } from "../../../agent/probes/smartctl.ts";
import { local, SHARED_FIXTURES, shared } from "../helpers.ts";

const SMARTCTL_DIR = path.join(SHARED_FIXTURES, "smartctl");

describe("smartctl -j -a parser", () => {
  it("parses every capture of the 85 files without throwing; every drive capture yields a model and size", () => {
    const files = readdirSync(SMARTCTL_DIR).sort();
    assert.equal(files.length, 85);
    let drives = 0;
    for (const file of files) {
      const result = parseSmartctlJson(shared("smartctl", file));
      if (!file.endsWith(".json")) {
        assert.equal(result.status, "unparseable", file);
        continue;
      }
      drives += 1;
      assert.equal(result.status, "ok", file);
      assert.ok(result.value.model, `${file}: model`);
      assert.ok((result.value.sizeBytes ?? 0) > 0, `${file}: size`);
      assert.equal(typeof result.value.smart?.passed, "boolean", `${file}: SMART verdict`);
      assert.ok((result.value.smart?.powerOnHours ?? -1) >= 0, `${file}: power-on hours`);
    }
    assert.equal(drives, 84);
  });

  it("reads a SATA hard disk: identity, WWN as lsblk prints it, reallocated and pending sectors", () => {
    const result = parseSmartctlJson(shared("smartctl", "ST3500418AS_12.json"));
    assert.deepEqual(result.value, {
      protocol: "ATA",
      model: "ST3500418AS",
      serialNumber: "REDACTED",
      wwn: "0x5000c500499602d2",
      firmwareVersion: "REDACTED",
      sizeBytes: 500107862016,
      rotationRpm: 7200,
      smart: {
        passed: true,
        powerOnHours: 44668,
        temperatureCelsius: 33,
        reallocatedSectors: 304,
        pendingSectors: 0,
      },
    });
  });

  it("reads a SATA SSD (rotation rate 0) and a 16 TB Exos", () => {
    const ssd = parseSmartctlJson(
      shared("smartctl", "sat-Intel_S4510_S4610_S4500_S4600_Series_SSDs-INTEL_SSDSC2KB019T8-sdr.json"),
    ).value;
    assert.equal(ssd.model, "INTEL SSDSC2KB019T8");
    assert.equal(ssd.rotationRpm, 0);
    assert.equal(ssd.sizeBytes, 1920383410176);
    assert.equal(ssd.wwn, "0x55cd2e40499602d2");
    assert.deepEqual(ssd.smart, {
      passed: true,
      powerOnHours: 17704,
      temperatureCelsius: 25,
      reallocatedSectors: 0,
      pendingSectors: 0,
    });
    const exos = parseSmartctlJson(
      shared("smartctl", "sat-Seagate_Exos_X16-ST16000NM001G-2KK103-sda.json"),
    ).value;
    assert.equal(exos.model, "ST16000NM001G-2KK103");
    assert.equal(exos.sizeBytes, 16000900661248);
    assert.equal(exos.smart?.powerOnHours, 13114);
    assert.equal(exos.smart?.temperatureCelsius, 26);
  });

  it("reads SAS drives: model from vendor and product, grown defects, uncorrected errors", () => {
    const hitachi = parseSmartctlJson(shared("smartctl", "HITACHI_H109060SESUN600G_9.json"));
    assert.equal(hitachi.status, "ok");
    assert.deepEqual(hitachi.value, {
      protocol: "SCSI",
      model: "HITACHI H109060SESUN600G",
      serialNumber: "REDACTED",
      wwn: "0x1234567890abcdef",
      firmwareVersion: "A690",
      sizeBytes: 600127266816,
      rotationRpm: 10020,
      smart: {
        passed: true,
        powerOnHours: 982,
        temperatureCelsius: 27,
        mediaErrors: 0,
        reallocatedSectors: 0,
      },
    });
    const seagate = parseSmartctlJson(shared("smartctl", "SEAGATE_ST373453LC_27.json")).value;
    assert.equal(seagate.model, "SEAGATE ST373453LC");
    assert.equal(seagate.firmwareVersion, "DX10");
    assert.equal(seagate.rotationRpm, 15015);
    assert.equal(seagate.sizeBytes, 73407820800);
    assert.equal(seagate.smart?.powerOnHours, 91691);
    assert.equal(seagate.smart?.temperatureCelsius, 34);
  });

  it("reads NVMe drives: capacity from the namespace total, media errors, wear", () => {
    const samsung = parseSmartctlJson(shared("smartctl", "SAMSUNG_MZQLB1T9HAJR-00007_20.json")).value;
    assert.deepEqual(samsung, {
      protocol: "NVMe",
      model: "SAMSUNG MZQLB1T9HAJR-00007",
      serialNumber: "REDACTED",
      firmwareVersion: "REDACTED",
      sizeBytes: 1920383410176,
      smart: { passed: true, powerOnHours: 20701, temperatureCelsius: 41, mediaErrors: 0, percentageUsed: 0 },
    });
    const intel = parseSmartctlJson(shared("smartctl", "INTEL_SSDPE2KX080T8_3.json")).value;
    assert.equal(intel.sizeBytes, 8001563222016, "no user_capacity: nvme_total_capacity");
    const worn = parseSmartctlJson(shared("smartctl", "nvme-null-INTEL_SSDPE2KX020T7-nvme6.json")).value;
    assert.equal(worn.smart?.percentageUsed, 75);
  });

  it("reports a failing NVMe drive and the informational exit bits as warnings", () => {
    const failing = parseSmartctlJson(shared("smartctl", "nvme-null-SAMSUNG_MZWLL3T2HAJQ-00005-nvme0.json"));
    assert.equal(failing.status, "ok");
    assert.equal(failing.value.smart?.passed, false);
    assert.equal(failing.value.sizeBytes, 3200631791616);
    assert.deepEqual(failing.warnings, ["smartctl: SMART status check returned DISK FAILING"]);
    const logged = parseSmartctlJson(shared("smartctl", "ST3200820AS_16.json"));
    assert.deepEqual(logged.warnings, ["smartctl: the device error log contains records of errors"]);
    assert.equal(logged.value.rotationRpm, undefined);
  });

  it("treats exit bits 0-1 as no data: a virtio disk smartctl cannot identify (captured here)", () => {
    const result = parseSmartctlJson(local("smartctl", "virtio-vda.txt"));
    assert.equal(result.status, "failed");
    assert.deepEqual(result.value, {});
    assert.deepEqual(result.warnings, ["smartctl: /dev/vda: Unable to detect device type"]);
    assert.equal(smartctlOutputUsable(1), false);
    assert.equal(smartctlOutputUsable(2), false);
    assert.equal(smartctlOutputUsable(64), true);
  });

  it("refuses garbage without throwing", () => {
    for (const text of ["", "{", "[]", "null", '{"smartctl": 5}', "<xml/>"]) {
      const result = parseSmartctlJson(text);
      assert.equal(result.status, "unparseable", text);
      assert.deepEqual(result.value, {});
    }
  });

  it("merges smartctl into the lsblk disk: lsblk wins, smartctl fills gaps and decides SSD vs HDD", () => {
    const smart = parseSmartctlJson(
      shared("smartctl", "sat-Seagate_Exos_X16-ST16000NM001G-2KK103-sda.json"),
    ).value;
    const disk = mergeDisk(
      { name: "sda", sizeBytes: 16000900661248, rotational: false, transport: "sata" },
      smart,
    );
    assert.equal(disk.kind, "hdd");
    assert.equal(disk.rotational, true);
    assert.equal(disk.model, "ST16000NM001G-2KK103");
    assert.equal(disk.wwn, smart.wwn);
    assert.equal(disk.smart?.powerOnHours, 13114);
  });
});
