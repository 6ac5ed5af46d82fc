/** Memory the kernel sees, from `/proc/meminfo` (modules come from DMI, see dmi.ts). */
import { toCount } from "./normalize.ts";
import { type ParseResult, type ProbeContext, parsed, readProbeFile } from "./probe.ts";

/** MemTotal in bytes. */
export function parseMeminfo(text: string): ParseResult<{ totalBytes?: number }> {
  const match = /^MemTotal:\s+(\d+)\s+kB\s*$/m.exec(text);
  const kib = toCount(match?.[1]);
  if (kib === undefined) return parsed({}, ["/proc/meminfo has no MemTotal line"], "unparseable");
  return parsed({ totalBytes: kib * 1024 });
}

export async function probeMeminfo(context: ProbeContext): Promise<number | undefined> {
  const file = await readProbeFile(context, "meminfo", "/proc/meminfo");
  if (file === undefined) return undefined;
  const result = parseMeminfo(file.text);
  file.finish(result);
  return result.value.totalBytes;
}
