import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseKernelCmdline, splitKernelCmdline } from "../../agent/cmdline.ts";
import { LineConsole } from "../../agent/console.ts";

const BASE = "BOOT_IMAGE=/vmlinuz console=ttyS0,115200n8 ip=dhcp";

describe("kernel command line", () => {
  it("reads url, token, mode and boot MAC; the URL loses its trailing slash and the MAC its capitals", () => {
    const result = parseKernelCmdline(
      `${BASE} ingot.url=https://ingot.example:8443/ ingot.token=bt_abc.DEF-123 ingot.mode=enroll ingot.mac=B8:3F:D2:11:22:34 quiet\n`,
    );
    assert.deepEqual(result, {
      ok: true,
      params: {
        serverUrl: "https://ingot.example:8443",
        token: "bt_abc.DEF-123",
        mode: "enroll",
        bootMac: { mac: "b8:3f:d2:11:22:34", source: "cmdline" },
      },
      warnings: [],
    });
  });

  it("keeps a path prefix, defaults the mode to enroll, and takes pxelinux's BOOTIF when ingot.mac is absent", () => {
    const result = parseKernelCmdline(
      "ingot.url=http://10.0.0.1:8080/ingot ingot.token=t BOOTIF=01-aa-bb-cc-dd-ee-ff",
    );
    assert.ok(result.ok);
    assert.equal(result.params.serverUrl, "http://10.0.0.1:8080/ingot");
    assert.equal(result.params.mode, "enroll");
    assert.deepEqual(result.params.bootMac, { mac: "aa:bb:cc:dd:ee:ff", source: "bootif" });
  });

  it("warns about a malformed MAC and leaves the boot interface to detection", () => {
    const result = parseKernelCmdline("ingot.url=http://h ingot.token=t ingot.mac=net0-mac-unset");
    assert.ok(result.ok);
    assert.equal(result.params.bootMac, undefined);
    assert.deepEqual(result.warnings, [
      "ingot.mac=net0-mac-unset is not a MAC address; detecting the boot interface",
    ]);
  });

  it("explains every problem at once", () => {
    const result = parseKernelCmdline(`${BASE} ingot.url=ftp://files ingot.mode=vet`);
    assert.deepEqual(result, {
      ok: false,
      problems: [
        "ingot.url must be http or https, not ftp:",
        "ingot.token is missing: the boot script must pass a boot token",
        "ingot.mode=vet is not supported (supported: enroll)",
      ],
    });
    const missing = parseKernelCmdline(BASE);
    assert.ok(!missing.ok);
    assert.match(missing.problems[0] ?? "", /^ingot\.url is missing/);
    const badToken = parseKernelCmdline("ingot.url=http://h ingot.token=has<angle>");
    assert.ok(!badToken.ok);
    assert.deepEqual(badToken.problems, ["ingot.token is not a valid bearer token"]);
    const credentials = parseKernelCmdline("ingot.url=http://user:pw@h/ ingot.token=t");
    assert.ok(!credentials.ok);
  });

  it("splits like the kernel: quoted values keep their spaces, bare words have empty values", () => {
    const params = splitKernelCmdline('ro quiet dyndbg="file foo.c +p" ingot.url=http://h  \n');
    assert.deepEqual(
      [...params],
      [
        ["ro", ""],
        ["quiet", ""],
        ["dyndbg", "file foo.c +p"],
        ["ingot.url", "http://h"],
      ],
    );
  });
});

describe("serial console lines", () => {
  it("prints one timestamped plain line per message line", () => {
    const lines: string[] = [];
    const console = new LineConsole(
      (line) => lines.push(line),
      () => new Date("2026-11-23T16:40:10.123Z"),
    );
    console.info("collecting inventory");
    console.warn("probe dmidecode: failed\nsecond line");
    console.error("giving up");
    assert.deepEqual(lines, [
      "2026-11-23T16:40:10Z ingot-agent: collecting inventory\n",
      "2026-11-23T16:40:10Z ingot-agent: WARNING: probe dmidecode: failed\n",
      "2026-11-23T16:40:10Z ingot-agent: WARNING: second line\n",
      "2026-11-23T16:40:10Z ingot-agent: ERROR: giving up\n",
    ]);
  });
});
