/**
 * A small HTTP server on 127.0.0.1 for VM tests: QEMU user networking shows it to the guest as 10.0.2.2.
 * It answers routes the test registers and records every request, so a test can wait for what the guest did.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
}

export type RouteReply =
  | { readonly kind: "text"; readonly body: string; readonly status?: number; readonly contentType?: string }
  | { readonly kind: "file"; readonly path: string };

export type Route = (request: RecordedRequest) => RouteReply;

/** The address the guest uses for the host under QEMU user networking. */
export const GUEST_HOST_ADDRESS = "10.0.2.2";

export class BootHttpServer {
  readonly requests: RecordedRequest[] = [];
  private readonly routes = new Map<string, Route>();
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly server: Server) {}

  static async start(): Promise<BootHttpServer> {
    let instance: BootHttpServer | undefined;
    const server = createServer((request, response) => {
      void instance?.handle(request, response);
    });
    instance = new BootHttpServer(server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", resolve);
    });
    return instance;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Base URL as the guest sees it. */
  get guestUrl(): string {
    return `http://${GUEST_HOST_ADDRESS}:${this.port}`;
  }

  route(pathname: string, route: Route): void {
    this.routes.set(pathname, route);
  }

  /** The first recorded request that satisfies `predicate`, waiting up to `timeoutMs` for it. */
  async waitForRequest(
    predicate: (request: RecordedRequest) => boolean,
    options: { readonly timeoutMs: number; readonly signal?: AbortSignal; readonly describe: string },
  ): Promise<RecordedRequest> {
    const found = (): RecordedRequest | undefined => this.requests.find(predicate);
    const already = found();
    if (already !== undefined) return already;
    return await new Promise<RecordedRequest>((resolve, reject) => {
      const check = (): void => {
        const request = found();
        if (request === undefined) return;
        cleanup();
        resolve(request);
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        options.signal?.removeEventListener("abort", onAbort);
      };
      const onAbort = (): void => {
        cleanup();
        reject(new Error(`aborted while waiting for ${options.describe}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        const seen = this.requests.map((request) => `${request.method} ${request.url.pathname}`).join(", ");
        reject(
          new Error(
            `no ${options.describe} within ${options.timeoutMs} ms; requests so far: ${seen || "none"}`,
          ),
        );
      }, options.timeoutMs);
      options.signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.add(check);
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const recorded: RecordedRequest = {
      method: request.method ?? "GET",
      url: new URL(request.url ?? "/", `http://${request.headers.host ?? "localhost"}`),
      headers: request.headers,
      body: Buffer.concat(chunks).toString("utf8"),
    };
    this.requests.push(recorded);
    for (const waiter of this.waiters) waiter();
    const route = this.routes.get(recorded.url.pathname);
    if (route === undefined) {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    const reply = route(recorded);
    if (reply.kind === "text") {
      response
        .writeHead(reply.status ?? 200, { "content-type": reply.contentType ?? "text/plain" })
        .end(reply.body);
      return;
    }
    const size = (await stat(reply.path)).size;
    response.writeHead(200, { "content-type": "application/octet-stream", "content-length": size });
    createReadStream(reply.path).pipe(response);
  }
}
