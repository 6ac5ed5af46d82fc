/** A real HTTP server on 127.0.0.1 that scripts the answers an agent gets. */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
}

export type Answer = (request: ReceivedRequest, response: ServerResponse) => void;

export interface ScriptedServer {
  readonly url: string;
  readonly received: ReceivedRequest[];
  close(): Promise<void>;
}

/** Answers the n-th request with the n-th answer, and every later one with the last. */
export async function startScriptedServer(answers: readonly Answer[]): Promise<ScriptedServer> {
  const received: ReceivedRequest[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const entry = {
        method: request.method ?? "",
        path: request.url ?? "",
        headers: request.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      received.push(entry);
      const answer = answers[Math.min(received.length, answers.length) - 1];
      answer?.(entry, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Answer {
  return (_request, response) => {
    const type = status >= 400 ? "application/problem+json" : "application/json";
    response.writeHead(status, { "content-type": type, ...headers });
    response.end(JSON.stringify(body));
  };
}

export function problem(
  status: number,
  title: string,
  detail: string,
  headers: Record<string, string> = {},
): Answer {
  return json(status, { type: "about:blank", title, status, detail }, headers);
}

/** Never answers: the client's request timeout has to end it. */
export const silence: Answer = () => {};

/** Closes the connection without an answer. */
export const hangUp: Answer = (_request, response) => {
  response.socket?.destroy();
};
