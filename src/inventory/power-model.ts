/** Schemas of the machine power API: power actions, boot device, power status and sensors through the BMC. */
import { type Static, Type } from "typebox";
import type { BootDevice, BootMode, BootPersistence, PowerAction } from "../bmc/driver.ts";
import { StrictObject, Timestamp } from "../http/schema.ts";
import { BmcProtocolSchema } from "./bmc-model.ts";
import { Uuid } from "./inventory-schema.ts";
import { MacAddressOutput } from "./mac-address.ts";

export const POWER_ACTIONS = [
  "on",
  "off",
  "graceful-shutdown",
  "force-off",
  "restart",
  "graceful-restart",
  "force-restart",
  "cycle",
] as const satisfies readonly PowerAction[];
export const BOOT_DEVICES = ["pxe", "disk", "http", "cd", "bios"] as const satisfies readonly BootDevice[];
export const BOOT_PERSISTENCES = ["once", "continuous"] as const satisfies readonly BootPersistence[];
export const BOOT_MODES = ["uefi", "legacy"] as const satisfies readonly BootMode[];
export const POWER_STATES = ["on", "off", "powering-on", "powering-off", "unknown"] as const;

export const PowerActionRequestSchema = StrictObject({
  action: Type.Enum(POWER_ACTIONS, {
    description:
      "on; off and force-off (power cut at once: no OS shutdown); graceful-shutdown (ask the OS to shut " +
      "down); restart; graceful-restart; force-restart; cycle (off, then on). Restarts of a machine that is " +
      "off power it on; restarts and cycles may take minutes when the BMC does them in steps.",
  }),
});
export type PowerActionRequest = Static<typeof PowerActionRequestSchema>;

export const BootDeviceRequestSchema = StrictObject({
  device: Type.Enum(BOOT_DEVICES),
  persistence: Type.Enum(BOOT_PERSISTENCES, {
    description: "once: the next boot only; continuous: until changed",
  }),
  mode: Type.Optional(Type.Enum(BOOT_MODES, { description: "omitted: keep the mode the BMC has" })),
});
export type BootDeviceRequest = Static<typeof BootDeviceRequestSchema>;

export const BmcReferenceSchema = Type.Object({
  macAddress: MacAddressOutput,
  address: Type.String(),
  port: Type.Union([Type.Integer(), Type.Null()]),
  protocol: BmcProtocolSchema,
});
export type BmcReferenceView = Static<typeof BmcReferenceSchema>;

const PowerStateSchema = Type.Enum(POWER_STATES);

export const BootOverrideStateSchema = Type.Object({
  device: Type.Union([Type.Enum(BOOT_DEVICES), Type.Literal("none"), Type.Literal("other")]),
  persistence: Type.Union([Type.Enum(BOOT_PERSISTENCES), Type.Literal("disabled")]),
  mode: Type.Union([Type.Enum(BOOT_MODES), Type.Literal("unknown")]),
});

export const PowerActionResultSchema = Type.Object({
  machineId: Uuid,
  action: Type.Enum(POWER_ACTIONS),
  powerState: Type.Union([PowerStateSchema, Type.Null()], {
    description: "read right after the BMC accepted the action; transitions take time, poll GET …/power",
  }),
  bmc: BmcReferenceSchema,
});

export const PowerStatusSchema = Type.Object({
  machineId: Uuid,
  powerState: PowerStateSchema,
  bootOverride: Type.Union([BootOverrideStateSchema, Type.Null()], {
    description: "null when the BMC does not let the override be read",
  }),
  bmc: BmcReferenceSchema,
  checkedAt: Timestamp,
});

export const BootDeviceResultSchema = Type.Object({
  machineId: Uuid,
  requested: BootDeviceRequestSchema,
  bootOverride: Type.Union([BootOverrideStateSchema, Type.Null()], {
    description: "what the BMC reports after the change; null when it could not be read back",
  }),
  bmc: BmcReferenceSchema,
});

const HealthSchema = Type.Union([
  Type.Literal("ok"),
  Type.Literal("warning"),
  Type.Literal("critical"),
  Type.Literal("unknown"),
]);

export const SensorsResultSchema = Type.Object({
  machineId: Uuid,
  bmc: BmcReferenceSchema,
  readAt: Timestamp,
  sensors: Type.Array(
    Type.Object({
      name: Type.String(),
      kind: Type.Union([
        Type.Literal("temperature"),
        Type.Literal("fan"),
        Type.Literal("power"),
        Type.Literal("voltage"),
        Type.Literal("current"),
        Type.Literal("other"),
      ]),
      value: Type.Union([Type.Number(), Type.Null()]),
      unit: Type.String({ description: "°C, RPM, W, V, A, %" }),
      health: HealthSchema,
    }),
  ),
  powerSupplies: Type.Array(
    Type.Object({
      name: Type.String(),
      health: HealthSchema,
      inputWatts: Type.Optional(Type.Number()),
      outputWatts: Type.Optional(Type.Number()),
      capacityWatts: Type.Optional(Type.Number()),
    }),
  ),
});
