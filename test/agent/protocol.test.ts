import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import Value from "typebox/value";
import { parseIpmitoolLanPrint } from "../../agent/probes/bmc.ts";
import { parseCpuinfo, parseLscpuJson } from "../../agent/probes/cpu.ts";
import { mergeDisk, parseLsblkJson } from "../../agent/probes/disks.ts";
import { parseDmidecode } from "../../agent/probes/dmi.ts";
import { parseNvidiaSmiXml } from "../../agent/probes/gpu.ts";
import { parseEthtool, parseEthtoolDriver, parseIpLink } from "../../agent/probes/network.ts";
import { parseLspciVmm } from "../../agent/probes/pci.ts";
import { parseSmartctlJson } from "../../agent/probes/smartctl.ts";
import {
  ENROLL_PATH,
  type EnrollmentRequest,
  EnrollmentRequestSchema,
  EnrollmentResponseSchema,
} from "../../src/protocol/enrollment.ts";
import { type HardwareInventory, LIMITS } from "../../src/protocol/inventory.ts";
import { local, serverValidator, shared } from "./helpers.ts";

const validateRequest = serverValidator(EnrollmentRequestSchema);
const validateResponse = serverValidator(EnrollmentResponseSchema);

/** A full request built by the real parsers from the captures. */
function sampleRequest(): EnrollmentRequest {
  const dmi = parseDmidecode(local("dmi", "dell-r760.txt")).value;
  const inventory: HardwareInventory = {
    system: dmi.system,
    cpu: parseLscpuJson(shared("probes", "h100-vm", "lscpu.json")).value,
    memory: {
      totalBytes: 131981020 * 1024,
      installedBytes: 128 * 1024 ** 3,
      slotCount: 4,
      dimms: [...dmi.dimms],
    },
    disks: [
      mergeDisk(
        { name: "nvme0n1", sizeBytes: 1920383410176, rotational: false, transport: "nvme" },
        parseSmartctlJson(shared("smartctl", "SAMSUNG_MZQLB1T9HAJR-00007_20.json")).value,
      ),
    ],
    nics: [
      {
        name: "eno1",
        macAddress: "b8:3f:d2:11:22:34",
        speedMbps: 25000,
        driver: "ice",
        linkUp: true,
        pciAddress: "0000:1a:00.0",
        mtu: 1500,
        addresses: ["10.0.0.5/24"],
      },
    ],
    gpus: parseNvidiaSmiXml(shared("nvidia-smi", "h100-80gb-hbm3.q.xml")).value,
    pciDevices: parseLspciVmm(local("lspci", "gpu-server.txt")).value,
    bmc: parseIpmitoolLanPrint(local("ipmitool", "lan-print-dhcp.txt")).value,
  };
  return {
    agentVersion: "0.1.0",
    bootMac: "b8:3f:d2:11:22:34",
    bootMacSource: "cmdline",
    collectedAt: "2026-11-23T16:40:10.000Z",
    inventory,
    probes: {
      lscpu: {
        status: "ok",
        command: "lscpu -J",
        exitCode: 0,
        durationMs: 12,
        warnings: [],
        output: { contentType: "application/json", text: "{}", truncated: false },
      },
      "smartctl:nvme0n1": { status: "ok", durationMs: 80, warnings: [] },
      "ethtool-i:eno1": { status: "missing", durationMs: 1, warnings: ["ethtool: not installed"] },
    },
  };
}

type Mutation = (request: EnrollmentRequest & Record<string, unknown>) => void;

function rejected(mutate: Mutation): boolean {
  const request = structuredClone(sampleRequest()) as EnrollmentRequest & Record<string, unknown>;
  mutate(request);
  return !validateRequest(request) && !Value.Check(EnrollmentRequestSchema, request);
}

