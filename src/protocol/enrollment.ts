/**
 * Enrollment, version 1 of the agent protocol: the agent in the boot image of an unknown machine sends
 * `POST /agent/v1/enroll` with `Authorization: Bearer <boot token>` and an {@link EnrollmentRequest}; the
 * server answers 200 with an {@link EnrollmentResponse} telling the agent what to do next. Errors are
 * RFC 9457 problem documents; the agent retries 408, 429 and 5xx (honouring Retry-After) and gives up on
 * any other 4xx.
 */
import { type Static, Type } from "typebox";
import { HardwareInventorySchema, LIMITS, MacAddressSchema, protocolObject } from "./inventory.ts";

export const AGENT_PROTOCOL_VERSION = "v1";

/** Kernel command-line parameters through which the server's boot script configures ingot-agent. */
export const AGENT_KERNEL_PARAMS = {
  /** server base URL */
  url: "ingot.url",
  /** boot token, bound to the boot MAC */
  token: "ingot.token",
  /** what the agent is booted for (AGENT_MODES) */
  mode: "ingot.mode",
  /** MAC of the interface the machine booted from */
  mac: "ingot.mac",
} as const;

/**
 * Written by the agent image's /init once the boot NIC is up, and nowhere else: the agent acts on power
 * instructions only where it exists, so running ingot-agent on a workstation never powers it off.
 */
export const AGENT_IMAGE_BOOT_ENV = "/run/ingot/boot-nic.env";

export const AGENT_MODES = ["enroll"] as const;
export type AgentMode = (typeof AGENT_MODES)[number];
export const AGENT_API_BASE_PATH = "/agent/v1";
export const ENROLL_PATH = "/agent/v1/enroll";

/**
 * Body limit the enroll route should set: the agent keeps its whole request under it (raw probe
 * outputs are dropped first), while the schema bounds each field.
 */
export const ENROLLMENT_BODY_LIMIT_BYTES = 8 * 1024 * 1024;

/** Probe names: `lscpu`, `smartctl:sda`, `ethtool:eno1`, ... */
export const PROBE_NAME_PATTERN = "^[a-z0-9][a-z0-9-]{0,31}(:[A-Za-z0-9!._:@-]{1,64})?$";

export const ProbeStatusSchema = Type.Union(
  [
    Type.Literal("ok"),
    Type.Literal("empty"),
    Type.Literal("missing"),
    Type.Literal("failed"),
    Type.Literal("timeout"),
    Type.Literal("unparseable"),
  ],
  {
    description:
      "ok: ran and parsed; empty: ran but had nothing to report (no DMI tables, no NVMe devices); " +
      "missing: tool or file absent; failed: non-zero exit or could not start; timeout: killed at its " +
      "deadline; unparseable: output not understood",
  },
);

export const ProbeOutputSchema = protocolObject(
  {
    contentType: Type.Union([
      Type.Literal("text/plain"),
      Type.Literal("application/json"),
      Type.Literal("application/xml"),
    ]),
    text: Type.String({ maxLength: LIMITS.probeOutput }),
    truncated: Type.Boolean({ description: "true when the output was cut to the limit" }),
  },
  "raw output of the tool as text (JSON output travels as text so that its size is bounded)",
);

export const ProbeReportSchema = protocolObject({
  status: ProbeStatusSchema,
  command: Type.Optional(Type.String({ maxLength: LIMITS.probeCommand, description: "argv or file read" })),
  exitCode: Type.Optional(Type.Integer()),
  durationMs: Type.Integer({ minimum: 0 }),
  warnings: Type.Array(Type.String({ maxLength: LIMITS.message }), { maxItems: LIMITS.warningsPerProbe }),
  output: Type.Optional(ProbeOutputSchema),
  stderr: Type.Optional(Type.String({ maxLength: LIMITS.probeStderr })),
});

export const BootMacSourceSchema = Type.Union(
  [Type.Literal("cmdline"), Type.Literal("bootif"), Type.Literal("detected")],
  {
    description:
      "cmdline: ingot.mac= from iPXE; bootif: BOOTIF= from the kernel command line; detected: the NIC the " +
      "image's init configured, else the interface that is up and has an IPv4 address",
  },
);

export const EnrollmentRequestSchema = protocolObject({
  agentVersion: Type.String({ minLength: 1, maxLength: 64 }),
  bootMac: MacAddressSchema,
  bootMacSource: BootMacSourceSchema,
  collectedAt: Type.String({ format: "date-time", maxLength: 64 }),
  inventory: HardwareInventorySchema,
  probes: Type.Record(Type.String({ pattern: PROBE_NAME_PATTERN }), ProbeReportSchema, {
    maxProperties: LIMITS.probes,
    additionalProperties: false,
    description: "what each probe did, keyed by probe name",
  }),
});

export const AgentActionSchema = Type.Union(
  [Type.Literal("idle"), Type.Literal("poweroff"), Type.Literal("reboot")],
  { description: "idle: stay up and do nothing; poweroff / reboot: power the machine off or restart it" },
);

export const AgentInstructionSchema = protocolObject({
  action: AgentActionSchema,
  message: Type.Optional(Type.String({ maxLength: LIMITS.message, description: "shown on the console" })),
});

export const EnrollmentResponseSchema = protocolObject({
  machineId: Type.String({ minLength: 1, maxLength: 128 }),
  state: Type.String({ minLength: 1, maxLength: 64, description: "machine state after enrollment" }),
  next: AgentInstructionSchema,
});

export type ProbeStatus = Static<typeof ProbeStatusSchema>;
export type ProbeOutput = Static<typeof ProbeOutputSchema>;
export type ProbeReport = Static<typeof ProbeReportSchema>;
export type BootMacSource = Static<typeof BootMacSourceSchema>;
export type EnrollmentRequest = Static<typeof EnrollmentRequestSchema>;
export type AgentAction = Static<typeof AgentActionSchema>;

export const AGENT_ACTIONS: readonly AgentAction[] = ["idle", "poweroff", "reboot"];
export type AgentInstruction = Static<typeof AgentInstructionSchema>;
export type EnrollmentResponse = Static<typeof EnrollmentResponseSchema>;
