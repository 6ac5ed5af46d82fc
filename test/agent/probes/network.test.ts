import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  detectBootMac,
  parseEthtool,
  parseEthtoolDriver,
  parseIpAddr,
  parseIpLink,
  probeNics,
} from "../../../agent/probes/network.ts";
import { exited, local, probeContext, ReplayRunner } from "../helpers.ts";

describe("ip -j parsers", () => {
  it("lists physical interfaces only: not loopback, not ifb or other virtual kinds (captured here)", () => {
    const result = parseIpLink(local("ip", "link-vm.txt"));
    assert.equal(result.status, "ok");
    assert.deepEqual(result.value, [
      { name: "eth0", macAddress: "02:fc:00:00:00:01", mtu: 1400, linkUp: true },
    ]);
  });

  it("keeps InfiniBand's 20-octet address and a bonded port's permanent MAC", () => {
    const text = JSON.stringify([
      {
        ifname: "ibp24s0",
        flags: ["BROADCAST", "MULTICAST"],
        mtu: 4092,
        link_type: "infiniband",
        address: "00:00:10:29:fe:80:00:00:00:00:00:00:b8:3f:d2:03:00:a1:b2:c3",
      },
      {
        ifname: "eno1",
        flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
        mtu: 9000,
        link_type: "ether",
        address: "b8:3f:d2:11:22:33",
        permaddr: "B8:3F:D2:11:22:34",
      },
      {
        ifname: "bond0",
        flags: ["UP"],
        link_type: "ether",
        address: "b8:3f:d2:11:22:33",
        linkinfo: { info_kind: "bond" },
      },
      { ifname: "bad name/with slash", link_type: "ether", address: "b8:3f:d2:11:22:35" },
    ]);
    const result = parseIpLink(text);
    assert.deepEqual(result.value, [
      {
        name: "ibp24s0",
        macAddress: "00:00:10:29:fe:80:00:00:00:00:00:00:b8:3f:d2:03:00:a1:b2:c3",
        mtu: 4092,
        linkUp: false,
      },
      { name: "eno1", macAddress: "b8:3f:d2:11:22:34", mtu: 9000, linkUp: true },
    ]);
    assert.equal(result.warnings.length, 1);
  });

  it("reads global addresses, leaving out host and link-local ones (captured here)", () => {
    const addresses = parseIpAddr(local("ip", "addr-vm.txt")).value;
    assert.deepEqual(addresses.get("eth0"), ["192.0.2.2/24", "fd00::2/64"]);
    assert.deepEqual(addresses.get("lo"), []);
  });

  it("refuses output that is not ip's JSON", () => {
    for (const text of ["", "1: lo: <LOOPBACK,UP>", "{}"]) {
      assert.equal(parseIpLink(text).status, "unparseable", text);
      assert.equal(parseIpAddr(text).status, "unparseable", text);
    }
  });
});

describe("ethtool parsers (real captures: virtio NIC, veth pair)", () => {
  it("has no speed for a virtio NIC, but a link", () => {
    assert.deepEqual(parseEthtool(local("ethtool", "virtio-eth0.txt")).value, { linkUp: true });
  });

  it("reads 10000 Mb/s and the link state of a veth", () => {
    assert.deepEqual(parseEthtool(local("ethtool", "veth-up.txt")).value, { speedMbps: 10000, linkUp: true });
    assert.deepEqual(parseEthtool(local("ethtool", "veth-peer-down.txt")).value, {
      speedMbps: 10000,
      linkUp: false,
    });
  });

  it("reads driver and PCI address from ethtool -i; empty firmware and bus are unknown", () => {
    assert.deepEqual(parseEthtoolDriver(local("ethtool", "virtio-eth0.driver.txt")).value, {
      driver: "virtio_net",
      pciAddress: "0000:00:03.0",
    });
    assert.deepEqual(parseEthtoolDriver(local("ethtool", "veth-up.driver.txt")).value, { driver: "veth" });
    assert.equal(parseEthtool("Cannot get device settings: No such device").status, "unparseable");
    assert.equal(parseEthtoolDriver("").status, "unparseable");
  });
});

describe("NIC probe and boot interface", () => {
  it("keeps the interface when ethtool is missing, with what ip knows", async () => {
    const runner = new ReplayRunner({
      "ip -j -d link": exited(local("ip", "link-vm.txt")),
      "ip -j addr": exited(local("ip", "addr-vm.txt")),
    });
    const context = probeContext(runner);
    const nics = await probeNics(context);
    assert.deepEqual(nics, [
      {
        name: "eth0",
        macAddress: "02:fc:00:00:00:01",
        linkUp: true,
        mtu: 1400,
        addresses: ["192.0.2.2/24", "fd00::2/64"],
      },
    ]);
    const reports = context.recorder.toRecord();
    assert.equal(reports["ethtool:eth0"]?.status, "missing");
    assert.equal(reports["ethtool-i:eth0"]?.status, "missing");
  });

  it("picks the first interface that is up with an IPv4 address", () => {
    const nic = (name: string, macAddress: string, linkUp: boolean, addresses: string[]) => ({
      name,
      macAddress,
      linkUp,
      addresses,
    });
    assert.equal(
      detectBootMac([
        nic("eno2", "aa:aa:aa:aa:aa:02", true, ["10.0.0.9/24"]),
        nic("eno1", "aa:aa:aa:aa:aa:01", false, ["10.0.0.8/24"]),
        nic("eno3", "aa:aa:aa:aa:aa:03", true, ["fd00::3/64"]),
        nic("eno0", "aa:aa:aa:aa:aa:00", true, ["10.0.1.7/24"]),
      ]),
      "aa:aa:aa:aa:aa:00",
    );
    assert.equal(detectBootMac([nic("eno3", "aa:aa:aa:aa:aa:03", true, [])]), undefined);
  });
});
