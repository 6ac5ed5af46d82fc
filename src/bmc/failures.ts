/**
 * What a BMC failure means to an API client, decided in one place: every route that talks to a BMC turns
 * a BmcError into one of these domain errors, and src/http/problem.ts turns those into problem+json.
 *
 *   unreachable, rejected, protocol, tls → 502 (the BMC refused, failed or answered nonsense)
 *   timeout                              → 504 (no answer within the deadline)
 *   auth                                 → 422 bmc.credentials_refused (fix the credentials, not the request)
 *   unsupported                          → 422 bmc.unsupported (this BMC cannot do it)
 *
 * Every problem names the BMC (address, and MAC when known) in its message and details.
 */
import { DomainError, UpstreamError } from "../errors.ts";
import { BmcError, type BmcErrorKind } from "./driver.ts";
import { describeBmcAddress } from "./driver-factory.ts";

export interface BmcReference {
  readonly address: string;
  readonly port?: number | null | undefined;
  readonly macAddress?: string | undefined;
}

const CODES: Readonly<Record<BmcErrorKind, string>> = {
  unreachable: "bmc.unreachable",
  timeout: "bmc.timeout",
  auth: "bmc.credentials_refused",
  unsupported: "bmc.unsupported",
  rejected: "bmc.rejected",
  tls: "bmc.tls_failed",
  protocol: "bmc.protocol_error",
};

/** The domain error for a failed BMC call; anything that is not a BmcError is returned unchanged. */
export function bmcFailure(error: unknown, bmc: BmcReference): unknown {
  if (!(error instanceof BmcError)) return error;
  const where = describeBmcAddress({ address: bmc.address, port: bmc.port ?? undefined });
  const details: Record<string, unknown> = {
    bmcAddress: where,
    ...(bmc.macAddress !== undefined ? { bmcMacAddress: bmc.macAddress } : {}),
    kind: error.kind,
    ...(error.status !== undefined ? { bmcStatus: error.status } : {}),
  };
  // Drivers start their messages with "BMC <address>" (without the port); name the BMC once, fully.
  const bare = [`BMC ${where}: `, `BMC ${bmc.address}: `].reduce(
    (text, prefix) => (text.startsWith(prefix) ? text.slice(prefix.length) : text),
    error.message,
  );
  const message = `BMC ${where}${bmc.macAddress !== undefined ? ` (${bmc.macAddress})` : ""}: ${bare}`;
  const code = CODES[error.kind];
  switch (error.kind) {
    case "timeout":
      return new UpstreamError(code, message, true, details);
    case "unreachable":
    case "rejected":
    case "protocol":
    case "tls":
      return new UpstreamError(code, message, false, details);
    case "auth":
    case "unsupported":
      return new DomainError(code, message, details);
  }
}

/** Runs a BMC call and rethrows its failure as the domain error for it. */
export async function withBmcFailures<T>(bmc: BmcReference, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw bmcFailure(error, bmc);
  }
}
