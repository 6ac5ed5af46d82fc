/**
 * A small NVUE-like `nv` CLI over a simulated NVOS: the show commands a controller reads (system, version,
 * firmware, images, actions; tables, or JSON with `-o json`), image fetch and install with progress,
 * reboot. Anything else is answered the way a real shell does: an error line and a non-zero exit status.
 */
import type { NvosAction, SimulatedNvos } from "./nvos.ts";

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** The next line the user types (confirmation prompts); undefined at end of input. */
  readLine(): Promise<string | undefined>;
}

type Json = Record<string, unknown>;

const USAGE = [
  "Usage:",
  "  nv [options] <command> ...",
  "",
  "Commands:",
  "  show      Show configuration and operational state",
  "  action    Run an action: fetch or install a system image, reboot",
  "",
  "Try 'nv show system' or 'nv show system version -o json'.",
  "",
].join("\n");

/** Runs one command line; returns its exit status. */
export async function runCommand(nvos: SimulatedNvos, line: string, io: CliIo): Promise<number> {
  const words = line
    .trim()
    .split(/\s+/)
    .filter((word) => word !== "");
  const [program, verb, ...rest] = words;
  if (program === undefined) return 0;
  if (program !== "nv") {
    io.err(`-bash: ${program}: command not found\n`);
    return 127;
  }
  if (verb === undefined || verb === "-h" || verb === "--help" || verb === "help") {
    io.out(USAGE);
    return 0;
  }
  if (verb === "show") return show(nvos, rest, line, io);
  if (verb === "action") return await action(nvos, rest, line, io);
  return invalid(line, io);
}

function invalid(line: string, io: CliIo): number {
  io.err(`Error: Invalid Command: ${line.trim()}\n`);
  return 1;
}

function show(nvos: SimulatedNvos, args: readonly string[], line: string, io: CliIo): number {
  let format: "table" | "json" = "table";
  const path: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "-o" || arg === "--output") {
      const value = args[++i];
      if (value !== "json" && value !== "auto") {
        io.err(`Error: Invalid output format '${value ?? ""}'; use 'json' or 'auto'\n`);
        return 1;
      }
      format = value === "json" ? "json" : "table";
    } else {
      path.push(arg);
    }
  }
  const view = VIEWS[path.join(" ")];
  if (view === undefined) return invalid(line, io);
  const { json, table } = view(nvos);
  io.out(format === "json" ? `${JSON.stringify(json, null, 2)}\n` : table);
  return 0;
}

async function action(
  nvos: SimulatedNvos,
  args: readonly string[],
  line: string,
  io: CliIo,
): Promise<number> {
  const force = args.at(-1) === "force";
  const words = force ? args.slice(0, -1) : [...args];
  const command = words.join(" ");
  if (command.startsWith("fetch system image ") && words.length === 4) {
    io.out("Action executing ...\n");
    return finished(await nvos.fetchImage(words[3] as string, (text) => io.out(`${text}\n`)), io);
  }
  if (command.startsWith("install system image files ") && words.length === 5) {
    if (!force && !(await confirm("The system will be rebooted to complete the installation.", io))) return 1;
    io.out("Action executing ...\n");
    return finished(
      await nvos.installImage(words[4] as string, line.trim(), (text) => io.out(`${text}\n`)),
      io,
    );
  }
  if (command === "reboot system") {
    if (!force && !(await confirm("The system will be rebooted.", io))) return 1;
    io.out("Action executing ...\nRebooting the system\nAction succeeded\n");
    setTimeout(() => nvos.boot(), nvos.timing.rebootDelayMs);
    return 0;
  }
  return invalid(line, io);
}

async function confirm(warning: string, io: CliIo): Promise<boolean> {
  io.out(`${warning}\nAre you sure? [y/N] `);
  const answer = (await io.readLine())?.trim().toLowerCase();
  if (answer === "y" || answer === "yes") return true;
  io.out("Action canceled.\n");
  return false;
}

