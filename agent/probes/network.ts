/**
 * Physical network interfaces: `ip -j -d link` lists them (virtual ones carry a linkinfo kind and are
 * left out), `ip -j addr` adds addresses, `ethtool <if>` speed and link, `ethtool -i <if>` the driver,
 * firmware and PCI address.
 */
import type { Nic } from "../../src/protocol/inventory.ts";
import { LIMITS } from "../../src/protocol/inventory.ts";
import {
  cleanIdentifier,
  compact,
  isDeviceName,
  normalizeHardwareAddress,
  normalizePciAddress,
  toCount,
  Warnings,
} from "./normalize.ts";
import { type ParseResult, type ProbeContext, parsed, runTool } from "./probe.ts";

export interface Link {
  readonly name: string;
  readonly macAddress?: string;
  readonly mtu?: number;
  /** Carrier, from the LOWER_UP flag. */
  readonly linkUp: boolean;
}

type Json = Record<string, unknown>;

function object(value: unknown): Json | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function jsonArray(text: string, what: string): { entries: Json[] } | { error: string } {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return { error: `${what} output is not JSON` };
  }
  if (!Array.isArray(document)) return { error: `${what} output is not a JSON array` };
  return {
    entries: document.flatMap((entry): Json[] => {
      const item = object(entry);
      return item === undefined ? [] : [item];
    }),
  };
}

/** Parses `ip -j -d link`: Ethernet and InfiniBand interfaces without a virtual link kind. */
export function parseIpLink(text: string): ParseResult<Link[]> {
  const document = jsonArray(text, "ip link");
  if ("error" in document) return parsed([], [document.error], "unparseable");
  const warnings = new Warnings();
  const links: Link[] = [];
  for (const entry of document.entries) {
    if (entry.link_type !== "ether" && entry.link_type !== "infiniband") continue;
    if (object(entry.linkinfo)?.info_kind !== undefined) continue;
    if (!isDeviceName(entry.ifname)) {
      warnings.add(
        `ip link: skipped an interface with an unusable name (${String(entry.ifname).slice(0, 64)})`,
      );
      continue;
    }
    const flags = Array.isArray(entry.flags) ? entry.flags : [];
    links.push(
      compact<Link>({
        name: entry.ifname,
        // A bonded port shows the bond's MAC; its own is the permanent one.
        macAddress: normalizeHardwareAddress(entry.permaddr) ?? normalizeHardwareAddress(entry.address),
        mtu: toCount(entry.mtu),
        linkUp: flags.includes("LOWER_UP"),
      }),
    );
  }
  return parsed(links.slice(0, LIMITS.nics), warnings.list, links.length === 0 ? "empty" : "ok");
}

/** Parses `ip -j addr`: interface name → `address/prefix` list (link-local IPv6 left out). */
export function parseIpAddr(text: string): ParseResult<Map<string, string[]>> {
  const document = jsonArray(text, "ip addr");
  if ("error" in document) return parsed(new Map(), [document.error], "unparseable");
  const addresses = new Map<string, string[]>();
  for (const entry of document.entries) {
    if (typeof entry.ifname !== "string" || !Array.isArray(entry.addr_info)) continue;
    const list = entry.addr_info.flatMap((info): string[] => {
      const address = object(info);
      if (address === undefined || address.scope === "link" || address.scope === "host") return [];
      const local = address.local;
      const prefix = toCount(address.prefixlen);
      if (typeof local !== "string" || prefix === undefined || local.length > 45) return [];
      return [`${local}/${prefix}`];
    });
    addresses.set(entry.ifname, list.slice(0, LIMITS.addressesPerNic));
  }
  return parsed(addresses);
}

export interface EthtoolSettings {
  readonly speedMbps?: number;
  readonly linkUp?: boolean;
}

