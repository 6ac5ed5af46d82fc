/**
 * Per-BMC TLS: each BMC gets its own undici Agent whose connector enforces that BMC's policy. BMCs ship
 * self-signed certificates, so besides CA verification we support pinning the certificate's SHA-256
 * fingerprint (trust exactly this certificate, whatever its issuer or name) and an explicit opt-in to
 * accept any certificate.
 */
import type { TLSSocket } from "node:tls";
import { Agent, buildConnector } from "undici";
import type { BmcTlsPolicy } from "../driver.ts";

export const PIN_MISMATCH_CODE = "INGOT_TLS_PIN_MISMATCH";

/** Node's certificate verification failures, as reported in `error.code`. */
const VERIFICATION_CODES = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "CERT_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_CHAIN_TOO_LONG",
  "INVALID_CA",
  "HOSTNAME_MISMATCH",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  PIN_MISMATCH_CODE,
]);

export function isTlsErrorCode(code: string): boolean {
  return VERIFICATION_CODES.has(code) || code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_");
}

/** "AB:CD:…", "abcd…" and "sha256/AB:CD…" all name the same fingerprint. */
export function normalizeFingerprint(fingerprint: string): string {
  return fingerprint
    .trim()
    .replace(/^sha-?256[:/]/i, "")
    .replace(/[:\s]/g, "")
    .toLowerCase();
}

export interface AgentSettings {
  readonly connectTimeoutMs: number;
  /** Most BMCs fall over with more than a handful of concurrent connections. */
  readonly connections: number;
}

export function createBmcAgent(policy: BmcTlsPolicy | undefined, settings: AgentSettings): Agent {
  const effective: BmcTlsPolicy = policy ?? { mode: "verify" };
  const common = { timeout: settings.connectTimeoutMs };
  let connect: buildConnector.connector;
  switch (effective.mode) {
    case "verify":
      connect = buildConnector({
        ...common,
        rejectUnauthorized: true,
        ...(effective.ca !== undefined ? { ca: effective.ca } : {}),
      });
      break;
    case "insecure-allow-self-signed":
      connect = buildConnector({ ...common, rejectUnauthorized: false });
      break;
    case "pinned":
      connect = pinnedConnector(normalizeFingerprint(effective.sha256Fingerprint), common.timeout);
      break;
  }
  return new Agent({ connect, connections: settings.connections, keepAliveTimeout: 4_000, pipelining: 1 });
}

function pinnedConnector(expected: string, timeout: number): buildConnector.connector {
  // Chain and name checks are replaced by the pin; session resumption is off so every connection
  // presents (and is checked against) the certificate.
  const base = buildConnector({ timeout, rejectUnauthorized: false, maxCachedSessions: 0 });
  return (options, callback) => {
    base(options, (error, socket) => {
      if (error !== null) {
        callback(error, null);
        return;
      }
      const certificate = (socket as TLSSocket).getPeerCertificate?.();
      const actual = certificate?.fingerprint256 ? normalizeFingerprint(certificate.fingerprint256) : "";
      if (actual !== expected) {
        socket.destroy();
        const mismatch = Object.assign(
          new Error("the BMC's certificate does not match the pinned SHA-256 fingerprint"),
          { code: PIN_MISMATCH_CODE },
        );
        callback(mismatch, null);
        return;
      }
      callback(null, socket);
    });
  };
}
