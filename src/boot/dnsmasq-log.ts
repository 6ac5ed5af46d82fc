/**
 * dnsmasq's own log lines (it runs with `--log-facility=-`, so they arrive on stderr) turned into structured
 * fields for our logger: which DHCP message went to which MAC and address, which file went to which TFTP client.
 */
export type DnsmasqLogLevel = "debug" | "info" | "warn" | "error";

export interface DnsmasqLogRecord {
  readonly level: DnsmasqLogLevel;
  /** The line without dnsmasq's `dnsmasq-dhcp[pid]: ` prefix. */
  readonly message: string;
  readonly fields: Readonly<Record<string, string | number>>;
}

const PREFIX = /^dnsmasq(?:-(dhcp|tftp|script))?(?:\[(\d+)\])?:\s?(.*)$/;
const DHCP_EVENT =
  /^(?:(\d+) )?((?:DHCP|BOOTP)[A-Z]*|PXE)\(([^)]+)\)(?: (\d{1,3}(?:\.\d{1,3}){3}))?(?: ((?:[0-9a-f]{2}:){5}[0-9a-f]{2}))?\s*(.*)$/;
const TFTP_SENT = /^sent (\S+) to (\S+)$/;
const TROUBLE = /\b(?:failed|failure|error|cannot|bad|unknown|not found|no address range|denied|refused)\b/i;
const DHCP_DETAIL = /^\d+ /;

export function parseDnsmasqLine(line: string): DnsmasqLogRecord {
  const prefixed = PREFIX.exec(line);
  const facility = prefixed === null ? "main" : (prefixed[1] ?? "main");
  const message = (prefixed === null ? line : (prefixed[3] ?? "")).trimEnd();
  const fields: Record<string, string | number> = { facility };
  if (prefixed?.[2] !== undefined) fields.pid = Number(prefixed[2]);

  const event = facility === "dhcp" ? DHCP_EVENT.exec(message) : null;
  if (event !== null) {
    fields.event = event[2] ?? "";
    fields.interface = event[3] ?? "";
    if (event[4] !== undefined) fields.address = event[4];
    if (event[5] !== undefined) fields.mac = event[5];
    if (event[6]) fields.detail = event[6];
    if (event[1] !== undefined) fields.xid = Number(event[1]);
    return { level: "info", message, fields };
  }
  const sent = facility === "tftp" ? TFTP_SENT.exec(message) : null;
  if (sent !== null) {
    fields.file = sent[1] ?? "";
    fields.client = sent[2] ?? "";
    return { level: "info", message, fields };
  }
  if (TROUBLE.test(message)) return { level: "warn", message, fields };
  // `log-dhcp` detail (options sent, tags matched) is numbered by transaction id.
  if (facility === "dhcp" && DHCP_DETAIL.test(message)) return { level: "debug", message, fields };
  return { level: "info", message, fields };
}
