import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { buildAgentBundle } from "../../agent/build.ts";
import { type AgentImageBuild, buildAgentImage } from "../../src/images/agent-image.ts";
import { ArtifactStore } from "../../src/images/artifact-store.ts";

/**
 * A data directory holding an agent image built from the real ingot-agent. Kept between runs under the
 * system temp dir: the builder's input hash decides whether anything is rebuilt.
 */
export async function agentImageDataDir(): Promise<{ dataDir: string; build: AgentImageBuild }> {
  const dataDir = path.join(tmpdir(), "ingot-test-agent-image-real");
  await mkdir(dataDir, { recursive: true });
  await chmod(dataDir, 0o755);
  const work = await mkdtemp(path.join(tmpdir(), "ingot-agent-bundle-"));
  try {
    const bundle = path.join(work, "ingot-agent.js");
    await buildAgentBundle(bundle);
    const build = await buildAgentImage({
      artifactStore: ArtifactStore.forDataDir(dataDir),
      agentBundle: bundle,
    });
    return { dataDir, build };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
