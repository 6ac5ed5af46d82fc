import { isIPv4 } from "node:net";

/**
 * The typed DHCP settings of the boot service (`--dhcp*` flags): Ingot either hands out addresses itself
 * (`full`), or only adds boot information beside a DHCP server it does not control (`proxy`).
 */
export const DHCP_MODES = ["off", "full", "proxy"] as const;
export type DhcpMode = (typeof DHCP_MODES)[number];

/** iPXE builds for x86-64 UEFI: `ipxe.efi` carries its own NIC drivers, `snponly.efi` uses the firmware's. */
export const UEFI_BINARIES = ["ipxe.efi", "snponly.efi"] as const;
export type UefiBinary = (typeof UEFI_BINARIES)[number];

export const DEFAULT_LEASE_SECONDS = 3600;

export interface Ipv4Range {
  readonly start: string;
  readonly end: string;
}

export interface Ipv4Subnet {
  /** Network address (host bits cleared). */
  readonly network: string;
  readonly prefixLength: number;
  readonly netmask: string;
}

interface DhcpCommon {
  /** The one interface dnsmasq binds to. */
  readonly interface: string;
  /** Answer only MACs on the allowlist. */
  readonly allowlist: boolean;
  readonly uefiBinary: UefiBinary;
}

export interface FullDhcpConfig extends DhcpCommon {
  readonly mode: "full";
  readonly range: Ipv4Range;
  /** Netmask source; undefined lets dnsmasq take the mask of the interface's address. */
  readonly subnet: Ipv4Subnet | undefined;
  /** Default gateway handed out; undefined lets dnsmasq offer its own address. */
  readonly router: string | undefined;
  readonly dns: readonly string[];
  readonly leaseSeconds: number;
}

export interface ProxyDhcpConfig extends DhcpCommon {
  readonly mode: "proxy";
  /** The network the existing DHCP server serves. */
  readonly subnet: Ipv4Subnet;
}

export type ActiveDhcpConfig = FullDhcpConfig | ProxyDhcpConfig;
export type DhcpConfig = { readonly mode: "off" } | ActiveDhcpConfig;

/** The option values `dhcpConfig` reads, as resolved from flags, environment and config file. */
export interface DhcpOptionValues {
  readonly dhcp: DhcpMode;
  readonly dhcpInterface: string | undefined;
  readonly dhcpRange: Ipv4Range | undefined;
  readonly dhcpSubnet: Ipv4Subnet | undefined;
  readonly dhcpRouter: string | undefined;
  readonly dhcpDns: readonly string[] | undefined;
  readonly dhcpAllowlist: boolean;
  readonly dhcpUefiBinary: UefiBinary;
}

/** Cross-checks the `--dhcp*` options; pushes one line per problem, like the rest of the server config. */
export function dhcpConfig(values: DhcpOptionValues, problems: string[]): DhcpConfig {
  const common = {
    interface: values.dhcpInterface ?? "",
    allowlist: values.dhcpAllowlist,
    uefiBinary: values.dhcpUefiBinary,
  };
  const fullOnly = [
    ["--dhcp-range", values.dhcpRange],
    ["--dhcp-router", values.dhcpRouter],
    ["--dhcp-dns", values.dhcpDns],
  ] as const;
  switch (values.dhcp) {
    case "off": {
      const given = [
        ["--dhcp-interface", values.dhcpInterface],
        ["--dhcp-subnet", values.dhcpSubnet],
        ...fullOnly,
      ]
        .filter(([, value]) => value !== undefined)
        .map(([flag]) => flag);
      if (given.length > 0) problems.push(`${given.join(", ")}: only used with --dhcp full or --dhcp proxy`);
      return { mode: "off" };
    }
    case "full": {
      if (values.dhcpInterface === undefined) problems.push("--dhcp full needs --dhcp-interface");
      if (values.dhcpRange === undefined) problems.push("--dhcp full needs --dhcp-range <start,end>");
      const range = values.dhcpRange ?? { start: "0.0.0.0", end: "0.0.0.0" };
      const subnet = values.dhcpSubnet;
      if (values.dhcpRange !== undefined && subnet !== undefined) {
        const outside = [range.start, range.end].filter((address) => !inSubnet(address, subnet));
        if (outside.length > 0) {
          problems.push(
            `--dhcp-range: ${outside.join(" and ")} outside --dhcp-subnet ${formatSubnet(subnet)}`,
          );
        }
      }
      return {
        mode: "full",
        ...common,
        range,
        subnet,
        router: values.dhcpRouter,
        dns: values.dhcpDns ?? [],
        leaseSeconds: DEFAULT_LEASE_SECONDS,
      };
    }
    case "proxy": {
      if (values.dhcpInterface === undefined) problems.push("--dhcp proxy needs --dhcp-interface");
      if (values.dhcpSubnet === undefined) {
        problems.push(
          "--dhcp proxy needs --dhcp-subnet <cidr> (the network the existing DHCP server serves)",
        );
      }
      const given = fullOnly.filter(([, value]) => value !== undefined).map(([flag]) => flag);
      if (given.length > 0) {
        problems.push(
          `${given.join(", ")} only apply to --dhcp full (in proxy mode the existing server does that)`,
        );
      }
      return {
        mode: "proxy",
        ...common,
        subnet: values.dhcpSubnet ?? { network: "0.0.0.0", prefixLength: 0, netmask: "0.0.0.0" },
      };
    }
  }
}

