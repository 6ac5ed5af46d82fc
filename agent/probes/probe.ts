/**
 * The shared shape of a probe: run a tool (or read a file), hand its output to a pure parser, and record
 * what happened — status, warnings, the raw output within a size budget — under the probe's name.
 */
import type { ProbeOutput, ProbeReport, ProbeStatus } from "../../src/protocol/enrollment.ts";
import { LIMITS } from "../../src/protocol/inventory.ts";
import type { CommandRunner, FileReader } from "./exec.ts";
import { warningText } from "./normalize.ts";

/** What a parser makes of one output. Parsers never throw. */
export interface ParseResult<T> {
  readonly value: T;
  /**
   * ok: understood; empty: understood, nothing to report; unparseable: not understood; failed: the
   * output itself says the tool could not do its job (smartctl's JSON). Value is empty unless ok.
   */
  readonly status: "ok" | "empty" | "unparseable" | "failed";
  readonly warnings: readonly string[];
}

export function parsed<T>(
  value: T,
  warnings: readonly string[] = [],
  status: ParseResult<T>["status"] = "ok",
) {
  return { value, warnings, status } satisfies ParseResult<T>;
}

export type ContentType = ProbeOutput["contentType"];

/** Keeps the probe reports and the raw outputs, within a total budget so the request stays small. */
export class ProbeRecorder {
  private readonly reports = new Map<string, ProbeReport>();
  private outputBytesLeft: number;

  constructor(totalOutputBytes: number) {
    this.outputBytesLeft = totalOutputBytes;
  }

  record(
    name: string,
    report: Omit<ProbeReport, "output" | "warnings"> & {
      readonly warnings: readonly string[];
      readonly output?: { readonly contentType: ContentType; readonly text: string };
    },
  ): void {
    const warnings = report.warnings.slice(0, LIMITS.warningsPerProbe).map(warningText);
    const { output: rawOutput, ...rest } = report;
    let output: ProbeOutput | undefined;
    if (rawOutput !== undefined && rawOutput.text.length > 0) {
      const truncated = rawOutput.text.length > LIMITS.probeOutput;
      const text = withoutNul(truncated ? rawOutput.text.slice(0, LIMITS.probeOutput) : rawOutput.text);
      const bytes = Buffer.byteLength(text);
      if (bytes <= this.outputBytesLeft) {
        this.outputBytesLeft -= bytes;
        output = { contentType: rawOutput.contentType, text, truncated };
      } else if (warnings.length < LIMITS.warningsPerProbe) {
        warnings.push("raw output left out: the request's budget for raw outputs is spent");
      }
    }
    const entry: ProbeReport = { status: rest.status, durationMs: rest.durationMs, warnings };
    if (rest.command !== undefined) entry.command = rest.command.slice(0, LIMITS.probeCommand);
    if (rest.exitCode !== undefined) entry.exitCode = rest.exitCode;
    if (output !== undefined) entry.output = output;
    const stderr = withoutNul(rest.stderr ?? "")
      .trim()
      .slice(0, LIMITS.probeStderr);
    if (stderr) entry.stderr = stderr;
    this.reports.set(name, entry);
  }

  has(name: string): boolean {
    return this.reports.has(name);
  }

  /** The reports keyed by probe name, in name order. */
  toRecord(): Record<string, ProbeReport> {
    return Object.fromEntries([...this.reports].sort(([a], [b]) => a.localeCompare(b)));
  }
}

export interface ProbeTimeouts {
  /** Most tools answer in well under a second; this bounds a hung one. */
  readonly commandMs: number;
  /** smartctl and nvidia-smi can take long on a busy or sick device. */
  readonly slowCommandMs: number;
}

export interface ProbeContext {
  readonly runner: CommandRunner;
  readonly files: FileReader;
  /** Aborted at the inventory deadline. */
  readonly signal: AbortSignal;
  readonly recorder: ProbeRecorder;
  readonly timeouts: ProbeTimeouts;
}

