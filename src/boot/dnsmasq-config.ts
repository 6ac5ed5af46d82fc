import path from "node:path";
import { type ActiveDhcpConfig, formatSubnet, type UefiBinary } from "../config/dhcp-config.ts";
import { ConfigError } from "../config/options.ts";

/** Where the supervisor keeps dnsmasq's files: all under `<data-dir>/dnsmasq`. */
export interface DnsmasqFiles {
  readonly dir: string;
  readonly configFile: string;
  readonly pidFile: string;
  readonly leaseFile: string;
  readonly lockFile: string;
  readonly tftpRoot: string;
  /** Watched by dnsmasq (`dhcp-hostsdir`): files written here are read without a restart. */
  readonly hostsDir: string;
  readonly allowlistFile: string;
}

export function dnsmasqFiles(dataDir: string): DnsmasqFiles {
  const dir = path.join(path.resolve(dataDir), "dnsmasq");
  return {
    dir,
    configFile: path.join(dir, "dnsmasq.conf"),
    pidFile: path.join(dir, "dnsmasq.pid"),
    leaseFile: path.join(dir, "leases"),
    lockFile: path.join(dir, "supervisor.lock"),
    tftpRoot: path.join(dir, "tftp"),
    hostsDir: path.join(dir, "hosts"),
    allowlistFile: path.join(dir, "hosts", "allowlist"),
  };
}

/** The iPXE build each kind of PXE firmware gets over TFTP. */
export const BIOS_BINARY = "undionly.kpxe";

export function bootBinaries(uefiBinary: UefiBinary): { readonly bios: string; readonly uefi: string } {
  return { bios: BIOS_BINARY, uefi: uefiBinary };
}

/** The iPXE script endpoint clients that already run iPXE chain to. */
export function ipxeChainUrl(publicUrl: string): string {
  return `${publicUrl.replace(/\/+$/, "")}/boot/v1/ipxe`;
}

/** One line of dnsmasq.conf and the Ingot setting it comes from, so that dnsmasq's errors can name it. */
export interface ConfigLine {
  readonly text: string;
  readonly origin: string;
}

export interface RenderInput {
  readonly dhcp: ActiveDhcpConfig;
  readonly chainUrl: string;
  readonly files: DnsmasqFiles;
  /** `log-dhcp`: every option sent, the tags matched; for debugging a client that does not boot. */
  readonly logDhcpDetails: boolean;
}

const HEADER = ["# Written by Ingot at every start of its dnsmasq; edits here are lost."];
const BUILT_IN = "Ingot's dnsmasq settings";

/** The BOOTP `file` field holds 128 bytes including its terminating NUL. */
const MAX_BOOT_FILE_LENGTH = 127;

/**
 * dnsmasq.conf for the boot service. Client classes are tags: `bios` (client arch 0), `efi64` (7 and 9:
 * x86-64 UEFI), `ipxe` (user class "iPXE" or iPXE's option 175), `known` (a MAC on the allowlist).
 * PXE firmware gets an iPXE binary over TFTP; iPXE itself gets the HTTP URL of the chain script.
 */
