/**
 * The QEMU-backed BMC against real QEMU (KVM when it works, TCG otherwise), driven by Ingot's own Redfish
 * driver: Redfish → QMP → QEMU → the NIC's iPXE ROM → the test's HTTP server (10.0.2.2 in the guest).
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { AcceleratorDetector, type QemuVm } from "../../../lab/qemu/vm.ts";
import { type QemuBmc, startQemuBmc } from "../../../lab/qemu-bmc/index.ts";
import { createLabTls } from "../../../lab/redfish/index.ts";
import { createRedfishDriver, type RedfishDriver } from "../../../src/bmc/redfish/index.ts";
import { eventually } from "../../helpers/app.ts";
import { BootHttpServer } from "../qemu/boot-http-server.ts";
import { powerOffInitramfs } from "./initramfs.ts";

const signal = (): AbortSignal => AbortSignal.timeout(60_000);

describe("QEMU-backed Redfish BMC", () => {
  let server: BootHttpServer;
  let machine: QemuBmc;
  let driver: RedfishDriver;
  let vm: QemuVm;
  let script: "identify" | "poweroff" = "identify";
  let workDir: string;

  before(async () => {
    server = await BootHttpServer.start();
    workDir = await mkdtemp(path.join(tmpdir(), "ingot-qemu-bmc-test-"));
    // The boot file iPXE asks for. "identify" reports the NIC's MAC back, then gives up so the firmware
    // moves on; "poweroff" boots a kernel whose init powers the machine off at once.
    server.route("/x.ipxe", () => ({
      kind: "text",
      body:
        script === "poweroff"
          ? `#!ipxe\necho INGOT-PXE-POWEROFF\nkernel ${server.guestUrl}/vmlinuz console=ttyS0 quiet rdinit=/init\ninitrd ${server.guestUrl}/initrd\nboot\n`
          : `#!ipxe\necho INGOT-PXE-SCRIPT\nchain ${server.guestUrl}/seen?mac=\${net0/mac} || exit 1\n`,
    }));
    const kernels = (await readdir("/boot")).filter((name) => name.startsWith("vmlinuz-")).sort();
    const kernel = kernels.at(-1);
    assert.ok(kernel !== undefined, "a Linux kernel in /boot (Debian package linux-image-amd64)");
    const initrd = path.join(workDir, "initrd");
    await writeFile(initrd, await powerOffInitramfs());
    server.route("/vmlinuz", () => ({ kind: "file", path: path.join("/boot", kernel) }));
    server.route("/initrd", () => ({ kind: "file", path: initrd }));
    server.route("/seen", () => ({ kind: "text", body: "#!ipxe\necho INGOT-PXE-SEEN\nexit 1\n" }));
    machine = await startQemuBmc({
      name: "qemu-bmc-test",
      network: { kind: "user", bootfile: `${server.guestUrl}/x.ipxe` },
      disks: [{ sizeBytes: 32 * 1_048_576, bus: "virtio" }],
      memoryMiB: 256,
      tls: await createLabTls(),
      accelDetector: new AcceleratorDetector(),
    });
    driver = createRedfishDriver(machine.endpoint(), {
      pollIntervalMs: 50,
      transitionTimeoutMs: 30_000,
      retry: { attempts: 4, baseDelayMs: 20, maxDelayMs: 200, maxRetryAfterMs: 2_000 },
    });
  });
  after(async () => {
    await driver?.close();
    await machine?.stop();
    await server?.close();
    await rm(workDir, { recursive: true, force: true });
  });

  test("a power-on with a PXE override through the Ingot Redfish driver makes the VM PXE-boot", async (t) => {
    assert.equal(machine.vm(), undefined, "no VM runs while the BMC reports Off");
    assert.equal(await driver.getPowerState(signal()), "off");
    await driver.setBootOverride({ device: "pxe", persistence: "once" }, signal());
    await driver.setPower("on", signal());

    vm = await machine.waitForVm(60_000);
    t.diagnostic(`accelerator: ${vm.accel.accel} (${vm.accel.reason})`);
    await vm.waitForConsole(/iPXE initialising devices/, { timeoutMs: 90_000 });
    const fetched = await server.waitForRequest((request) => request.url.pathname === "/x.ipxe", {
      timeoutMs: 90_000,
      describe: "iPXE's request for the boot file",
    });
    assert.equal(fetched.method, "GET");
    await vm.waitForConsole(/INGOT-PXE-SCRIPT/, { timeoutMs: 30_000 });
    const seen = await server.waitForRequest((request) => request.url.pathname === "/seen", {
      timeoutMs: 30_000,
      describe: "the script's report",
    });
    assert.equal(
      seen.url.searchParams.get("mac"),
      machine.bmc.identity.nicMacs[0],
      "the VM's NIC has the MAC the BMC reports",
    );
    const console = vm.console.text();
    assert.ok(
      !console.slice(0, console.indexOf("iPXE initialising")).includes("Booting from Hard Disk"),
      "no disk first",
    );

    assert.equal(await driver.getPowerState(signal()), "on");
    assert.deepEqual(await driver.getBootOverride(signal()), {
      device: "none",
      persistence: "disabled",
      mode: "uefi",
    });
    assert.deepEqual(
      machine.events().map((event) => event.kind),
      ["start"],
    );
    assert.deepEqual(machine.events()[0], { ...machine.events()[0], kind: "start", boot: "network" });
    const inventory = await driver.getInventory(signal());
    assert.equal(inventory.serial, machine.bmc.identity.serial);
    assert.equal(inventory.memoryBytes, 256 * 1_048_576);
    assert.deepEqual(
      inventory.nics.map((nic) => nic.mac.toLowerCase()),
      [machine.bmc.identity.nicMacs[0]],
    );
  });

  test("ForceOff halts the VM; the next power-on, with the Once override used up, boots from disk", async () => {
    const pid = vm.pid;
    await driver.setPower("force-off", signal());
    await eventually(async () => ((await driver.getPowerState(signal())) === "off" ? true : undefined), {
      timeoutMs: 20_000,
    });
    await machine.settled();
    assert.equal((await vm.qmp.queryStatus()).running, false, "the vCPUs are stopped");
    assert.equal(machine.events().at(-1)?.kind, "pause");

    const mark = vm.console.position;
    const requests = server.requests.length;
    await driver.setPower("on", signal());
    await vm.waitForConsole(/Booting from Hard Disk/, { after: mark, timeoutMs: 90_000 });
    await machine.settled();
    assert.equal(vm.pid, pid, "the same QEMU: power-on resets and resumes it");
    assert.deepEqual(
      machine
        .events()
        .slice(-2)
        .map((event) => (event.kind === "reset" ? `reset:${event.order.join(",")}` : event.kind)),
      ["reset:disk", "resume"],
    );
    const boot = vm.console.since(mark);
    assert.ok(
      !boot.slice(0, boot.indexOf("Booting from Hard Disk")).includes("iPXE initialising devices"),
      "no network boot first",
    );
    assert.equal(server.requests.length, requests, "nothing was asked of the boot server before the disk");
  });

  test("ForceRestart with a continuous PXE override resets the running VM into iPXE", async () => {
    await driver.setBootOverride({ device: "pxe", persistence: "continuous" }, signal());
    const before = server.requests.filter((request) => request.url.pathname === "/x.ipxe").length;
    await driver.setPower("force-restart", signal());
    await eventually(
      async () =>
        server.requests.filter((request) => request.url.pathname === "/x.ipxe").length > before
          ? true
          : undefined,
      { timeoutMs: 90_000, what: "a second boot file request" },
    );
    assert.ok(
      machine.events().some((event) => event.kind === "reset" && event.order.join(",") === "network"),
      "the boot order became network before the reset",
    );
    assert.deepEqual(await driver.getBootOverride(signal()), {
      device: "pxe",
      persistence: "continuous",
      mode: "uefi",
    });
  });

  test("GracefulShutdown presses the ACPI button; the BMC says Off only once the guest powers itself off", async () => {
    await driver.setPower("graceful-shutdown", signal());
    await machine.settled();
    assert.equal(machine.events().at(-1)?.kind, "powerdown");
    // Firmware and iPXE do not act on the ACPI button, as an OS that ignores it would not.
    assert.equal(await driver.getPowerState(signal()), "on");

    // The next boot runs a Linux whose init powers the machine off from inside, as an OS shutting down does.
    script = "poweroff";
    const mark = vm.console.position;
    await driver.setPower("force-restart", signal());
    await vm.waitForConsole(/INGOT-GUEST-POWERING-OFF/, { after: mark, timeoutMs: 120_000 });
    await eventually(async () => ((await driver.getPowerState(signal())) === "off" ? true : undefined), {
      timeoutMs: 30_000,
      what: "the BMC to report the guest's power-off",
    });
    assert.ok(machine.events().some((event) => event.kind === "guest-shutdown"));
    assert.equal(
      machine.bmc.state().systemLog.at(-1)?.message,
      "The operating system powered the system off",
    );
    assert.ok(vm.running, "QEMU stays, paused, so the next power-on keeps the disks");
  });
});
