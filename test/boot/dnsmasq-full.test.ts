/**
 * Ingot's dnsmasq in full DHCP mode, in network namespaces: `srv` runs the supervised dnsmasq, `cli` runs
 * busybox udhcpc and tftp as PXE firmware would. Needs root (CI runs as root); fails, not skips, without it.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { DnsmasqSupervisor, ipxeChainUrl } from "../../src/boot/dnsmasq.ts";
import type { FullDhcpConfig } from "../../src/config/dhcp-config.ts";
import { type Netns, NetworkLab } from "../helpers/netns.ts";
import { ARCH, captureLogs, tftpGet, type UdhcpcResult, udhcpc } from "./dnsmasq-clients.ts";

const CHAIN_URL = ipxeChainUrl("http://10.91.0.1:8080");
const MAC_A = "52:54:00:91:00:0a";
const MAC_B = "52:54:00:91:00:0b";

function fullConfig(overrides: Partial<FullDhcpConfig> = {}): FullDhcpConfig {
  return {
    mode: "full",
    interface: "eth0",
    allowlist: false,
    uefiBinary: "ipxe.efi",
    range: { start: "10.91.0.100", end: "10.91.0.150" },
    subnet: { network: "10.91.0.0", prefixLength: 24, netmask: "255.255.255.0" },
    router: "10.91.0.254",
    dns: ["10.91.0.53", "10.91.0.54"],
    leaseSeconds: 3600,
    ...overrides,
  };
}

function inRange(address: string): boolean {
  const last = Number(address.split(".")[3]);
  return address.startsWith("10.91.0.") && last >= 100 && last <= 150;
}

function bound(result: UdhcpcResult): Extract<UdhcpcResult, { kind: "bound" }> {
  assert.equal(result.kind, "bound", result.kind === "no-lease" ? result.output : "");
  return result as Extract<UdhcpcResult, { kind: "bound" }>;
}

interface Rig {
  readonly lab: NetworkLab;
  readonly cli: Netns;
  readonly supervisor: DnsmasqSupervisor;
  readonly dataDir: string;
}

async function setUp(dhcp: FullDhcpConfig, allowlist: () => readonly string[]): Promise<Rig> {
  const lab = await NetworkLab.create();
  const dataDir = mkdtempSync(path.join(tmpdir(), "ingot-dnsmasq-"));
  chmodSync(dataDir, 0o755);
  try {
    const srv = await lab.namespace("srv");
    const cli = await lab.namespace("cli");
    await lab.veth({ ns: srv, name: "eth0", address: "10.91.0.1/24" }, { ns: cli, name: "eth0", mac: MAC_A });
    const supervisor = new DnsmasqSupervisor({
      logger: captureLogs().logger,
      settings: { dhcp, chainUrl: CHAIN_URL },
      allowlist: async () => allowlist(),
      paths: { dataDir, launcher: srv.wrap([]) },
    });
    await supervisor.start();
    return { lab, cli, supervisor, dataDir };
  } catch (error) {
    await lab.dispose();
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

async function tearDown(rig: Rig | undefined): Promise<void> {
  await rig?.supervisor.stop();
  await rig?.lab.dispose();
  if (rig !== undefined) rmSync(rig.dataDir, { recursive: true, force: true });
}

describe("dnsmasq supervisor: full DHCP", () => {
  let rig: Rig | undefined;
  before(async () => {
    rig = await setUp(fullConfig(), () => []);
  });
  after(() => tearDown(rig));

  const client = (request: { arch?: number; userClass?: string }): Promise<UdhcpcResult> =>
    udhcpc({ ns: rig?.cli ?? assert.fail("no rig"), interface: "eth0", ...request });

  it("offers BIOS firmware an address in the range and undionly.kpxe from its own TFTP server", async () => {
    const lease = bound(await client({ arch: ARCH.bios }));
    assert.ok(inRange(lease.address), lease.address);
    assert.equal(lease.netmask, "255.255.255.0");
    assert.equal(lease.server, "10.91.0.1");
    assert.equal(lease.nextServer, "10.91.0.1");
    assert.equal(lease.bootFile, "undionly.kpxe");
  });

  it("offers x86-64 UEFI firmware (client arch 7 and 9) ipxe.efi", async () => {
    for (const arch of [ARCH.uefiBc, ARCH.uefiX64]) {
      assert.equal(bound(await client({ arch })).bootFile, "ipxe.efi", `arch ${arch}`);
    }
  });

  it("offers iPXE (user class iPXE) the chain script URL, whatever the firmware", async () => {
    for (const arch of [ARCH.bios, ARCH.uefiX64]) {
      assert.equal(bound(await client({ arch, userClass: "iPXE" })).bootFile, CHAIN_URL, `arch ${arch}`);
    }
  });

  it("hands out the configured router and DNS servers, and no boot file to a plain DHCP client", async () => {
    const lease = bound(await client({}));
    assert.ok(inRange(lease.address));
    assert.equal(lease.router, "10.91.0.254");
    assert.equal(lease.dns, "10.91.0.53 10.91.0.54");
    assert.equal(lease.bootFile, undefined);
  });

  it("serves the offered iPXE binaries over TFTP, byte for byte as Debian ships them", async () => {
    const cli = rig?.cli ?? assert.fail("no rig");
    const lease = bound(await client({ arch: ARCH.uefiX64 }));
    await cli.run(["ip", "addr", "replace", `${lease.address}/24`, "dev", "eth0"]);
    for (const file of ["ipxe.efi", "undionly.kpxe"]) {
      const served = await tftpGet(cli, lease.nextServer ?? "", file);
      assert.ok(served.equals(readFileSync(path.join("/usr/lib/ipxe", file))), `${file} differs`);
    }
    await assert.rejects(tftpGet(cli, lease.nextServer ?? "", "../../../etc/passwd"));
  });
});

describe("dnsmasq supervisor: MAC allowlist", () => {
  let rig: Rig | undefined;
  let allowed: string[] = [];
  before(async () => {
    rig = await setUp(fullConfig({ allowlist: true }), () => allowed);
  });
  after(() => tearDown(rig));

  // An unanswered client gives up after two DISCOVERs; an answered one waits out dnsmasq's ping check.
  const client = (tries = 6): Promise<UdhcpcResult> =>
    udhcpc({ ns: rig?.cli ?? assert.fail("no rig"), interface: "eth0", arch: ARCH.uefiX64, tries });

  it("gives an unknown MAC no answer at all", async () => {
    const result = await client(2);
    assert.equal(result.kind, "no-lease");
  });

  it("answers a MAC added through the allowlist source and reload(), without restarting dnsmasq", async () => {
    const supervisor = rig?.supervisor ?? assert.fail("no rig");
    const before = supervisor.status;
    assert.equal(before.kind, "running");
    allowed = ["52-54-00-91-00-0A", "not a mac", MAC_B];
    assert.deepEqual(await supervisor.reload(), {
      kind: "updated",
      macs: 2,
      added: 2,
      removed: 0,
      applied: true,
    });
    assert.deepEqual(await supervisor.reload(), { kind: "unchanged", macs: 2 });
    const lease = bound(await client());
    assert.equal(lease.bootFile, "ipxe.efi");
    assert.deepEqual(supervisor.status, before);
  });

  it("refuses a MAC once it is removed from the allowlist, and answers it when it is back", async () => {
    const supervisor = rig?.supervisor ?? assert.fail("no rig");
    const before = supervisor.status;
    allowed = [MAC_B];
    const removed = await supervisor.reload();
    assert.deepEqual(removed, { kind: "updated", macs: 1, added: 0, removed: 1, applied: true });
    assert.equal((await client(2)).kind, "no-lease");
    allowed = [MAC_A, MAC_B];
    const added = await supervisor.reload();
    assert.deepEqual(added, { kind: "updated", macs: 2, added: 1, removed: 0, applied: true });
    assert.equal(bound(await client()).bootFile, "ipxe.efi");
    assert.deepEqual(supervisor.status, before, "dnsmasq kept running (a SIGHUP, not a restart)");
  });
});
