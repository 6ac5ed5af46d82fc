/**
 * BMC credentials at rest: AES-256-GCM with a 32-byte key from `INGOT_VAULT_KEY` (base64) or from
 * `<data-dir>/vault.key` (created 0600 on first use). Every ciphertext names the key that sealed it, so
 * the vault can hold several keys while they are rotated:
 *
 *   ingot-vault:v1:<key id>:<iv>:<auth tag>:<ciphertext>      (base64url parts)
 *
 * The key id is a fingerprint of the key (a hash prefix; it reveals nothing usable). The version, key id
 * and the caller's `context` (e.g. "bmc:<id>:password") are authenticated with the data, so a changed
 * byte, a swapped key id or a ciphertext copied onto another row fails to decrypt.
 *
 * Stores call `encrypt(plaintext, context)` / `decrypt(ciphertext, context)` and keep the result in a
 * column named after a redacted log path (`password`, `secret`, `credentials`). Plaintext is never logged
 * and never part of an error message.
 *
 * Rotation (`rotate(newKey, store)`): the new key becomes the one that encrypts at once, every stored
 * secret is re-encrypted inside one store transaction, and only after it commits is the old key dropped
 * (and, for the key file, replaced). With a key file the new key is first written to `vault.key.next`,
 * which `open` also loads, so a crash at any point leaves every ciphertext decryptable. With the key in
 * INGOT_VAULT_KEY the vault cannot persist the new key: the operator sets it before the next start.
 * Other server replicas keep the old key until restarted with the new one; a secret they cannot open
 * fails with "vault.unknown_key" naming the key id, never with garbage.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { link, mkdir, open, readFile, rename, stat, unlink } from "node:fs/promises";
import path from "node:path";
import { DomainError } from "../errors.ts";

export const VAULT_KEY_BYTES = 32;
export const VAULT_KEY_FILE = "vault.key";
export const VAULT_NEXT_KEY_FILE = "vault.key.next";
export const VAULT_KEY_ENV = "INGOT_VAULT_KEY";

const PREFIX = "ingot-vault";
const VERSION = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A ciphertext that cannot be opened: malformed, sealed by a key the vault lacks, or altered. */
export class VaultError extends DomainError {}

export interface StoredSecret {
  /** The store's row key; passed back to `write`. */
  readonly id: string;
  readonly ciphertext: string;
  /** The context the secret was encrypted with, if any. */
  readonly context?: string;
}

export type SecretRows = AsyncIterable<StoredSecret> | Iterable<StoredSecret>;
export type SecretWriter = (id: string, ciphertext: string) => Promise<void>;

/**
 * What a store that keeps vault ciphertexts provides for rotation: run `work` inside one transaction,
 * giving it every stored secret (locked, e.g. SELECT … FOR UPDATE) and a writer bound to the same
 * transaction. If `work` throws, the transaction must roll back.
 */
export interface SecretRotationStore {
  inTransaction<T>(work: (rows: SecretRows, write: SecretWriter) => Promise<T>): Promise<T>;
}

export interface RotationResult {
  readonly keyId: string;
  readonly reencrypted: number;
  readonly alreadyCurrent: number;
}

