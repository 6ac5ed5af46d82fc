/**
 * The enrollment run: read the kernel command line, collect the inventory, send it, do what the server
 * says. Everything that touches the machine comes in through {@link AgentDependencies}.
 */
import { ENROLLMENT_BODY_LIMIT_BYTES, type EnrollmentRequest } from "../src/protocol/enrollment.ts";
import { type HardwareInventory, LIMITS } from "../src/protocol/inventory.ts";
import { parseKernelCmdline } from "./cmdline.ts";
import type { AgentConsole } from "./console.ts";
import { type EnrollOutcome, enroll, type RetryPolicy, type Sleep } from "./enroll-client.ts";
import { type CollectedInventory, collectInventory } from "./inventory.ts";
import type { PowerControl } from "./power.ts";
import type { CommandRunner, FileReader } from "./probes/exec.ts";
import { detectBootMac } from "./probes/network.ts";
import { normalizeMac } from "./probes/normalize.ts";
import type { ProbeTimeouts } from "./probes/probe.ts";

export interface AgentSettings {
  readonly cmdlinePath: string;
  readonly inventoryDeadlineMs: number;
  readonly probeTimeouts: ProbeTimeouts;
  readonly outputBudgetBytes: number;
  readonly retry: RetryPolicy;
}

export interface AgentDependencies {
  readonly version: string;
  readonly settings: AgentSettings;
  readonly console: AgentConsole;
  readonly runner: CommandRunner;
  /** Reads /proc, /sys and the command line file. */
  readonly files: FileReader;
  readonly power: PowerControl;
  readonly idle: (signal: AbortSignal) => Promise<void>;
  readonly sleep: Sleep;
  readonly random: () => number;
  readonly clock: () => Date;
  readonly signal: AbortSignal;
  /** MAC of the NIC the image's init configured (INGOT_BOOT_MAC), when ingot.mac did not name one. */
  readonly initBootMac?: string;
  readonly fetch?: typeof fetch;
}

export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

function gib(bytes: number): string {
  return `${Math.round((bytes / 1024 ** 3) * 10) / 10} GiB`;
}

/** A few plain lines an operator at the console can check against the machine's label. */
export function summarize(inventory: HardwareInventory): string[] {
  const { system, cpu, memory, disks, nics, gpus, bmc } = inventory;
  const identity = [system.manufacturer, system.productName].filter(Boolean).join(" ") || "unknown model";
  const lines = [
    `system: ${identity}, serial ${system.serialNumber ?? "unknown"}, uuid ${system.uuid ?? "unknown"}`,
    `cpu: ${cpu.sockets ?? "?"} x ${cpu.model ?? "unknown"} (${cpu.cores ?? "?"} cores, ${cpu.threads ?? "?"} threads)`,
    `memory: ${memory.totalBytes === undefined ? "unknown" : gib(memory.totalBytes)}` +
      (memory.dimms.length > 0 ? ` in ${memory.dimms.length} DIMMs` : ""),
    `disks: ${disks.length}${disks.map((disk) => ` ${disk.name} (${disk.kind}, ${gib(disk.sizeBytes)})`).join(",")}`,
    `nics: ${nics.length}${nics.map((nic) => ` ${nic.name} ${nic.macAddress ?? "?"}`).join(",")}`,
    `gpus: ${gpus.length}${gpus.length > 0 ? ` x ${gpus[0]?.model ?? "unknown"}` : ""}`,
    `bmc: ${bmc?.ipAddress ?? "none found"}${bmc?.ipSource ? ` (${bmc.ipSource})` : ""}`,
  ];
  return lines;
}

/** Drops raw outputs, largest first, until the request fits the server's body limit. */
export function fitRequest(request: EnrollmentRequest, limitBytes: number): EnrollmentRequest {
  const probes = { ...request.probes };
  const size = (): number => Buffer.byteLength(JSON.stringify({ ...request, probes }));
  const withOutput = Object.entries(probes)
    .filter(([, report]) => report.output !== undefined)
    .sort(([, a], [, b]) => (b.output?.text.length ?? 0) - (a.output?.text.length ?? 0));
  for (const [name, report] of withOutput) {
    if (size() <= limitBytes) break;
    const { output: _dropped, ...rest } = report;
    const note = "raw output left out: the request was too large";
    const warnings =
      rest.warnings.length < LIMITS.warningsPerProbe ? [...rest.warnings, note] : rest.warnings;
    probes[name] = { ...rest, warnings };
  }
  return { ...request, probes };
}

