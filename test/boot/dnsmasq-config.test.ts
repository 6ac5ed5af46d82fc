import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import {
  configText,
  dnsmasqFiles,
  explainRejection,
  ipxeChainUrl,
  normalizeMac,
  renderDnsmasqConfig,
} from "../../src/boot/dnsmasq-config.ts";
import { parseDnsmasqLine } from "../../src/boot/dnsmasq-log.ts";
import type { ActiveDhcpConfig, FullDhcpConfig, ProxyDhcpConfig } from "../../src/config/dhcp-config.ts";
import { ConfigError } from "../../src/config/options.ts";
import { loadServerConfig } from "../../src/config/server-config.ts";
import { runCommand } from "../../src/images/command.ts";

const none = { flags: {}, env: {}, file: {} };
const files = dnsmasqFiles("/var/lib/ingot");
const chainUrl = ipxeChainUrl("http://10.20.0.1:8080/");

const full: FullDhcpConfig = {
  mode: "full",
  interface: "prov0",
  allowlist: true,
  uefiBinary: "snponly.efi",
  range: { start: "10.20.0.100", end: "10.20.0.199" },
  subnet: { network: "10.20.0.0", prefixLength: 24, netmask: "255.255.255.0" },
  router: "10.20.0.254",
  dns: ["10.20.0.53", "10.20.0.54"],
  leaseSeconds: 3600,
};

const proxy: ProxyDhcpConfig = {
  mode: "proxy",
  interface: "eno1",
  allowlist: false,
  uefiBinary: "ipxe.efi",
  subnet: { network: "192.168.7.0", prefixLength: 24, netmask: "255.255.255.0" },
};

function render(dhcp: ActiveDhcpConfig, url = chainUrl): string[] {
  return renderDnsmasqConfig({ dhcp, chainUrl: url, files, logDhcpDetails: false }).map((line) => line.text);
}

function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems;
  }
  assert.fail("expected a ConfigError");
}

describe("DHCP settings", () => {
  it("are off by default", () => {
    assert.deepEqual(loadServerConfig(none).dhcp, { mode: "off" });
  });

  it("derive a full-mode config from flags and environment", () => {
    const config = loadServerConfig({
      flags: { dhcp: "full", dhcpInterface: "prov0", dhcpRange: "10.20.0.100, 10.20.0.199" },
      env: {
        INGOT_DHCP_SUBNET: "10.20.0.1/24",
        INGOT_DHCP_DNS: "10.20.0.53,10.20.0.54",
        INGOT_DHCP_ALLOWLIST: "yes",
      },
      file: { dhcpRouter: "10.20.0.254", dhcpUefiBinary: "snponly.efi" },
    });
    assert.deepEqual(config.dhcp, full);
  });

  it("derive a proxy-mode config whose subnet is the network address", () => {
    const config = loadServerConfig({
      ...none,
      flags: { dhcp: "proxy", dhcpInterface: "eno1", dhcpSubnet: "192.168.7.23/24" },
    });
    assert.deepEqual(config.dhcp, proxy);
  });

  it("name what full and proxy mode are missing", () => {
    assert.deepEqual(
      problemsOf(() => loadServerConfig({ ...none, flags: { dhcp: "full" } })),
      ["--dhcp full needs --dhcp-interface", "--dhcp full needs --dhcp-range <start,end>"],
    );
    assert.deepEqual(
      problemsOf(() =>
        loadServerConfig({
          ...none,
          flags: {
            dhcp: "proxy",
            dhcpInterface: "eno1",
            dhcpRange: "10.0.0.5,10.0.0.9",
            dhcpRouter: "10.0.0.1",
          },
        }),
      ),
      [
        "--dhcp proxy needs --dhcp-subnet <cidr> (the network the existing DHCP server serves)",
        "--dhcp-range, --dhcp-router only apply to --dhcp full (in proxy mode the existing server does that)",
      ],
    );
    assert.deepEqual(
      problemsOf(() => loadServerConfig({ ...none, env: { INGOT_DHCP_INTERFACE: "eth0" } })),
      ["--dhcp-interface: only used with --dhcp full or --dhcp proxy"],
    );
  });

  it("reject addresses that do not parse and ranges that do not fit", () => {
    assert.deepEqual(
      problemsOf(() =>
        loadServerConfig({
          ...none,
          flags: {
            dhcp: "fast",
            dhcpInterface: "eth0; reboot",
            dhcpRange: "10.0.0.300,10.0.0.5",
            dhcpSubnet: "10.0.0.0/33",
            dhcpRouter: "gateway",
            dhcpDns: "1.1.1.1,::1",
            dhcpUefiBinary: "grub.efi",
          },
        }),
      ),
      [
        '--dhcp: must be one of off, full, proxy, got "fast"',
        '--dhcp-interface: not an interface name (up to 15 of A-Z a-z 0-9 _ . : @ -): "eth0; reboot"',
        '--dhcp-range: not an IPv4 address: "10.0.0.300"',
        "--dhcp-subnet: prefix length must be 8 to 30, got 33",
        '--dhcp-router: not an IPv4 address: "gateway"',
        '--dhcp-dns: not an IPv4 address: "::1"',
        '--dhcp-uefi-binary: must be one of ipxe.efi, snponly.efi, got "grub.efi"',
      ],
    );
    assert.deepEqual(
      problemsOf(() => loadServerConfig({ ...none, flags: { dhcpRange: "10.0.0.9,10.0.0.5" } })),
      ["--dhcp-range: start 10.0.0.9 is above end 10.0.0.5"],
    );
    assert.deepEqual(
      problemsOf(() =>
        loadServerConfig({
          ...none,
          flags: {
            dhcp: "full",
            dhcpInterface: "eth0",
            dhcpRange: "10.0.0.5,10.0.1.9",
            dhcpSubnet: "10.0.0.0/24",
          },
        }),
      ),
      ["--dhcp-range: 10.0.1.9 outside --dhcp-subnet 10.0.0.0/24"],
    );
  });
});