export interface OpenVaultOptions {
  readonly dataDir: string;
  /** Where INGOT_VAULT_KEY is looked up; pass process.env at the composition root. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

export function vaultKeyId(key: Buffer): string {
  return createHash("sha256").update("ingot-vault-key-id\0").update(key).digest("hex").slice(0, 16);
}

function checkKey(key: Buffer, what: string): Buffer {
  if (key.length !== VAULT_KEY_BYTES) {
    throw new VaultError("vault.bad_key", `${what} must be ${VAULT_KEY_BYTES} bytes, not ${key.length}`);
  }
  return key;
}

function aad(keyId: string, context: string): Buffer {
  return Buffer.from(`${PREFIX}:${VERSION}:${keyId}:${context}`, "utf8");
}

interface Sealed {
  readonly keyId: string;
  readonly iv: Buffer;
  readonly tag: Buffer;
  readonly data: Buffer;
}

function unpack(ciphertext: string): Sealed {
  const parts = ciphertext.split(":");
  if (parts.length !== 6 || parts[0] !== PREFIX) {
    throw new VaultError("vault.malformed", "not a vault ciphertext");
  }
  if (parts[1] !== VERSION) {
    throw new VaultError("vault.unsupported_version", `ciphertext format ${parts[1]} is not supported`);
  }
  const [, , keyId = "", iv = "", tag = "", data = ""] = parts;
  const sealed = {
    keyId,
    iv: Buffer.from(iv, "base64url"),
    tag: Buffer.from(tag, "base64url"),
    data: Buffer.from(data, "base64url"),
  };
  if (!/^[0-9a-f]{16}$/.test(keyId) || sealed.iv.length !== IV_BYTES || sealed.tag.length !== TAG_BYTES) {
    throw new VaultError("vault.malformed", "not a vault ciphertext");
  }
  return sealed;
}

/** Where the current key came from: a file the vault may replace on rotation, or the environment. */
type KeySource =
  | { readonly kind: "memory" }
  | { readonly kind: "env" }
  | { readonly kind: "file"; readonly dataDir: string };

export class CredentialsVault {
  #current: Buffer;
  #keys: Map<string, Buffer>;
  readonly #source: KeySource;

  private constructor(current: Buffer, others: readonly Buffer[], source: KeySource) {
    this.#current = checkKey(current, "the vault key");
    this.#keys = new Map([current, ...others].map((k) => [vaultKeyId(checkKey(k, "a vault key")), k]));
    this.#source = source;
  }

  /** A vault over keys held in memory (tools, tests); `previous` keys only decrypt. */
  static fromKey(key: Buffer, previous: readonly Buffer[] = []): CredentialsVault {
    return new CredentialsVault(key, previous, { kind: "memory" });
  }

  /**
   * The vault of a server: key from INGOT_VAULT_KEY when set, otherwise `<dataDir>/vault.key`, which is
   * created (32 random bytes, mode 0600) on first use. A left-over `vault.key.next` from an interrupted
   * rotation is loaded too, for decryption.
   */
  static async open(options: OpenVaultOptions): Promise<CredentialsVault> {
    const fromEnv = options.env[VAULT_KEY_ENV];
    if (fromEnv !== undefined && fromEnv.trim() !== "") {
      const key = Buffer.from(fromEnv.trim(), "base64");
      return new CredentialsVault(checkKey(key, VAULT_KEY_ENV), [], { kind: "env" });
    }
    const current = await loadOrCreateKeyFile(options.dataDir);
    const next = await readKeyFile(path.join(options.dataDir, VAULT_NEXT_KEY_FILE));
    return new CredentialsVault(current, next ? [next] : [], { kind: "file", dataDir: options.dataDir });
  }

