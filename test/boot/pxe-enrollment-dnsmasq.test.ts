/**
 * Enrollment over the real DHCP path: Ingot's dnsmasq supervisor serves DHCP in a network namespace, a
 * QEMU VM on a tap device on that network's bridge PXE-boots from it, gets the chain URL as an iPXE client,
 * boots the agent image and enrolls. The server's HTTP port is relayed into the namespace over a Unix
 * socket, so nothing touches the host's own network.
 */
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { AcceleratorDetector, type QemuVm, startVm } from "../../lab/qemu/vm.ts";
import { DnsmasqSupervisor, ipxeChainUrl } from "../../src/boot/dnsmasq.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { agentImageDataDir } from "../helpers/agent-image.ts";
import { startTestApp, type TestApp } from "../helpers/app.ts";
import { enrolledMachine } from "../helpers/enrollment.ts";
import { relayIntoNamespace } from "../helpers/namespace-relay.ts";
import { NetworkLab } from "../helpers/netns.ts";

const GIB = 1024 ** 3;
const SERIAL = "PXE-DHCP-0001";
const UUID = "0b7c4f1e-92d3-4a6b-8e5f-1a2b3c4d5e6f";
const MAC = "52:54:00:d4:c0:01";
const SERVER_ADDRESS = "10.99.0.1";

describe("PXE enrollment of a QEMU machine through Ingot's dnsmasq (network namespace, bridge, tap)", () => {
  let app: TestApp;
  let lab: NetworkLab;
  let workDir: string;
  let supervisor: DnsmasqSupervisor;
  let relay: { close(): Promise<void> };
  let qemuInLan: string;

  before(async () => {
    const { dataDir } = await agentImageDataDir();
    workDir = await mkdtemp(path.join(tmpdir(), "ingot-pxe-dhcp-"));
    await chmod(workDir, 0o755);
    lab = await NetworkLab.create();
    const lan = await lab.namespace("lan");
    const bridge = await lab.bridge(lan, "br0");
    const srv = await lab.namespace("srv");
    await lab.plug(bridge, { ns: srv, name: "eth0", address: `${SERVER_ADDRESS}/24` });
    await lab.tap(bridge, "tap0");

    app = await startTestApp({ config: { dataDir }, listen: { publicHost: SERVER_ADDRESS } });
    const port = Number(new URL(app.publicUrl()).port);
    relay = await relayIntoNamespace(srv, { host: SERVER_ADDRESS, port }, { host: "127.0.0.1", port });

    supervisor = new DnsmasqSupervisor({
      logger: createLogger("silent"),
      settings: {
        dhcp: {
          mode: "full",
          interface: "eth0",
          range: { start: "10.99.0.100", end: "10.99.0.150" },
          subnet: undefined,
          router: undefined,
          dns: [],
          leaseSeconds: 3600,
          allowlist: false,
          uefiBinary: "ipxe.efi",
        },
        chainUrl: ipxeChainUrl(app.publicUrl()),
      },
      allowlist: async () => [],
      paths: { dataDir: workDir, launcher: ["ip", "netns", "exec", srv.name] },
    });
    await supervisor.start();

    qemuInLan = path.join(workDir, "qemu-in-lan.sh");
    await writeFile(qemuInLan, `#!/bin/sh\nexec ip netns exec ${lan.name} qemu-system-x86_64 "$@"\n`, {
      mode: 0o755,
    });
  });

  after(async () => {
    await supervisor?.stop();
    await relay?.close();
    await app?.close();
    await lab?.dispose();
    await rm(workDir, { recursive: true, force: true });
  });

  it("gets its address and boot URL from dnsmasq, boots the agent and enrolls", async (t) => {
    let vm: QemuVm | undefined;
    t.after(async () => await vm?.stop());
    const started = performance.now();
    vm = await startVm({
      name: "pxe-dhcp",
      memoryMiB: 1024,
      cpus: 2,
      disks: [{ sizeBytes: 2 * GIB }, { sizeBytes: 4 * GIB }],
      nics: [{ mac: MAC, network: { kind: "tap", ifname: "tap0" } }],
      smbios: { serial: SERIAL, uuid: UUID, manufacturer: "Ingot Lab", product: "DHCP Test Server" },
      boot: "network",
      workDir: path.join(workDir, "vm"),
      qemuBinary: qemuInLan,
      accelDetector: new AcceleratorDetector({ qemuBinary: qemuInLan }),
    });
    const detail = await enrolledMachine(app, SERIAL, vm);
    t.diagnostic(`VM start to enrolled: ${((performance.now() - started) / 1000).toFixed(1)} s`);

    assert.equal(detail.serialNumber, SERIAL);
    assert.equal(detail.systemUuid, UUID);
    assert.equal(detail.bootMac, MAC);
    assert.equal(detail.summary.cpuThreads, 2);
    assert.deepEqual(
      detail.summary.disks
        .map((disk: { sizeBytes: number }) => disk.sizeBytes)
        .sort((a: number, b: number) => a - b),
      [2 * GIB, 4 * GIB],
    );
    const nic = detail.inventory.nics.find((candidate) => candidate.macAddress === MAC);
    assert.ok(
      (nic?.addresses ?? []).some((address) => /^10\.99\.0\.(1[0-4]\d|150)\//.test(address)),
      `the agent's address came from dnsmasq's range: ${JSON.stringify(nic?.addresses)}`,
    );
  });
});
