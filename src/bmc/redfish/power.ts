/**
 * PowerAction → ComputerSystem.Reset, decided from the ResetType values the BMC advertises. Pure: the
 * driver supplies the current power state and the allowable values, and executes the plan.
 */
import type { PowerAction, PowerState } from "../driver.ts";

export type PowerPlan =
  /** Already where the action leads; nothing to send. */
  | { readonly kind: "none" }
  | { readonly kind: "reset"; readonly resetType: string }
  /** The BMC lacks a single reset for this action: force off, wait for Off, then power on. */
  | { readonly kind: "off-then-on"; readonly off: string; readonly on: string }
  | { readonly kind: "unsupported"; readonly reason: string };

export function mapPowerState(value: string | undefined): PowerState {
  switch (value) {
    case "On":
      return "on";
    case "Off":
      return "off";
    case "PoweringOn":
      return "powering-on";
    case "PoweringOff":
      return "powering-off";
    default:
      return "unknown";
  }
}

const ON = ["On", "ForceOn"] as const;

/**
 * Restarts of a machine that is off power it on: the caller wants it running freshly booted, and most
 * BMCs reject ForceRestart on a powered-off system.
 */
export function planPowerAction(
  action: PowerAction,
  current: PowerState,
  allowed: readonly string[] | undefined,
): PowerPlan {
  const offers = (value: string): boolean => allowed === undefined || allowed.includes(value);
  const pick = (candidates: readonly string[]): string | undefined => candidates.find(offers);
  const unsupported = (wanted: string): PowerPlan => ({
    kind: "unsupported",
    reason: `the BMC offers ResetType ${allowed?.join(", ") || "(none)"}; none performs ${wanted}`,
  });
  const powerOn = (): PowerPlan => {
    const on = pick(ON);
    if (on !== undefined) return { kind: "reset", resetType: on };
    // A button press toggles, so it is only an "on" when the machine is known to be off.
    if (current === "off" && allowed?.includes("PushPowerButton")) {
      return { kind: "reset", resetType: "PushPowerButton" };
    }
    return unsupported(`"${action}"`);
  };
  const offThenOn = (): PowerPlan => {
    const off = pick(["ForceOff"]);
    const on = pick(ON);
    return off !== undefined && on !== undefined
      ? { kind: "off-then-on", off, on }
      : unsupported(`"${action}"`);
  };
  const single = (candidates: readonly string[], fallback?: () => PowerPlan): PowerPlan => {
    const resetType = pick(candidates);
    if (resetType !== undefined) return { kind: "reset", resetType };
    return fallback !== undefined ? fallback() : unsupported(`"${action}"`);
  };

  switch (action) {
    case "on":
      return current === "on" || current === "powering-on" ? { kind: "none" } : powerOn();
    case "off":
    case "force-off":
      return current === "off" ? { kind: "none" } : single(["ForceOff"]);
    case "graceful-shutdown":
      return current === "off" ? { kind: "none" } : single(["GracefulShutdown"]);
    case "restart":
      return current === "off" ? powerOn() : single(["ForceRestart", "PowerCycle"], offThenOn);
    case "force-restart":
      return current === "off" ? powerOn() : single(["ForceRestart"], offThenOn);
    case "graceful-restart":
      return current === "off" ? powerOn() : single(["GracefulRestart"]);
    case "cycle":
      return current === "off" ? powerOn() : single(["PowerCycle"], offThenOn);
  }
}
