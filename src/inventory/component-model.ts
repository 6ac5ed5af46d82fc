import { type Static, Type } from "typebox";
import { PageQueryFields, SortQueryField } from "../http/pagination.ts";
import { StrictObject, Timestamp } from "../http/schema.ts";
import {
  NullablePositionIndex,
  NullableShortText,
  NullableUuid,
  ShortText,
  Uuid,
} from "./inventory-schema.ts";
import { COMPONENT_TYPES, type ComponentType } from "./inventory-tables.ts";
import { SearchQueryField } from "./listing.ts";

export { COMPONENT_TYPES, type ComponentType };

export const ComponentTypeSchema = Type.Enum(COMPONENT_TYPES, {
  description: "compute tray, NVLink switch tray, power shelf, top-of-rack switch, coolant distribution unit",
});

const Nullable = (schema: ReturnType<typeof Type.String>) => Type.Union([schema, Type.Null()]);

export const ComponentSchema = Type.Object({
  id: Uuid,
  rackId: NullableUuid,
  type: ComponentTypeSchema,
  name: Nullable(Type.String()),
  manufacturer: Type.String(),
  model: Nullable(Type.String()),
  serial: Type.String(),
  externalId: Nullable(Type.String({ description: "id of the component in another system" })),
  slot: Type.Union([Type.Integer(), Type.Null()]),
  trayIndex: Type.Union([Type.Integer(), Type.Null()]),
  firmwareVersion: Nullable(Type.String()),
  machineId: NullableUuid,
  createdAt: Timestamp,
  updatedAt: Timestamp,
  deletedAt: Type.Union([Timestamp, Type.Null()], {
    description: "set when the component was removed; removed components stay for their history",
  }),
});
export type Component = Static<typeof ComponentSchema>;

const fields = {
  rackId: Type.Optional(NullableUuid),
  name: Type.Optional(NullableShortText()),
  model: Type.Optional(NullableShortText()),
  externalId: Type.Optional(NullableShortText("id in another system; unique per type among live components")),
  slot: Type.Optional(NullablePositionIndex("slot in the rack (U position or bay)")),
  trayIndex: Type.Optional(NullablePositionIndex("tray index within the rack")),
  firmwareVersion: Type.Optional(NullableShortText()),
  machineId: Type.Optional(
    Type.Union([Uuid, Type.Null()], { description: "the machine this compute tray is" }),
  ),
};

export const ComponentCreateSchema = StrictObject({
  type: ComponentTypeSchema,
  manufacturer: ShortText(),
  serial: ShortText("serial number; unique together with the manufacturer among live components"),
  ...fields,
});
export type ComponentCreate = Static<typeof ComponentCreateSchema>;

export const ComponentUpdateSchema = StrictObject({
  type: Type.Optional(ComponentTypeSchema),
  manufacturer: Type.Optional(ShortText()),
  serial: Type.Optional(
    ShortText("serial number; unique together with the manufacturer among live components"),
  ),
  ...fields,
});
export type ComponentUpdate = Static<typeof ComponentUpdateSchema>;

export const COMPONENT_SORT_FIELDS = ["createdAt", "updatedAt", "serial", "name", "slot"] as const;
export type ComponentSortField = (typeof COMPONENT_SORT_FIELDS)[number];

export const ComponentListQuerySchema = StrictObject({
  ...PageQueryFields,
  sort: SortQueryField(COMPONENT_SORT_FIELDS),
  rackId: Type.Optional(Uuid),
  type: Type.Optional(ComponentTypeSchema),
  machineId: Type.Optional(Uuid),
  includeDeleted: Type.Boolean({ default: false, description: "list removed components too" }),
  q: SearchQueryField,
});
export type ComponentListQuery = Static<typeof ComponentListQuerySchema>;