describe("agent protocol v1", () => {
  it("is served at /agent/v1/enroll", () => {
    assert.equal(ENROLL_PATH, "/agent/v1/enroll");
  });

  it("accepts a full request built from real captures, in the server's validator and TypeBox alike", () => {
    const request = sampleRequest();
    assert.ok(validateRequest(request), JSON.stringify(validateRequest.errors));
    assert.ok(Value.Check(EnrollmentRequestSchema, request));
  });

  it("refuses unknown fields at every level", () => {
    assert.ok(rejected((request) => Object.assign(request, { extra: 1 })));
    assert.ok(rejected((request) => Object.assign(request.inventory, { extra: 1 })));
    assert.ok(rejected((request) => Object.assign(request.inventory.system, { hostname: "x" })));
    assert.ok(rejected((request) => Object.assign(request.inventory.disks[0] ?? {}, { extra: 1 })));
    assert.ok(rejected((request) => Object.assign(request.inventory.disks[0]?.smart ?? {}, { extra: 1 })));
    assert.ok(rejected((request) => Object.assign(request.probes.lscpu ?? {}, { extra: 1 })));
    assert.ok(rejected((request) => Object.assign(request.probes.lscpu?.output ?? {}, { extra: 1 })));
  });

  it("refuses oversized strings, arrays and records", () => {
    assert.ok(
      rejected((request) => Object.assign(request.inventory.system, { serialNumber: "S".repeat(129) })),
    );
    assert.ok(
      rejected((request) => Object.assign(request.inventory.system, { productName: "P".repeat(257) })),
    );
    assert.ok(
      rejected((request) => {
        const disk = request.inventory.disks[0];
        if (disk) request.inventory.disks = Array.from({ length: LIMITS.disks + 1 }, () => disk);
      }),
    );
    assert.ok(
      rejected((request) => {
        const nic = request.inventory.nics[0];
        if (nic) nic.addresses = Array.from({ length: LIMITS.addressesPerNic + 1 }, () => "10.0.0.1/24");
      }),
    );
    assert.ok(
      rejected((request) =>
        Object.assign(request.probes.lscpu?.output ?? {}, { text: "x".repeat(LIMITS.probeOutput + 1) }),
      ),
    );
    assert.ok(
      rejected((request) => {
        for (let index = 0; index <= LIMITS.probes; index += 1) {
          request.probes[`smartctl:sd${index}`] = { status: "ok", durationMs: 1, warnings: [] };
        }
      }),
    );
    assert.ok(
      rejected((request) =>
        Object.assign(request.probes.lscpu ?? {}, { warnings: Array.from({ length: 33 }, () => "w") }),
      ),
    );
  });

  it("refuses malformed values", () => {
    assert.ok(rejected((request) => Object.assign(request, { bootMac: "B8:3F:D2:11:22:34" })));
    assert.ok(rejected((request) => Object.assign(request, { bootMac: "b8-3f-d2-11-22-34" })));
    assert.ok(rejected((request) => Object.assign(request, { bootMacSource: "guessed" })));
    assert.ok(rejected((request) => Object.assign(request.inventory.system, { uuid: "not-a-uuid" })));
    assert.ok(rejected((request) => Object.assign(request.inventory.disks[0] ?? {}, { kind: "tape" })));
    assert.ok(rejected((request) => Object.assign(request.inventory.disks[0] ?? {}, { sizeBytes: -1 })));
    assert.ok(rejected((request) => Object.assign(request.inventory.disks[0] ?? {}, { name: "../etc" })));
    assert.ok(rejected((request) => Object.assign(request.inventory.gpus[0] ?? {}, { pciBusId: "00:06.0" })));
    assert.ok(rejected((request) => Object.assign(request.inventory.bmc ?? {}, { ipAddress: "10.0.0.256" })));
    assert.ok(rejected((request) => Object.assign(request.probes, { "Bad Name": request.probes.lscpu })));
    assert.ok(rejected((request) => Object.assign(request.probes.lscpu ?? {}, { status: "great" })));
    assert.ok(rejected((request) => Object.assign(request, { collectedAt: "yesterday" })));
    assert.ok(
      rejected((request) => {
        delete (request as Partial<EnrollmentRequest>).bootMac;
      }),
    );
  });

  it("bounds every string, array and record, and closes every object", () => {
    const problems: string[] = [];
    const visit = (schema: unknown, at: string): void => {
      if (typeof schema !== "object" || schema === null) return;
      const node = schema as Record<string, unknown>;
      if (node.type === "string" && node.const === undefined) {
        const pattern = typeof node.pattern === "string" ? node.pattern : "";
        const boundedPattern = /^\^.*\$$/.test(pattern) && !/[*+]/.test(pattern);
        if (typeof node.maxLength !== "number" && !boundedPattern) problems.push(`${at}: unbounded string`);
      }
      if (node.type === "array" && typeof node.maxItems !== "number") problems.push(`${at}: unbounded array`);
      if (node.type === "object") {
        if (node.additionalProperties !== false) problems.push(`${at}: open object`);
        if (node.patternProperties !== undefined && typeof node.maxProperties !== "number") {
          problems.push(`${at}: unbounded record`);
        }
      }
      for (const [key, child] of Object.entries(node)) visit(child, `${at}/${key}`);
    };
    visit(EnrollmentRequestSchema, "#");
    visit(EnrollmentResponseSchema, "#");
    assert.deepEqual(problems, []);
  });

  it("describes the server's answer: machine, state and the next action", () => {
    assert.ok(validateResponse({ machineId: "m-1", state: "enrolled", next: { action: "idle" } }));
    assert.ok(
      validateResponse({ machineId: "m-1", state: "enrolled", next: { action: "poweroff", message: "bye" } }),
    );
    assert.ok(!validateResponse({ machineId: "m-1", state: "enrolled", next: { action: "format-disks" } }));
    assert.ok(!validateResponse({ machineId: "m-1", state: "enrolled", next: { action: "idle" }, extra: 1 }));
    assert.ok(!validateResponse({ machineId: "", state: "enrolled", next: { action: "idle" } }));
  });

  it("whatever the tools print, the parsers never throw and their results fit the schema", () => {
    const value = fc.oneof(
      fc.string({ maxLength: 400, size: "max" }),
      fc.string({ unit: "binary", maxLength: 300, size: "max" }),
      fc.constantFrom(
        "32 GB",
        "4800 MT/s",
        "To be filled by O.E.M.",
        "0000:17:00.0",
        "10.0.0.1",
        "aa:bb:cc:dd:ee:ff",
      ),
    );
    const fields = (keys: string[]) => fc.array(fc.tuple(fc.constantFrom(...keys), value), { maxLength: 12 });
    const dmidecodeLike = fc
      .tuple(
        fc.constantFrom(0, 1, 2, 3, 4, 17),
        fields([
          "Manufacturer",
          "Product Name",
          "Serial Number",
          "UUID",
          "SKU Number",
          "Family",
          "Vendor",
          "Version",
          "Release Date",
          "Size",
          "Locator",
          "Bank Locator",
          "Type",
          "Speed",
          "Part Number",
          "Status",
        ]),
      )
      .map(
        ([type, pairs]) =>
          `Handle 0x0100, DMI type ${type}, 27 bytes\nTitle\n${pairs.map(([key, text]) => `\t${key}: ${text}`).join("\n")}`,
      );
    const lspciLike = fields(["Class", "Vendor", "Device", "SVendor", "SDevice", "Rev", "Driver"]).map(
      (pairs) => `Slot:\t0000:17:00.0\n${pairs.map(([key, text]) => `${key}:\t${text}`).join("\n")}`,
    );
    const ipmitoolLike = fields([
      "IP Address Source",
      "IP Address",
      "MAC Address",
      "Subnet Mask",
      "Default Gateway IP",
      "802.1q VLAN ID",
    ]).map((pairs) => pairs.map(([key, text]) => `${key.padEnd(24)}: ${text}`).join("\n"));
    const jsonLike = fc.oneof(
      fc.json({ maxDepth: 3 }),
      fc
        .record({
          blockdevices: fc.array(
            fc.record({
              name: value,
              kname: value,
              type: fc.constant("disk"),
              size: fc.oneof(fc.nat(), value),
              model: value,
              serial: value,
              wwn: value,
              tran: value,
              rota: fc.boolean(),
            }),
          ),
        })
        .map((document) => JSON.stringify(document)),
      fc
        .record({
          smartctl: fc.record({ exit_status: fc.nat(255) }),
          model_name: value,
          serial_number: value,
          device: fc.record({ protocol: fc.constantFrom("ATA", "SCSI", "NVMe") }),
          temperature: fc.record({ current: fc.integer() }),
          power_on_time: fc.record({ hours: fc.oneof(fc.nat(), fc.double()) }),
        })
        .map((document) => JSON.stringify(document)),
    );
    const text = fc.oneof(value, dmidecodeLike, lspciLike, ipmitoolLike, jsonLike);
    const base = sampleRequest();
    fc.assert(
      fc.property(text, (raw) => {
        const request = { ...base };
        const dmi = parseDmidecode(raw).value;
        const lsblk = parseLsblkJson(raw).value;
        const smart = parseSmartctlJson(raw).value;
        request.inventory = {
          system: dmi.system,
          cpu: { ...parseCpuinfo(raw).value, ...parseLscpuJson(raw).value },
          memory: { dimms: [...dmi.dimms] },
          disks: lsblk.map((disk) => mergeDisk(disk, smart)),
          nics: parseIpLink(raw).value.map((link) => ({
            ...link,
            ...parseEthtool(raw).value,
            ...parseEthtoolDriver(raw).value,
            addresses: [],
          })),
          gpus: parseNvidiaSmiXml(raw).value,
          pciDevices: parseLspciVmm(raw).value,
          bmc: parseIpmitoolLanPrint(raw).value,
        };
        assert.ok(validateRequest(request), JSON.stringify(validateRequest.errors));
      }),
      { numRuns: 300, endOnFailure: true },
    );
  });
});
