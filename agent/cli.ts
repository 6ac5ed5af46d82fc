/** Command-line entry of ingot-agent: options, real dependencies, exit code. */
import { setTimeout as delay } from "node:timers/promises";
import { parseArgs } from "node:util";
import { ENROLLMENT_BODY_LIMIT_BYTES } from "../src/protocol/enrollment.ts";
import { type AgentDependencies, type AgentSettings, collect, EXIT, runAgent } from "./agent.ts";
import { LineConsole } from "./console.ts";
import { DEFAULT_RETRY_POLICY } from "./enroll-client.ts";
import { DEFAULT_PROBE_TIMEOUTS } from "./inventory.ts";
import { idleUntil, SystemPowerControl } from "./power.ts";
import { ExecFileRunner, RootedFileReader } from "./probes/exec.ts";
import { AGENT_VERSION } from "./version.ts";

export const USAGE = `Usage: ingot-agent [options]

Runs inside Ingot's boot image: collects this machine's hardware inventory, enrolls it with the
server named on the kernel command line, then does what the server answers (idle, poweroff, reboot).

Kernel command line parameters:
  ingot.url=<url>      server base URL (required)
  ingot.token=<token>  boot token sent as a bearer token (required)
  ingot.mode=enroll    what to do (default enroll)
  ingot.mac=<mac>      MAC address of the interface that PXE-booted (optional)

Environment:
  INGOT_BOOT_MAC       MAC of the NIC the image's init configured (used when ingot.mac is absent)

Options:
  --cmdline <path>     read the parameters from this file instead of /proc/cmdline
  --inventory          print the collected inventory as JSON and exit (nothing is sent)
  --version            print the version and exit
  --help               print this help and exit
`;

export const DEFAULT_SETTINGS: AgentSettings = {
  cmdlinePath: "/proc/cmdline",
  inventoryDeadlineMs: 180_000,
  probeTimeouts: DEFAULT_PROBE_TIMEOUTS,
  // Half the request body limit: the inventory itself is much smaller.
  outputBudgetBytes: ENROLLMENT_BODY_LIMIT_BYTES / 2,
  retry: DEFAULT_RETRY_POLICY,
};

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const PROCESS_IO: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

export function realDependencies(signal: AbortSignal, settings: AgentSettings, io: CliIo): AgentDependencies {
  const console = new LineConsole(io.stdout);
  const runner = new ExecFileRunner();
  return {
    version: AGENT_VERSION,
    settings,
    console,
    runner,
    files: new RootedFileReader("/"),
    power: new SystemPowerControl(runner, console),
    idle: idleUntil,
    sleep: async (ms, abort) => {
      await delay(ms, undefined, { signal: abort });
    },
    random: Math.random,
    clock: () => new Date(),
    signal,
    ...(process.env.INGOT_BOOT_MAC ? { initBootMac: process.env.INGOT_BOOT_MAC } : {}),
  };
}

export async function runCli(
  argv: readonly string[],
  signal: AbortSignal,
  io: CliIo = PROCESS_IO,
): Promise<number> {
  let values: { cmdline?: string; inventory?: boolean; version?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        cmdline: { type: "string" },
        inventory: { type: "boolean" },
        version: { type: "boolean" },
        help: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    io.stderr(`ingot-agent: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return EXIT.usage;
  }
  if (values.help) {
    io.stdout(USAGE);
    return EXIT.ok;
  }
  if (values.version) {
    io.stdout(`ingot-agent ${AGENT_VERSION}\n`);
    return EXIT.ok;
  }
  const settings = { ...DEFAULT_SETTINGS, ...(values.cmdline ? { cmdlinePath: values.cmdline } : {}) };
  const dependencies = realDependencies(signal, settings, io);
  if (values.inventory) {
    const collected = await collect(dependencies);
    io.stdout(`${JSON.stringify(collected, null, 2)}\n`);
    return EXIT.ok;
  }
  return await runAgent(dependencies);
}
