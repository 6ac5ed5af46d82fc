/**
 * Kernel module selection for the agent image: which `.ko` files to copy and in which order to load them,
 * resolved from the kernel's own `modules.dep` and `modules.builtin` (no modprobe on the build host needed).
 */
import { readFile } from "node:fs/promises";
import path from "node:path";

export interface KernelModule {
  /** Canonical name (dashes as underscores), e.g. `virtio_net`. */
  readonly name: string;
  /** Path relative to `/lib/modules/<version>/`, as written in modules.dep (may end in .xz/.zst/.gz). */
  readonly file: string;
  /** Names of the modules it depends on, directly or not. */
  readonly dependencies: readonly string[];
}

export interface ModuleAlias {
  /** Glob over a device's modalias, e.g. `pci:v00001AF4d*sv*sd*bc*sc*i*`. */
  readonly pattern: string;
  readonly module: string;
}

export interface ModuleIndex {
  readonly modulesDir: string;
  readonly modules: ReadonlyMap<string, KernelModule>;
  /** Names of drivers compiled into the kernel: asking for one needs no file. */
  readonly builtin: ReadonlySet<string>;
  /** From modules.alias: which module drives which devices. */
  readonly aliases: readonly ModuleAlias[];
}

export interface ModuleResolution {
  /** Every module to ship, dependencies before the modules that need them: a valid insmod order. */
  readonly load: readonly KernelModule[];
  /** Requested names that are built into the kernel. */
  readonly builtin: readonly string[];
}

export class UnknownModuleError extends Error {
  constructor(
    readonly moduleNames: readonly string[],
    modulesDir: string,
  ) {
    super(
      `kernel modules not found in ${modulesDir} (neither modules.dep nor modules.builtin): ${moduleNames.join(", ")}`,
    );
    this.name = "UnknownModuleError";
  }
}

/** `kernel/drivers/net/virtio_net.ko.xz` → `virtio_net`; dashes and underscores are the same to the kernel. */
export function moduleNameOf(file: string): string {
  return canonicalModuleName(path.basename(file).replace(/\.ko(\.(xz|zst|gz))?$/, ""));
}

export function canonicalModuleName(name: string): string {
  return name.replaceAll("-", "_");
}

/** Parses `modules.dep` text (`path: dep-path dep-path …`). */
export function parseModulesDep(text: string): Map<string, KernelModule> {
  const modules = new Map<string, KernelModule>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const file = line.slice(0, colon).trim();
    const dependencies = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter((dep) => dep !== "")
      .map(moduleNameOf);
    modules.set(moduleNameOf(file), { name: moduleNameOf(file), file, dependencies });
  }
  return modules;
}

/** Parses `modules.alias` text (`alias <pattern> <module>`). */
export function parseModulesAlias(text: string): ModuleAlias[] {
  const aliases: ModuleAlias[] = [];
  for (const line of text.split("\n")) {
    const [keyword, pattern, module] = line.trim().split(/\s+/);
    if (keyword === "alias" && pattern !== undefined && module !== undefined) {
      aliases.push({ pattern, module: canonicalModuleName(module) });
    }
  }
  return aliases;
}

/** modules.dep and modules.alias text for an image that ships only `modules` (paths without compression). */
export function moduleFilesFor(
  index: ModuleIndex,
  modules: readonly KernelModule[],
): { readonly modulesDep: string; readonly modulesAlias: string } {
  const byName = new Map(modules.map((module) => [module.name, module]));
  const plain = (file: string): string => file.replace(/\.(xz|zst|gz)$/, "");
  const modulesDep = modules
    .map((module) => {
      const deps = module.dependencies.map((name) => ` ${plain(byName.get(name)?.file ?? name)}`).join("");
      return `${plain(module.file)}:${deps}\n`;
    })
    .join("");
  const modulesAlias = index.aliases
    .filter((alias) => byName.has(alias.module))
    .map((alias) => `alias ${alias.pattern} ${alias.module}\n`)
    .join("");
  return { modulesDep, modulesAlias };
}

export async function readModuleIndex(modulesDir: string): Promise<ModuleIndex> {
  const depText = await readFile(path.join(modulesDir, "modules.dep"), "utf8").catch((error: unknown) => {
    throw new Error(
      `cannot read ${path.join(modulesDir, "modules.dep")} (${(error as NodeJS.ErrnoException).code}): ` +
        "is the kernel's module package installed and depmod run?",
    );
  });
  const builtinText = await readFile(path.join(modulesDir, "modules.builtin"), "utf8").catch(() => "");
  const builtin = new Set(
    builtinText
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map(moduleNameOf),
  );
  const aliasText = await readFile(path.join(modulesDir, "modules.alias"), "utf8").catch(() => "");
  return { modulesDir, modules: parseModulesDep(depText), builtin, aliases: parseModulesAlias(aliasText) };
}

/**
 * The modules to ship for the requested names, with everything they depend on, in load order. Throws
 * UnknownModuleError naming every requested module the kernel has neither as a file nor built in.
 */
export function resolveModules(index: ModuleIndex, names: readonly string[]): ModuleResolution {
  const unknown: string[] = [];
  const builtin: string[] = [];
  const ordered: KernelModule[] = [];
  const visited = new Set<string>();
  const visit = (name: string, chain: readonly string[]): void => {
    if (visited.has(name)) return;
    const module = index.modules.get(name);
    if (module === undefined) {
      throw new Error(
        `modules.dep in ${index.modulesDir} names ${name} (needed by ${chain.join(" → ")}) but has no entry for it`,
      );
    }
    visited.add(name);
    for (const dependency of module.dependencies) visit(dependency, [...chain, name]);
    ordered.push(module);
  };
  for (const requested of names.map(canonicalModuleName)) {
    if (index.modules.has(requested)) visit(requested, []);
    else if (index.builtin.has(requested)) builtin.push(requested);
    else unknown.push(requested);
  }
  if (unknown.length > 0) throw new UnknownModuleError(unknown, index.modulesDir);
  return { load: ordered, builtin };
}
