import { Agent, request } from "undici";
import type { LabCredentials } from "../../../lab/redfish/index.ts";

export interface RawResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: Record<string, unknown>;
}

export interface RawTarget {
  readonly url: string;
  readonly ca: string;
}

/** One plain HTTPS request to a lab BMC, trusting the lab CA; no driver logic in between. */
export async function call(
  target: RawTarget,
  method: "GET" | "POST" | "PATCH" | "DELETE",
  path: string,
  options: { body?: unknown; headers?: Record<string, string>; auth?: LabCredentials } = {},
): Promise<RawResponse> {
  const agent = new Agent({ connect: { ca: target.ca } });
  try {
    const headers: Record<string, string> = { ...options.headers };
    if (options.auth !== undefined) {
      headers.authorization = `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`).toString("base64")}`;
    }
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const response = await request(`${target.url}${path}`, {
      dispatcher: agent,
      method,
      headers,
      body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.body.text();
    const flat: Record<string, string | undefined> = {};
    for (const [name, value] of Object.entries(response.headers))
      flat[name] = Array.isArray(value) ? value[0] : value;
    return {
      status: response.statusCode,
      headers: flat,
      body: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>),
    };
  } finally {
    await agent.close();
  }
}

export function messageId(response: RawResponse): string | undefined {
  const error = response.body.error as
    | { "@Message.ExtendedInfo"?: Array<{ MessageId?: string }> }
    | undefined;
  return error?.["@Message.ExtendedInfo"]?.[0]?.MessageId;
}
