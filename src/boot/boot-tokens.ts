import { type Generated, type Kysely, sql } from "kysely";
import { newSecret, secretMatches } from "../auth/secrets.ts";
import type { Db } from "../db/database.ts";
import { UnauthenticatedError } from "../errors.ts";

interface BootTokensTable {
  id: Generated<string>;
  mac_address: string;
  purpose: BootTokenPurpose;
  secret_hash: Buffer;
  created_at: Generated<Date>;
  expires_at: Date;
}

type BootTokenTables = { boot_tokens: BootTokensTable };

export type BootTokenPurpose = "enroll";

/** Long enough for a slow server to POST its BIOS, load the image over a busy link and run every probe. */
export const BOOT_TOKEN_TTL_SECONDS = 3 * 3600;

const TOKEN_PATTERN = /^bt_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;

/**
 * Short-lived tokens written into the iPXE script served to one MAC. The agent that boots from it presents
 * the token; it is valid only for that MAC and purpose, and only until it expires. Only a hash is stored.
 */
export class BootTokens {
  private readonly db: Kysely<BootTokenTables>;

  constructor(db: Db) {
    this.db = db.withTables<BootTokenTables>();
  }

  /** A new token for the MAC; earlier ones for the same MAC and purpose stop working (one live token per MAC). */
  async issue(mac: string, purpose: BootTokenPurpose, ttlSeconds = BOOT_TOKEN_TTL_SECONDS): Promise<string> {
    const secret = newSecret();
    const result = await sql<{ id: string }>`
      WITH replaced AS (DELETE FROM boot_tokens WHERE mac_address = ${mac} AND purpose = ${purpose})
      INSERT INTO boot_tokens (mac_address, purpose, secret_hash, expires_at)
      VALUES (${mac}, ${purpose}, ${secret.hash}, now() + make_interval(secs => ${ttlSeconds}))
      RETURNING id
    `.execute(this.db);
    const id = result.rows[0]?.id;
    if (id === undefined) throw new Error("boot token was not stored");
    return `bt_${id.replaceAll("-", "")}_${secret.secret}`;
  }

  /** Checks a token against the MAC the agent says it booted from; throws 401 unless all matches. */
  async verify(token: string, mac: string, purpose: BootTokenPurpose): Promise<void> {
    const match = TOKEN_PATTERN.exec(token);
    const hex = match?.[1];
    const secret = match?.[2];
    if (hex === undefined || secret === undefined) throw new UnauthenticatedError("not a boot token");
    const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    const row = await this.db
      .selectFrom("boot_tokens")
      .select(["mac_address", "purpose", "secret_hash", sql<boolean>`expires_at <= now()`.as("expired")])
      .where("id", "=", id)
      .executeTakeFirst();
    if (row === undefined || !secretMatches(secret, row.secret_hash)) {
      throw new UnauthenticatedError("boot token is not valid");
    }
    if (row.expired) throw new UnauthenticatedError("boot token has expired");
    if (row.purpose !== purpose) throw new UnauthenticatedError(`boot token is not for ${purpose}`);
    if (row.mac_address !== mac)
      throw new UnauthenticatedError("boot token was issued to another MAC address");
  }

  async deleteExpired(): Promise<number> {
    const result = await this.db
      .deleteFrom("boot_tokens")
      .where("expires_at", "<=", sql<Date>`now()`)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
