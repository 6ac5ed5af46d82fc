import { type TProperties, Type } from "typebox";

/** Object schema that refuses unknown fields: request bodies must use it (checked at route registration). */
export function StrictObject<T extends TProperties>(properties: T, options: { description?: string } = {}) {
  return Type.Object(properties, { ...options, additionalProperties: false });
}

export const Timestamp = Type.String({ format: "date-time" });
export const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);

export const OrgName = Type.String({
  pattern: "^[a-z0-9][a-z0-9-]{0,62}$",
  description: "org name (URL slug)",
});
export const OrgParams = StrictObject({ org: OrgName });