export interface ToolSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly contentType: ContentType;
  readonly slow?: boolean;
  /** Exit codes that still carry usable output (smartctl sets informational bits). */
  readonly usableExit?: (exitCode: number) => boolean;
}

/** A tool's usable output; `finish` records the probe once the caller has parsed it. */
export interface ToolOutput {
  readonly stdout: string;
  readonly exitCode: number;
  finish(result: Pick<ParseResult<unknown>, "status" | "warnings">): void;
}

/** The server refuses U+0000 (PostgreSQL cannot store it); tools print it in binary or padded output. */
function withoutNul(text: string): string {
  return text.replaceAll("\u0000", "\uFFFD");
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0] ?? "";
}

/**
 * Runs a tool. When it did not give usable output (missing, failed, timed out) the probe is recorded
 * here with a warning and undefined comes back; otherwise the caller parses and calls `finish`.
 */
export async function runTool(context: ProbeContext, spec: ToolSpec): Promise<ToolOutput | undefined> {
  const started = performance.now();
  const result = await context.runner.run(spec.command, spec.args, {
    timeoutMs: spec.slow ? context.timeouts.slowCommandMs : context.timeouts.commandMs,
    signal: context.signal,
  });
  const durationMs = Math.round(performance.now() - started);
  const command = [spec.command, ...spec.args].join(" ");
  const base = { command, durationMs };
  switch (result.kind) {
    case "missing":
      context.recorder.record(spec.name, { ...base, status: "missing", warnings: [result.message] });
      return undefined;
    case "timeout":
    case "aborted":
      context.recorder.record(spec.name, { ...base, status: "timeout", warnings: [result.message] });
      return undefined;
    case "failed":
      context.recorder.record(spec.name, { ...base, status: "failed", warnings: [result.message] });
      return undefined;
    case "exited": {
      const usable = result.exitCode === 0 || (spec.usableExit?.(result.exitCode) ?? false);
      const output = { contentType: spec.contentType, text: result.stdout };
      if (!usable) {
        const reason = firstLine(result.stderr) || firstLine(result.stdout) || "no output";
        context.recorder.record(spec.name, {
          ...base,
          status: "failed",
          exitCode: result.exitCode,
          warnings: [`${spec.command} exited with ${result.exitCode}: ${reason}`],
          stderr: result.stderr,
          output,
        });
        return undefined;
      }
      return {
        stdout: result.stdout,
        exitCode: result.exitCode,
        finish: (parse) => {
          const status: ProbeStatus = parse.status;
          context.recorder.record(spec.name, {
            ...base,
            status,
            exitCode: result.exitCode,
            warnings: parse.warnings,
            stderr: result.stderr,
            output,
          });
        },
      };
    }
  }
}

export interface FileOutput {
  readonly text: string;
  finish(result: Pick<ParseResult<unknown>, "status" | "warnings">): void;
}

/** Reads a file for a probe, recording a missing or unreadable file the same way as a missing tool. */
export async function readProbeFile(
  context: ProbeContext,
  name: string,
  filePath: string,
  options: { readonly recordOutput?: boolean } = {},
): Promise<FileOutput | undefined> {
  const started = performance.now();
  const result = await context.files.read(filePath, context.signal);
  const base = { command: `read ${filePath}`, durationMs: Math.round(performance.now() - started) };
  if (result.kind !== "ok") {
    const status = result.kind === "missing" ? "missing" : "failed";
    context.recorder.record(name, { ...base, status, warnings: [result.message] });
    return undefined;
  }
  return {
    text: result.text,
    finish: (parse) =>
      context.recorder.record(name, {
        ...base,
        status: parse.status,
        warnings: parse.warnings,
        ...(options.recordOutput === false
          ? {}
          : { output: { contentType: "text/plain", text: result.text } }),
      }),
  };
}