describe("dnsmasq configuration", () => {
  it("serves a range with iPXE by client architecture and the chain URL to iPXE", () => {
    const lines = render(full);
    for (const expected of [
      "port=0",
      "interface=prov0",
      "bind-interfaces",
      "dhcp-range=10.20.0.100,10.20.0.199,255.255.255.0,3600",
      "dhcp-option=option:router,10.20.0.254",
      "dhcp-option=option:dns-server,10.20.0.53,10.20.0.54",
      "dhcp-leasefile=/var/lib/ingot/dnsmasq/leases",
      "pid-file=/var/lib/ingot/dnsmasq/dnsmasq.pid",
      "enable-tftp",
      "tftp-root=/var/lib/ingot/dnsmasq/tftp",
      "dhcp-match=set:bios,option:client-arch,0",
      "dhcp-match=set:efi64,option:client-arch,7",
      "dhcp-match=set:efi64,option:client-arch,9",
      "dhcp-userclass=set:ipxe,iPXE",
      "dhcp-boot=tag:bios,tag:!ipxe,undionly.kpxe",
      "dhcp-boot=tag:efi64,tag:!ipxe,snponly.efi",
      'dhcp-boot=tag:ipxe,"http://10.20.0.1:8080/boot/v1/ipxe"',
      "dhcp-hostsdir=/var/lib/ingot/dnsmasq/hosts",
      "dhcp-ignore=tag:!known",
    ]) {
      assert.ok(lines.includes(expected), `missing ${expected} in\n${lines.join("\n")}`);
    }
    assert.ok(!lines.some((line) => line.startsWith("pxe-service")));
  });

  it("acts as a PXE boot server in proxy mode and answers everyone without an allowlist", () => {
    const lines = render(proxy);
    assert.ok(lines.includes("dhcp-range=192.168.7.0,proxy,255.255.255.0"));
    assert.ok(lines.includes('pxe-service=tag:!ipxe,x86PC,"Ingot network boot (BIOS)",undionly.kpxe'));
    assert.ok(lines.includes('pxe-service=tag:!ipxe,7,"Ingot network boot (UEFI)",ipxe.efi'));
    assert.ok(lines.includes('pxe-service=tag:!ipxe,9,"Ingot network boot (UEFI)",ipxe.efi'));
    assert.ok(lines.includes('dhcp-boot=tag:ipxe,"http://10.20.0.1:8080/boot/v1/ipxe"'));
    assert.ok(!lines.some((line) => /dhcp-option|dhcp-hostsdir|dhcp-ignore|tag:bios,/.test(line)));
  });

  it("refuses a chain URL that would not fit or would break out of its quotes", () => {
    assert.throws(() => render(full, `http://ingot.example/${"x".repeat(120)}`), /longer than the 127/);
    assert.throws(() => render(full, 'http://ingot.example/"x'), /--public-url: quotes and backslashes/);
    assert.throws(
      () => render({ ...full, interface: "eth0\ndhcp-range=1.2.3.4,proxy" }),
      /--dhcp-interface: control characters/,
    );
  });

  it("is accepted by dnsmasq --test in both modes", async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), "ingot-dnsmasq-config-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    for (const dhcp of [full, proxy]) {
      const file = path.join(dir, `${dhcp.mode}.conf`);
      writeFileSync(file, configText(renderDnsmasqConfig({ dhcp, chainUrl, files, logDhcpDetails: true })));
      const result = await runCommand("/usr/sbin/dnsmasq", ["--test", "-C", file], { timeoutMs: 10_000 });
      assert.match(result.stderr, /syntax check OK/);
    }
  });

  it("names the Ingot setting behind a line dnsmasq rejects", async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), "ingot-dnsmasq-config-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const lines = renderDnsmasqConfig({
      dhcp: { ...full, router: "10.20.0.256" },
      chainUrl,
      files,
      logDhcpDetails: false,
    });
    const file = path.join(dir, "bad.conf");
    writeFileSync(file, configText(lines));
    const failure = await runCommand("/usr/sbin/dnsmasq", ["--test", "-C", file], { timeoutMs: 10_000 }).then(
      () => assert.fail("dnsmasq accepted a bad router address"),
      (error: unknown) => error as { stderr: string },
    );
    assert.deepEqual(explainRejection(failure.stderr, lines).problems, [
      '--dhcp-router: dnsmasq rejects "dhcp-option=option:router,10.20.0.256": bad IPv4 address',
    ]);
  });
});

