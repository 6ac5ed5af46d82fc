/**
 * iPXE scripts, chosen by what Ingot knows about the machine asking. Pure functions: the route gathers
 * the facts (machine state, agent image, a fresh boot token) and these render the script text.
 *
 *   unknown machine            → agent image in enrollment mode
 *   enrolled / vetting         → agent image with run parameters (AGENT_MODES)
 *   ready / provisioning + image → that image's kernel, initrd and command line
 *   deployed, ready without image, retired → the local disk
 *   held                       → nothing that could change the machine: the local disk
 */
import type { BootImage, MachineState } from "../inventory/machine-model.ts";
import type { AgentMode } from "../protocol/enrollment.ts";

export type BootPlan =
  | { readonly kind: "agent"; readonly mode: AgentMode; readonly reason: string }
  | { readonly kind: "image"; readonly image: BootImage; readonly reason: string }
  | { readonly kind: "local-disk"; readonly reason: string };

/** What a machine should boot, from its recorded state; `undefined` state means Ingot does not know it. */
export function planBoot(
  machine: { state: MachineState; bootImage: BootImage | null } | undefined,
): BootPlan {
  if (machine === undefined) return { kind: "agent", mode: "enroll", reason: "unknown machine: enrolling" };
  const { state, bootImage } = machine;
  switch (state.kind) {
    case "enrolled":
      return { kind: "agent", mode: "enroll", reason: "enrolled: refreshing inventory" };
    case "vetting":
      // The agent has no vetting stages yet: it refreshes the inventory, which vetting starts with too.
      return { kind: "agent", mode: "enroll", reason: "vetting: refreshing inventory" };
    case "ready":
    case "provisioning":
      return bootImage === null
        ? { kind: "local-disk", reason: `${state.kind} with no image assigned` }
        : { kind: "image", image: bootImage, reason: `${state.kind}: booting its image` };
    case "deployed":
      return { kind: "local-disk", reason: "deployed: booting the installed system" };
    case "held":
      return { kind: "local-disk", reason: `held (${state.reason}): nothing destructive is served` };
    case "retired":
      return { kind: "local-disk", reason: "retired" };
  }
}

export interface IpxeContext {
  /** Base URL machines reach the server at, without a trailing slash. */
  readonly publicUrl: string;
}

const HEADER = "#!ipxe";

/**
 * The script any DHCP server can hand out: it asks again with iPXE's own view of the machine, so the
 * answer can depend on who is booting. `netX` is the interface iPXE booted from (on a multi-port server
 * that is not always net0).
 */
export function chainScript(context: IpxeContext): string {
  return lines(
    HEADER,
    `chain --replace --autofree ${context.publicUrl}/boot/v1/ipxe?mac=\${netX/mac}&serial=\${serial:uristring}&uuid=\${uuid}&arch=\${buildarch} || goto failed`,
    ":failed",
    "echo Ingot: could not reach the boot server; retrying in 10 s",
    "sleep 10",
    `chain --replace --autofree ${context.publicUrl}/boot/v1/ipxe`,
  );
}

/** Kernel + initrd + command line, with a retry through the chain URL if anything fails to load. */
export function kernelScript(
  context: IpxeContext,
  boot: { kernelUrl: string; initrdUrl: string; cmdline: string; banner: string },
): string {
  assertSafe(boot.cmdline);
  return lines(
    HEADER,
    `echo ${sanitizeEcho(boot.banner)}`,
    `kernel ${boot.kernelUrl} initrd=initrd.img ${boot.cmdline} || goto failed`,
    `initrd --name initrd.img ${boot.initrdUrl} || goto failed`,
    "boot || goto failed",
    ":failed",
    "echo Ingot: boot failed; asking the server again in 10 s",
    "sleep 10",
    `chain --replace --autofree ${context.publicUrl}/boot/v1/ipxe`,
  );
}

/** Leave iPXE so the firmware boots the next device (the local disk). */
export function localDiskScript(reason: string): string {
  return lines(HEADER, `echo Ingot: ${sanitizeEcho(reason)}; booting from local disk`, "exit");
}

/** The server cannot serve what the machine needs yet (no agent image built): wait and ask again. */
export function retryLaterScript(context: IpxeContext, message: string, delaySeconds: number): string {
  return lines(
    HEADER,
    `echo Ingot: ${sanitizeEcho(message)}`,
    `echo Ingot: asking again in ${delaySeconds} s`,
    `sleep ${delaySeconds}`,
    `chain --replace --autofree ${context.publicUrl}/boot/v1/ipxe`,
  );
}

/** A boot file reference: an artifact name under /boot/v1/files, or an absolute http(s) URL. */
export function fileUrl(context: IpxeContext, reference: string): string {
  return /^https?:\/\//.test(reference)
    ? reference
    : `${context.publicUrl}/boot/v1/files/${reference.split("/").map(encodeURIComponent).join("/")}`;
}

function lines(...items: string[]): string {
  return `${items.join("\n")}\n`;
}

/** iPXE treats `${…}` in echo as a setting; keep operator-provided text literal and on one line. */
function sanitizeEcho(text: string): string {
  return text.replace(/[\r\n]+/g, " ").replace(/\$\{/g, "$ {");
}

/** A newline in a command line would end the `kernel` line and start a command of its own. */
function assertSafe(cmdline: string): void {
  if (/[\r\n]/.test(cmdline)) throw new Error("kernel command line must be a single line");
}
