import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";

export const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
export const INGOT_BIN = path.join(REPO_ROOT, "bin/ingot.js");

export interface ServerProcess {
  readonly child: ChildProcess;
  /** Everything printed so far on stdout (JSON log lines) and stderr. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the port once the server logs that it is listening. */
  listening(timeoutMs?: number): Promise<number>;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited(): Promise<number | string>;
  kill(signal: NodeJS.Signals): void;
}

/** Runs the real `ingot` binary as a child process. */
export function spawnIngot(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
): ServerProcess {
  const child = spawn(process.execPath, [INGOT_BIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, INGOT_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exit = new Promise<number | string>((resolve) => {
    child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited: () => exit,
    kill: (signal) => child.kill(signal),
    async listening(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        for (const line of out.split("\n")) {
          if (!line.includes("ingot server listening")) continue;
          const port = (JSON.parse(line) as { port?: number }).port;
          if (typeof port === "number") return port;
        }
        if (child.exitCode !== null) {
          throw new Error(
            `ingot exited with ${child.exitCode} before listening:\n${err}\n${out.slice(-2000)}`,
          );
        }
        if (Date.now() > deadline) throw new Error(`ingot did not listen within ${timeoutMs} ms:\n${err}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
}
