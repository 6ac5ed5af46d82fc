/**
 * The few calls the lab fleet makes to an Ingot server: the public API with a bearer token, and the boot
 * and agent endpoints a machine uses. Every call has a deadline; a problem answer becomes an IngotApiError
 * carrying its status, code and detail.
 */

export class IngotApiError extends Error {
  override name = "IngotApiError";
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

export interface IngotClientOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:8080. */
  readonly server: string;
  /** API token (or anything the server accepts as `Authorization: Bearer`). */
  readonly token?: string;
  /** Deadline of one call (default 60 s: an exploration reads a whole BMC). */
  readonly timeoutMs?: number;
}

export class IngotClient {
  readonly server: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: IngotClientOptions) {
    this.server = options.server.replace(/\/+$/, "");
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** A JSON call; `bearer` replaces the API token (an agent's boot token). */
  async json<T>(
    method: "GET" | "POST" | "PATCH" | "DELETE",
    path: string,
    body?: unknown,
    options: { bearer?: string; signal?: AbortSignal } = {},
  ): Promise<T> {
    const response = await this.send(method, path, body, options);
    const text = await response.text();
    if (!response.ok) throw failure(method, path, response.status, text);
    return (text === "" ? undefined : JSON.parse(text)) as T;
  }

  /** A text answer, e.g. an iPXE script. */
  async text(path: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    const response = await this.send("GET", path, undefined, options);
    const text = await response.text();
    if (!response.ok) throw failure("GET", path, response.status, text);
    return text;
  }

  private async send(
    method: string,
    path: string,
    body: unknown,
    options: { bearer?: string; signal?: AbortSignal },
  ): Promise<Response> {
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const signal = options.signal === undefined ? deadline : AbortSignal.any([options.signal, deadline]);
    const bearer = options.bearer ?? this.token;
    try {
      return await fetch(`${this.server}${path}`, {
        method,
        headers: {
          accept: "application/json, text/plain",
          ...(bearer !== undefined ? { authorization: `Bearer ${bearer}` } : {}),
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal,
      });
    } catch (error) {
      const why = deadline.aborted
        ? `no answer within ${this.timeoutMs} ms`
        : error instanceof Error
          ? ((error.cause as Error | undefined)?.message ?? error.message)
          : String(error);
      throw new IngotApiError(0, undefined, `${method} ${this.server}${path}: ${why}`);
    }
  }
}

function failure(method: string, path: string, status: number, text: string): IngotApiError {
  let code: string | undefined;
  let detail = text.slice(0, 500);
  try {
    const problem = JSON.parse(text) as { code?: unknown; detail?: unknown; title?: unknown };
    if (typeof problem.code === "string") code = problem.code;
    if (typeof problem.detail === "string") detail = problem.detail;
    else if (typeof problem.title === "string") detail = problem.title;
  } catch {
    // Not a problem document: the start of the body says what went wrong.
  }
  return new IngotApiError(
    status,
    code,
    `${method} ${path}: ${status}${code !== undefined ? ` ${code}` : ""}: ${detail}`,
  );
}
