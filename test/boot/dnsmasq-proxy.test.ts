/**
 * Ingot's dnsmasq in proxy-DHCP mode beside an "existing" DHCP server (a plain dnsmasq in full mode), all on
 * one bridge in network namespaces: `lan` (the bridge), `dhcp` (existing server), `srv` (Ingot), `cli`.
 * A PXE client probe (dnsmasq-pxe-probe.ts) plays the firmware: it must get its address from the existing
 * server and its boot file from Ingot, over port 67 (proxy offer) or 4011 (PXE boot server).
 * Needs root (CI runs as root); fails, not skips, without it.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { DnsmasqSupervisor, ipxeChainUrl } from "../../src/boot/dnsmasq.ts";
import type { ProxyDhcpConfig } from "../../src/config/dhcp-config.ts";
import { type Netns, NetworkLab } from "../helpers/netns.ts";
import { ARCH, captureLogs, pxeProbe, tftpGet, udhcpc } from "./dnsmasq-clients.ts";
import type { ProbeResult } from "./dnsmasq-pxe-probe.ts";

const EXISTING = "10.92.0.1";
const INGOT = "10.92.0.2";
const CHAIN_URL = ipxeChainUrl(`http://${INGOT}:8080`);
const MAC = "52:54:00:92:00:0c";
const PROXY: ProxyDhcpConfig = {
  mode: "proxy",
  interface: "eth0",
  allowlist: false,
  uefiBinary: "ipxe.efi",
  subnet: { network: "10.92.0.0", prefixLength: 24, netmask: "255.255.255.0" },
};

function inExistingRange(address: string | undefined): boolean {
  const last = Number(address?.split(".")[3]);
  return address?.startsWith("10.92.0.") === true && last >= 100 && last <= 150;
}

/** The existing site DHCP server: a plain dnsmasq that knows nothing about PXE. */
async function startExistingServer(ns: Netns, dir: string): Promise<ChildProcess> {
  const config = path.join(dir, "existing.conf");
  writeFileSync(
    config,
    [
      "port=0",
      "interface=eth0",
      "bind-interfaces",
      "dhcp-range=10.92.0.100,10.92.0.150,255.255.255.0,1h",
      `dhcp-leasefile=${path.join(dir, "existing.leases")}`,
      "",
    ].join("\n"),
  );
  const [file, ...args] = ns.wrap([
    "/usr/sbin/dnsmasq",
    "--keep-in-foreground",
    "--log-facility=-",
    "-C",
    config,
  ]);
  const child = spawn(file ?? "ip", args, { stdio: ["ignore", "ignore", "pipe"] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("existing DHCP server did not start")), 10_000);
    child.once("exit", (code) => reject(new Error(`existing DHCP server exited with ${code}`)));
    if (child.stderr === null) throw new Error("no stderr");
    createInterface({ input: child.stderr }).on("line", (line) => {
      if (/started, version/.test(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return child;
}

describe("dnsmasq supervisor: proxy-DHCP beside an existing DHCP server", () => {
  let lab: NetworkLab | undefined;
  let cli: Netns | undefined;
  let srv: Netns | undefined;
  let existing: ChildProcess | undefined;
  let supervisor: DnsmasqSupervisor | undefined;
  let allowed: string[] = [];
  const dataDir = mkdtempSync(path.join(tmpdir(), "ingot-dnsmasq-proxy-"));
  chmodSync(dataDir, 0o755);

  const startIngot = async (dhcp: ProxyDhcpConfig): Promise<DnsmasqSupervisor> => {
    supervisor = new DnsmasqSupervisor({
      logger: captureLogs().logger,
      settings: { dhcp, chainUrl: CHAIN_URL },
      allowlist: async () => allowed,
      paths: { dataDir, launcher: srv?.wrap([]) ?? [] },
    });
    await supervisor.start();
    return supervisor;
  };

  before(async () => {
    lab = await NetworkLab.create();
    const lan = await lab.namespace("lan");
    const bridge = await lab.bridge(lan, "br0");
    const dhcp = await lab.namespace("dhcp");
    srv = await lab.namespace("srv");
    cli = await lab.namespace("cli");
    await lab.plug(bridge, { ns: dhcp, name: "eth0", address: `${EXISTING}/24` });
    await lab.plug(bridge, { ns: srv, name: "eth0", address: `${INGOT}/24` });
    await lab.plug(bridge, { ns: cli, name: "eth0", mac: MAC });
    existing = await startExistingServer(dhcp, dataDir);
    await startIngot(PROXY);
  });

  after(async () => {
    await supervisor?.stop();
    existing?.kill("SIGTERM");
    await lab?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const probe = async (arch: number, userClass?: string, timeoutMs = 8_000): Promise<ProbeResult> => {
    const ns = cli ?? assert.fail("no lab");
    await ns.run(["ip", "addr", "flush", "dev", "eth0"]);
    return await pxeProbe(ns, { interface: "eth0", mac: MAC, arch, userClass, timeoutMs });
  };

  function assertAddressFromExistingServer(result: ProbeResult): void {
    assert.equal(result.lease?.server, EXISTING, JSON.stringify(result));
    assert.ok(inExistingRange(result.lease?.address), JSON.stringify(result));
    const ingotOffers = result.offers.filter((offer) => offer.server === INGOT);
    assert.ok(ingotOffers.length > 0, `no proxy offer from Ingot: ${JSON.stringify(result)}`);
    for (const offer of ingotOffers) {
      assert.equal(offer.yiaddr, "0.0.0.0", "a proxy never offers an address");
      assert.equal(offer.vendorClass, "PXEClient");
    }
    for (const offer of result.offers.filter((offer) => offer.server === EXISTING)) {
      assert.equal(offer.file, "", "the existing server knows nothing about booting");
    }
  }

  it("BIOS firmware gets its address from the existing server and undionly.kpxe from Ingot's boot server", async () => {
    const result = await probe(ARCH.bios);
    assertAddressFromExistingServer(result);
    assert.deepEqual(result.boot, { via: "boot-server", server: INGOT, file: "undionly.kpxe" });
  });

  it("x86-64 UEFI firmware (client arch 7 and 9) gets ipxe.efi from Ingot's boot server on port 4011", async () => {
    for (const arch of [ARCH.uefiBc, ARCH.uefiX64]) {
      const result = await probe(arch);
      assertAddressFromExistingServer(result);
      assert.deepEqual(result.boot, { via: "boot-server", server: INGOT, file: "ipxe.efi" }, `arch ${arch}`);
    }
  });

  it("iPXE gets the chain script URL in Ingot's proxy offer", async () => {
    const result = await probe(ARCH.uefiX64, "iPXE");
    assertAddressFromExistingServer(result);
    assert.deepEqual(result.boot, { via: "proxy-offer", server: INGOT, file: CHAIN_URL });
  });

  it("serves the iPXE binaries over TFTP from Ingot's address", async () => {
    const ns = cli ?? assert.fail("no lab");
    const result = await probe(ARCH.bios);
    assert.ok(result.lease !== undefined);
    const served = await tftpGet(ns, INGOT, "undionly.kpxe");
    assert.ok(served.equals(readFileSync("/usr/lib/ipxe/undionly.kpxe")));
  });

  it("stays silent for a plain DHCP client, which binds to the existing server", async () => {
    const ns = cli ?? assert.fail("no lab");
    await ns.run(["ip", "addr", "flush", "dev", "eth0"]);
    const lease = await udhcpc({ ns, interface: "eth0" });
    assert.equal(lease.kind, "bound");
    assert.ok(lease.kind === "bound" && lease.server === EXISTING && lease.bootFile === undefined);
  });

  it("with the allowlist on, gives boot information only to listed MACs", async () => {
    await supervisor?.stop();
    allowed = [];
    const guarded = await startIngot({ ...PROXY, allowlist: true });
    const refused = await probe(ARCH.uefiX64, undefined, 4_000);
    assert.equal(refused.lease?.server, EXISTING, "the existing server still answers");
    assert.deepEqual(
      refused.offers.filter((offer) => offer.server === INGOT),
      [],
      "Ingot does not answer an unknown MAC",
    );
    assert.equal(refused.boot, undefined);

    allowed = [MAC];
    assert.equal((await guarded.reload()).kind, "updated");
    const served = await probe(ARCH.uefiX64);
    assert.deepEqual(served.boot, { via: "boot-server", server: INGOT, file: "ipxe.efi" });
  });
});
