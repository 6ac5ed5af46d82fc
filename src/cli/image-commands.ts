/**
 * `ingot image …`: boot image maintenance. `image build-agent` builds the agent boot image (kernel +
 * initramfs with node, ingot-agent and the probe tools) into `<data-dir>/artifacts/agent/<version>/`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import { resolveOptions } from "../config/options.ts";
import { SERVER_OPTIONS } from "../config/server-config.ts";
import { type AgentImageBuild, type AgentImageProgress, buildAgentImage } from "../images/agent-image.ts";
import { ArtifactStore } from "../images/artifact-store.ts";

interface BuildAgentFlags {
  readonly dataDir?: string;
  readonly agentBundle?: string;
  readonly kernelVersion?: string;
  readonly force?: boolean;
  readonly json?: boolean;
}

/** Adds the `image` command group to the program. */
export function registerImageCommands(program: Command): void {
  const image = program.command("image").description("boot images");
  image
    .command("build-agent")
    .description("build the agent boot image (kernel + initramfs) into the artifact store")
    .option(
      SERVER_OPTIONS.dataDir.flag,
      `${SERVER_OPTIONS.dataDir.description} (default: ${SERVER_OPTIONS.dataDir.default}) [env: ${SERVER_OPTIONS.dataDir.env.join(", ")}]`,
    )
    .option("--agent-bundle <file>", "ingot-agent bundle to ship (default: bundle agent/ now)")
    .option("--kernel-version <release>", "kernel release from /boot (default: the newest installed)")
    .option("--force", "rebuild even when nothing changed")
    .option("--json", "print the result as JSON")
    .allowExcessArguments(false)
    .action(async (flags: BuildAgentFlags) => await buildAgent(flags));
}

async function buildAgent(flags: BuildAgentFlags): Promise<void> {
  const { dataDir } = resolveOptions(
    { dataDir: SERVER_OPTIONS.dataDir },
    { flags: { dataDir: flags.dataDir }, env: process.env, file: {} },
  );
  const store = ArtifactStore.forDataDir(path.resolve(dataDir));
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new Error("interrupted"));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const reporter = new ProgressReporter(process.stderr);
  const bundleDir =
    flags.agentBundle === undefined ? await mkdtemp(path.join(tmpdir(), "ingot-agent-bundle-")) : undefined;
  try {
    let agentBundle = flags.agentBundle;
    if (bundleDir !== undefined) {
      agentBundle = path.join(bundleDir, "ingot-agent.js");
      process.stderr.write("bundling ingot-agent\n");
      await bundleAgent(agentBundle);
    }
    const result = await buildAgentImage({
      artifactStore: store,
      agentBundle: path.resolve(agentBundle ?? ""),
      kernelVersion: flags.kernelVersion,
      force: flags.force === true,
      signal: controller.signal,
      onProgress: (progress) => reporter.report(progress),
    });
    reporter.finish();
    process.stdout.write(
      flags.json === true ? `${JSON.stringify(result, null, 2)}\n` : summary(result, store.root),
    );
  } finally {
    reporter.finish();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (bundleDir !== undefined) await rm(bundleDir, { recursive: true, force: true });
  }
}

/** Loaded only for this command, so the server and the other commands never load the bundler (esbuild). */
async function bundleAgent(outFile: string): Promise<void> {
  const { buildAgentBundle } = await import("../../agent/build.ts");
  await buildAgentBundle(outFile);
}

function summary(result: AgentImageBuild, storeRoot: string): string {
  const { manifest } = result;
  const lines = [
    `agent image ${manifest.version} ${result.cached ? "(unchanged, reused)" : "built"} in ${(result.durationMs / 1000).toFixed(1)} s`,
    `  kernel ${manifest.kernelVersion}, node ${manifest.nodeVersion}, ${manifest.modules.length} modules, tools: ${manifest.tools.join(" ")}`,
    ...[manifest.kernel, manifest.initrd, result.manifestArtifact].map(
      (artifact) => `  ${artifact.name}  ${artifact.sizeBytes} bytes  sha256 ${artifact.sha256}`,
    ),
    `  store: ${storeRoot}`,
    `  kernel command line (at least): ${manifest.kernelCommandLine}`,
  ];
  return `${lines.join("\n")}\n`;
}

/** Step lines; a progress bar while the archive is written when stderr is a terminal. */
class ProgressReporter {
  private bar: SingleBar | undefined;

  constructor(private readonly out: NodeJS.WriteStream) {}

  report(progress: AgentImageProgress): void {
    switch (progress.kind) {
      case "step":
        this.finish();
        this.out.write(`[${progress.step}/${progress.total}] ${progress.title}\n`);
        return;
      case "info":
        this.finish();
        this.out.write(`      ${progress.message}\n`);
        return;
      case "archive": {
        if (!this.out.isTTY) return;
        const totalMiB = Math.max(1, Math.round(progress.bytesTotal / 1_048_576));
        const doneMiB = Math.min(totalMiB, Math.round(progress.bytesDone / 1_048_576));
        if (this.bar === undefined) {
          this.bar = new SingleBar({
            format: "      {bar} {value}/{total} MiB",
            stream: this.out,
            hideCursor: true,
          });
          this.bar.start(totalMiB, doneMiB);
        } else {
          this.bar.update(doneMiB);
        }
        return;
      }
    }
  }

  finish(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
