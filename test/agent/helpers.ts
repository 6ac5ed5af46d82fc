/** Shared pieces of the agent tests: fixture paths, a replaying command runner, the server's validator. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import addFormatsPlugin from "ajv-formats";
import type {
  CommandOptions,
  CommandResult,
  CommandRunner,
  FileReader,
  FileResult,
} from "../../agent/probes/exec.ts";
import { type ProbeContext, ProbeRecorder } from "../../agent/probes/probe.ts";

/** Real captures shared by the project (never copied into the repository). */
export const SHARED_FIXTURES = path.resolve(import.meta.dirname, "../../../shared/fixtures");
/** Captures made for the agent, with their origin in fixtures/README.md. */
export const AGENT_FIXTURES = path.resolve(import.meta.dirname, "fixtures");

export function shared(...parts: string[]): string {
  return readFileSync(path.join(SHARED_FIXTURES, ...parts), "utf8");
}

export function local(...parts: string[]): string {
  return readFileSync(path.join(AGENT_FIXTURES, ...parts), "utf8");
}

export function exited(stdout: string, exitCode = 0, stderr = ""): CommandResult {
  return { kind: "exited", exitCode, stdout, stderr };
}

export const MISSING: CommandResult = { kind: "missing", message: "not installed" };

/**
 * Answers commands from a table keyed by the command line (`lscpu -J`); anything not in the table is
 * a missing tool. Records what was run.
 */
export class ReplayRunner implements CommandRunner {
  readonly calls: string[] = [];

  constructor(
    private readonly answers: Readonly<
      Record<string, CommandResult | ((options: CommandOptions) => Promise<CommandResult>)>
    >,
  ) {}

  async run(command: string, args: readonly string[], options: CommandOptions): Promise<CommandResult> {
    const line = [command, ...args].join(" ");
    this.calls.push(line);
    const answer = this.answers[line];
    if (answer === undefined) return { kind: "missing", message: `${command}: not installed` };
    return typeof answer === "function" ? await answer(options) : answer;
  }
}

export function probeContext(runner: CommandRunner, files: FileReader = new MapFileReader({})): ProbeContext {
  return {
    runner,
    files,
    signal: new AbortController().signal,
    recorder: new ProbeRecorder(4 * 1024 * 1024),
    timeouts: { commandMs: 5_000, slowCommandMs: 5_000 },
  };
}

/** Files from a table; anything else is missing. */
export class MapFileReader implements FileReader {
  constructor(private readonly files: Readonly<Record<string, string>>) {}

  async read(filePath: string): Promise<FileResult> {
    const text = this.files[filePath];
    return text === undefined
      ? { kind: "missing", message: `${filePath}: not present` }
      : { kind: "ok", text };
  }
}

const addFormats = addFormatsPlugin as unknown as (ajv: Ajv) => Ajv;

/** Compiles a schema the way the server's body validator does (src/http/app.ts). */
export function serverValidator(schema: object): ValidateFunction {
  const ajv = addFormats(
    new Ajv({
      allErrors: true,
      useDefaults: true,
      removeAdditional: false,
      strict: false,
      coerceTypes: false,
    }),
  );
  return ajv.compile(schema);
}
