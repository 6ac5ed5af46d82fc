/**
 * Boot artifacts (kernels, initramfs images, build manifests) as plain files under `<data-dir>/artifacts/`.
 *
 * An artifact is addressed by a relative name such as `agent/0.1.0-3f2a9c1b5d7e/vmlinuz`: segments of
 * letters, digits, `.`, `_`, `+`, `-`, never starting with a dot, so a name can neither climb out of the
 * store (`..`) nor reach the store's own hidden bookkeeping. Each write lands in `.tmp/` first and is renamed
 * into place, so a reader sees the old file or the new one, never half of one. Size and sha256 are recorded in
 * a sidecar under `.meta/<name>.json`, written after the file, so an artifact without metadata is one whose
 * write did not finish and is reported as absent.
 *
 * The HTTP route that serves `/boot/v1/files/<name>` needs only {@link ArtifactStore.open}: it validates the
 * name, checks the file really lies inside the store, and returns the absolute path with size and sha256
 * (for Content-Length, ETag and Range handling).
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, mkdir, readdir, readFile, realpath, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { NotFoundError, ValidationError } from "../errors.ts";

export interface ArtifactInfo {
  /** Relative name, `/`-separated. */
  readonly name: string;
  readonly sizeBytes: number;
  /** Lower-case hex. */
  readonly sha256: string;
  /** When this content was written (ISO 8601). */
  readonly writtenAt: string;
}

export interface OpenedArtifact {
  /** Absolute path of the file, inside the store. */
  readonly path: string;
  readonly info: ArtifactInfo;
}

/** What to write: bytes in memory, a stream, or a file on disk to copy in. */
export type ArtifactSource =
  | { readonly kind: "bytes"; readonly data: Uint8Array | string }
  | { readonly kind: "stream"; readonly stream: Readable }
  | { readonly kind: "file"; readonly path: string };

export interface ArtifactWriteOptions {
  readonly signal?: AbortSignal;
  /** File mode of the stored file (default 0o644). */
  readonly mode?: number;
}

const SEGMENT = /^[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,199}$/;
const MAX_NAME_LENGTH = 1024;
const TEMP_DIR = ".tmp";
const META_DIR = ".meta";

/** Throws a ValidationError (field `name`) unless `name` is a safe relative artifact name. */
export function assertArtifactName(name: string): void {
  const segments = name.split("/");
  const bad =
    name.length === 0 ||
    name.length > MAX_NAME_LENGTH ||
    segments.some((segment) => !SEGMENT.test(segment) || segment === "." || segment === "..");
  if (bad) {
    throw new ValidationError(
      "artifact.invalid_name",
      `invalid artifact name "${name}": use relative /-separated segments of letters, digits, . _ + - ` +
        "not starting with a dot",
      "name",
    );
  }
}

export class ArtifactStore {
  /** Absolute store directory, normally `<data-dir>/artifacts` (see {@link ArtifactStore.forDataDir}). */
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  static forDataDir(dataDir: string): ArtifactStore {
    return new ArtifactStore(path.join(dataDir, "artifacts"));
  }

  /** Absolute path for a name, after validating it. The file may not exist. */
  resolve(name: string): string {
    assertArtifactName(name);
    const resolved = path.resolve(this.root, ...name.split("/"));
    if (!resolved.startsWith(this.root + path.sep)) {
      throw new ValidationError("artifact.invalid_name", `artifact name "${name}" leaves the store`, "name");
    }
    return resolved;
  }

