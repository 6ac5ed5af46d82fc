/**
 * `ingot lab run`: a fleet of simulated machines registered with a running Ingot server. N Redfish BMCs
 * (lab/redfish) on loopback, and optionally M IPMI BMCs (lab/ipmi, OpenIPMI's ipmi_sim), each registered
 * through the public API exactly as an operator would: POST /api/v1/orgs/{org}/bmcs/explore with its
 * address, port and credentials. Every Redfish machine carries a simulated agent, so powering it on with a
 * PXE boot override through the API makes it enroll through /boot/v1 and /agent/v1.
 *
 *   const fleet = await startLabFleet({ server: "http://127.0.0.1:8080", token, machines: 20 });
 *   console.log(renderFleetTable(fleet.members));
 *   await fleet.stop();
 */
import { type IpmiLab, startIpmiLab } from "../ipmi/index.ts";
import {
  createLabTls,
  type LabTlsMaterial,
  type MachineTiming,
  type RedfishLab,
  type RedfishLabBmc,
  type RedfishVendor,
  startRedfishLab,
} from "../redfish/index.ts";
import { PROFILES } from "../redfish/profiles.ts";
import { type AgentOutcome, SimulatedAgent } from "./agent-sim.ts";
import { IngotClient } from "./api-client.ts";

export { type AgentOutcome, buildEnrollmentRequest, SimulatedAgent } from "./agent-sim.ts";
export { IngotApiError, IngotClient } from "./api-client.ts";

/** How the server is told to trust a lab BMC's certificate. */
export type FleetTlsMode = "ca" | "insecure";

export interface LabFleetOptions {
  /** Base URL of the Ingot server. */
  readonly server: string;
  /** API token of a provider admin of `org`. */
  readonly token: string;
  /** Org the BMCs are registered in (default "default"). */
  readonly org?: string;
  /** Simulated Redfish machines. */
  readonly machines: number;
  /** Simulated IPMI machines (ipmi_sim processes); default 0. */
  readonly ipmi?: number;
  /** Default "mixed" (OpenBMC and iLO 5 by turns). */
  readonly vendor?: RedfishVendor | "mixed";
  /** Reproducible serials, UUIDs and MACs; default random. */
  readonly seed?: number;
  /**
   * "ca" (default): the server verifies the BMCs against the lab CA, sent with each registration;
   * "insecure": the server accepts their certificates unverified (insecure-allow-self-signed).
   */
  readonly tls?: FleetTlsMode;
  readonly labTls?: LabTlsMaterial;
  readonly timing?: Partial<MachineTiming>;
  /** Attach a simulated agent to every Redfish machine (default true). */
  readonly agents?: boolean;
  /** Registrations in flight at once (default 4). */
  readonly registerConcurrency?: number;
  readonly onAgentOutcome?: (outcome: AgentOutcome, bmc: RedfishLabBmc) => void;
  /** A simulated agent was told to wait and ask again; `message` is what the server's script said. */
  readonly onAgentWait?: (message: string, bmc: RedfishLabBmc) => void;
}

export interface FleetMember {
  readonly protocol: "redfish" | "ipmi";
  readonly name: string;
  readonly vendor: string;
  readonly address: string;
  readonly port: number;
  readonly bmcMac: string;
  readonly serial: string;
  readonly machineId: string;
  readonly powerState: string;
  /** The simulated Redfish BMC (undefined for IPMI members). */
  readonly redfish?: RedfishLabBmc;
}

export interface LabFleet {
  readonly members: readonly FleetMember[];
  readonly redfish: RedfishLab;
  readonly ipmi: IpmiLab | undefined;
  readonly agents: ReadonlyMap<string, SimulatedAgent>;
  stop(): Promise<void>;
}

interface ExploreAnswer {
  readonly bmc: { readonly macAddress: string };
  readonly machineId: string;
  readonly powerState: string;
  readonly inventory: { readonly serial?: string };
}

