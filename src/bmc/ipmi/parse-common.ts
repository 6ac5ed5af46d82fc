/** Shared pieces of the ipmitool output parsers: pure functions over the text ipmitool printed. */

/** An ipmitool output that does not have the shape its parser expects. */
export class IpmitoolParseError extends Error {
  override name = "IpmitoolParseError";
}

/**
 * `Key : value` lines as printed by `mc info`, `lan print`, `chassis status`, `fru print`. Continuation
 * lines (`   : value`) and bullet lines are ignored; the first occurrence of a key wins.
 */
export function keyValues(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*([^:]*?[^:\s])\s*:\s?(.*)$/.exec(line);
    if (match === null) continue;
    const key = (match[1] ?? "").replace(/^-\s*/, "");
    if (key === "" || map.has(key)) continue;
    map.set(key, (match[2] ?? "").trim());
  }
  return map;
}

/** A value that carries information: not empty, not all zeros, not a placeholder. */
export function meaningful(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === "" || /^[0:.\-\s]+$/.test(v) || /^(n\/a|na|not available|not specified|unknown|none)$/i.test(v)) {
    return undefined;
  }
  return v;
}

/** Columns of a `|`-separated ipmitool table line, trimmed. */
export function columns(line: string): string[] {
  return line.split("|").map((c) => c.trim());
}