  /** Id of the key new secrets are encrypted with. */
  get keyId(): string {
    return vaultKeyId(this.#current);
  }

  encrypt(plaintext: string, context = ""): string {
    const keyId = this.keyId;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.#current, iv);
    cipher.setAAD(aad(keyId, context));
    const data = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [
      PREFIX,
      VERSION,
      keyId,
      iv.toString("base64url"),
      tag.toString("base64url"),
      data.toString("base64url"),
    ].join(":");
  }

  decrypt(ciphertext: string, context = ""): string {
    const sealed = unpack(ciphertext);
    const key = this.#keys.get(sealed.keyId);
    if (key === undefined) {
      throw new VaultError(
        "vault.unknown_key",
        `the secret was sealed with key ${sealed.keyId}, which this vault does not hold`,
        {
          keyId: sealed.keyId,
        },
      );
    }
    const decipher = createDecipheriv("aes-256-gcm", key, sealed.iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(sealed.keyId, context));
    decipher.setAuthTag(sealed.tag);
    try {
      return Buffer.concat([decipher.update(sealed.data), decipher.final()]).toString("utf8");
    } catch {
      throw new VaultError(
        "vault.tampered",
        "the secret failed authentication: altered, or used out of its context",
      );
    }
  }

  /** Key id a ciphertext was sealed with. */
  keyIdOf(ciphertext: string): string {
    return unpack(ciphertext).keyId;
  }

  /** Whether secrets sealed with this key id can be opened here. */
  holds(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  isCurrent(ciphertext: string): boolean {
    return this.keyIdOf(ciphertext) === this.keyId;
  }

  /**
   * Makes `newKey` the vault key: re-encrypts every secret the store holds in one transaction, then
   * forgets the old key. On failure the transaction is rolled back and the vault keeps both keys.
   */
  async rotate(newKey: Buffer, store: SecretRotationStore): Promise<RotationResult> {
    checkKey(newKey, "the new vault key");
    const previous = this.#current;
    const source = this.#source;
    if (source.kind === "file") await writeKeyFile(path.join(source.dataDir, VAULT_NEXT_KEY_FILE), newKey);
    // Encrypt with the new key from now on, so secrets written while the rotation runs are already current.
    this.#keys.set(vaultKeyId(newKey), newKey);
    this.#current = newKey;
    let result: RotationResult;
    try {
      result = await store.inTransaction((rows, write) => reencryptAll(this, rows, write));
    } catch (error) {
      this.#current = previous;
      throw error;
    }
    if (source.kind === "file") {
      await rename(path.join(source.dataDir, VAULT_NEXT_KEY_FILE), path.join(source.dataDir, VAULT_KEY_FILE));
    }
    this.#keys = new Map([[vaultKeyId(newKey), newKey]]);
    return result;
  }
}

/**
 * Re-encrypts with the vault's current key every secret sealed by another key it holds; for a store's
 * rotation transaction (see SecretRotationStore) or a one-off migration. Secrets already current are left.
 */
export async function reencryptAll(
  vault: CredentialsVault,
  rows: SecretRows,
  write: SecretWriter,
): Promise<RotationResult> {
  let reencrypted = 0;
  let alreadyCurrent = 0;
  for await (const row of rows) {
    if (vault.isCurrent(row.ciphertext)) {
      alreadyCurrent++;
      continue;
    }
    await write(row.id, vault.encrypt(vault.decrypt(row.ciphertext, row.context), row.context));
    reencrypted++;
  }
  return { keyId: vault.keyId, reencrypted, alreadyCurrent };
}

export function generateVaultKey(): Buffer {
  return randomBytes(VAULT_KEY_BYTES);
}

async function readKeyFile(file: string): Promise<Buffer | undefined> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  if ((info.mode & 0o077) !== 0) {
    throw new VaultError("vault.key_permissions", `${file} is readable by other users: chmod 600 it`);
  }
  return checkKey(await readFile(file), file);
}

/** Writes a key file that only the owner can read, durably, failing if it exists. */
async function writeKeyFile(file: string, key: Buffer, exclusive = false): Promise<void> {
  const flags = constants.O_WRONLY | constants.O_CREAT | (exclusive ? constants.O_EXCL : constants.O_TRUNC);
  const handle = await open(file, flags, 0o600);
  try {
    // The umask cannot widen 0600, but a pre-existing file keeps its mode: set it explicitly.
    await handle.chmod(0o600);
    await handle.writeFile(key);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function loadOrCreateKeyFile(dataDir: string): Promise<Buffer> {
  const file = path.join(dataDir, VAULT_KEY_FILE);
  const existing = await readKeyFile(file);
  if (existing !== undefined) return existing;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const key = generateVaultKey();
  const partial = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeKeyFile(partial, key, true);
    // link() publishes the complete file and fails if another replica published first; then use theirs.
    await link(partial, file).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    });
  } finally {
    await unlink(partial).catch(() => undefined);
  }
  const published = await readKeyFile(file);
  if (published === undefined)
    throw new VaultError("vault.key_missing", `${file} vanished while being created`);
  return published;
}
