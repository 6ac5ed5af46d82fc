import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { collectInventory } from "../../../agent/inventory.ts";
import { parseCpuinfo, parseLscpuJson } from "../../../agent/probes/cpu.ts";
import { parseLsblkJson } from "../../../agent/probes/disks.ts";
import { parseMeminfo } from "../../../agent/probes/memory.ts";
import { EnrollmentRequestSchema } from "../../../src/protocol/enrollment.ts";
import { exited, local, MapFileReader, ReplayRunner, serverValidator, shared } from "../helpers.ts";

const vm = (file: string): string => shared("probes", "h100-vm", file);

describe("probes on the H100 VM captures", () => {
  it("lscpu -J: model, vendor, architecture, topology", () => {
    const result = parseLscpuJson(vm("lscpu.json"));
    assert.equal(result.status, "ok");
    assert.deepEqual(result.value, {
      model: "Intel(R) Xeon(R) Processor",
      vendor: "GenuineIntel",
      architecture: "x86_64",
      sockets: 1,
      cores: 16,
      threads: 16,
    });
  });

  it("lscpu -J in the nested layout of util-linux 2.38+ gives the same fields", () => {
    const nested = JSON.stringify({
      lscpu: [
        { field: "Architecture:", data: "aarch64" },
        { field: "CPU(s):", data: "144" },
        {
          field: "Vendor ID:",
          data: "ARM",
          children: [
            {
              field: "Model name:",
              data: "Neoverse-V2",
              children: [
                { field: "Core(s) per socket:", data: "72" },
                { field: "Socket(s):", data: "2" },
                { field: "CPU max MHz:", data: "3447.0000" },
              ],
            },
          ],
        },
      ],
    });
    assert.deepEqual(parseLscpuJson(nested).value, {
      model: "Neoverse-V2",
      vendor: "ARM",
      architecture: "aarch64",
      sockets: 2,
      cores: 144,
      threads: 144,
      mhz: 3447,
    });
  });

  it("/proc/cpuinfo: the same CPU, plus the MHz lscpu leaves out in this VM", () => {
    const result = parseCpuinfo(vm("cpuinfo.txt"));
    assert.deepEqual(result.value, {
      model: "Intel(R) Xeon(R) Processor",
      vendor: "GenuineIntel",
      sockets: 1,
      cores: 16,
      threads: 16,
      mhz: 2100,
    });
  });

  it("/proc/meminfo: MemTotal in bytes", () => {
    assert.deepEqual(parseMeminfo(vm("meminfo.txt")).value, { totalBytes: 131981020 * 1024 });
    assert.equal(parseMeminfo("MemFree: 12 kB\n").status, "unparseable");
  });

  it("lsblk -J -O -b: the two virtio disks, not zram", () => {
    const result = parseLsblkJson(vm("lsblk.json"));
    assert.equal(result.status, "ok");
    assert.deepEqual(result.value, [
      { name: "vda", sizeBytes: 274877906944, rotational: true, transport: "virtio" },
      { name: "vdb", sizeBytes: 318332928, rotational: true, transport: "virtio" },
    ]);
  });

  it("refuses malformed lscpu, lsblk and cpuinfo without throwing", () => {
    for (const text of ["", "{", "[]", '{"lscpu": 3}', '{"blockdevices": {}}']) {
      assert.equal(parseLscpuJson(text).status, "unparseable", text);
      assert.equal(parseLsblkJson(text).status, "unparseable", text);
    }
    assert.equal(parseCpuinfo("garbage").status, "unparseable");
  });

  it("collects a schema-valid inventory from the VM with no DMI tables: identity empty, warnings recorded", async () => {
    const smartctlVirtio = exited(local("smartctl", "virtio-vda.txt"), 1);
    const runner = new ReplayRunner({
      dmidecode: exited(local("dmi", "no-dmi.stdout.txt"), 1, local("dmi", "no-dmi.stderr.txt")),
      "lscpu -J": exited(vm("lscpu.json")),
      "lsblk -J -O -b": exited(vm("lsblk.json")),
      "smartctl -j -a /dev/vda": smartctlVirtio,
      "smartctl -j -a /dev/vdb": smartctlVirtio,
      "ip -j -d link": exited(local("ip", "link-vm.txt")),
      "ip -j addr": exited(local("ip", "addr-vm.txt")),
      "ethtool eth0": exited(local("ethtool", "virtio-eth0.txt")),
      "ethtool -i eth0": exited(local("ethtool", "virtio-eth0.driver.txt")),
      "lspci -vmm -nn -k -D": exited(local("lspci", "vm.txt")),
      "ipmitool lan print": exited("", 1, local("ipmitool", "no-bmc.stderr.txt")),
    });
    const files = new MapFileReader({
      "/proc/meminfo": vm("meminfo.txt"),
      "/proc/cpuinfo": vm("cpuinfo.txt"),
    });
    const { inventory, probes } = await collectInventory({
      runner,
      files,
      deadlineMs: 30_000,
      timeouts: { commandMs: 5_000, slowCommandMs: 5_000 },
      outputBudgetBytes: 1024 * 1024,
    });

    assert.deepEqual(inventory.system, {});
    assert.equal(inventory.memory.totalBytes, 131981020 * 1024);
    assert.deepEqual(inventory.memory.dimms, []);
    assert.equal(inventory.cpu.mhz, 2100);
    assert.equal(inventory.cpu.cores, 16);
    assert.deepEqual(
      inventory.disks.map((disk) => [disk.name, disk.kind, disk.smart]),
      [
        ["vda", "hdd", undefined],
        ["vdb", "hdd", undefined],
      ],
    );
    assert.deepEqual(inventory.nics, [
      {
        name: "eth0",
        macAddress: "02:fc:00:00:00:01",
        driver: "virtio_net",
        linkUp: true,
        pciAddress: "0000:00:03.0",
        mtu: 1400,
        addresses: ["192.0.2.2/24", "fd00::2/64"],
      },
    ]);
    assert.deepEqual(inventory.gpus, []);
    assert.equal(inventory.bmc, undefined);
    assert.equal(inventory.pciDevices.length, 6);

    assert.equal(probes.dmidecode?.status, "failed");
    assert.match(
      probes.dmidecode?.warnings[0] ?? "",
      /dmidecode exited with 1: \/dev\/mem: No such file or directory/,
    );
    assert.equal(probes["dmi-sysfs"]?.status, "missing");
    assert.equal(probes["smartctl:vda"]?.status, "failed");
    assert.equal(probes["nvidia-smi"]?.status, "missing");
    assert.equal(probes["ipmitool-lan"]?.status, "failed");
    assert.match(probes["ipmitool-lan"]?.stderr ?? "", /Could not open device at \/dev\/ipmi0/);
    assert.equal(probes.lscpu?.output?.contentType, "application/json");
    assert.equal(probes.lscpu?.output?.text, vm("lscpu.json"));

    const validate = serverValidator(EnrollmentRequestSchema);
    const request = {
      agentVersion: "0.1.0",
      bootMac: "02:fc:00:00:00:01",
      bootMacSource: "detected",
      collectedAt: new Date().toISOString(),
      inventory,
      probes,
    };
    assert.ok(validate(request), JSON.stringify(validate.errors));
  });
});
