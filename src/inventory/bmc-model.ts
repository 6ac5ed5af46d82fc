import { type Static, Type } from "typebox";
import { PageQueryFields, SortQueryField } from "../http/pagination.ts";
import { OrgName, StrictObject, Timestamp } from "../http/schema.ts";
import { NullableUuid, Uuid } from "./inventory-schema.ts";
import { BMC_PROTOCOLS, type BmcProtocol } from "./inventory-tables.ts";
import { SearchQueryField } from "./listing.ts";
import { MacAddressOutput, MacInputSchema } from "./mac-address.ts";

export { BMC_PROTOCOLS, type BmcProtocol };

export const BmcProtocolSchema = Type.Enum(BMC_PROTOCOLS);

/** Host name, IPv4 or IPv6 address of a BMC (no scheme, no port). */
export const BmcAddressSchema = Type.String({
  minLength: 1,
  maxLength: 253,
  pattern: "^[A-Za-z0-9._:%\\[\\]-]+$",
  description: "host name or IP address of the BMC, without scheme or port",
});

export const BmcPortSchema = Type.Integer({ minimum: 1, maximum: 65535 });

/** How the Redfish driver trusts the BMC's certificate (see src/bmc/redfish/tls.ts). */
export const BmcTlsPolicySchema = Type.Union(
  [
    StrictObject({
      mode: Type.Literal("verify"),
      ca: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 65_536,
          description: "PEM CA certificate(s) to verify against instead of the system store",
        }),
      ),
    }),
    StrictObject({
      mode: Type.Literal("pinned"),
      sha256Fingerprint: Type.String({
        minLength: 64,
        maxLength: 110,
        pattern: "^(sha-?256[:/])?[0-9A-Fa-f: ]+$",
        description: "SHA-256 fingerprint of the BMC's certificate; AB:CD:… or abcd… (stored lower-case hex)",
      }),
    }),
    StrictObject({ mode: Type.Literal("insecure-allow-self-signed") }),
  ],
  { description: "verify (optionally against a CA), pin a certificate fingerprint, or accept self-signed" },
);
export type BmcTlsPolicyInput = Static<typeof BmcTlsPolicySchema>;

/** Write-only: the password is encrypted at rest and never returned. */
export const BmcCredentialsSchema = StrictObject(
  {
    username: Type.String({ minLength: 1, maxLength: 128 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { description: "write-only; responses carry the username and hasCredentials, never the password" },
);

export const BmcSchema = Type.Object({
  macAddress: MacAddressOutput,
  componentId: NullableUuid,
  machineId: NullableUuid,
  address: Type.String(),
  port: Type.Union([Type.Integer(), Type.Null()]),
  protocol: BmcProtocolSchema,
  tls: BmcTlsPolicySchema,
  username: Type.String(),
  hasCredentials: Type.Boolean(),
  powerState: Type.Union([Type.String(), Type.Null()]),
  lastContactAt: Type.Union([Timestamp, Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Bmc = Static<typeof BmcSchema>;

export const BmcCreateSchema = StrictObject({
  macAddress: MacInputSchema,
  address: BmcAddressSchema,
  port: Type.Optional(Type.Union([BmcPortSchema, Type.Null()])),
  protocol: BmcProtocolSchema,
  tls: Type.Optional(BmcTlsPolicySchema),
  credentials: BmcCredentialsSchema,
  componentId: Type.Optional(NullableUuid),
  machineId: Type.Optional(NullableUuid),
});
export type BmcCreate = Static<typeof BmcCreateSchema>;

export const BmcUpdateSchema = StrictObject({
  address: Type.Optional(BmcAddressSchema),
  port: Type.Optional(Type.Union([BmcPortSchema, Type.Null()])),
  protocol: Type.Optional(BmcProtocolSchema),
  tls: Type.Optional(BmcTlsPolicySchema),
  credentials: Type.Optional(BmcCredentialsSchema),
  componentId: Type.Optional(NullableUuid),
  machineId: Type.Optional(NullableUuid),
});
export type BmcUpdate = Static<typeof BmcUpdateSchema>;

export const BmcParams = StrictObject({
  org: OrgName,
  mac: MacInputSchema,
});

export const BMC_SORT_FIELDS = ["macAddress", "address", "createdAt", "updatedAt"] as const;
export type BmcSortField = (typeof BMC_SORT_FIELDS)[number];

export const BmcListQuerySchema = StrictObject({
  ...PageQueryFields,
  sort: SortQueryField(BMC_SORT_FIELDS),
  componentId: Type.Optional(Uuid),
  machineId: Type.Optional(Uuid),
  protocol: Type.Optional(BmcProtocolSchema),
  q: SearchQueryField,
});
export type BmcListQuery = Static<typeof BmcListQuerySchema>;

/** The vault context of a BMC password: binds the ciphertext to its row. */
export function bmcPasswordContext(mac: string): string {
  return `bmc:${mac}:password`;
}
