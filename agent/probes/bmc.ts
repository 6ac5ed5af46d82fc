/**
 * The BMC's LAN settings from `ipmitool lan print` through the in-band interface (/dev/ipmi0): how the
 * server will reach this machine's BMC once it is enrolled. No BMC (a VM, a desktop) is not an error.
 */
import type { BmcInfo, BmcIpSource } from "../../src/protocol/inventory.ts";
import { compact, normalizeMac } from "./normalize.ts";
import { type ParseResult, type ProbeContext, parsed, runTool } from "./probe.ts";

const IP_SOURCES: ReadonlyArray<readonly [RegExp, BmcIpSource]> = [
  [/^static/i, "static"],
  [/^dhcp/i, "dhcp"],
  [/^bios/i, "bios"],
  [/^other/i, "other"],
  [/^unspecified/i, "unspecified"],
];

function ipv4(value: string | undefined): string | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(value?.trim() ?? "");
  if (match === null) return undefined;
  const octets = match.slice(1).map(Number);
  if (octets.some((octet) => octet > 255)) return undefined;
  const address = octets.join(".");
  return address === "0.0.0.0" ? undefined : address;
}

/** Parses `ipmitool lan print [channel]`: `Name<padding>: value` lines (continuation lines start blank). */
export function parseIpmitoolLanPrint(text: string): ParseResult<BmcInfo> {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^(\S[^:]*?)\s*:\s?(.*)$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined && !fields.has(match[1])) {
      fields.set(match[1], match[2].trim());
    }
  }
  if (!fields.has("IP Address") && !fields.has("MAC Address")) {
    return parsed({}, ["ipmitool lan print output has no IP or MAC address"], "unparseable");
  }
  const source = fields.get("IP Address Source") ?? "";
  const vlan = /^(\d+)$/.exec(fields.get("802.1q VLAN ID") ?? "");
  const vlanId = vlan === null ? undefined : Number(vlan[1]);
  return parsed(
    compact<BmcInfo>({
      ipAddress: ipv4(fields.get("IP Address")),
      ipSource: IP_SOURCES.find(([pattern]) => pattern.test(source))?.[1],
      macAddress: normalizeMac(fields.get("MAC Address")),
      subnetMask: ipv4(fields.get("Subnet Mask")),
      defaultGateway: ipv4(fields.get("Default Gateway IP")),
      vlanId: vlanId !== undefined && vlanId >= 1 && vlanId <= 4094 ? vlanId : undefined,
    }),
  );
}

export async function probeBmc(context: ProbeContext): Promise<BmcInfo | undefined> {
  const output = await runTool(context, {
    name: "ipmitool-lan",
    command: "ipmitool",
    args: ["lan", "print"],
    contentType: "text/plain",
    slow: true,
  });
  if (output === undefined) return undefined;
  const result = parseIpmitoolLanPrint(output.stdout);
  output.finish(result);
  return Object.keys(result.value).length > 0 ? result.value : undefined;
}
