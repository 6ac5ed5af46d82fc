/**
 * `ingot lab …`: simulated and virtual hardware for trying Ingot out and for tests.
 * `lab run` (the default: `ingot lab --machines 20 …`) starts simulated BMCs and registers them with a
 * running server through its API; `lab vm` starts one QEMU machine that PXE-boots from a running Ingot
 * server, with its console on stdout.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { Command } from "commander";
import { type FleetTlsMode, renderFleetTable, startLabFleet } from "../../lab/fleet/index.ts";
import { AcceleratorDetector, startVm } from "../../lab/qemu/vm.ts";
import { ConfigError, parseInteger, parseOneOf, parseUrl } from "../config/options.ts";

interface LabVmFlags {
  readonly server: string;
  readonly mac?: string;
  readonly serial?: string;
  readonly memory: string;
  readonly cpus: string;
  readonly disks: string;
  readonly exitAfterEnroll?: boolean;
}

interface LabRunFlags {
  readonly machines: string;
  readonly ipmi: string;
  readonly server: string;
  readonly token?: string;
  readonly org: string;
  readonly vendor: string;
  readonly tls: string;
  readonly seed?: string;
  readonly fast?: boolean;
}

/** Power transitions of `--fast` lab machines: quick enough for a demo, slow enough to be seen. */
const FAST_TIMING = {
  powerOnDelayMs: 300,
  powerOffDelayMs: 200,
  gracefulShutdownMs: 300,
  firmwareUpdateMs: 2_000,
};

/** QEMU user networking shows the host's loopback to the guest as this address. */
const HOST_FROM_GUEST = "10.0.2.2";

export function registerLabCommands(program: Command): void {
  const lab = program.command("lab").description("simulated and virtual hardware");
  lab
    .command("run", { isDefault: true })
    .description(
      "start simulated machines (Redfish BMCs, optionally IPMI) and register them with a running server; " +
        "Ctrl+C stops them",
    )
    .option("--machines <n>", "simulated Redfish machines", "4")
    .option("--ipmi <n>", "simulated IPMI machines (OpenIPMI's ipmi_sim)", "0")
    .option("--server <url>", "the Ingot server", "http://127.0.0.1:8080")
    .option("--token <token>", "API token of a provider admin of the org [env: INGOT_TOKEN]")
    .option("--org <org>", "org the BMCs are registered in", "default")
    .option("--vendor <vendor>", "BMC personality: openbmc, ilo5 or mixed", "mixed")
    .option(
      "--tls <mode>",
      "ca: the server verifies the BMCs against the lab CA; insecure: accepts them",
      "ca",
    )
    .option("--seed <n>", "reproducible serials, UUIDs and MACs")
    .option("--fast", "power transitions in a fraction of a second instead of seconds")
    .allowExcessArguments(false)
    .action(async (flags: LabRunFlags) => await runLabFleet(flags));
  lab
    .command("vm")
    .description("start a QEMU machine that PXE-boots from a local Ingot server; its console goes to stdout")
    .option("--server <url>", "the Ingot server on this host", "http://127.0.0.1:8080")
    .option("--mac <mac>", "MAC address of the boot NIC (default: random 52:54:00:…)")
    .option("--serial <serial>", "SMBIOS serial number (default: random)")
    .option("--memory <MiB>", "memory", "1024")
    .option("--cpus <n>", "virtual CPUs", "2")
    .option("--disks <GiB,...>", "sizes of the virtual disks", "8,16")
    .option("--exit-after-enroll", "stop the VM and exit once the agent has enrolled")
    .allowExcessArguments(false)
    .action(async (flags: LabVmFlags) => await runLabVm(flags));
}

