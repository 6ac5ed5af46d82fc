import {
  type AgentImageManifest,
  agentKernelCommandLine,
  readAgentImageManifest,
} from "../images/agent-image.ts";
import type { ArtifactStore } from "../images/artifact-store.ts";
import { normalizeMac } from "../inventory/mac-address.ts";
import type { MachineRow, MachineStore } from "../inventory/machine-store.ts";
import type { Logger } from "../observability/logger.ts";
import { AGENT_KERNEL_PARAMS } from "../protocol/enrollment.ts";
import type { BootTokens } from "./boot-tokens.ts";
import {
  type BootPlan,
  chainScript,
  fileUrl,
  kernelScript,
  localDiskScript,
  planBoot,
  retryLaterScript,
} from "./ipxe.ts";

export interface BootRequest {
  readonly mac?: string | undefined;
  readonly serial?: string | undefined;
  readonly uuid?: string | undefined;
  readonly arch?: string | undefined;
}

export interface BootServiceDeps {
  readonly machines: MachineStore;
  readonly tokens: BootTokens;
  readonly artifacts: ArtifactStore;
  readonly logger: Logger;
  /** Base URL machines reach the server at; known only once the server listens. */
  readonly publicUrl: () => string;
  /**
   * With the DHCP allowlist on, only MACs Ingot knows may boot the agent: an unknown machine on a static
   * address gets the local disk and no token. Absent: every MAC may enroll.
   */
  readonly isKnownMac?: (mac: string) => Promise<boolean>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** How long an unknown machine waits before asking again when no agent image has been built yet. */
const NO_IMAGE_RETRY_SECONDS = 60;

/** Chooses and renders the iPXE script for a machine asking `/boot/v1/ipxe`. */
export class BootService {
  constructor(private readonly deps: BootServiceDeps) {}

  async script(request: BootRequest): Promise<{ script: string; plan: BootPlan | undefined }> {
    const context = { publicUrl: this.deps.publicUrl() };
    const mac = request.mac === undefined ? undefined : normalizeMac(request.mac);
    if (mac === undefined) return { script: chainScript(context), plan: undefined };
    const machine = await this.findMachine(mac, request);
    const plan = planBoot(
      machine === undefined ? undefined : { state: machine.state, bootImage: machine.boot_image },
    );
    const log = this.deps.logger.child({ mac, machineId: machine?.id, plan: plan.kind });
    switch (plan.kind) {
      case "local-disk":
        log.info({ reason: plan.reason }, "boot: local disk");
        return { script: localDiskScript(plan.reason), plan };
      case "image": {
        log.info({ reason: plan.reason }, "boot: machine image");
        const script = kernelScript(context, {
          kernelUrl: fileUrl(context, plan.image.kernel),
          initrdUrl: fileUrl(context, plan.image.initrd),
          cmdline: plan.image.cmdline,
          banner: `Ingot: ${plan.reason}`,
        });
        return { script, plan };
      }
      case "agent": {
        if (
          machine === undefined &&
          this.deps.isKnownMac !== undefined &&
          !(await this.deps.isKnownMac(mac))
        ) {
          log.warn("boot: unknown MAC refused by the allowlist");
          const reason = "this MAC is not on the boot allowlist";
          return { script: localDiskScript(reason), plan: { kind: "local-disk", reason } };
        }
        const manifest = await this.agentImage();
        if (manifest === undefined) {
          log.warn("boot: no agent image has been built (run `ingot image build-agent`)");
          return {
            script: retryLaterScript(
              context,
              "no agent image is built on the server yet",
              NO_IMAGE_RETRY_SECONDS,
            ),
            plan,
          };
        }
        const token = await this.deps.tokens.issue(mac, "enroll");
        log.info({ reason: plan.reason, agentImage: manifest.version }, "boot: agent image");
        const cmdline = agentKernelCommandLine({
          mac,
          time: new Date(),
          params: {
            [AGENT_KERNEL_PARAMS.url]: context.publicUrl,
            [AGENT_KERNEL_PARAMS.token]: token,
            [AGENT_KERNEL_PARAMS.mode]: plan.mode,
          },
        });
        const script = kernelScript(context, {
          kernelUrl: fileUrl(context, manifest.kernel.name),
          initrdUrl: fileUrl(context, manifest.initrd.name),
          cmdline,
          banner: `Ingot: ${plan.reason} with agent image ${manifest.version}`,
        });
        return { script, plan };
      }
    }
  }

  /**
   * By MAC, else by the serial or UUID iPXE read from SMBIOS (a NIC Ingot has not seen yet on a known
   * machine). Firmware placeholders never match: enrolled machines never store them.
   */
  private async findMachine(mac: string, request: BootRequest): Promise<MachineRow | undefined> {
    const { machines } = this.deps;
    const serial = request.serial?.trim();
    const uuid = request.uuid?.trim().toLowerCase();
    return (
      (await machines.findByInterfaceMac(mac)) ??
      (serial !== undefined && serial !== "" ? await machines.findBySerial(serial) : undefined) ??
      (uuid !== undefined && UUID.test(uuid) ? await machines.findBySystemUuid(uuid) : undefined)
    );
  }

  private async agentImage(): Promise<AgentImageManifest | undefined> {
    try {
      return await readAgentImageManifest(this.deps.artifacts);
    } catch {
      return undefined;
    }
  }
}
