/**
 * Hardware spec profiles: what a class of machine must have (CPU, memory, disks, NICs, GPUs). Expected
 * machines refer to a profile or carry a spec inline; enrollment attaches the spec to the machine, and
 * validation compares the inventory the agent reports against it. Every count and size is a minimum.
 */
import { type Static, Type } from "typebox";
import { ValidationError } from "../errors.ts";
import { PageQueryFields, SortQueryField } from "../http/pagination.ts";
import { StrictObject, Timestamp } from "../http/schema.ts";
import { LongText, Slug, Uuid } from "./inventory-schema.ts";
import { SearchQueryField } from "./listing.ts";

const Count = (description: string) => Type.Integer({ minimum: 0, maximum: 1_000_000, description });
const Bytes = (description: string) => Type.Integer({ minimum: 0, description });
const Pattern = (description: string) => Type.String({ minLength: 1, maxLength: 200, description });

export const DiskRequirementSchema = StrictObject({
  count: Count("at least this many disks of the kind"),
  minSizeBytes: Type.Optional(Bytes("each of them at least this large")),
});
export type DiskRequirement = Static<typeof DiskRequirementSchema>;

export const HardwareSpecSchema = StrictObject(
  {
    cpu: Type.Optional(
      StrictObject({
        modelPattern: Type.Optional(
          Pattern("regular expression (JavaScript syntax, case-insensitive) the CPU model must match"),
        ),
        minCores: Type.Optional(Count("physical cores, all sockets together")),
        minThreads: Type.Optional(Count("logical CPUs, all sockets together")),
      }),
    ),
    memory: Type.Optional(StrictObject({ minBytes: Bytes("memory the machine must have, in bytes") })),
    disks: Type.Optional(
      StrictObject(
        {
          hdd: Type.Optional(DiskRequirementSchema),
          ssd: Type.Optional(DiskRequirementSchema),
          nvme: Type.Optional(DiskRequirementSchema),
        },
        { description: "requirements per disk kind (the agent's Disk.kind)" },
      ),
    ),
    nics: Type.Optional(
      StrictObject({
        count: Type.Optional(Count("at least this many network interfaces")),
        minSpeedMbps: Type.Optional(Count("each counted interface at least this fast, in Mb/s")),
      }),
    ),
    gpus: Type.Optional(
      StrictObject({
        count: Count("at least this many GPUs"),
        modelPattern: Type.Optional(
          Pattern("regular expression (JavaScript syntax, case-insensitive) each GPU model must match"),
        ),
      }),
    ),
  },
  { description: "what a machine must have; every count and size is a minimum" },
);
/** The hardware spec of a profile or an expected machine; machines carry it in `machines.hardware_spec`. */
export type HardwareSpec = Static<typeof HardwareSpecSchema>;

/**
 * What the schema cannot check: that the patterns are regular expressions. `field` is where the spec
 * sits in the request (`body.spec`, `rows[3].spec`).
 */
export function checkHardwareSpec(spec: HardwareSpec, field: string): void {
  const patterns: Array<[string, string | undefined]> = [
    [`${field}.cpu.modelPattern`, spec.cpu?.modelPattern],
    [`${field}.gpus.modelPattern`, spec.gpus?.modelPattern],
  ];
  for (const [where, pattern] of patterns) {
    if (pattern === undefined) continue;
    try {
      new RegExp(pattern, "i");
    } catch {
      throw new ValidationError("spec.invalid_pattern", "is not a valid regular expression", where);
    }
    if (canBacktrackExponentially(pattern)) {
      throw new ValidationError(
        "spec.unsafe_pattern",
        "repeats a group that itself repeats or alternates, which can take exponential time to match",
        where,
      );
    }
  }
}

/**
 * Patterns run against every BMC's report on the server's event loop, so one like `(\w+\s?)+x` could
 * stall it for seconds. Refused: a group repeated without bound (`+`, `*`, `{n,}`) that contains a
 * quantifier or an alternation, and backreferences.
 */
function canBacktrackExponentially(pattern: string): boolean {
  if (/\\[1-9]/.test(pattern)) return true;
  const groups: Array<{ risky: boolean }> = [];
  for (let index = 0; index < pattern.length; index++) {
    const char = pattern[index];
    if (char === "\\") {
      index++;
      continue;
    }
    if (char === "[") {
      const end = pattern.indexOf("]", index + 2);
      index = end < 0 ? pattern.length : end;
      continue;
    }
    if (char === "(") groups.push({ risky: false });
    else if (char === ")") {
      const group = groups.pop();
      const next = pattern[index + 1];
      const repeated =
        next === "+" || next === "*" || (next === "{" && /^\{\d*,\}/.test(pattern.slice(index + 1)));
      if (group?.risky === true && repeated) return true;
      if (group?.risky === true && groups.length > 0) (groups.at(-1) as { risky: boolean }).risky = true;
    } else if ((char === "+" || char === "*" || char === "{" || char === "|") && groups.length > 0) {
      (groups.at(-1) as { risky: boolean }).risky = true;
    }
  }
  return false;
}

export const SpecProfileSchema = Type.Object({
  id: Uuid,
  name: Type.String(),
  description: Type.String(),
  spec: HardwareSpecSchema,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type SpecProfile = Static<typeof SpecProfileSchema>;

const ProfileName = Slug("profile name, unique in the org");

export const SpecProfileCreateSchema = StrictObject({
  name: ProfileName,
  description: Type.Optional(LongText()),
  spec: HardwareSpecSchema,
});
export type SpecProfileCreate = Static<typeof SpecProfileCreateSchema>;

export const SpecProfileUpdateSchema = StrictObject({
  name: Type.Optional(ProfileName),
  description: Type.Optional(LongText()),
  spec: Type.Optional(HardwareSpecSchema),
});
export type SpecProfileUpdate = Static<typeof SpecProfileUpdateSchema>;

export const SPEC_PROFILE_SORT_FIELDS = ["name", "createdAt", "updatedAt"] as const;
export type SpecProfileSortField = (typeof SPEC_PROFILE_SORT_FIELDS)[number];

export const SpecProfileListQuerySchema = StrictObject({
  ...PageQueryFields,
  sort: SortQueryField(SPEC_PROFILE_SORT_FIELDS),
  q: SearchQueryField,
});
export type SpecProfileListQuery = Static<typeof SpecProfileListQuerySchema>;
