/** TypeBox pieces every inventory resource uses. */
import { Type } from "typebox";
import { OrgName, StrictObject } from "../http/schema.ts";

/** Names of sites, racks and spec profiles (the migration's CHECK). */
export const SLUG_PATTERN = "^[a-z0-9][a-z0-9._-]{0,62}$";
export const Slug = (description: string) => Type.String({ pattern: SLUG_PATTERN, description });

export const Uuid = Type.String({ format: "uuid" });
export const NullableUuid = Type.Union([Uuid, Type.Null()]);

export const IdParams = StrictObject({ org: OrgName, id: Uuid });

/** A short free-text attribute (manufacturer, model, serial number, location). */
export const ShortText = (description?: string) =>
  Type.String({ minLength: 1, maxLength: 256, ...(description === undefined ? {} : { description }) });
export const NullableShortText = (description?: string) => Type.Union([ShortText(description), Type.Null()]);
export const LongText = (description?: string) =>
  Type.String({ maxLength: 2000, ...(description === undefined ? {} : { description }) });

export const PositionIndex = (description: string) =>
  Type.Integer({ minimum: 0, maximum: 10_000, description });
export const NullablePositionIndex = (description: string) =>
  Type.Union([PositionIndex(description), Type.Null()]);

/** Read access: provider staff of {org}. Write access: provider admins of {org}. */
export const INVENTORY_READ = { orgRoles: ["provider-admin", "provider-viewer"] } as const;
export const INVENTORY_WRITE = { orgRoles: ["provider-admin"] } as const;
