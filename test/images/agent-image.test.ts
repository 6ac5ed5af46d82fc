/**
 * The agent image end to end: build it with a tiny test agent, PXE-boot it in QEMU through the NIC's iPXE
 * ROM (user networking; kernel and initrd over HTTP from this test), and check what the agent reports from
 * inside the VM: SMBIOS serial and UUID, the boot NIC's MAC, the disks' sizes, the clock set from the
 * command line. The image is built once per run into a cache directory that later runs reuse.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { AcceleratorDetector, type QemuVm, startVm } from "../../lab/qemu/vm.ts";
import {
  type AgentImageBuild,
  agentKernelCommandLine,
  buildAgentImage,
  readAgentImageManifest,
} from "../../src/images/agent-image.ts";
import { ArtifactStore } from "../../src/images/artifact-store.ts";
import { BootHttpServer } from "../lab/qemu/boot-http-server.ts";

const run = promisify(execFile);
const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
/** Kept between runs: the builder's input hash decides whether anything is rebuilt. */
const CACHE_DIR = path.join(tmpdir(), "ingot-test-agent-image-cache");

const SERIAL = "INGOT-E2E-4711";
const UUID = "3f1d2c4b-5a69-4788-9faa-0b1c2d3e4f50";
const BOOT_MAC = "52:54:00:5e:00:01";
const DECOY_MAC = "52:54:00:de:c0:01";
const GIB = 1024 * 1024 * 1024;
const CLOCK = new Date("2031-03-04T05:06:07Z");

/** The stand-in for ingot-agent: what a real agent needs from the image, reported back to the test. */
const TEST_AGENT = `#!/usr/bin/env node
import { readdirSync, readFileSync } from "node:fs";
console.log("INGOT-TEST-AGENT-STARTED");
const read = (file) => readFileSync(file, "utf8").trim();
const cmdline = read("/proc/cmdline");
const param = (key) => cmdline.split(/\\s+/).find((word) => word.startsWith(key + "="))?.slice(key.length + 1);
const nic = process.env.INGOT_BOOT_NIC;
const report = {
  cmdline,
  nic,
  mac: read("/sys/class/net/" + nic + "/address"),
  envMac: process.env.INGOT_BOOT_MAC,
  serial: read("/sys/class/dmi/id/product_serial"),
  uuid: read("/sys/class/dmi/id/product_uuid"),
  disks: readdirSync("/sys/block")
    .filter((name) => !/^(loop|ram|zram|sr|fd)/.test(name))
    .map((name) => ({ name, sizeBytes: Number(read("/sys/block/" + name + "/size")) * 512 })),
  clock: Date.now(),
};
for (let attempt = 1; ; attempt += 1) {
  try {
    const response = await fetch(param("ingot.test_url"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(report),
      signal: AbortSignal.timeout(10000),
    });
    console.log("INGOT-TEST-AGENT-POSTED " + response.status);
    break;
  } catch (error) {
    console.log("INGOT-TEST-AGENT-RETRY " + attempt + " " + error);
    if (attempt === 10) process.exit(1);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
`;

interface AgentReport {
  readonly nic: string;
  readonly mac: string;
  readonly envMac: string;
  readonly serial: string;
  readonly uuid: string;
  readonly disks: ReadonlyArray<{ name: string; sizeBytes: number }>;
  readonly clock: number;
}

