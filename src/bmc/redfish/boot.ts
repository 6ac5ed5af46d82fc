/**
 * Boot override ↔ ComputerSystem.Boot. The PATCH always carries Enabled, Target and (where the BMC has it)
 * Mode together: several BMCs reset the fields a PATCH leaves out, and some silently drop a target sent
 * without its Enabled. Values are checked against the AllowableValues the BMC advertises.
 */
import type { BootDevice, BootMode, BootOverride, BootOverrideState } from "../driver.ts";
import { type RedfishDocument, stringOf, stringsOf } from "./json.ts";

const TARGETS: Readonly<Record<BootDevice, string>> = {
  pxe: "Pxe",
  disk: "Hdd",
  http: "UefiHttp",
  cd: "Cd",
  bios: "BiosSetup",
};

const MODES: Readonly<Record<BootMode, string>> = { uefi: "UEFI", legacy: "Legacy" };

export type BootPatchPlan =
  | { readonly kind: "patch"; readonly body: { readonly Boot: Readonly<Record<string, string>> } }
  | { readonly kind: "unsupported"; readonly reason: string };

export function planBootPatch(override: BootOverride, boot: RedfishDocument | undefined): BootPatchPlan {
  if (boot === undefined) return { kind: "unsupported", reason: "the system has no Boot property" };
  const target = TARGETS[override.device];
  const targets = stringsOf(boot, "BootSourceOverrideTarget@Redfish.AllowableValues");
  if (targets !== undefined && !targets.includes(target)) {
    return {
      kind: "unsupported",
      reason: `boot device "${override.device}" (${target}) is not offered; the BMC offers ${targets.join(", ")}`,
    };
  }
  const enabled = override.persistence === "once" ? "Once" : "Continuous";
  const enabledValues = stringsOf(boot, "BootSourceOverrideEnabled@Redfish.AllowableValues");
  if (enabledValues !== undefined && !enabledValues.includes(enabled)) {
    return {
      kind: "unsupported",
      reason: `a "${override.persistence}" override is not offered; the BMC offers ${enabledValues.join(", ")}`,
    };
  }
  const patch: Record<string, string> = {
    BootSourceOverrideEnabled: enabled,
    BootSourceOverrideTarget: target,
  };
  const supportsMode = "BootSourceOverrideMode" in boot;
  if (override.mode !== undefined) {
    if (!supportsMode) {
      return { kind: "unsupported", reason: "the BMC does not expose BootSourceOverrideMode" };
    }
    const mode = MODES[override.mode];
    const modes = stringsOf(boot, "BootSourceOverrideMode@Redfish.AllowableValues");
    if (modes !== undefined && !modes.includes(mode)) {
      return {
        kind: "unsupported",
        reason: `boot mode ${mode} is not offered; the BMC offers ${modes.join(", ")}`,
      };
    }
    patch.BootSourceOverrideMode = mode;
  } else {
    // Resent unchanged: BMCs that reset omitted fields would otherwise flip UEFI machines to Legacy.
    const current = stringOf(boot, "BootSourceOverrideMode");
    if (current !== undefined) patch.BootSourceOverrideMode = current;
  }
  return { kind: "patch", body: { Boot: patch } };
}

export function parseBootOverride(boot: RedfishDocument | undefined): BootOverrideState {
  const target = stringOf(boot, "BootSourceOverrideTarget");
  const device: BootOverrideState["device"] =
    target === undefined || target === "None"
      ? "none"
      : ((Object.entries(TARGETS).find(([, value]) => value === target)?.[0] as BootDevice | undefined) ??
        "other");
  const enabled = stringOf(boot, "BootSourceOverrideEnabled");
  const persistence: BootOverrideState["persistence"] =
    enabled === "Once" ? "once" : enabled === "Continuous" ? "continuous" : "disabled";
  const modeValue = stringOf(boot, "BootSourceOverrideMode");
  const mode: BootOverrideState["mode"] =
    modeValue === "UEFI" ? "uefi" : modeValue === "Legacy" ? "legacy" : "unknown";
  return { device, persistence, mode };
}
