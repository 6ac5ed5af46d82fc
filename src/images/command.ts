import { execFile } from "node:child_process";

export interface CommandOptions {
  readonly signal?: AbortSignal;
  /** Kills the command after this long (default 60 s). */
  readonly timeoutMs?: number;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Exit codes that count as success besides 0. */
  readonly okExitCodes?: readonly number[];
}

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

/** A subprocess that failed, timed out or could not start; the message names the command and its stderr. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly command: string,
    readonly exitCode: number | undefined,
    readonly stderr: string,
  ) {
    super(message);
    this.name = "CommandError";
  }
}

/** Runs a program (no shell) and collects its output. */
export async function runCommand(
  file: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const command = [file, ...args].join(" ");
  return await new Promise<CommandResult>((resolve, reject) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd,
        env: options.env,
        signal: options.signal,
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
        encoding: "utf8",
      },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ stdout, stderr, exitCode: 0 });
          return;
        }
        const code = typeof error.code === "number" ? error.code : undefined;
        if (code !== undefined && options.okExitCodes?.includes(code)) {
          resolve({ stdout, stderr, exitCode: code });
          return;
        }
        const why =
          error.name === "AbortError"
            ? "was aborted"
            : error.killed
              ? `timed out after ${timeoutMs} ms`
              : typeof error.code === "string"
                ? `could not start (${error.code})`
                : `exited with status ${code ?? error.signal ?? "unknown"}`;
        const detail = stderr.trim().split("\n").slice(-5).join("\n");
        reject(new CommandError(`${command} ${why}${detail ? `: ${detail}` : ""}`, command, code, stderr));
      },
    );
  });
}
