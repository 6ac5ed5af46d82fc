/**
 * Certificates for simulated devices: a throwaway lab CA and one server certificate it signs for the
 * loopback names. Tests choose how to trust it: the CA (verify), the leaf's fingerprint (pinned), or
 * nothing (self-signed allowed). EC keys keep generation to a few milliseconds.
 */
import { X509Certificate } from "node:crypto";
import { generate } from "selfsigned";

export interface LabTlsMaterial {
  /** PEM of the lab CA, for `{ mode: "verify", ca }`. */
  readonly caCert: string;
  /** PEM of the server certificate and its key. */
  readonly cert: string;
  readonly key: string;
  /** SHA-256 fingerprint of the server certificate, colon-separated upper-case hex (as Node prints it). */
  readonly fingerprint256: string;
}

export interface LabTlsOptions {
  readonly commonName?: string;
  /** DNS names and IP addresses the certificate is valid for; default 127.0.0.1, ::1 and localhost. */
  readonly hosts?: readonly string[];
  /** A certificate that signs itself, as BMCs ship from the factory; `caCert` is then the certificate. */
  readonly selfSigned?: boolean;
}

const DEFAULT_HOSTS = ["127.0.0.1", "::1", "localhost"];

export async function createLabTls(options: LabTlsOptions = {}): Promise<LabTlsMaterial> {
  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(notBeforeDate.getTime() + 365 * 24 * 3600_000);
  const ca = await generate([{ name: "commonName", value: "Ingot lab CA" }], {
    keyType: "ec",
    algorithm: "sha256",
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const hosts = options.hosts ?? DEFAULT_HOSTS;
  const commonName = options.commonName ?? "ingot-lab-bmc";
  const altNames = hosts.map((host) =>
    /^[\d.]+$/.test(host) || host.includes(":")
      ? { type: 7 as const, ip: host }
      : { type: 2 as const, value: host },
  );
  const leaf = await generate([{ name: "commonName", value: commonName }], {
    keyType: "ec",
    algorithm: "sha256",
    notBeforeDate,
    notAfterDate,
    ...(options.selfSigned === true ? {} : { ca: { key: ca.private, cert: ca.cert } }),
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames },
    ],
  });
  return {
    caCert: options.selfSigned === true ? leaf.cert : ca.cert,
    cert: leaf.cert,
    key: leaf.private,
    fingerprint256: new X509Certificate(leaf.cert).fingerprint256,
  };
}
