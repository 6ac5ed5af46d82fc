/**
 * Declarative option specs shared by the CLI (flags), the environment and config files, so that the three
 * sources, the `--help` text and the README's configuration reference cannot drift apart.
 */
export interface OptionSpec<T> {
  /** commander flag syntax, e.g. `--port <port>` */
  readonly flag: string;
  /** environment variables, first set one wins */
  readonly env: readonly string[];
  readonly description: string;
  readonly default?: T;
  /** Turns the raw text into a value; throws an Error whose message says what is wrong. */
  parse(raw: string): T;
}

export type OptionTable = Record<string, OptionSpec<unknown>>;

export type OptionValues<Table extends OptionTable> = {
  [K in keyof Table]: Table[K] extends OptionSpec<infer T> & { readonly default: unknown }
    ? T
    : Table[K] extends OptionSpec<infer T>
      ? T | undefined
      : never;
};

export function option<T>(
  spec: OptionSpec<T> & { readonly default: T },
): OptionSpec<T> & { readonly default: T };
export function option<T>(spec: OptionSpec<T>): OptionSpec<T>;
export function option<T>(spec: OptionSpec<T>): OptionSpec<T> {
  return spec;
}

export function parseInteger(min: number, max: number): (raw: string) => number {
  return (raw) => {
    if (!/^-?\d+$/.test(raw.trim())) throw new Error(`expected an integer, got "${raw}"`);
    const value = Number(raw);
    if (value < min || value > max) throw new Error(`must be between ${min} and ${max}, got ${value}`);
    return value;
  };
}

export function parseOneOf<T extends string>(choices: readonly T[]): (raw: string) => T {
  return (raw) => {
    const found = choices.find((choice) => choice === raw);
    if (found === undefined) throw new Error(`must be one of ${choices.join(", ")}, got "${raw}"`);
    return found;
  };
}

export function parseUrl(protocols: readonly string[]): (raw: string) => string {
  return (raw) => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new Error(`not a valid URL: "${raw}"`);
    }
    if (!protocols.includes(url.protocol)) {
      throw new Error(`URL must use ${protocols.join(" or ")}, got "${url.protocol}"`);
    }
    return raw;
  };
}

export function parseNonEmpty(raw: string): string {
  if (raw.trim() === "") throw new Error("must not be empty");
  return raw;
}

export function parseList(raw: string): string[] {
  return raw
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

export function parseBoolean(raw: string): boolean {
  if (["1", "true", "yes", "on"].includes(raw.toLowerCase())) return true;
  if (["0", "false", "no", "off"].includes(raw.toLowerCase())) return false;
  throw new Error(`expected true or false, got "${raw}"`);
}

/** Long option name without dashes and argument, in camelCase: `--data-dir <dir>` → `dataDir`. */
export function flagKey(flag: string): string {
  const name = flag.split(/\s+/)[0]?.replace(/^--/, "") ?? "";
  return name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

export interface ConfigSources {
  /** Values from command-line flags, keyed by camelCase flag name; undefined when not given. */
  readonly flags: Readonly<Record<string, string | undefined>>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Values from a JSON config file, keyed like the flags. */
  readonly file: Readonly<Record<string, unknown>>;
}

/** Resolves every option (flag > environment > config file > default) and reports all problems at once. */
export function resolveOptions<Table extends OptionTable>(
  table: Table,
  sources: ConfigSources,
): OptionValues<Table> {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  const known = new Set(Object.keys(table).map((key) => flagKey(table[key]?.flag ?? "")));
  for (const key of Object.keys(sources.file)) {
    if (!known.has(key)) problems.push(`config file: unknown setting "${key}"`);
  }
  for (const [key, spec] of Object.entries(table)) {
    const name = flagKey(spec.flag);
    const fromFlag = sources.flags[name];
    const envName = spec.env.find((variable) => (sources.env[variable] ?? "") !== "");
    const fileValue = sources.file[name];
    let raw: string | undefined;
    let origin: string;
    if (fromFlag !== undefined) {
      raw = fromFlag;
      origin = `--${spec.flag.split(/\s+/)[0]?.replace(/^--/, "")}`;
    } else if (envName !== undefined) {
      raw = sources.env[envName];
      origin = envName;
    } else if (fileValue !== undefined && fileValue !== null) {
      raw = Array.isArray(fileValue) ? fileValue.join(",") : String(fileValue);
      origin = `config file "${name}"`;
    } else {
      values[key] = spec.default;
      continue;
    }
    try {
      values[key] = spec.parse(raw ?? "");
    } catch (error) {
      problems.push(`${origin}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return values as OptionValues<Table>;
}
