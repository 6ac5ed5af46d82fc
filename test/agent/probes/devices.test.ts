import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseIpmitoolLanPrint, probeBmc } from "../../../agent/probes/bmc.ts";
import { parseNvmeList, probeDisks } from "../../../agent/probes/disks.ts";
import { parseLspciVmm } from "../../../agent/probes/pci.ts";
import { exited, local, probeContext, ReplayRunner, shared } from "../helpers.ts";

describe("lspci -vmm -nn parser", () => {
  it("reads names, numeric ids and drivers (captured on this VM)", () => {
    const result = parseLspciVmm(local("lspci", "vm.txt"));
    assert.equal(result.status, "ok");
    assert.equal(result.value.length, 6);
    assert.deepEqual(result.value[3], {
      slot: "0000:00:03.0",
      classId: "0200",
      className: "Ethernet controller",
      vendorId: "1af4",
      vendorName: "Red Hat, Inc.",
      deviceId: "1041",
      deviceName: "Virtio 1.0 network device",
      subsystemVendorId: "1af4",
      subsystemDeviceId: "1041",
      revision: "01",
      driver: "virtio-pci",
    });
  });

  it("takes the id from the last bracket when the name has brackets (GPU server)", () => {
    const devices = parseLspciVmm(local("lspci", "gpu-server.txt")).value;
    const gpu = devices.find((device) => device.slot === "0000:18:00.0");
    assert.deepEqual(gpu, {
      slot: "0000:18:00.0",
      classId: "0302",
      className: "3D controller",
      vendorId: "10de",
      vendorName: "NVIDIA Corporation",
      deviceId: "2330",
      deviceName: "GH100[H100 SXM5 80GB]",
      subsystemVendorId: "10de",
      subsystemDeviceId: "16c1",
      revision: "a1",
    });
    const connectx = devices.find((device) => device.deviceId === "1021");
    assert.equal(connectx?.deviceName, "MT2910 Family [ConnectX-7]");
    assert.equal(connectx?.revision, undefined);
    assert.equal(devices.length, 8);
  });

  it("reports empty output as empty and garbage as unparseable", () => {
    assert.equal(parseLspciVmm("").status, "empty");
    assert.equal(parseLspciVmm("pcilib: Cannot open /proc/bus/pci").status, "unparseable");
    assert.deepEqual(parseLspciVmm("Slot:\tnot-a-slot\n").warnings, [
      'lspci: slot "not-a-slot" not understood',
      "lspci output not understood",
    ]);
  });
});

describe("ipmitool lan print parser (captured from ipmi_sim over lanplus)", () => {
  it("reads a BMC on DHCP", () => {
    assert.deepEqual(parseIpmitoolLanPrint(local("ipmitool", "lan-print-dhcp.txt")).value, {
      ipAddress: "10.20.30.41",
      ipSource: "dhcp",
      macAddress: "3c:ec:ef:12:34:56",
      subnetMask: "255.255.255.0",
      defaultGateway: "10.20.30.1",
    });
  });

  it("reads a BMC with a static address", () => {
    assert.deepEqual(parseIpmitoolLanPrint(local("ipmitool", "lan-print-static.txt")).value, {
      ipAddress: "192.168.50.17",
      ipSource: "static",
      macAddress: "b8:ca:3a:6f:01:9e",
      subnetMask: "255.255.255.0",
      defaultGateway: "192.168.50.1",
    });
  });

  it("reads a VLAN id and treats 0.0.0.0 as no address", () => {
    const text =
      "IP Address Source       : Static Address\nIP Address              : 0.0.0.0\n" +
      "MAC Address             : 00:00:00:00:00:00\n802.1q VLAN ID          : 42\n";
    assert.deepEqual(parseIpmitoolLanPrint(text).value, { ipSource: "static", vlanId: 42 });
  });

  it("records a machine without a BMC as a failed probe, not a crash (captured here)", async () => {
    const runner = new ReplayRunner({
      "ipmitool lan print": exited("", 1, local("ipmitool", "no-bmc.stderr.txt")),
    });
    const context = probeContext(runner);
    assert.equal(await probeBmc(context), undefined);
    const report = context.recorder.toRecord()["ipmitool-lan"];
    assert.equal(report?.status, "failed");
    assert.match(report?.warnings[0] ?? "", /^ipmitool exited with 1: Could not open device at \/dev\/ipmi0/);
    assert.equal(parseIpmitoolLanPrint("Invalid channel 1").status, "unparseable");
  });
});

describe("nvme list and the disk probe", () => {
  it("reads nvme list -o json", () => {
    const result = parseNvmeList(local("nvme", "list-two-pm1733.txt"));
    assert.deepEqual(result.value[1], {
      name: "nvme1n1",
      model: "SAMSUNG MZWLJ3T8HBLS-00007",
      serialNumber: "S4YPNE0R301235",
      firmwareVersion: "EPK9GB5Q",
      sizeBytes: 3840755982336,
    });
    assert.equal(parseNvmeList('{"Devices":[]}').status, "empty");
    assert.equal(parseNvmeList(local("nvme", "no-nvme.stdout.txt")).status, "unparseable");
  });

  it("merges lsblk, smartctl and nvme list; a smartctl that cannot run leaves SMART out", async () => {
    const lsblk = JSON.stringify({
      blockdevices: [
        { name: "nvme0n1", kname: "nvme0n1", type: "disk", size: 3840755982336, rota: false, tran: "nvme" },
        { name: "nvme1n1", kname: "nvme1n1", type: "disk", size: 3840755982336, rota: false, tran: "nvme" },
        {
          name: "sda",
          kname: "sda",
          type: "disk",
          size: 500107862016,
          rota: true,
          tran: "sata",
          model: "ST3500418AS",
        },
        { name: "sr0", kname: "sr0", type: "rom", size: 1073741312, rota: true, tran: "sata" },
        { name: "loop0", kname: "loop0", type: "loop", size: 1, rota: false },
      ],
    });
    const runner = new ReplayRunner({
      "lsblk -J -O -b": exited(lsblk),
      "nvme list -o json": exited(local("nvme", "list-two-pm1733.txt")),
      "smartctl -j -a /dev/nvme0n1": exited(shared("smartctl", "SAMSUNG_MZQLB1T9HAJR-00007_20.json")),
      "smartctl -j -a /dev/nvme1n1": { kind: "timeout", message: "smartctl: no answer within 60000 ms" },
      "smartctl -j -a /dev/sda": exited(shared("smartctl", "ST3500418AS_12.json"), 64),
    });
    const context = probeContext(runner);
    const disks = await probeDisks(context);
    assert.deepEqual(
      disks.map((disk) => [disk.name, disk.kind, disk.serialNumber, disk.smart?.powerOnHours]),
      [
        ["nvme0n1", "nvme", "REDACTED", 20701],
        ["nvme1n1", "nvme", "S4YPNE0R301235", undefined],
        ["sda", "hdd", "REDACTED", 44668],
      ],
    );
    assert.equal(disks[2]?.smart?.reallocatedSectors, 304);
    const reports = context.recorder.toRecord();
    assert.equal(reports["smartctl:nvme1n1"]?.status, "timeout");
    assert.equal(reports["smartctl:sda"]?.status, "ok");
    assert.equal(reports["smartctl:sda"]?.exitCode, 64);
    assert.equal(reports["nvme-list"]?.status, "ok");
  });
});