describe("agent image", () => {
  let workDir: string;
  let agentBundle: string;
  let store: ArtifactStore;
  let build: AgentImageBuild;

  before(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), "ingot-agent-image-test-"));
    agentBundle = path.join(workDir, "test-agent.js");
    await writeFile(agentBundle, TEST_AGENT);
    store = ArtifactStore.forDataDir(CACHE_DIR);
    const steps: string[] = [];
    build = await buildAgentImage({
      artifactStore: store,
      agentBundle,
      onProgress: (progress) => {
        if (progress.kind === "step") steps.push(progress.title);
      },
    });
    assert.ok(steps.length >= 2, "the build reports its steps");
    // Only the image this run uses stays in the cache.
    for (const version of await readdir(path.join(store.root, "agent"))) {
      if (version !== build.manifest.version && version !== "current.json") {
        for (const artifact of await store.list(`agent/${version}/`)) await store.remove(artifact.name);
      }
    }
  });
  after(async () => await rm(workDir, { recursive: true, force: true }));

  it("stores kernel, initrd and manifest with sizes and checksums", async (t) => {
    const { manifest } = build;
    t.diagnostic(
      `build ${build.cached ? "reused" : "ran"} in ${(build.durationMs / 1000).toFixed(1)} s; ` +
        `initrd ${(manifest.initrd.sizeBytes / 1_048_576).toFixed(1)} MiB gzip, ` +
        `${(manifest.initrdUncompressedBytes / 1_048_576).toFixed(1)} MiB unpacked`,
    );
    assert.equal(manifest.kind, "ingot-agent-image");
    assert.equal(manifest.nodeVersion, process.version);
    for (const artifact of [manifest.kernel, manifest.initrd]) {
      assert.deepEqual(await store.stat(artifact.name), artifact);
      assert.match(artifact.sha256, /^[0-9a-f]{64}$/);
    }
    assert.deepEqual(await readAgentImageManifest(store), manifest, "agent/current.json names this build");
    assert.ok(manifest.modules.includes("virtio_net") && manifest.modules.includes("nvme"));
    assert.match(manifest.kernelCommandLine, /console=ttyS0/);
  });

  it("packs /init, node, the agent, the probe tools with their libraries, and the modules", async () => {
    const initrd = (await store.open(build.manifest.initrd.name)).path;
    const { stdout } = await run("sh", ["-c", 'gzip -dc "$1" | cpio -t --quiet', "sh", initrd], {
      maxBuffer: 64 * 1024 * 1024,
      timeout: 120_000,
    });
    const files = new Set(stdout.split("\n"));
    for (const expected of [
      "init",
      "etc/udhcpc/default.script",
      "usr/bin/node",
      "opt/ingot/ingot-agent.js",
      "usr/bin/busybox",
      "usr/sbin/dmidecode",
      "usr/bin/lscpu",
      "usr/bin/lsblk",
      "usr/bin/lspci",
      "usr/share/misc/pci.ids",
      "usr/sbin/ethtool",
      "usr/sbin/smartctl",
      "usr/sbin/nvme",
      "usr/bin/ipmitool",
      "usr/lib/x86_64-linux-gnu/libc.so.6",
      "lib64",
      `usr/lib/modules/${build.manifest.kernelVersion}/modules.dep`,
    ]) {
      assert.ok(files.has(expected), `initrd holds ${expected}`);
    }
    assert.ok(
      [...files].some((file) => file.endsWith("/virtio_net.ko")),
      "virtio_net.ko",
    );
    assert.ok(
      [...files].some((file) => file.endsWith("/udhcpc")),
      "udhcpc applet",
    );
  });

  it("reuses the stored image when nothing changed, also through the CLI", async () => {
    const again = await buildAgentImage({ artifactStore: store, agentBundle });
    assert.equal(again.cached, true);
    assert.equal(again.manifest.version, build.manifest.version);
    assert.equal(again.manifest.builtAt, build.manifest.builtAt);

    const { stdout } = await run(
      process.execPath,
      [
        path.join(REPO_ROOT, "bin/ingot.js"),
        "image",
        "build-agent",
        "--data-dir",
        CACHE_DIR,
        "--agent-bundle",
        agentBundle,
        "--json",
      ],
      { timeout: 120_000, cwd: REPO_ROOT },
    );
    const cli = JSON.parse(stdout) as AgentImageBuild;
    assert.equal(cli.cached, true);
    assert.equal(cli.manifest.version, build.manifest.version);
  });

  it("rebuilds on --force, byte for byte the same image", async () => {
    const rebuilt = await buildAgentImage({ artifactStore: store, agentBundle, force: true });
    assert.equal(rebuilt.cached, false);
    assert.equal(rebuilt.manifest.version, build.manifest.version);
    assert.equal(rebuilt.manifest.initrd.sha256, build.manifest.initrd.sha256);
    assert.equal(rebuilt.manifest.kernel.sha256, build.manifest.kernel.sha256);
  });

  it("refuses a missing agent bundle, naming it", async () => {
    await assert.rejects(
      buildAgentImage({ artifactStore: store, agentBundle: path.join(workDir, "absent.js") }),
      /cannot read the agent bundle .*absent\.js/,
    );
  });

  it("PXE-boots in QEMU and the agent reports serial, MAC and disks from inside the VM", async (t) => {
    const server = await BootHttpServer.start();
    let vm: QemuVm | undefined;
    t.after(async () => {
      await vm?.stop();
      await server.close();
    });
    const commandLine = agentKernelCommandLine({
      mac: BOOT_MAC,
      time: CLOCK,
      params: { "ingot.test_url": `${server.guestUrl}/report` },
    });
    server.route("/boot.ipxe", () => ({
      kind: "text",
      body: [
        "#!ipxe",
        `kernel ${server.guestUrl}/files/vmlinuz ${commandLine}`,
        `initrd ${server.guestUrl}/files/initrd.img`,
        "boot",
        "",
      ].join("\n"),
    }));
    for (const [route, artifact] of [
      ["/files/vmlinuz", build.manifest.kernel],
      ["/files/initrd.img", build.manifest.initrd],
    ] as const) {
      const file = (await store.open(artifact.name)).path;
      server.route(route, () => ({ kind: "file", path: file }));
    }
    server.route("/report", () => ({ kind: "text", body: "ok\n" }));

    const started = performance.now();
    vm = await startVm({
      name: "agent-e2e",
      memoryMiB: 1024,
      cpus: 2,
      disks: [
        { sizeBytes: 1 * GIB, bus: "sata" },
        { sizeBytes: 2 * GIB, bus: "nvme" },
      ],
      nics: [
        // Enumerated first (eth0) and with link, but not the boot NIC: /init must pick the one in ingot.mac.
        {
          mac: DECOY_MAC,
          model: "virtio-net-pci",
          bootRom: false,
          network: { kind: "user", restrict: true },
        },
        {
          mac: BOOT_MAC,
          model: "virtio-net-pci",
          network: { kind: "user", bootfile: `${server.guestUrl}/boot.ipxe` },
        },
      ],
      smbios: { serial: SERIAL, uuid: UUID, manufacturer: "Ingot Lab", product: "E2E Server" },
      boot: "network",
      serialLog: path.join(workDir, "serial.log"),
      accelDetector: new AcceleratorDetector(),
    });
    t.diagnostic(
      `accelerator: ${vm.accel.accel} (${vm.accel.reason}); serial log ${path.join(workDir, "serial.log")}`,
    );

    const console = vm.console;
    const posted = await server
      .waitForRequest((request) => request.url.pathname === "/report", {
        timeoutMs: 300_000,
        describe: "the agent's POST",
      })
      .catch((error: unknown) => {
        throw new Error(`${(error as Error).message}\n--- console ---\n${console.tail(3000)}`);
      });
    await vm.waitForConsole(/INGOT-TEST-AGENT-STARTED/, { timeoutMs: 10_000 });
    t.diagnostic(`VM start to agent report: ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const report = JSON.parse(posted.body) as AgentReport;
    assert.equal(report.serial, SERIAL);
    assert.equal(report.uuid.toLowerCase(), UUID);
    assert.equal(report.mac, BOOT_MAC);
    assert.equal(report.envMac, BOOT_MAC);
    assert.deepEqual(
      report.disks.map((disk) => disk.sizeBytes).sort((a, b) => a - b),
      [1 * GIB, 2 * GIB],
    );
    assert.ok(
      report.clock >= CLOCK.getTime() && report.clock < CLOCK.getTime() + 30 * 60_000,
      `clock set from ingot.time: ${new Date(report.clock).toISOString()}`,
    );
    await vm.waitForConsole(/ingot-agent exited with status 0/, { timeoutMs: 60_000 });
    await vm.waitForConsole(/console shell/, { timeoutMs: 30_000 });
  });
});
