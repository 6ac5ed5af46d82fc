/**
 * Plain ssh2 client calls for the NVSwitch lab tests: no manager logic in between, so the tests see what
 * the simulated switch itself answers.
 */
import { createHash } from "node:crypto";
import ssh2 from "ssh2";
import type { NvosSshEndpoint } from "../../../lab/nvswitch/index.ts";

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | null;
}

export interface SshFailure extends Error {
  readonly level?: string;
  readonly code?: string;
}

/** Connects, reporting the host key fingerprint the server offered. */
export async function connect(
  endpoint: NvosSshEndpoint,
  seen: { fingerprint?: string } = {},
): Promise<ssh2.Client> {
  const client = new ssh2.Client();
  return await new Promise((resolve, reject) => {
    client.once("ready", () => resolve(client));
    client.once("error", reject);
    client.connect({
      host: endpoint.address,
      port: endpoint.port,
      username: endpoint.username,
      password: endpoint.password,
      readyTimeout: 10_000,
      hostVerifier: (key: Buffer) => {
        seen.fingerprint = `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
        return true;
      },
    });
  });
}

/** Runs one command; `input` is written to its stdin (answers to prompts). */
export async function exec(endpoint: NvosSshEndpoint, command: string, input?: string): Promise<ExecResult> {
  const client = await connect(endpoint);
  try {
    return await new Promise((resolve, reject) => {
      client.exec(command, (error, channel) => {
        if (error !== undefined) {
          reject(error);
          return;
        }
        let stdout = "";
        let stderr = "";
        let code: number | null = null;
        channel.on("data", (chunk: Buffer) => {
          stdout += chunk.toString("utf8");
        });
        channel.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString("utf8");
        });
        channel.on("exit", (status: number | null) => {
          code = status;
        });
        channel.on("close", () => resolve({ stdout, stderr, code }));
        if (input !== undefined) channel.write(input);
      });
    });
  } finally {
    client.end();
  }
}

/** Why a connection attempt failed: the error's code or level (ECONNREFUSED, client-authentication). */
export async function connectFailure(endpoint: NvosSshEndpoint): Promise<string> {
  try {
    const client = await connect(endpoint);
    client.end();
    return "connected";
  } catch (error) {
    const failure = error as SshFailure;
    return failure.code ?? failure.level ?? failure.message;
  }
}
