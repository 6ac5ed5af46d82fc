/** PCI devices from `lspci -vmm -nn -k -D`: names with their numeric ids, and the bound driver. */
import type { PciDevice } from "../../src/protocol/inventory.ts";
import { LIMITS } from "../../src/protocol/inventory.ts";
import { cleanIdentifier, cleanText, compact, normalizePciAddress, Warnings } from "./normalize.ts";
import { type ParseResult, type ProbeContext, parsed, runTool } from "./probe.ts";

/** "Ethernet controller [0200]" → name and id; the id is the last bracket (names contain brackets too). */
function nameAndId(value: string | undefined): { name?: string; id?: string } {
  if (value === undefined) return {};
  const match = /^(.*?)\s*\[([0-9a-fA-F]{4})\]$/.exec(value.trim());
  if (match === null) return compact({ name: cleanText(value) });
  return compact({ name: cleanText(match[1]), id: match[2]?.toLowerCase() });
}

/** Parses `lspci -vmm -nn [-k] [-D]`: records of `Key:<tab>Value` separated by blank lines. */
export function parseLspciVmm(text: string): ParseResult<PciDevice[]> {
  const warnings = new Warnings();
  const devices: PciDevice[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of block.split("\n")) {
      const match = /^(\w+):\s+(.*)$/.exec(line);
      if (match?.[1] !== undefined && match[2] !== undefined && !fields.has(match[1])) {
        fields.set(match[1], match[2]);
      }
    }
    const rawSlot = fields.get("Slot");
    if (rawSlot === undefined) continue;
    const slot = normalizePciAddress(rawSlot);
    if (slot === undefined) {
      warnings.add(`lspci: slot "${rawSlot.slice(0, 64)}" not understood`);
      continue;
    }
    const pciClass = nameAndId(fields.get("Class"));
    const vendor = nameAndId(fields.get("Vendor"));
    const device = nameAndId(fields.get("Device"));
    const subsystemVendor = nameAndId(fields.get("SVendor"));
    const subsystemDevice = nameAndId(fields.get("SDevice"));
    const revision = fields.get("Rev")?.trim().toLowerCase();
    devices.push(
      compact<PciDevice>({
        slot,
        classId: pciClass.id,
        className: pciClass.name,
        vendorId: vendor.id,
        vendorName: vendor.name,
        deviceId: device.id,
        deviceName: device.name,
        subsystemVendorId: subsystemVendor.id,
        subsystemDeviceId: subsystemDevice.id,
        revision: revision !== undefined && /^[0-9a-f]{2}$/.test(revision) ? revision : undefined,
        driver: cleanIdentifier(fields.get("Driver")),
      }),
    );
  }
  if (devices.length === 0 && text.trim() !== "") {
    warnings.add("lspci output not understood");
    return parsed([], warnings.list, "unparseable");
  }
  if (devices.length > LIMITS.pciDevices) {
    warnings.add(`lspci: ${devices.length} devices, reporting ${LIMITS.pciDevices}`);
  }
  return parsed(devices.slice(0, LIMITS.pciDevices), warnings.list, devices.length === 0 ? "empty" : "ok");
}

export async function probePci(context: ProbeContext): Promise<PciDevice[]> {
  const output = await runTool(context, {
    name: "lspci",
    command: "lspci",
    args: ["-vmm", "-nn", "-k", "-D"],
    contentType: "text/plain",
  });
  if (output === undefined) return [];
  const result = parseLspciVmm(output.stdout);
  output.finish(result);
  return result.value;
}
