/**
 * Collects files from the build host into an image tree: binaries with the shared libraries `ldd` finds,
 * symbolic links kept as links, and the host's merged-/usr layout (`/lib` → `usr/lib`) mirrored, so a path
 * baked into a binary (the ELF interpreter `/lib64/ld-linux-x86-64.so.2`) resolves in the image as on the host.
 */
import { constants } from "node:fs";
import { access, lstat, readlink, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { CommandError, runCommand } from "./command.ts";

export type ImageEntry =
  | {
      readonly kind: "file";
      readonly source: string;
      readonly mode: number;
      /** Known content hash: identifies the file for caching better than its path and mtime. */
      readonly sha256?: string;
    }
  | { readonly kind: "text"; readonly content: string; readonly mode: number }
  | { readonly kind: "symlink"; readonly target: string }
  | { readonly kind: "dir"; readonly mode: number };

/** Top-level directories that merged-/usr systems turn into links. */
const MERGED_USR_DIRS = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

const DEFAULT_SEARCH_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** Finds a program on PATH plus the sbin directories (often missing from a non-root PATH). */
export async function findProgram(
  name: string,
  searchPath = process.env.PATH ?? "",
): Promise<string | undefined> {
  const dirs = [...searchPath.split(":").filter((dir) => dir !== ""), ...DEFAULT_SEARCH_PATH];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Absolute paths of the shared libraries (and ELF interpreter) a binary loads; empty for a static binary. */
export async function sharedLibraries(binary: string, signal?: AbortSignal): Promise<string[]> {
  let output: string;
  try {
    output = (await runCommand("ldd", [binary], { signal, timeoutMs: 30_000 })).stdout;
  } catch (error) {
    if (error instanceof CommandError && /not a dynamic executable/.test(error.stderr)) return [];
    throw error;
  }
  const libraries: string[] = [];
  const missing: string[] = [];
  for (const line of output.split("\n")) {
    const trimmed = line.trim();
    if (trimmed === "" || /statically linked/.test(trimmed)) continue;
    const arrow = /^(\S+) => (\S+)/.exec(trimmed);
    if (arrow?.[2] === "not") missing.push(arrow[1] ?? trimmed);
    else if (arrow?.[2]?.startsWith("/")) libraries.push(arrow[2]);
    else if (trimmed.startsWith("/")) libraries.push(trimmed.split(/\s+/)[0] ?? trimmed);
  }
  if (missing.length > 0)
    throw new Error(`${binary} needs shared libraries that are not installed: ${missing.join(", ")}`);
  return libraries;
}

export class ImageTree {
  private readonly entries = new Map<string, ImageEntry>();
  private readonly mergedUsr = new Map<string, string>();

  /** Mirrors the host's merged-/usr links (`/lib` → `usr/lib`); call before adding host files. */
  async mirrorMergedUsr(hostRoot = "/"): Promise<void> {
    for (const dir of MERGED_USR_DIRS) {
      try {
        const target = await readlink(path.join(hostRoot, dir));
        this.mergedUsr.set(dir, path.posix.normalize(target).replace(/^\/+/, ""));
        this.entries.set(dir, { kind: "symlink", target });
      } catch {
        // a real directory, or absent: nothing to mirror
      }
    }
  }

  /** The path inside the image where a host path lands, with merged-/usr links applied. */
  imagePath(absolute: string): string {
    const relative = path.posix.normalize(absolute).replace(/^\/+/, "");
    const [first, ...rest] = relative.split("/");
    const merged = first === undefined ? undefined : this.mergedUsr.get(first);
    return merged === undefined ? relative : [merged, ...rest].join("/");
  }

  has(imagePath: string): boolean {
    return this.entries.has(imagePath);
  }

  addDir(imagePath: string, mode = 0o755): void {
    this.entries.set(imagePath, { kind: "dir", mode });
  }

  addText(imagePath: string, content: string, mode = 0o644): void {
    this.entries.set(imagePath, { kind: "text", content, mode });
  }

  addSymlink(imagePath: string, target: string): void {
    if (!this.entries.has(imagePath)) this.entries.set(imagePath, { kind: "symlink", target });
  }

  /** Copies a host file to `imagePath` (by default its own path) under its mode; links are followed. */
  async addFile(hostPath: string, imagePath?: string, sha256?: string): Promise<void> {
    const stats = await stat(hostPath);
    const target = imagePath ?? this.imagePath(await realpath(hostPath));
    this.entries.set(target, { kind: "file", source: hostPath, mode: stats.mode & 0o7777, sha256 });
  }

  /**
   * Adds a host path as the host has it: a link becomes the same link plus whatever it points to (so
   * `libstdc++.so.6` → `libstdc++.so.6.0.30` stays that way), a file becomes a copy.
   */
  async addHostPath(hostPath: string): Promise<void> {
    const dir = await realpath(path.dirname(hostPath));
    const full = path.join(dir, path.basename(hostPath));
    const imagePath = this.imagePath(full);
    if (this.entries.has(imagePath)) return;
    const stats = await lstat(full);
    if (stats.isSymbolicLink()) {
      const target = await readlink(full);
      this.entries.set(imagePath, { kind: "symlink", target });
      await this.addHostPath(path.resolve(dir, target));
    } else if (stats.isFile()) {
      this.entries.set(imagePath, { kind: "file", source: full, mode: stats.mode & 0o7777 });
    } else {
      throw new Error(`${full} is neither a file nor a symbolic link`);
    }
  }

  /** A binary at its host path plus every shared library it loads. */
  async addBinary(hostPath: string, signal?: AbortSignal): Promise<void> {
    await this.addHostPath(hostPath);
    for (const library of await sharedLibraries(hostPath, signal)) await this.addHostPath(library);
  }

  /** Entries sorted by path, with every parent directory present (created as 0755 when not added). */
  list(): Array<[string, ImageEntry]> {
    const all = new Map(this.entries);
    for (const imagePath of this.entries.keys()) {
      let parent = path.posix.dirname(imagePath);
      while (parent !== "." && parent !== "/" && !all.has(parent)) {
        all.set(parent, { kind: "dir", mode: 0o755 });
        parent = path.posix.dirname(parent);
      }
    }
    return [...all.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
}