export async function startLabFleet(options: LabFleetOptions): Promise<LabFleet> {
  const org = options.org ?? "default";
  const client = new IngotClient({ server: options.server, token: options.token });
  await checkAccess(client, org);
  const labTls = options.labTls ?? (await createLabTls());
  const redfish = await startRedfishLab({
    machines: options.machines,
    vendor: options.vendor ?? "mixed",
    tls: labTls,
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.timing !== undefined ? { timing: options.timing } : {}),
  });
  let ipmi: IpmiLab | undefined;
  const agents = new Map<string, SimulatedAgent>();
  const stop = async (): Promise<void> => {
    await Promise.all([...agents.values()].map((agent) => agent.stop()));
    await Promise.all([redfish.stop(), ipmi?.stop()]);
  };
  try {
    if ((options.ipmi ?? 0) > 0) ipmi = await startIpmiLab({ machines: options.ipmi ?? 0 });
    const tls =
      options.tls === "insecure"
        ? { mode: "insecure-allow-self-signed" as const }
        : { mode: "verify" as const, ca: labTls.caCert };
    const jobs: Array<() => Promise<FleetMember>> = [
      ...redfish.bmcs.map((bmc) => async (): Promise<FleetMember> => {
        const answer = await explore(client, org, {
          address: bmc.host,
          port: bmc.port,
          protocol: "redfish",
          credentials: bmc.credentials,
          tls,
        });
        return {
          protocol: "redfish",
          name: bmc.identity.hostName,
          vendor: bmc.vendor,
          address: bmc.host,
          port: bmc.port,
          bmcMac: answer.bmc.macAddress,
          serial: answer.inventory.serial ?? bmc.identity.serial,
          machineId: answer.machineId,
          powerState: answer.powerState,
          redfish: bmc,
        };
      }),
      ...(ipmi?.machines ?? []).map((machine) => async (): Promise<FleetMember> => {
        const answer = await explore(client, org, {
          address: machine.endpoint.address,
          port: machine.endpoint.port,
          protocol: "ipmi",
          credentials: { username: machine.endpoint.username, password: machine.endpoint.password },
        });
        return {
          protocol: "ipmi",
          name: machine.name,
          vendor: "ipmi_sim",
          address: machine.endpoint.address,
          port: machine.endpoint.port,
          bmcMac: answer.bmc.macAddress,
          serial: answer.inventory.serial ?? machine.serial,
          machineId: answer.machineId,
          powerState: answer.powerState,
        };
      }),
    ];
    const members = await runLimited(jobs, options.registerConcurrency ?? 4);
    if (options.agents !== false) {
      for (const bmc of redfish.bmcs) {
        const profile = PROFILES[bmc.vendor];
        const agent = new SimulatedAgent({
          bmc,
          client: new IngotClient({ server: options.server }),
          hardware: profile.hardware,
          product: { manufacturer: profile.manufacturer, model: profile.model, sku: profile.sku },
          ...(options.onAgentOutcome !== undefined ? { onOutcome: options.onAgentOutcome } : {}),
          ...(options.onAgentWait !== undefined ? { onWait: options.onAgentWait } : {}),
        });
        agent.start();
        agents.set(bmc.identity.bmcMac, agent);
      }
    }
    return { members, redfish, ipmi, agents, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Fails early, with a clear message, when the server is not there or the token cannot register BMCs. */
async function checkAccess(client: IngotClient, org: string): Promise<void> {
  const me = await client.json<{ memberships?: Array<{ org: string; role: string }> }>(
    "GET",
    "/api/v1/auth/me",
  );
  const roles = (me.memberships ?? []).filter((m) => m.org === org).map((m) => m.role);
  if (!roles.includes("provider-admin")) {
    throw new Error(
      `the token does not make you a provider-admin of org ${org} (roles there: ${roles.join(", ") || "none"})`,
    );
  }
}

async function explore(
  client: IngotClient,
  org: string,
  body: Record<string, unknown>,
): Promise<ExploreAnswer> {
  return await client.json<ExploreAnswer>(
    "POST",
    `/api/v1/orgs/${encodeURIComponent(org)}/bmcs/explore`,
    body,
  );
}

async function runLimited<T>(jobs: ReadonlyArray<() => Promise<T>>, limit: number): Promise<T[]> {
  const results = new Array<T>(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const index = next++;
      const job = jobs[index];
      if (job !== undefined) results[index] = await job();
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), jobs.length) }, () => worker()));
  return results;
}

/** The fleet as a table for a terminal. */
export function renderFleetTable(members: readonly FleetMember[]): string {
  const header = ["#", "name", "protocol", "vendor", "BMC", "BMC MAC", "serial", "power", "machine"];
  const rows = members.map((member, index) => [
    String(index + 1),
    member.name,
    member.protocol,
    member.vendor,
    `${member.address}:${member.port}`,
    member.bmcMac,
    member.serial,
    member.powerState,
    member.machineId,
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)].join("\n");
}
