/**
 * The HTTPS listener of one lab BMC: parses requests, applies the injected faults (latency, dropped
 * connections, error answers), records what it saw, and hands the rest to a Redfish service.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { LabTlsMaterial } from "../common/tls.ts";
import type { FaultController } from "./faults.ts";

export interface LabRequest {
  readonly method: string;
  /** Decoded path without query or trailing slash. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: unknown;
  readonly malformedBody: boolean;
}

export interface LabResponse {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
}

export type LabHandler = (request: LabRequest) => LabResponse;

export interface RequestRecord {
  readonly method: string;
  /** Path and query as sent. */
  readonly url: string;
  readonly status: number | "dropped";
  readonly at: number;
}

const MAX_BODY_BYTES = 1_048_576;
const MAX_RECORDS = 5_000;

export function redfishError(status: number, messageId: string, message: string): LabResponse {
  return {
    status,
    body: {
      error: {
        code: messageId,
        message,
        "@Message.ExtendedInfo": [
          {
            "@odata.type": "#Message.v1_1_1.Message",
            MessageId: messageId,
            Message: message,
            Severity: status >= 500 ? "Critical" : "Warning",
            Resolution: "None.",
          },
        ],
      },
    },
  };
}

export class LabHttpsServer {
  private readonly server: Server;
  private readonly records: RequestRecord[] = [];
  private readonly pending = new Set<NodeJS.Timeout>();
  private bound: { readonly host: string; readonly port: number } | undefined;
  private listening = false;
  private closed = false;

  constructor(
    tls: LabTlsMaterial,
    private readonly handler: LabHandler,
    private readonly faults: FaultController,
  ) {
    this.server = createServer({ key: tls.key, cert: tls.cert }, (request, response) => {
      this.serve(request, response).catch((error: unknown) => {
        console.error("lab Redfish server failed a request", error);
        if (!response.headersSent) {
          response.statusCode = 500;
          response.end();
        }
      });
    });
    this.server.keepAliveTimeout = 5_000;
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    const bound = (this.server.address() as AddressInfo).port;
    this.bound = { host, port: bound };
    this.listening = true;
    return bound;
  }

  /**
   * The device lost power: the port stops accepting connections (clients see them refused) and open
   * connections are cut. `resume()` listens on the same port again.
   */
  async suspend(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    await this.stopListening();
  }

  async resume(): Promise<void> {
    if (this.listening || this.closed || this.bound === undefined) return;
    await this.listen(this.bound.host, this.bound.port);
  }

  /** What this BMC has been asked, oldest first (bounded). */
  requests(): RequestRecord[] {
    return [...this.records];
  }

  clearRequests(): void {
    this.records.length = 0;
  }

  async close(): Promise<void> {
    for (const timer of this.pending) clearTimeout(timer);
    this.pending.clear();
    this.closed = true;
    if (!this.listening) return;
    this.listening = false;
    await this.stopListening();
  }

  private async stopListening(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private record(method: string, url: string, status: number | "dropped"): void {
    this.records.push({ method, url, status, at: Date.now() });
    if (this.records.length > MAX_RECORDS) this.records.splice(0, this.records.length - MAX_RECORDS);
  }

  private async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = request.method ?? "GET";
    const url = request.url ?? "/";
    const raw = await readBody(request);
    const latency = this.faults.current().latencyMs;
    if (latency > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.pending.delete(timer);
          resolve();
        }, latency);
        this.pending.add(timer);
      });
      if (request.socket.destroyed) return;
    }
    const decision = this.faults.decide(method, url);
    if (decision.kind === "drop") {
      this.record(method, url, "dropped");
      request.socket.destroy();
      return;
    }
    if (decision.kind === "garbage") {
      this.record(method, url, 200);
      response.statusCode = 200;
      response.setHeader("content-type", "text/html");
      response.end("<html><body>Internal error</body></html>");
      return;
    }
    let answer: LabResponse;
    if (decision.kind === "error") {
      answer = redfishError(decision.status, "Base.1.8.ServiceTemporarilyUnavailable", "Injected fault.");
      if (decision.retryAfterSeconds !== undefined) {
        answer = { ...answer, headers: { "retry-after": String(decision.retryAfterSeconds) } };
      }
    } else if (raw === undefined) {
      answer = redfishError(413, "Base.1.8.PayloadTooLarge", "The request body is too large.");
    } else {
      answer = this.handler(parseRequest(method, url, request.headers, raw));
    }
    this.record(method, url, answer.status);
    write(response, method, answer);
  }
}

function parseRequest(method: string, url: string, headers: IncomingHttpHeaders, raw: string): LabRequest {
  const parsed = new URL(url, "https://lab.invalid");
  let path = decodeURIComponent(parsed.pathname);
  while (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
  let body: unknown;
  let malformedBody = false;
  if (raw.trim() !== "") {
    try {
      body = JSON.parse(raw);
    } catch {
      malformedBody = true;
    }
  }
  return { method, path, query: parsed.searchParams, headers, body, malformedBody };
}

async function readBody(request: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) tooLarge = true;
    else chunks.push(buffer);
  }
  return tooLarge ? undefined : Buffer.concat(chunks).toString("utf8");
}

function write(response: ServerResponse, method: string, answer: LabResponse): void {
  if (response.destroyed) return;
  const payload = answer.body === undefined ? "" : JSON.stringify(answer.body, null, 1);
  response.statusCode = answer.status;
  response.setHeader("odata-version", "4.0");
  response.setHeader("cache-control", "no-cache");
  if (payload !== "") response.setHeader("content-type", "application/json; charset=utf-8");
  for (const [name, value] of Object.entries(answer.headers ?? {})) response.setHeader(name, value);
  response.setHeader("content-length", Buffer.byteLength(payload));
  response.end(method === "HEAD" ? undefined : payload);
}
