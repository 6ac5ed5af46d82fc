/**
 * The agent's parameters come from the kernel command line that the server's iPXE script wrote:
 * `ingot.url=<server base URL> ingot.token=<boot token> ingot.mode=enroll ingot.mac=<boot MAC>`.
 * `BOOTIF=01-aa-bb-…` (the pxelinux convention) also names the boot interface.
 */
import {
  AGENT_KERNEL_PARAMS,
  AGENT_MODES,
  type AgentMode,
  type BootMacSource,
} from "../src/protocol/enrollment.ts";
import { normalizeMac } from "./probes/normalize.ts";

export interface AgentParams {
  /** Server base URL without a trailing slash. */
  readonly serverUrl: string;
  readonly token: string;
  readonly mode: AgentMode;
  readonly bootMac?: { readonly mac: string; readonly source: Exclude<BootMacSource, "detected"> };
}

export type CmdlineResult =
  | { readonly ok: true; readonly params: AgentParams; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly problems: readonly string[] };

/** RFC 6750 token68 characters: what a bearer token may contain. */
const TOKEN_PATTERN = /^[A-Za-z0-9\-._~+/]+=*$/;
const MAX_TOKEN_LENGTH = 4096;

/** Splits like the kernel does: on spaces, except inside double quotes, which are removed. */
export function splitKernelCmdline(text: string): Map<string, string> {
  const params = new Map<string, string>();
  let word = "";
  let quoted = false;
  const flush = (): void => {
    if (word === "") return;
    const separator = word.indexOf("=");
    const key = separator < 0 ? word : word.slice(0, separator);
    params.set(key, separator < 0 ? "" : word.slice(separator + 1));
    word = "";
  };
  for (const character of text) {
    if (character === '"') quoted = !quoted;
    else if (!quoted && /\s/.test(character)) flush();
    else word += character;
  }
  flush();
  return params;
}

function serverUrl(value: string | undefined, problems: string[]): string | undefined {
  if (value === undefined || value === "") {
    problems.push("ingot.url is missing: the boot script must pass the server's base URL");
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`ingot.url is not a URL: ${value}`);
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    problems.push(`ingot.url must be http or https, not ${url.protocol}`);
    return undefined;
  }
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    problems.push("ingot.url must be a plain base URL (no query, fragment or credentials)");
    return undefined;
  }
  return url.href.replace(/\/+$/, "");
}

export function parseKernelCmdline(text: string): CmdlineResult {
  const params = splitKernelCmdline(text);
  const problems: string[] = [];
  const warnings: string[] = [];

  const url = serverUrl(params.get(AGENT_KERNEL_PARAMS.url), problems);

  const token = params.get(AGENT_KERNEL_PARAMS.token) ?? "";
  if (token === "") problems.push("ingot.token is missing: the boot script must pass a boot token");
  else if (token.length > MAX_TOKEN_LENGTH || !TOKEN_PATTERN.test(token)) {
    problems.push("ingot.token is not a valid bearer token");
  }

  const modeValue = params.get(AGENT_KERNEL_PARAMS.mode) ?? "enroll";
  const mode = AGENT_MODES.find((known) => known === modeValue);
  if (mode === undefined) {
    problems.push(`ingot.mode=${modeValue} is not supported (supported: ${AGENT_MODES.join(", ")})`);
  }

  let bootMac: AgentParams["bootMac"];
  const macValue = params.get(AGENT_KERNEL_PARAMS.mac);
  const bootif = params.get("BOOTIF");
  if (macValue !== undefined) {
    const mac = normalizeMac(macValue);
    if (mac === undefined)
      warnings.push(`ingot.mac=${macValue} is not a MAC address; detecting the boot interface`);
    else bootMac = { mac, source: "cmdline" };
  }
  if (bootMac === undefined && bootif !== undefined) {
    // pxelinux prefixes the ARP hardware type: 01 for Ethernet.
    const mac = normalizeMac(bootif.replace(/^01-/, ""));
    if (mac === undefined)
      warnings.push(`BOOTIF=${bootif} is not a MAC address; detecting the boot interface`);
    else bootMac = { mac, source: "bootif" };
  }

  if (problems.length > 0 || url === undefined || mode === undefined) return { ok: false, problems };
  return { ok: true, params: { serverUrl: url, token, mode, ...(bootMac ? { bootMac } : {}) }, warnings };
}