export function renderDnsmasqConfig(input: RenderInput): ConfigLine[] {
  const { dhcp, files } = input;
  const binaries = bootBinaries(dhcp.uefiBinary);
  const chainUrl = quoted(input.chainUrl, "--public-url");
  if (input.chainUrl.length > MAX_BOOT_FILE_LENGTH) {
    throw new ConfigError([
      `--public-url: the iPXE chain URL ${input.chainUrl} is longer than the ${MAX_BOOT_FILE_LENGTH} ` +
        "characters a DHCP boot file name can hold",
    ]);
  }
  const lines: ConfigLine[] = [];
  const add = (text: string, origin = BUILT_IN): void => {
    if (hasControlCharacters(text)) throw new ConfigError([`${origin}: control characters in "${text}"`]);
    lines.push({ text, origin });
  };

  add("port=0", "DNS is off: Ingot's dnsmasq only does DHCP and TFTP");
  add("no-resolv");
  add("no-hosts");
  add(`interface=${dhcp.interface}`, "--dhcp-interface");
  add("bind-interfaces", "--dhcp-interface");
  if (dhcp.mode === "full") {
    const mask = dhcp.subnet === undefined ? "" : `,${dhcp.subnet.netmask}`;
    add(
      `dhcp-range=${dhcp.range.start},${dhcp.range.end}${mask},${dhcp.leaseSeconds}`,
      dhcp.subnet === undefined ? "--dhcp-range" : "--dhcp-range and --dhcp-subnet",
    );
    if (dhcp.router !== undefined) add(`dhcp-option=option:router,${dhcp.router}`, "--dhcp-router");
    if (dhcp.dns.length > 0) add(`dhcp-option=option:dns-server,${dhcp.dns.join(",")}`, "--dhcp-dns");
  } else {
    add(
      `dhcp-range=${dhcp.subnet.network},proxy,${dhcp.subnet.netmask}`,
      `--dhcp-subnet ${formatSubnet(dhcp.subnet)}`,
    );
  }
  add(`dhcp-leasefile=${files.leaseFile}`, "--data-dir");
  add(`pid-file=${files.pidFile}`, "--data-dir");
  add("enable-tftp");
  add(`tftp-root=${files.tftpRoot}`, "--data-dir");
  if (input.logDhcpDetails) add("log-dhcp", "--log-level debug");

  add("dhcp-match=set:bios,option:client-arch,0");
  add("dhcp-match=set:efi64,option:client-arch,7");
  add("dhcp-match=set:efi64,option:client-arch,9");
  add("dhcp-userclass=set:ipxe,iPXE");
  add("dhcp-match=set:ipxe,175");
  if (dhcp.mode === "full") {
    add(`dhcp-boot=tag:bios,tag:!ipxe,${binaries.bios}`);
    add(`dhcp-boot=tag:efi64,tag:!ipxe,${binaries.uefi}`, "--dhcp-uefi-binary");
  } else {
    // PXE firmware only boots from a proxy that acts as a PXE boot server (the answer on port 4011).
    // Client system types as numbers: dnsmasq's names for 7 and 9 were swapped in 2.76.
    add(`pxe-service=tag:!ipxe,x86PC,"Ingot network boot (BIOS)",${binaries.bios}`);
    add(`pxe-service=tag:!ipxe,7,"Ingot network boot (UEFI)",${binaries.uefi}`, "--dhcp-uefi-binary");
    add(`pxe-service=tag:!ipxe,9,"Ingot network boot (UEFI)",${binaries.uefi}`, "--dhcp-uefi-binary");
  }
  // A URL has no ".0" layer suffix to lose, so iPXE gets it as the boot file name in both modes.
  add(`dhcp-boot=tag:ipxe,${chainUrl}`, "--public-url");
  if (dhcp.allowlist) {
    add(`dhcp-hostsdir=${files.hostsDir}`, "--dhcp-allowlist");
    add("dhcp-ignore=tag:!known", "--dhcp-allowlist");
  }
  return lines;
}

export function configText(lines: readonly ConfigLine[]): string {
  return `${[...HEADER, ...lines.map((line) => line.text)].join("\n")}\n`;
}

/**
 * Turns `dnsmasq --test` output ("bad dhcp-range at line 7 of /…/dnsmasq.conf") into a problem that names
 * the Ingot setting behind that line.
 */
export function explainRejection(output: string, lines: readonly ConfigLine[]): ConfigError {
  const messages = output
    .split("\n")
    .map((line) => line.replace(/^dnsmasq:\s*/, "").trim())
    .filter((line) => line !== "" && !/syntax check OK/.test(line));
  const problems = messages.map((message) => {
    const match = /^(.*) at line (\d+) of .*$/.exec(message);
    const line = match === null ? undefined : lines[Number(match[2]) - HEADER.length - 1];
    if (match === null || line === undefined) return `dnsmasq rejects its configuration: ${message}`;
    return `${line.origin}: dnsmasq rejects "${line.text}": ${match[1]}`;
  });
  return new ConfigError(problems.length > 0 ? problems : ["dnsmasq rejects its configuration"]);
}

/**
 * The allowlist in dhcp-hostsfile syntax: one bare MAC per line. A matching `dhcp-host` sets dnsmasq's
 * built-in `known` tag by itself; an explicit `set:known` would crash dnsmasq 2.90 on SIGHUP (it frees the
 * tags of re-read host entries wrongly).
 */
export function allowlistText(macs: readonly string[]): string {
  return macs.map((mac) => `${mac}\n`).join("");
}

/** `aa:bb:cc:dd:ee:ff`, `AA-BB-…`, `aabb.ccdd.eeff` or `aabbccddeeff` → `aa:bb:cc:dd:ee:ff`; else undefined. */
export function normalizeMac(raw: string): string | undefined {
  const hex = raw.trim().toLowerCase();
  const digits = /^[0-9a-f]{2}([:-])(?:[0-9a-f]{2}\1){4}[0-9a-f]{2}$/.test(hex)
    ? hex.replace(/[:-]/g, "")
    : /^(?:[0-9a-f]{4}\.){2}[0-9a-f]{4}$/.test(hex) || /^[0-9a-f]{12}$/.test(hex)
      ? hex.replace(/\./g, "")
      : undefined;
  return digits?.match(/../g)?.join(":");
}

function hasControlCharacters(text: string): boolean {
  return [...text].some((character) => character.charCodeAt(0) < 0x20 || character.charCodeAt(0) === 0x7f);
}

/** A value inside double quotes, where dnsmasq treats `,` `:` `.` and `#` literally. */
function quoted(value: string, origin: string): string {
  if (/["\\]/.test(value))
    throw new ConfigError([`${origin}: quotes and backslashes are not allowed in "${value}"`]);
  return `"${value}"`;
}
