/**
 * Parser for `ipmitool sel elist` / `sel list`: `id | date | time | sensor | event | direction [| detail]`.
 * ipmitool 1.8.18 prints `04/28/2015 | 10:56:41`, 1.8.19 `11/23/26 | 16:52:16 UTC`, and entries logged
 * before the BMC clock was set `Pre-Init  |0000001865|`. IPMI has no severity field, so the severity is
 * read from the event wording.
 */
import type { BmcLogEntry } from "../driver.ts";
import { columns } from "./parse-common.ts";

const SEVERITY_RULES: ReadonlyArray<[RegExp, BmcLogEntry["severity"]]> = [
  [
    /uncorrectable|non-recoverable|failure detected|ac lost|input lost|fatal|machine check|\bierr\b|thermal trip|catastrophic|configuration error|config error|critical interrupt|pci [ps]err|bus (?:fatal|uncorrectable)|(?<!non-)critical going/i,
    "critical",
  ],
  [
    /non-critical|predictive failure|correctable|degraded|redundancy lost|non-redundant|limit reached|watchdog|intrusion/i,
    "warning",
  ],
];

/**
 * The timestamp ipmitool printed, as ISO 8601. Only UTC (or no zone: the driver runs ipmitool with
 * TZ=UTC) can be placed on the timeline; entries in another zone or before the clock was set get none.
 */
function timestamp(date: string, time: string): string | undefined {
  const d = /^(\d{2})\/(\d{2})\/(\d{2}|\d{4})$/.exec(date);
  const t = /^(\d{2}):(\d{2}):(\d{2})(?:\s+(\S+))?$/.exec(time);
  if (d === null || t === null) return undefined;
  const zone = t[4];
  if (zone !== undefined && !/^(UTC|GMT)$/i.test(zone)) return undefined;
  const yy = d[3] ?? "";
  const year = yy.length === 4 ? yy : Number(yy) < 70 ? `20${yy}` : `19${yy}`;
  return `${year}-${d[1]}-${d[2]}T${t[1]}:${t[2]}:${t[3]}Z`;
}

function severity(event: string, direction: string | undefined): BmcLogEntry["severity"] {
  if (direction !== undefined && /^deasserted$/i.test(direction)) return "ok";
  return SEVERITY_RULES.find(([pattern]) => pattern.test(event))?.[1] ?? "ok";
}

/** Entries in the order ipmitool printed them (oldest first); "SEL has no entries" yields none. */
export function parseSelList(text: string): BmcLogEntry[] {
  const entries: BmcLogEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    const cols = columns(line);
    if (cols.length < 5 || !/^[0-9a-f]+$/i.test(cols[0] ?? "")) continue;
    const [id = "", date = "", time = "", sensor = "", event = "", direction, ...detail] = cols;
    const created = /pre-init/i.test(date) ? undefined : timestamp(date, time);
    const what = event.replace(/\s*\(\)$/, "");
    const message = [
      `${sensor}: ${what}`,
      direction !== undefined && direction !== "" ? ` (${direction.toLowerCase()})` : "",
      detail.length > 0 ? `; ${detail.join("; ")}` : "",
    ].join("");
    entries.push({
      id: id.toLowerCase(),
      ...(created !== undefined ? { created } : {}),
      severity: severity(`${sensor} ${event}`, direction),
      message,
    });
  }
  return entries;
}