describe("allowlist entries", () => {
  it("normalize common MAC notations and reject the rest", () => {
    for (const raw of [
      "52:54:00:AB:cd:01",
      "52-54-00-ab-cd-01",
      "5254.00ab.cd01",
      "525400abcd01",
      " 52:54:00:ab:cd:01 ",
    ]) {
      assert.equal(normalizeMac(raw), "52:54:00:ab:cd:01", raw);
    }
    for (const raw of ["52:54:00:ab:cd", "52:54-00:ab:cd:01", "zz:54:00:ab:cd:01", "", "525400abcd0"]) {
      assert.equal(normalizeMac(raw), undefined, raw);
    }
  });
});

describe("dnsmasq log lines", () => {
  it("become structured records", () => {
    assert.deepEqual(
      parseDnsmasqLine("dnsmasq-dhcp[18988]: DHCPOFFER(eth0) 10.77.0.111 52:54:00:12:34:56 "),
      {
        level: "info",
        message: "DHCPOFFER(eth0) 10.77.0.111 52:54:00:12:34:56",
        fields: {
          facility: "dhcp",
          pid: 18988,
          event: "DHCPOFFER",
          interface: "eth0",
          address: "10.77.0.111",
          mac: "52:54:00:12:34:56",
        },
      },
    );
    assert.deepEqual(
      parseDnsmasqLine("dnsmasq-dhcp[7]: 3237846134 DHCPDISCOVER(eth0) 52:54:00:12:34:56 ignored").fields,
      {
        facility: "dhcp",
        pid: 7,
        event: "DHCPDISCOVER",
        interface: "eth0",
        mac: "52:54:00:12:34:56",
        detail: "ignored",
        xid: 3237846134,
      },
    );
    assert.deepEqual(parseDnsmasqLine("dnsmasq-tftp[7]: sent /d/tftp/ipxe.efi to 10.77.0.111").fields, {
      facility: "tftp",
      pid: 7,
      file: "/d/tftp/ipxe.efi",
      client: "10.77.0.111",
    });
    assert.equal(
      parseDnsmasqLine("dnsmasq-dhcp[7]: 4660 sent size:  4 option: 54 server-identifier  10.77.0.2").level,
      "debug",
    );
    assert.equal(parseDnsmasqLine("dnsmasq: unknown interface nonexist0").level, "warn");
    assert.equal(parseDnsmasqLine("dnsmasq[7]: started, version 2.90 DNS disabled").level, "info");
  });
});
