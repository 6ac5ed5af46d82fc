/** CPU model and topology: `lscpu -J` first, `/proc/cpuinfo` for what lscpu leaves out (MHz in VMs). */
import type { CpuInfo } from "../../src/protocol/inventory.ts";
import { cleanIdentifier, cleanText, compact, toCount, toNumber, Warnings } from "./normalize.ts";
import { type ParseResult, type ProbeContext, parsed, readProbeFile, runTool } from "./probe.ts";

/** lscpu 2.38+ nests fields under "Model name:"; older versions are flat. Both become one map. */
function lscpuFields(entries: unknown, into: Map<string, string>): void {
  if (!Array.isArray(entries)) return;
  for (const entry of entries) {
    if (typeof entry !== "object" || entry === null) continue;
    const { field, data, children } = entry as { field?: unknown; data?: unknown; children?: unknown };
    if (typeof field === "string" && typeof data === "string") {
      const key = field.replace(/:$/, "").trim();
      if (!into.has(key)) into.set(key, data);
    }
    lscpuFields(children, into);
  }
}

/** Parses `lscpu -J`. */
export function parseLscpuJson(text: string): ParseResult<CpuInfo> {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return parsed({}, ["lscpu output is not JSON"], "unparseable");
  }
  const fields = new Map<string, string>();
  lscpuFields((document as { lscpu?: unknown } | null)?.lscpu, fields);
  if (fields.size === 0) return parsed({}, ["lscpu output has no fields"], "unparseable");
  const warnings = new Warnings();
  const sockets = toCount(fields.get("Socket(s)"));
  const coresPerSocket = toCount(fields.get("Core(s) per socket"));
  const threads = toCount(fields.get("CPU(s)"));
  const cpu = compact<CpuInfo>({
    model: cleanText(fields.get("Model name")),
    vendor: cleanText(fields.get("Vendor ID")),
    architecture: cleanIdentifier(fields.get("Architecture")),
    sockets,
    cores: sockets !== undefined && coresPerSocket !== undefined ? sockets * coresPerSocket : undefined,
    threads,
    mhz: toNumber(fields.get("CPU max MHz")) ?? toNumber(fields.get("CPU MHz")),
  });
  if (cpu.model === undefined) warnings.add("lscpu reports no model name");
  return parsed(cpu, warnings.list);
}

/** Parses `/proc/cpuinfo` (x86 layout; on other architectures only the counts are reliable). */
export function parseCpuinfo(text: string): ParseResult<CpuInfo> {
  const processors = text
    .split(/\n\s*\n/)
    .map((block) => {
      const fields = new Map<string, string>();
      for (const line of block.split("\n")) {
        const separator = line.indexOf(":");
        if (separator > 0) fields.set(line.slice(0, separator).trim(), line.slice(separator + 1).trim());
      }
      return fields;
    })
    .filter((fields) => fields.has("processor"));
  const first = processors[0];
  if (first === undefined) return parsed({}, ["/proc/cpuinfo lists no processor"], "unparseable");
  const physicalIds = new Set(processors.flatMap((fields) => fields.get("physical id") ?? []));
  const coresPerSocket = toCount(first.get("cpu cores"));
  const sockets = physicalIds.size > 0 ? physicalIds.size : undefined;
  return parsed(
    compact<CpuInfo>({
      model: cleanText(first.get("model name")),
      vendor: cleanText(first.get("vendor_id")),
      sockets,
      cores: sockets !== undefined && coresPerSocket !== undefined ? sockets * coresPerSocket : undefined,
      threads: processors.length,
      mhz: toNumber(first.get("cpu MHz")),
    }),
  );
}

export async function probeCpu(context: ProbeContext): Promise<CpuInfo> {
  const [lscpu, cpuinfo] = await Promise.all([
    (async () => {
      const output = await runTool(context, {
        name: "lscpu",
        command: "lscpu",
        args: ["-J"],
        contentType: "application/json",
      });
      if (output === undefined) return {};
      const result = parseLscpuJson(output.stdout);
      output.finish(result);
      return result.value;
    })(),
    (async () => {
      const file = await readProbeFile(context, "cpuinfo", "/proc/cpuinfo", { recordOutput: false });
      if (file === undefined) return {};
      const result = parseCpuinfo(file.text);
      file.finish(result);
      return result.value;
    })(),
  ]);
  return { ...cpuinfo, ...lscpu };
}
