/** ingot-agent's entry point (what agent/build.ts bundles): no top-level await, so it bundles to any format. */
import { runCli } from "./cli.ts";

const stop = new AbortController();
for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => stop.abort());

runCli(process.argv.slice(2), stop.signal).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `ingot-agent: unexpected failure: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
