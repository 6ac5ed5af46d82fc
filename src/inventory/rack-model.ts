import { type Static, Type } from "typebox";
import { PageQueryFields, SortQueryField } from "../http/pagination.ts";
import { StrictObject, Timestamp } from "../http/schema.ts";
import { LongText, NullableShortText, NullableUuid, Slug, Uuid } from "./inventory-schema.ts";
import { RACK_STATUSES, type RackStatus } from "./inventory-tables.ts";
import { LabelFilterField, LabelsSchema } from "./labels.ts";
import { SearchQueryField } from "./listing.ts";

export { RACK_STATUSES, type RackStatus };

/**
 * Rack status only moves forward (seeds 000/001): a rack is registered (`new`), its components are being
 * ingested (`ingesting`), then it is inventoried (`ingested`). Skipping ahead is allowed; going back is not.
 */
const RACK_STATUS_RANK: Readonly<Record<RackStatus, number>> = { new: 0, ingesting: 1, ingested: 2 };

export type RackStatusChange =
  | { readonly kind: "unchanged" }
  | { readonly kind: "forward" }
  | { readonly kind: "backwards"; readonly from: RackStatus; readonly to: RackStatus };

export function rackStatusChange(from: RackStatus, to: RackStatus): RackStatusChange {
  if (from === to) return { kind: "unchanged" };
  return RACK_STATUS_RANK[to] > RACK_STATUS_RANK[from]
    ? { kind: "forward" }
    : { kind: "backwards", from, to };
}

export const RackStatusSchema = Type.Enum(RACK_STATUSES, {
  description: "new → ingesting → ingested; never backwards",
});

export const RackSchema = Type.Object({
  id: Uuid,
  siteId: NullableUuid,
  name: Type.String(),
  manufacturer: Type.Union([Type.String(), Type.Null()]),
  serial: Type.Union([Type.String(), Type.Null()]),
  model: Type.Union([Type.String(), Type.Null()]),
  location: Type.String(),
  status: RackStatusSchema,
  labels: LabelsSchema,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Rack = Static<typeof RackSchema>;

const RackName = Slug("rack name, unique across the installation");

export const RackCreateSchema = StrictObject({
  name: RackName,
  siteId: Type.Optional(NullableUuid),
  manufacturer: Type.Optional(NullableShortText()),
  serial: Type.Optional(NullableShortText("serial number; unique together with the manufacturer")),
  model: Type.Optional(NullableShortText()),
  location: Type.Optional(LongText("row, position in the room")),
  status: Type.Optional(RackStatusSchema),
  labels: Type.Optional(LabelsSchema),
});
export type RackCreate = Static<typeof RackCreateSchema>;

export const RackUpdateSchema = StrictObject({
  name: Type.Optional(RackName),
  siteId: Type.Optional(NullableUuid),
  manufacturer: Type.Optional(NullableShortText()),
  serial: Type.Optional(NullableShortText("serial number; unique together with the manufacturer")),
  model: Type.Optional(NullableShortText()),
  location: Type.Optional(LongText("row, position in the room")),
  status: Type.Optional(RackStatusSchema),
  labels: Type.Optional(LabelsSchema),
});
export type RackUpdate = Static<typeof RackUpdateSchema>;

export const RACK_SORT_FIELDS = ["name", "createdAt", "updatedAt", "serial"] as const;
export type RackSortField = (typeof RACK_SORT_FIELDS)[number];

export const RackListQuerySchema = StrictObject({
  ...PageQueryFields,
  sort: SortQueryField(RACK_SORT_FIELDS),
  siteId: Type.Optional(Uuid),
  status: Type.Optional(RackStatusSchema),
  label: LabelFilterField,
  q: SearchQueryField,
});
export type RackListQuery = Static<typeof RackListQuerySchema>;