function finished(done: NvosAction, io: CliIo): number {
  if (done.state === "action_success") {
    io.out("Action succeeded\n");
    return 0;
  }
  io.err(`Action failed: ${done.status}\n`);
  return 1;
}

const VIEWS: Readonly<Record<string, (nvos: SimulatedNvos) => { json: Json; table: string }>> = {
  system: (nvos) => {
    const rows: Array<[string, string, string]> = [
      ["hostname", nvos.hostname, nvos.hostname],
      ["product-name", "NVOS", ""],
      ["product-release", nvos.version, ""],
      ["platform", nvos.platform, ""],
      ["uptime", uptime(nvos), ""],
      ["health-status", "OK", ""],
      ["date-time", new Date().toISOString().replace("T", " ").slice(0, 19), ""],
    ];
    return {
      json: Object.fromEntries(rows.map(([key, value]) => [key, value])),
      table: table(["", "operational", "applied"], rows),
    };
  },
  "system version": (nvos) => {
    const rows: Array<[string, string]> = [
      ["kernel", "5.10.0-nvos-amd64"],
      ["build-date", buildDate(nvos.version)],
      ["image", nvos.version],
      ["product-name", "NVOS"],
      ["product-release", nvos.version],
    ];
    return { json: Object.fromEntries(rows), table: table(["", "operational"], rows) };
  },
  "system firmware": firmwareView,
  "platform firmware": firmwareView,
  "system image": (nvos) => {
    const rows: Array<[string, string]> = [
      ["current", nvos.version],
      ["next", nvos.partitions[nvos.next]],
      ["partition1", nvos.partitions[0]],
      ["partition2", nvos.partitions[1]],
    ];
    return {
      json: {
        current: nvos.version,
        next: nvos.partitions[nvos.next],
        partition1: { image: nvos.partitions[0] },
        partition2: { image: nvos.partitions[1] },
      },
      table: table(["", "operational"], rows),
    };
  },
  "system image files": (nvos) => {
    const files = [...nvos.files.entries()];
    return {
      json: Object.fromEntries(files.map(([name, file]) => [name, { path: file.path }])),
      table:
        files.length === 0
          ? "No Data\n"
          : table(
              ["File", "path"],
              files.map(([name, file]) => [name, file.path]),
            ),
    };
  },
  action: (nvos) => ({
    json: Object.fromEntries(
      nvos.actions.map((item) => [
        String(item.id),
        { command: item.command, state: item.state, status: item.status, percentage: item.percentage },
      ]),
    ),
    table:
      nvos.actions.length === 0
        ? "No Data\n"
        : table(
            ["Id", "state", "status", "percentage"],
            nvos.actions.map((item) => [String(item.id), item.state, item.status, String(item.percentage)]),
          ),
  }),
};

function firmwareView(nvos: SimulatedNvos): { json: Json; table: string } {
  return {
    json: Object.fromEntries(
      nvos.firmware.map((item) => [
        item.id,
        {
          "actual-firmware": item.actual,
          "installed-firmware": item.installed,
          "part-number": item.partNumber,
        },
      ]),
    ),
    table: table(
      ["Name", "actual-firmware", "installed-firmware", "part-number"],
      nvos.firmware.map((item) => [item.id, item.actual, item.installed, item.partNumber]),
    ),
  };
}

/** NVUE's layout: a header, dashes under each column, two spaces between columns. */
function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const render = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join("  ")
      .trimEnd();
  return [render(headers), widths.map((width) => "-".repeat(width)).join("  "), ...rows.map(render), ""].join(
    "\n",
  );
}

function uptime(nvos: SimulatedNvos): string {
  const seconds = Math.floor((Date.now() - nvos.bootedAt) / 1000);
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  return `${hours}:${String(minutes).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}`;
}

/** A stable, plausible build date per version. */
function buildDate(version: string): string {
  let hash = 0;
  for (const char of version) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return new Date(Date.UTC(2025, hash % 12, 1 + (hash % 28), 8, 30)).toUTCString();
}
