/**
 * Bundles ingot-agent into one self-contained JavaScript file (ESM, Node 20, every dependency inside)
 * for the boot image. `npm run build:agent` writes dist/ingot-agent.js; the image builder imports
 * {@link buildAgentBundle}.
 *
 * The agent may import only agent/ and src/protocol/ of this repository: the build fails on anything
 * else, so server code can never ride along into the image.
 */
import { statSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { build, type Plugin } from "esbuild";

const REPO_ROOT = path.resolve(import.meta.dirname, "..");
const ENTRY = path.join(REPO_ROOT, "agent", "main.ts");
export const DEFAULT_AGENT_BUNDLE = path.join(REPO_ROOT, "dist", "ingot-agent.js");

/** Repository files the bundle may contain, relative to the repository root. */
const ALLOWED_SOURCES = [/^agent\//, /^src\/protocol\//, /^node_modules\//, /^package\.json$/];

/** The inputs (repository-relative) that the agent must not contain. */
export function forbiddenAgentInputs(inputs: readonly string[]): string[] {
  return inputs.filter((input) => !ALLOWED_SOURCES.some((allowed) => allowed.test(input)));
}

/** Refuses, at resolution time, any repository file outside the allowed folders. */
const onlyAgentSources: Plugin = {
  name: "ingot-agent-sources",
  setup(builder) {
    builder.onResolve({ filter: /^\./ }, (args) => {
      const resolved = path
        .relative(REPO_ROOT, path.resolve(args.resolveDir, args.path))
        .split(path.sep)
        .join("/");
      if (forbiddenAgentInputs([resolved]).length > 0) {
        return {
          errors: [
            {
              text: `the agent may import only agent/ and src/protocol/, not ${resolved} (from ${path.relative(REPO_ROOT, args.importer)})`,
            },
          ],
        };
      }
      return undefined;
    });
  },
};

export interface AgentBundle {
  readonly bytes: number;
  /** Every file inside the bundle, relative to the repository root. */
  readonly inputs: readonly string[];
}

export async function buildAgentBundle(outFile: string): Promise<AgentBundle> {
  const result = await build({
    entryPoints: [ENTRY],
    outfile: outFile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    packages: "bundle",
    minify: false,
    sourcemap: false,
    legalComments: "eof",
    metafile: true,
    logLevel: "silent",
    absWorkingDir: REPO_ROOT,
    banner: { js: "#!/usr/bin/env node" },
    plugins: [onlyAgentSources],
  });
  const inputs = Object.keys(result.metafile.inputs).sort();
  const forbidden = forbiddenAgentInputs(inputs);
  if (forbidden.length > 0) throw new Error(`the agent bundle contains server code: ${forbidden.join(", ")}`);
  return { bytes: statSync(outFile).size, inputs };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const outFile = path.resolve(process.argv[2] ?? DEFAULT_AGENT_BUNDLE);
  const bundle = await buildAgentBundle(outFile);
  process.stdout.write(`${path.relative(process.cwd(), outFile)}: ${bundle.bytes} bytes\n`);
}
