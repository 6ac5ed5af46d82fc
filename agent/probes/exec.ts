/**
 * How probes reach the machine: subprocesses and files, behind two small interfaces so that tests can
 * replay captured outputs. The real implementations never throw: a missing tool, a non-zero exit, a
 * timeout or an abort comes back as a value the probe records as a warning.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";

export type CommandResult =
  | { readonly kind: "exited"; readonly exitCode: number; readonly stdout: string; readonly stderr: string }
  | { readonly kind: "missing"; readonly message: string }
  | { readonly kind: "timeout"; readonly message: string }
  | { readonly kind: "aborted"; readonly message: string }
  | { readonly kind: "failed"; readonly message: string };

export interface CommandOptions {
  readonly timeoutMs: number;
  /** Aborted when the whole inventory runs out of time. */
  readonly signal: AbortSignal;
}

export interface CommandRunner {
  run(command: string, args: readonly string[], options: CommandOptions): Promise<CommandResult>;
}

export type FileResult =
  | { readonly kind: "ok"; readonly text: string }
  | { readonly kind: "missing"; readonly message: string }
  | { readonly kind: "failed"; readonly message: string };

export interface FileReader {
  read(filePath: string, signal: AbortSignal): Promise<FileResult>;
}

/** Tools live in sbin directories that a minimal PID-1 environment may leave off PATH. */
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

function errorCode(error: unknown): unknown {
  return typeof error === "object" && error !== null && "code" in error ? error.code : undefined;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs tools with execFile: C locale for stable output, killed with SIGKILL at the timeout or abort. */
export class ExecFileRunner implements CommandRunner {
  private readonly env: NodeJS.ProcessEnv;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    const pathValue = env.PATH ? `${env.PATH}:${SYSTEM_PATH}` : SYSTEM_PATH;
    this.env = { ...env, PATH: pathValue, LC_ALL: "C", LANG: "C" };
  }

  run(command: string, args: readonly string[], options: CommandOptions): Promise<CommandResult> {
    if (options.signal.aborted) {
      return Promise.resolve({ kind: "aborted", message: "not started: the inventory deadline passed" });
    }
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = AbortSignal.any([options.signal, timeout]);
    return new Promise<CommandResult>((resolve) => {
      execFile(
        command,
        [...args],
        { signal, env: this.env, encoding: "utf8", maxBuffer: MAX_OUTPUT_BYTES, killSignal: "SIGKILL" },
        (error, stdout, stderr) => {
          if (error === null) {
            resolve({ kind: "exited", exitCode: 0, stdout, stderr });
            return;
          }
          const code = errorCode(error);
          if (typeof code === "number") {
            resolve({ kind: "exited", exitCode: code, stdout, stderr });
          } else if (code === "ENOENT") {
            resolve({ kind: "missing", message: `${command}: not installed` });
          } else if (options.signal.aborted) {
            resolve({ kind: "aborted", message: `${command}: stopped at the inventory deadline` });
          } else if (timeout.aborted) {
            resolve({ kind: "timeout", message: `${command}: no answer within ${options.timeoutMs} ms` });
          } else {
            resolve({ kind: "failed", message: `${command}: ${errorMessage(error)}` });
          }
        },
      );
    });
  }
}

/** Reads files below `root` (`/` on a machine, a fixture folder in tests). */
export class RootedFileReader implements FileReader {
  constructor(private readonly root: string = "/") {}

  async read(filePath: string, signal: AbortSignal): Promise<FileResult> {
    try {
      const text = await readFile(path.join(this.root, filePath), { encoding: "utf8", signal });
      return { kind: "ok", text };
    } catch (error) {
      const code = errorCode(error);
      if (code === "ENOENT" || code === "ENOTDIR")
        return { kind: "missing", message: `${filePath}: not present` };
      return { kind: "failed", message: `${filePath}: ${errorMessage(error)}` };
    }
  }
}
