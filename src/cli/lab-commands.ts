/**
 * `ingot lab …`: simulated and virtual hardware for trying Ingot out and for tests.
 * `lab vm` starts one QEMU machine that PXE-boots from a running Ingot server, with its console on stdout.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { Command } from "commander";
import { AcceleratorDetector, startVm } from "../../lab/qemu/vm.ts";
import { ConfigError, parseInteger, parseUrl } from "../config/options.ts";

interface LabVmFlags {
  readonly server: string;
  readonly mac?: string;
  readonly serial?: string;
  readonly memory: string;
  readonly cpus: string;
  readonly disks: string;
  readonly exitAfterEnroll?: boolean;
}

/** QEMU user networking shows the host's loopback to the guest as this address. */
const HOST_FROM_GUEST = "10.0.2.2";

export function registerLabCommands(program: Command): void {
  const lab = program.command("lab").description("simulated and virtual hardware");
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
