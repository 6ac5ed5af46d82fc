import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import argon2 from "argon2";

/**
 * Credentials handed to callers (API tokens, session cookies, boot tokens) are an id plus a random secret.
 * Only a SHA-256 of the secret is stored: the secret has 256 bits of entropy, so a slow hash adds nothing.
 */
export interface IssuedSecret {
  readonly secret: string;
  readonly hash: Buffer;
}

export function newSecret(): IssuedSecret {
  const secret = randomBytes(32).toString("base64url");
  return { secret, hash: hashSecret(secret) };
}

export function hashSecret(secret: string): Buffer {
  return createHash("sha256").update(secret).digest();
}

/** Constant-time comparison, so response timing says nothing about how much of a secret was right. */
export function secretMatches(secret: string, storedHash: Buffer): boolean {
  const candidate = hashSecret(secret);
  return candidate.length === storedHash.length && timingSafeEqual(candidate, storedHash);
}

const UUID_HEX = /^[0-9a-f]{32}$/;
const SECRET = /^[A-Za-z0-9_-]{43}$/;

/** `ingot_<id without dashes>_<secret>`: recognisable in logs and secret scanners, parseable without a lookup. */
export function formatApiToken(id: string, secret: string): string {
  return `ingot_${id.replaceAll("-", "")}_${secret}`;
}

export function parseApiToken(token: string): { id: string; secret: string } | undefined {
  if (!token.startsWith("ingot_")) return undefined;
  const idHex = token.slice(6, 38);
  const secret = token.slice(39);
  if (token[38] !== "_" || !UUID_HEX.test(idHex) || !SECRET.test(secret)) return undefined;
  return { id: hexToUuid(idHex), secret };
}

export function formatSessionCookie(id: string, secret: string): string {
  return `${id}.${secret}`;
}

export function parseSessionCookie(value: string): { id: string; secret: string } | undefined {
  const match = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/.exec(
    value,
  );
  return match?.[1] !== undefined && match[2] !== undefined ? { id: match[1], secret: match[2] } : undefined;
}

function hexToUuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export async function hashPassword(password: string): Promise<string> {
  return await argon2.hash(password, { type: argon2.argon2id });
}

let dummyHash: Promise<string> | undefined;

/**
 * Verifies a password; with no stored hash it still spends the same work on a dummy one, so an unknown
 * username answers as slowly as a wrong password.
 */
export async function verifyPassword(
  storedHash: string | null | undefined,
  password: string,
): Promise<boolean> {
  if (storedHash === null || storedHash === undefined) {
    dummyHash ??= hashPassword(randomBytes(16).toString("hex"));
    await argon2.verify(await dummyHash, password).catch(() => false);
    return false;
  }
  return await argon2.verify(storedHash, password).catch(() => false);
}

export function generatePassword(): string {
  return randomBytes(18).toString("base64url");
}
