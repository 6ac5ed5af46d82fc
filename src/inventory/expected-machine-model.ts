/**
 * Expected machines: servers announced before they first boot (seed 003's enrollment, Carbide's expected
 * machines). An operator registers the serial number and/or BMC MAC address, BMC access, the hardware
 * spec the machine must meet (a profile or inline), its place in a rack and its hostname; enrollment
 * matches the agent's report against them.
 */
import { type Static, Type } from "typebox";
import { PageQueryFields, SortQueryField } from "../http/pagination.ts";
import { StrictObject, Timestamp } from "../http/schema.ts";
import { BmcAddressSchema, BmcProtocolSchema } from "./bmc-model.ts";
import { NullablePositionIndex, NullableUuid, PositionIndex, Slug, Uuid } from "./inventory-schema.ts";
import { LabelFilterField, LabelsSchema } from "./labels.ts";
import { SearchQueryField } from "./listing.ts";
import { MacAddressOutput, MacInputSchema } from "./mac-address.ts";
import { HardwareSpecSchema } from "./spec-profile-model.ts";

export const SerialNumberSchema = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: "^\\S(.*\\S)?$",
  description: "system serial number (the service tag on Dell machines), as SMBIOS reports it",
});

export const HostnameSchema = Type.String({
  maxLength: 253,
  pattern: "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
  description: "host name or fully qualified domain name",
});

export const BmcUsernameSchema = Type.String({ minLength: 1, maxLength: 128 });
export const BmcPasswordSchema = Type.String({ minLength: 1, maxLength: 1024 });

export const ExpectedMachineSchema = Type.Object({
  id: Uuid,
  serial: Type.Union([Type.String(), Type.Null()]),
  bmcMac: Type.Union([MacAddressOutput, Type.Null()]),
  bmcAddress: Type.Union([Type.String(), Type.Null()]),
  bmcProtocol: Type.Union([BmcProtocolSchema, Type.Null()]),
  bmcUsername: Type.Union([Type.String(), Type.Null()]),
  hasBmcCredentials: Type.Boolean({ description: "a BMC password is stored (it is never returned)" }),
  specProfileId: NullableUuid,
  spec: Type.Union([HardwareSpecSchema, Type.Null()], {
    description: "inline spec, when no profile is used",
  }),
  rackId: NullableUuid,
  slot: Type.Union([Type.Integer(), Type.Null()]),
  hostname: Type.Union([Type.String(), Type.Null()]),
  labels: LabelsSchema,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type ExpectedMachine = Static<typeof ExpectedMachineSchema>;

const BmcCredentialsSchema = StrictObject(
  { username: BmcUsernameSchema, password: BmcPasswordSchema },
  { description: "write-only: encrypted at rest, never returned" },
);

const nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Optional(Type.Union([schema, Type.Null()]));

export const ExpectedMachineCreateSchema = StrictObject({
  serial: Type.Optional(SerialNumberSchema),
  bmcMac: Type.Optional(MacInputSchema),
  bmcAddress: Type.Optional(BmcAddressSchema),
  bmcProtocol: Type.Optional(BmcProtocolSchema),
  bmcCredentials: Type.Optional(BmcCredentialsSchema),
  specProfileId: Type.Optional(Uuid),
  spec: Type.Optional(HardwareSpecSchema),
  rackId: Type.Optional(Uuid),
  slot: Type.Optional(PositionIndex("slot in the rack")),
  hostname: Type.Optional(HostnameSchema),
  labels: Type.Optional(LabelsSchema),
});
export type ExpectedMachineCreate = Static<typeof ExpectedMachineCreateSchema>;

/** Given fields replace; null clears. */
export const ExpectedMachineUpdateSchema = StrictObject({
  serial: nullable(SerialNumberSchema),
  bmcMac: nullable(MacInputSchema),
  bmcAddress: nullable(BmcAddressSchema),
  bmcProtocol: nullable(BmcProtocolSchema),
  bmcCredentials: nullable(BmcCredentialsSchema),
  specProfileId: nullable(Uuid),
  spec: nullable(HardwareSpecSchema),
  rackId: nullable(Uuid),
  slot: Type.Optional(NullablePositionIndex("slot in the rack")),
  hostname: nullable(HostnameSchema),
  labels: Type.Optional(LabelsSchema),
});
export type ExpectedMachineUpdate = Static<typeof ExpectedMachineUpdateSchema>;

export const EXPECTED_MACHINE_SORT_FIELDS = ["serial", "hostname", "createdAt", "updatedAt"] as const;
export type ExpectedMachineSortField = (typeof EXPECTED_MACHINE_SORT_FIELDS)[number];

export const ExpectedMachineListQuerySchema = StrictObject({
  ...PageQueryFields,
  sort: SortQueryField(EXPECTED_MACHINE_SORT_FIELDS),
  rackId: Type.Optional(Uuid),
  specProfileId: Type.Optional(Uuid),
  label: LabelFilterField,
  q: SearchQueryField,
});
export type ExpectedMachineListQuery = Static<typeof ExpectedMachineListQuerySchema>;

/**
 * One row of a bulk import, the same in CSV and JSON. Racks and spec profiles are named (files are
 * written by people); an inline `spec` exists only in JSON.
 */
export const ImportRowSchema = StrictObject({
  serial: Type.Optional(SerialNumberSchema),
  bmcMac: Type.Optional(MacInputSchema),
  bmcAddress: Type.Optional(BmcAddressSchema),
  bmcProtocol: Type.Optional(BmcProtocolSchema),
  bmcUsername: Type.Optional(BmcUsernameSchema),
  bmcPassword: Type.Optional(BmcPasswordSchema),
  specProfile: Type.Optional(Slug("name of a hardware spec profile of the org")),
  spec: Type.Optional(HardwareSpecSchema),
  rack: Type.Optional(Slug("name of a rack of the org")),
  slot: Type.Optional(PositionIndex("slot in the rack")),
  hostname: Type.Optional(HostnameSchema),
  labels: Type.Optional(LabelsSchema),
});
export type ImportRowInput = Static<typeof ImportRowSchema>;

export const MAX_IMPORT_ROWS = 10_000;
export const IMPORT_BODY_LIMIT_BYTES = 16 * 1024 * 1024;

export const ImportResultSchema = Type.Object({
  created: Type.Integer(),
  updated: Type.Integer(),
  unchanged: Type.Integer(),
  rows: Type.Array(
    Type.Object({
      index: Type.Integer({ description: "0-based position of the row in the file (after the CSV header)" }),
      id: Uuid,
      outcome: Type.Union([Type.Literal("created"), Type.Literal("updated"), Type.Literal("unchanged")]),
    }),
  ),
});
export type ImportResult = Static<typeof ImportResultSchema>;

/** The vault context of an expected machine's BMC password: binds the ciphertext to its row. */
export function expectedMachinePasswordContext(id: string): string {
  return `expected-machine:${id}:bmc-password`;
}
