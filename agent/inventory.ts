/**
 * Collects the hardware inventory: every probe at once, all under one deadline. A probe that fails,
 * hangs or finds nothing leaves its part empty and says why in its report; collection itself never
 * fails, so the machine always enrolls with what could be learned.
 */
import type { ProbeReport } from "../src/protocol/enrollment.ts";
import type { HardwareInventory } from "../src/protocol/inventory.ts";
import { probeBmc } from "./probes/bmc.ts";
import { probeCpu } from "./probes/cpu.ts";
import { probeDisks } from "./probes/disks.ts";
import { probeDmi } from "./probes/dmi.ts";
import type { CommandRunner, FileReader } from "./probes/exec.ts";
import { gpusFromPci, probeNvidiaGpus } from "./probes/gpu.ts";
import { probeMeminfo } from "./probes/memory.ts";
import { probeNics } from "./probes/network.ts";
import { probePci } from "./probes/pci.ts";
import { type ProbeContext, ProbeRecorder, type ProbeTimeouts } from "./probes/probe.ts";

export interface InventoryOptions {
  readonly runner: CommandRunner;
  readonly files: FileReader;
  /** The whole collection ends by then; unfinished probes are reported as timed out. */
  readonly deadlineMs: number;
  readonly timeouts: ProbeTimeouts;
  /** Budget for the raw outputs carried in the probe reports. */
  readonly outputBudgetBytes: number;
  readonly signal?: AbortSignal;
  /** Overrides {@link DEADLINE_GRACE_MS}. */
  readonly graceMs?: number;
}

export interface CollectedInventory {
  readonly inventory: HardwareInventory;
  readonly probes: Record<string, ProbeReport>;
}

export const DEFAULT_PROBE_TIMEOUTS: ProbeTimeouts = { commandMs: 15_000, slowCommandMs: 60_000 };

/** Time the probes get after the deadline to record their killed commands and return partial results. */
export const DEADLINE_GRACE_MS = 2_000;

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function collectInventory(options: InventoryOptions): Promise<CollectedInventory> {
  // A referenced timer, unlike AbortSignal.timeout: waiting for the deadline keeps the process alive.
  const deadline = new AbortController();
  const deadlineTimer = setTimeout(() => deadline.abort(new Error("inventory deadline")), options.deadlineMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
  const recorder = new ProbeRecorder(options.outputBudgetBytes);
  const context: ProbeContext = {
    runner: options.runner,
    files: options.files,
    signal,
    recorder,
    timeouts: options.timeouts,
  };
  // At the deadline every running command is killed and the probes return what they have (lsblk's
  // disks without SMART, say); only a probe that ignores the abort is cut off, after a short grace.
  let graceTimer: NodeJS.Timeout | undefined;
  const stopped = new Promise<"deadline">((resolve) => {
    const afterGrace = (): void => {
      graceTimer = setTimeout(() => resolve("deadline"), options.graceMs ?? DEADLINE_GRACE_MS);
    };
    if (signal.aborted) afterGrace();
    else signal.addEventListener("abort", afterGrace, { once: true });
  });

  /** A probe's result, or its fallback when it threw (a bug) or did not finish by the deadline. */
  async function settle<T>(group: string, probe: Promise<T>, fallback: T): Promise<T> {
    try {
      const outcome = await Promise.race([probe, stopped]);
      if (outcome !== "deadline") return outcome as T;
      if (!recorder.has(group)) {
        recorder.record(group, {
          status: "timeout",
          durationMs: options.deadlineMs,
          warnings: [`${group}: unfinished at the inventory deadline`],
        });
      }
    } catch (error) {
      recorder.record(group, {
        status: "failed",
        durationMs: 0,
        warnings: [`${group}: probe failed unexpectedly: ${errorMessage(error)}`],
      });
    }
    return fallback;
  }

  const probes = Promise.all([
    settle("dmidecode", probeDmi(context), { system: {}, dimms: [] }),
    settle("lscpu", probeCpu(context), {}),
    settle("meminfo", probeMeminfo(context), undefined),
    settle("lsblk", probeDisks(context), []),
    settle("ip-link", probeNics(context), []),
    settle("lspci", probePci(context), []),
    settle("nvidia-smi", probeNvidiaGpus(context), []),
    settle("ipmitool-lan", probeBmc(context), undefined),
  ]);
  let results: Awaited<typeof probes>;
  try {
    results = await probes;
  } finally {
    clearTimeout(deadlineTimer);
    clearTimeout(graceTimer);
  }
  const [dmi, cpu, totalBytes, disks, nics, pciDevices, nvidiaGpus, bmc] = results;

  const installedBytes = dmi.dimms.reduce((sum, dimm) => sum + dimm.sizeBytes, 0);
  const sockets = cpu.sockets ?? dmi.populatedSockets;
  const inventory: HardwareInventory = {
    system: dmi.system,
    cpu: sockets === undefined ? cpu : { ...cpu, sockets },
    memory: {
      ...(totalBytes === undefined ? {} : { totalBytes }),
      ...(dmi.dimms.length > 0 ? { installedBytes } : {}),
      ...(dmi.slotCount === undefined ? {} : { slotCount: dmi.slotCount }),
      dimms: [...dmi.dimms],
    },
    disks,
    nics,
    gpus: nvidiaGpus.length > 0 ? nvidiaGpus : gpusFromPci(pciDevices),
    pciDevices,
    ...(bmc === undefined ? {} : { bmc }),
  };
  return { inventory, probes: recorder.toRecord() };
}