async function runLabFleet(flags: LabRunFlags): Promise<void> {
  const server = checked("--server", () => parseUrl(["http:", "https:"])(flags.server));
  const machines = checked("--machines", () => parseInteger(0, 1000)(flags.machines));
  const ipmi = checked("--ipmi", () => parseInteger(0, 64)(flags.ipmi));
  const vendor = checked("--vendor", () => parseOneOf(["openbmc", "ilo5", "mixed"] as const)(flags.vendor));
  const tls: FleetTlsMode = checked("--tls", () => parseOneOf(["ca", "insecure"] as const)(flags.tls));
  const seed =
    flags.seed === undefined ? undefined : checked("--seed", () => parseInteger(0, 65_535)(flags.seed ?? ""));
  const token = flags.token ?? process.env.INGOT_TOKEN;
  if (token === undefined || token === "") {
    throw new ConfigError([
      "--token: an API token of a provider admin is needed (POST /api/v1/auth/tokens), or set INGOT_TOKEN",
    ]);
  }
  if (machines + ipmi === 0) throw new ConfigError(["--machines/--ipmi: start at least one machine"]);
  process.stderr.write(`ingot lab: starting ${machines} Redfish and ${ipmi} IPMI machines for ${server}\n`);
  const fleet = await startLabFleet({
    server,
    token,
    org: flags.org,
    machines,
    ipmi,
    vendor,
    tls,
    ...(seed !== undefined ? { seed } : {}),
    ...(flags.fast === true ? { timing: FAST_TIMING } : {}),
    onAgentOutcome: (outcome, bmc) => {
      const who = `${bmc.identity.hostName} (${bmc.identity.serial})`;
      const what =
        outcome.kind === "enrolled"
          ? `enrolled as machine ${outcome.machineId} (${outcome.state}); agent told to ${outcome.next}`
          : outcome.kind === "local-disk"
            ? "booted from the network; the server sent it to its local disk"
            : `network boot failed: ${outcome.error}`;
      process.stderr.write(`ingot lab: ${who} ${what}\n`);
    },
    onAgentWait: (message, bmc) => {
      process.stderr.write(
        `ingot lab: ${bmc.identity.hostName} (${bmc.identity.serial}) network boot waits: ${message}\n`,
      );
    },
  });
  process.stdout.write(`${renderFleetTable(fleet.members)}\n`);
  process.stderr.write(
    `ingot lab: ${fleet.members.length} machines registered in org ${flags.org}. Power one on with a PXE ` +
      "boot override through the API and its simulated agent enrolls it. Ctrl+C stops the lab.\n",
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  process.stderr.write("ingot lab: stopping\n");
  await fleet.stop();
}

async function runLabVm(flags: LabVmFlags): Promise<void> {
  const server = new URL(checked("--server", () => parseUrl(["http:"])(flags.server)));
  const memoryMiB = checked("--memory", () => parseInteger(256, 65_536)(flags.memory));
  const cpus = checked("--cpus", () => parseInteger(1, 64)(flags.cpus));
  const disks = flags.disks
    .split(",")
    .map((size) => checked("--disks", () => parseInteger(1, 4096)(size.trim())));
  const mac = (
    flags.mac ?? `52:54:00:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, "0")).join(":")}`
  ).toLowerCase();
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac))
    throw new ConfigError([`--mac: not a MAC address: ${flags.mac}`]);
  const serial = flags.serial ?? `LAB-${randomBytes(4).toString("hex").toUpperCase()}`;
  const port = server.port === "" ? 80 : Number(server.port);
  const bootUrl = `http://${HOST_FROM_GUEST}:${port}/boot/v1/ipxe`;
  await assertServerReachableFromGuest(server, port);

  process.stderr.write(`ingot lab vm: serial ${serial}, MAC ${mac}, booting from ${bootUrl}\n`);
  const vm = await startVm({
    name: "ingot-lab-vm",
    memoryMiB,
    cpus,
    disks: disks.map((gib) => ({ sizeBytes: gib * 1024 ** 3 })),
    nics: [{ mac, network: { kind: "user", bootfile: bootUrl } }],
    smbios: { serial, uuid: randomUUID(), manufacturer: "Ingot Lab", product: "Lab VM" },
    boot: "network",
    accelDetector: new AcceleratorDetector(),
  });
  process.stderr.write(
    `ingot lab vm: running under ${vm.accel.accel} (${vm.accel.reason}); Ctrl+C stops it\n`,
  );
  vm.console.createReadStream().pipe(process.stdout);
  const stop = new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
    if (flags.exitAfterEnroll === true) {
      vm.waitForConsole(/enrolled as [0-9a-f-]{36}/, { timeoutMs: 30 * 60_000 }).then(
        () => resolve(),
        () => resolve(),
      );
    }
    vm.exited.then(() => resolve());
  });
  await stop;
  await vm.stop();
}

/**
 * The guest reaches the server at 10.0.2.2, so the scripts the server writes must name that address:
 * fetch the chain script and check, instead of letting the VM retry forever against an unreachable URL.
 */
async function assertServerReachableFromGuest(server: URL, port: number): Promise<void> {
  let script: string;
  try {
    const response = await fetch(new URL("/boot/v1/ipxe", server), { signal: AbortSignal.timeout(5000) });
    script = await response.text();
  } catch (error) {
    throw new Error(
      `no Ingot server answers at ${server.origin} (${(error as Error).message}); start one with \`ingot server\``,
    );
  }
  const expected = `http://${HOST_FROM_GUEST}:${port}/boot/v1/ipxe`;
  if (!script.includes(expected)) {
    throw new Error(
      `the server at ${server.origin} tells machines to use another address; a lab VM reaches it at ${HOST_FROM_GUEST}: ` +
        `restart it with --public-url http://${HOST_FROM_GUEST}:${port}`,
    );
  }
}

function checked<T>(flag: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new ConfigError([`${flag}: ${(error as Error).message}`]);
  }
}