/** Parses `ethtool <if>`: "Speed: 25000Mb/s" ("Unknown!" when there is no link) and "Link detected". */
export function parseEthtool(text: string): ParseResult<EthtoolSettings> {
  if (!/^Settings for /m.test(text)) return parsed({}, ["ethtool output not understood"], "unparseable");
  const speed = /^\s*Speed:\s*(\d+)\s*Mb\/s\s*$/m.exec(text);
  const link = /^\s*Link detected:\s*(yes|no)\s*$/m.exec(text);
  return parsed(
    compact<EthtoolSettings>({
      speedMbps: toCount(speed?.[1]),
      linkUp: link === null ? undefined : link[1] === "yes",
    }),
  );
}

export interface EthtoolDriver {
  readonly driver?: string;
  readonly firmwareVersion?: string;
  readonly pciAddress?: string;
}

/** Parses `ethtool -i <if>`. */
export function parseEthtoolDriver(text: string): ParseResult<EthtoolDriver> {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const separator = line.indexOf(":");
    if (separator > 0) fields.set(line.slice(0, separator).trim(), line.slice(separator + 1).trim());
  }
  if (!fields.has("driver")) return parsed({}, ["ethtool -i output not understood"], "unparseable");
  return parsed(
    compact<EthtoolDriver>({
      driver: cleanIdentifier(fields.get("driver")),
      firmwareVersion: cleanIdentifier(fields.get("firmware-version")),
      pciAddress: normalizePciAddress(fields.get("bus-info")),
    }),
  );
}

/**
 * The interface the machine most likely booted from when iPXE did not say: up, with a global IPv4
 * address; the first by name when several qualify.
 */
export function detectBootMac(nics: readonly Nic[]): string | undefined {
  const candidates = nics
    .filter(
      (nic) => nic.linkUp !== false && nic.addresses.some((address) => /^\d+\.\d+\.\d+\.\d+\//.test(address)),
    )
    .sort((a, b) => a.name.localeCompare(b.name));
  const mac = candidates.find((nic) => nic.macAddress?.length === 17)?.macAddress;
  return mac;
}

async function ethtoolFor(context: ProbeContext, name: string): Promise<EthtoolSettings & EthtoolDriver> {
  const [settings, driver] = await Promise.all([
    (async () => {
      const output = await runTool(context, {
        name: `ethtool:${name}`,
        command: "ethtool",
        args: [name],
        contentType: "text/plain",
      });
      if (output === undefined) return {};
      const result = parseEthtool(output.stdout);
      output.finish(result);
      return result.value;
    })(),
    (async () => {
      const output = await runTool(context, {
        name: `ethtool-i:${name}`,
        command: "ethtool",
        args: ["-i", name],
        contentType: "text/plain",
      });
      if (output === undefined) return {};
      const result = parseEthtoolDriver(output.stdout);
      output.finish(result);
      return result.value;
    })(),
  ]);
  return { ...settings, ...driver };
}

export async function probeNics(context: ProbeContext): Promise<Nic[]> {
  const [links, addresses] = await Promise.all([
    (async () => {
      const output = await runTool(context, {
        name: "ip-link",
        command: "ip",
        args: ["-j", "-d", "link"],
        contentType: "application/json",
      });
      if (output === undefined) return [];
      const result = parseIpLink(output.stdout);
      output.finish(result);
      return result.value;
    })(),
    (async () => {
      const output = await runTool(context, {
        name: "ip-addr",
        command: "ip",
        args: ["-j", "addr"],
        contentType: "application/json",
      });
      if (output === undefined) return new Map<string, string[]>();
      const result = parseIpAddr(output.stdout);
      output.finish(result);
      return result.value;
    })(),
  ]);
  const details = await Promise.all(links.map((link) => ethtoolFor(context, link.name)));
  return links.map((link, index) => {
    const detail = details[index] ?? {};
    return compact<Nic>({
      name: link.name,
      macAddress: link.macAddress,
      speedMbps: detail.speedMbps,
      driver: detail.driver,
      firmwareVersion: detail.firmwareVersion,
      linkUp: detail.linkUp ?? link.linkUp,
      pciAddress: detail.pciAddress,
      mtu: link.mtu,
      addresses: addresses.get(link.name) ?? [],
    });
  });
}