function reportOutcome(console: AgentConsole, outcome: Exclude<EnrollOutcome, { kind: "enrolled" }>): number {
  switch (outcome.kind) {
    case "rejected":
      console.error(`the server refused the enrollment (${outcome.reason})`);
      if (outcome.status === 401 || outcome.status === 403) {
        console.error("the boot token was not accepted: it may have expired; PXE-boot the machine again");
      }
      console.error("giving up");
      return EXIT.failed;
    case "exhausted":
      console.error(`giving up after ${outcome.attempts} attempts: ${outcome.reason}`);
      return EXIT.failed;
    case "aborted":
      console.warn("stopped before the enrollment finished");
      return EXIT.interrupted;
  }
}

export async function collect(dependencies: AgentDependencies): Promise<CollectedInventory> {
  const { settings } = dependencies;
  return await collectInventory({
    runner: dependencies.runner,
    files: dependencies.files,
    deadlineMs: settings.inventoryDeadlineMs,
    timeouts: settings.probeTimeouts,
    outputBudgetBytes: settings.outputBudgetBytes,
    signal: dependencies.signal,
  });
}

export async function runAgent(dependencies: AgentDependencies): Promise<number> {
  const { console, settings } = dependencies;
  const cmdlineFile = await dependencies.files.read(settings.cmdlinePath, dependencies.signal);
  if (cmdlineFile.kind !== "ok") {
    console.error(`cannot read the kernel command line: ${cmdlineFile.message}`);
    return EXIT.usage;
  }
  const cmdline = parseKernelCmdline(cmdlineFile.text);
  if (!cmdline.ok) {
    for (const problem of cmdline.problems) console.error(problem);
    return EXIT.usage;
  }
  const { params } = cmdline;
  for (const warning of cmdline.warnings) console.warn(warning);
  console.info(`ingot-agent ${dependencies.version}: mode ${params.mode}, server ${params.serverUrl}`);

  console.info(`collecting inventory (at most ${Math.round(settings.inventoryDeadlineMs / 1000)} s)`);
  const started = performance.now();
  const { inventory, probes } = await collect(dependencies);
  console.info(`inventory collected in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  for (const line of summarize(inventory)) console.info(line);
  for (const [name, report] of Object.entries(probes)) {
    if (report.status !== "ok")
      console.warn(`probe ${name}: ${report.status}: ${report.warnings.join("; ")}`);
  }

  const bootMac = params.bootMac ?? {
    mac: normalizeMac(dependencies.initBootMac) ?? detectBootMac(inventory.nics),
    source: "detected" as const,
  };
  if (bootMac.mac === undefined) {
    console.error(
      "cannot tell which interface booted: no ingot.mac= on the command line and no interface is up",
    );
    return EXIT.failed;
  }
  console.info(`boot interface ${bootMac.mac} (${bootMac.source})`);

  const request = fitRequest(
    {
      agentVersion: dependencies.version,
      bootMac: bootMac.mac,
      bootMacSource: bootMac.source,
      collectedAt: dependencies.clock().toISOString(),
      inventory,
      probes,
    },
    ENROLLMENT_BODY_LIMIT_BYTES,
  );

  console.info(`enrolling with ${params.serverUrl}`);
  const outcome = await enroll({
    serverUrl: params.serverUrl,
    token: params.token,
    request,
    agentVersion: dependencies.version,
    policy: settings.retry,
    console,
    signal: dependencies.signal,
    sleep: dependencies.sleep,
    random: dependencies.random,
    now: () => dependencies.clock().getTime(),
    ...(dependencies.fetch ? { fetch: dependencies.fetch } : {}),
  });
  if (outcome.kind !== "enrolled") return reportOutcome(console, outcome);

  const { answer } = outcome;
  console.info(`enrolled: machine ${answer.machineId}, state ${answer.state}, next: ${answer.action}`);
  if (answer.problem !== undefined) console.warn(`${answer.problem}; idling`);
  if (answer.message !== undefined) console.info(`server says: ${answer.message}`);
  switch (answer.action) {
    case "idle":
      console.info("idling; nothing more to do until the machine is booted again");
      await dependencies.idle(dependencies.signal);
      return EXIT.ok;
    case "poweroff":
    case "reboot":
      await dependencies.power.perform(answer.action, dependencies.signal);
      return EXIT.ok;
  }
}