export function parseIpv4(raw: string): string {
  const text = raw.trim();
  if (!isIPv4(text)) throw new Error(`not an IPv4 address: "${raw}"`);
  return text;
}

export function parseIpv4List(raw: string): string[] {
  const items = raw
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
  if (items.length === 0) throw new Error("expected one or more IPv4 addresses");
  return items.map(parseIpv4);
}

/** `start,end` (a dash works too), both IPv4, start not above end. */
export function parseIpv4Range(raw: string): Ipv4Range {
  const parts = raw.split(/\s*[,-]\s*/).filter((part) => part !== "");
  if (parts.length !== 2) throw new Error(`expected <start>,<end>, got "${raw}"`);
  const start = parseIpv4(parts[0] ?? "");
  const end = parseIpv4(parts[1] ?? "");
  if (ipv4ToNumber(start) > ipv4ToNumber(end)) throw new Error(`start ${start} is above end ${end}`);
  return { start, end };
}

/** `a.b.c.d/len`; host bits are cleared, so an interface address with its prefix works too. */
export function parseIpv4Subnet(raw: string): Ipv4Subnet {
  const match = /^\s*([0-9.]+)\/(\d{1,2})\s*$/.exec(raw);
  if (match === null) throw new Error(`expected a subnet like 192.168.10.0/24, got "${raw}"`);
  const address = parseIpv4(match[1] ?? "");
  const prefixLength = Number(match[2]);
  if (prefixLength < 8 || prefixLength > 30)
    throw new Error(`prefix length must be 8 to 30, got ${prefixLength}`);
  const mask = (0xffffffff << (32 - prefixLength)) >>> 0;
  return {
    network: numberToIpv4((ipv4ToNumber(address) & mask) >>> 0),
    prefixLength,
    netmask: numberToIpv4(mask),
  };
}

/** Linux interface names: at most 15 characters, no slash, no whitespace. */
export function parseInterfaceName(raw: string): string {
  if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(raw)) {
    throw new Error(`not an interface name (up to 15 of A-Z a-z 0-9 _ . : @ -): "${raw}"`);
  }
  return raw;
}

export function formatSubnet(subnet: Ipv4Subnet): string {
  return `${subnet.network}/${subnet.prefixLength}`;
}

export function inSubnet(address: string, subnet: Ipv4Subnet): boolean {
  const mask = ipv4ToNumber(subnet.netmask);
  return (ipv4ToNumber(address) & mask) >>> 0 === ipv4ToNumber(subnet.network);
}

export function ipv4ToNumber(address: string): number {
  return address.split(".").reduce((value, octet) => value * 256 + Number(octet), 0);
}

function numberToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join(".");
}
