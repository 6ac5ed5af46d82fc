import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { normalizeBiosDate, parseDmidecode, parseSysfsDmi, probeDmi } from "../../../agent/probes/dmi.ts";
import { RootedFileReader } from "../../../agent/probes/exec.ts";
import { AGENT_FIXTURES, exited, local, probeContext, ReplayRunner } from "../helpers.ts";

const R760_SYSTEM = {
  manufacturer: "Dell Inc.",
  productName: "PowerEdge R760",
  family: "PowerEdge",
  serialNumber: "9KD3QF3",
  uuid: "4c4c4544-004b-4410-8033-b9c04f514633",
  sku: "SKU=0AF8;ModelName=PowerEdge R760",
  biosVendor: "Dell Inc.",
  biosVersion: "1.6.6",
  biosDate: "2023-11-28",
  chassisSerial: "9KD3QF3",
  boardManufacturer: "Dell Inc.",
  boardProduct: "0P9RNW",
  boardSerial: ".9KD3QF3.CNFCP0038C00XY.",
};

describe("dmidecode parser", () => {
  it("reads a Dell R760: identity with the service tag, two 64 GB DDR5 modules in four slots", () => {
    const result = parseDmidecode(local("dmi", "dell-r760.txt"));
    assert.equal(result.status, "ok");
    assert.deepEqual(result.warnings, []);
    assert.deepEqual(result.value.system, R760_SYSTEM);
    assert.equal(result.value.slotCount, 4);
    assert.equal(result.value.populatedSockets, 2);
    assert.deepEqual(result.value.dimms, [
      {
        locator: "A1",
        sizeBytes: 64 * 1024 ** 3,
        type: "DDR5",
        formFactor: "DIMM",
        speedMts: 4800,
        configuredSpeedMts: 4800,
        manufacturer: "00AD063200AD",
        serialNumber: "8A1F2C3D",
        partNumber: "HMCG94AEBRA109N",
      },
      {
        locator: "B1",
        sizeBytes: 64 * 1024 ** 3,
        type: "DDR5",
        formFactor: "DIMM",
        speedMts: 4800,
        configuredSpeedMts: 4800,
        manufacturer: "00AD063200AD",
        serialNumber: "8A1F2C4E",
        partNumber: "HMCG94AEBRA109N",
      },
    ]);
  });

  it("drops unprogrammed OEM placeholders: 'To be filled by O.E.M.', 'Family', the AMI default UUID", () => {
    const { system, dimms } = parseDmidecode(local("dmi", "supermicro-gpu.txt")).value;
    assert.deepEqual(system, {
      manufacturer: "Supermicro",
      productName: "SYS-421GE-TNRT",
      serialNumber: "S812345X3A01234",
      biosVendor: "American Megatrends International, LLC.",
      biosVersion: "2.1",
      biosDate: "2024-04-11",
      boardManufacturer: "Supermicro",
      boardProduct: "X13DEG-OAD",
      boardSerial: "OM23BS012345",
    });
    assert.deepEqual(
      dimms.map((dimm) => [dimm.locator, dimm.bankLocator, dimm.sizeBytes, dimm.manufacturer]),
      [
        ["P1-DIMMA1", "P0_Node0_Channel0_Dimm0", 32 * 1024 ** 3, "Samsung"],
        ["P2-DIMMA1", "P1_Node1_Channel0_Dimm0", 32 * 1024 ** 3, "Samsung"],
      ],
    );
  });

  it("reports no table as empty (the VM capture), and older 'MHz' speeds and MB sizes", () => {
    const none = parseDmidecode(local("dmi", "no-dmi.stdout.txt"));
    assert.equal(none.status, "empty");
    assert.deepEqual(none.value, { system: {}, dimms: [] });
    const older = parseDmidecode(
      "Handle 0x1100, DMI type 17, 40 bytes\nMemory Device\n\tSize: 16384 MB\n\tLocator: DIMM_A1\n" +
        "\tSpeed: 2933 MHz\n\tConfigured Clock Speed: 2666 MHz\n\tSerial Number: Not Specified\n" +
        "\nHandle 0x1101, DMI type 17, 40 bytes\nMemory Device\n\tSize: 48 XB\n\tLocator: DIMM_A2\n",
    );
    assert.deepEqual(older.value.dimms, [
      { locator: "DIMM_A1", sizeBytes: 16 * 1024 ** 3, speedMts: 2933, configuredSpeedMts: 2666 },
    ]);
    assert.deepEqual(older.warnings, ['memory device DIMM_A2: size "48 XB" not understood']);
  });

  it("normalizes BIOS dates given as MM/DD/YYYY and keeps others as they are", () => {
    assert.equal(normalizeBiosDate("04/09/2020"), "2020-04-09");
    assert.equal(normalizeBiosDate("2020-04-09"), "2020-04-09");
    assert.equal(normalizeBiosDate("Not Specified"), undefined);
  });
});

describe("DMI probe", () => {
  it("falls back to /sys/class/dmi/id when dmidecode is missing", async () => {
    const files = new RootedFileReader(path.join(AGENT_FIXTURES, "sysfs-dmi"));
    const context = probeContext(new ReplayRunner({}), files);
    const dmi = await probeDmi(context);
    assert.deepEqual(dmi, { system: R760_SYSTEM, dimms: [] });
    const reports = context.recorder.toRecord();
    assert.equal(reports.dmidecode?.status, "missing");
    assert.equal(reports["dmi-sysfs"]?.status, "ok");
    assert.match(reports["dmi-sysfs"]?.output?.text ?? "", /^sys_vendor: Dell Inc\.$/m);
  });

  it("uses dmidecode when it works and does not read sysfs", async () => {
    const runner = new ReplayRunner({ dmidecode: exited(local("dmi", "dell-r760.txt")) });
    const context = probeContext(runner, new RootedFileReader("/nonexistent"));
    const dmi = await probeDmi(context);
    assert.equal(dmi.system.serialNumber, "9KD3QF3");
    assert.equal(context.recorder.has("dmi-sysfs"), false);
  });

  it("reports a machine with neither dmidecode output nor sysfs DMI without failing", async () => {
    const runner = new ReplayRunner({
      dmidecode: exited(local("dmi", "no-dmi.stdout.txt"), 1, local("dmi", "no-dmi.stderr.txt")),
    });
    const context = probeContext(runner, new RootedFileReader("/nonexistent"));
    assert.deepEqual(await probeDmi(context), { system: {}, dimms: [] });
    const reports = context.recorder.toRecord();
    assert.equal(reports.dmidecode?.status, "failed");
    assert.equal(reports["dmi-sysfs"]?.status, "missing");
    assert.deepEqual(reports["dmi-sysfs"]?.warnings, ["/sys/class/dmi/id: not present (no DMI tables)"]);
  });

  it("parses sysfs values with placeholders as unknown", () => {
    const result = parseSysfsDmi({
      sys_vendor: "QEMU\n",
      product_serial: "Not Specified\n",
      product_uuid: "x",
    });
    assert.deepEqual(result.value, { manufacturer: "QEMU" });
    assert.equal(parseSysfsDmi({}).status, "empty");
  });
});