  /** Writes an artifact atomically and records its size and sha256. Replaces an existing one. */
  async put(name: string, source: ArtifactSource, options: ArtifactWriteOptions = {}): Promise<ArtifactInfo> {
    const target = this.resolve(name);
    const tempDir = path.join(this.root, TEMP_DIR);
    await mkdir(tempDir, { recursive: true });
    const temp = path.join(tempDir, `${randomBytes(8).toString("hex")}.part`);
    const hash = createHash("sha256");
    let sizeBytes = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
        hash.update(chunk);
        sizeBytes += chunk.length;
        callback(null, chunk);
      },
    });
    try {
      await pipeline(
        sourceStream(source),
        meter,
        createWriteStream(temp, { mode: options.mode ?? 0o644, flush: true }),
        { signal: options.signal },
      );
      const info: ArtifactInfo = {
        name,
        sizeBytes,
        sha256: hash.digest("hex"),
        writtenAt: new Date().toISOString(),
      };
      await mkdir(path.dirname(target), { recursive: true });
      // The old metadata goes first: between the two renames the artifact reads as absent, never as
      // new content with an old checksum.
      await rm(this.metaPath(name), { force: true });
      await rename(temp, target);
      await this.writeMeta(info);
      return info;
    } finally {
      await rm(temp, { force: true });
    }
  }

  /** Size and sha256 of a complete artifact, or undefined when it does not exist (or its write did not finish). */
  async stat(name: string): Promise<ArtifactInfo | undefined> {
    const target = this.resolve(name);
    let meta: unknown;
    try {
      meta = JSON.parse(await readFile(this.metaPath(name), "utf8"));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    const info = parseInfo(meta, name);
    try {
      const stats = await lstat(target);
      return stats.isFile() && stats.size === info.sizeBytes ? info : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /**
   * The file to serve for a name. Throws NotFoundError when it is absent, and refuses a path that resolves
   * (through a symbolic link planted in the store) to somewhere outside it.
   */
  async open(name: string): Promise<OpenedArtifact> {
    const target = this.resolve(name);
    const info = await this.stat(name);
    if (info === undefined) throw new NotFoundError("artifact.not_found", `artifact "${name}" not found`);
    const [realRoot, realTarget] = await Promise.all([realpath(this.root), realpath(target)]);
    if (!realTarget.startsWith(realRoot + path.sep)) {
      throw new NotFoundError("artifact.not_found", `artifact "${name}" not found`);
    }
    return { path: realTarget, info };
  }

  async readText(name: string): Promise<string> {
    return await readFile((await this.open(name)).path, "utf8");
  }

  /** Complete artifacts whose name starts with `prefix` (a folder like `agent/` or empty for all), by name. */
  async list(prefix = ""): Promise<ArtifactInfo[]> {
    const metaRoot = path.join(this.root, META_DIR);
    let entries: string[];
    try {
      entries = await readdir(metaRoot, { recursive: true });
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
    const names = entries
      .filter((entry) => entry.endsWith(".json"))
      .map((entry) => entry.slice(0, -".json".length).split(path.sep).join("/"))
      .filter((name) => name.startsWith(prefix))
      .sort();
    const found: ArtifactInfo[] = [];
    for (const name of names) {
      const info = await this.stat(name);
      if (info !== undefined) found.push(info);
    }
    return found;
  }

  /** Removes an artifact and its metadata; absent ones are ignored. */
  async remove(name: string): Promise<void> {
    const target = this.resolve(name);
    await rm(this.metaPath(name), { force: true });
    await rm(target, { force: true });
  }

  private metaPath(name: string): string {
    return path.join(this.root, META_DIR, ...`${name}.json`.split("/"));
  }

  private async writeMeta(info: ArtifactInfo): Promise<void> {
    const file = this.metaPath(info.name);
    await mkdir(path.dirname(file), { recursive: true });
    const temp = path.join(this.root, TEMP_DIR, `${randomBytes(8).toString("hex")}.meta`);
    await writeFile(temp, `${JSON.stringify(info, null, 2)}\n`, { flush: true });
    await rename(temp, file);
  }
}

function sourceStream(source: ArtifactSource): Readable {
  switch (source.kind) {
    case "bytes":
      return Readable.from([typeof source.data === "string" ? Buffer.from(source.data) : source.data]);
    case "stream":
      return source.stream;
    case "file":
      return createReadStream(source.path);
  }
}

function parseInfo(value: unknown, name: string): ArtifactInfo {
  if (typeof value === "object" && value !== null) {
    const record = value as Record<string, unknown>;
    if (
      typeof record.sizeBytes === "number" &&
      typeof record.sha256 === "string" &&
      typeof record.writtenAt === "string"
    ) {
      return { name, sizeBytes: record.sizeBytes, sha256: record.sha256, writtenAt: record.writtenAt };
    }
  }
  throw new Error(`artifact metadata for "${name}" is malformed`);
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === "ENOENT";
}
