import { type Static, Type } from "typebox";
import { PageQueryFields, SortQueryField } from "../http/pagination.ts";
import { StrictObject, Timestamp } from "../http/schema.ts";
import { LongText, Slug, Uuid } from "./inventory-schema.ts";
import { SearchQueryField } from "./listing.ts";

export const SiteSchema = Type.Object(
  {
    id: Uuid,
    name: Type.String(),
    description: Type.String(),
    location: Type.String(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { description: "a data centre or room: the place racks stand in" },
);
export type Site = Static<typeof SiteSchema>;

export const SiteName = Slug("site name, unique in the org");

export const SiteCreateSchema = StrictObject({
  name: SiteName,
  description: Type.Optional(LongText()),
  location: Type.Optional(LongText("address, building, room")),
});
export type SiteCreate = Static<typeof SiteCreateSchema>;

export const SiteUpdateSchema = StrictObject({
  name: Type.Optional(SiteName),
  description: Type.Optional(LongText()),
  location: Type.Optional(LongText("address, building, room")),
});
export type SiteUpdate = Static<typeof SiteUpdateSchema>;

export const SITE_SORT_FIELDS = ["name", "createdAt", "updatedAt"] as const;
export type SiteSortField = (typeof SITE_SORT_FIELDS)[number];

export const SiteListQuerySchema = StrictObject({
  ...PageQueryFields,
  sort: SortQueryField(SITE_SORT_FIELDS),
  q: SearchQueryField,
});
export type SiteListQuery = Static<typeof SiteListQuerySchema>;
