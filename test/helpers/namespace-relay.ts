import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Netns } from "./netns.ts";

/**
 * Makes a TCP service of this process reachable at `listen` inside a network namespace, without any link
 * into the host's namespace: a relay started inside the namespace forwards each connection over a Unix
 * socket (the file system is shared) back to this process, which forwards it to `target`.
 */
export async function relayIntoNamespace(
  ns: Netns,
  listen: { host: string; port: number },
  target: { host: string; port: number },
): Promise<{ close(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), "ingot-relay-"));
  const socketPath = path.join(dir, "relay.sock");
  const hostSide: Server = createServer((inbound) => pipeBoth(inbound, createConnection(target)));
  await new Promise<void>((resolve, reject) => {
    hostSide.once("error", reject);
    hostSide.listen(socketPath, resolve);
  });
  const script = `
    const net = require("node:net");
    net.createServer((c) => { const u = net.connect(${JSON.stringify(socketPath)});
      c.on("error", () => u.destroy()); u.on("error", () => c.destroy()); c.pipe(u); u.pipe(c); })
      .listen(${listen.port}, ${JSON.stringify(listen.host)}, () => console.log("relay-ready"));`;
  const inside = ns.spawn([process.execPath, "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    inside.once("exit", (code) => reject(new Error(`relay in ${ns.name} exited with ${code}`)));
    inside.stdout?.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("relay-ready")) resolve();
    });
  });
  return {
    async close() {
      inside.kill("SIGKILL");
      await new Promise<void>((resolve) => hostSide.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function pipeBoth(a: Socket, b: Socket): void {
  a.on("error", () => b.destroy());
  b.on("error", () => a.destroy());
  a.pipe(b);
  b.pipe(a);
}
