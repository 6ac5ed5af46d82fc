/**
 * The QEMU runner against real QEMU (TCG when KVM does not work): SeaBIOS and the NIC's iPXE ROM print on
 * the serial console, an iPXE script served by the test reports the SMBIOS identity and MAC back over HTTP,
 * and QMP changes the boot order, resets, pauses and quits the VM.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { access, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import {
  AcceleratorDetector,
  probeKvm,
  type QemuVm,
  qemuArgs,
  startVm,
  type VmOptions,
} from "../../../lab/qemu/vm.ts";
import { BootHttpServer } from "./boot-http-server.ts";

const SERIAL = "INGOT-QMP-0001";
const UUID = "5b0c1f4e-8d2a-4c3b-9e1f-0a1b2c3d4e5f";
const MAC = "52:54:00:a1:b2:c3";

/** Polls `probe` until it returns a value, failing after `timeoutMs`. */
async function eventually<T>(probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await delay(50);
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function baseOptions(server: BootHttpServer): VmOptions {
  return {
    name: "qmp-test",
    memoryMiB: 256,
    cpus: 1,
    disks: [
      { sizeBytes: 64 * 1_048_576, bus: "sata" },
      { sizeBytes: 32 * 1_048_576, bus: "virtio", format: "qcow2" },
    ],
    nics: [{ mac: MAC, network: { kind: "user", bootfile: `${server.guestUrl}/boot.ipxe` } }],
    smbios: { serial: SERIAL, uuid: UUID, manufacturer: "Ingot Lab", product: "QMP, Test Box" },
    boot: "disk",
  };
}

describe("QEMU runner", () => {
  let server: BootHttpServer;
  const detector = new AcceleratorDetector();
  before(async () => {
    server = await BootHttpServer.start();
    // The script hands the identity iPXE sees back to the test, then gives up so the firmware moves on.
    server.route("/boot.ipxe", () => ({
      kind: "text",
      body: `#!ipxe\nchain ${server.guestUrl}/identify?mac=\${net0/mac}&serial=\${smbios/serial}&uuid=\${smbios/uuid} || exit 1\n`,
    }));
    server.route("/identify", () => ({ kind: "text", body: "#!ipxe\necho INGOT-IDENTIFIED\nexit 1\n" }));
  });
  after(async () => await server.close());

  it("refuses invalid options before starting anything", async () => {
    const options = baseOptions(server);
    await assert.rejects(
      startVm({ ...options, nics: [{ mac: "52:54:00:zz:00:01", network: { kind: "user" } }] }),
      /nics\[0\]\.mac/,
    );
    await assert.rejects(startVm({ ...options, disks: [{ sizeBytes: 1000 }] }), /disks\[0\]\.sizeBytes/);
    await assert.rejects(
      startVm({ ...options, smbios: { ...options.smbios, uuid: "nope" } }),
      /smbios\.uuid/,
    );
  });

  it("escapes commas in QEMU option values", () => {
    const args = qemuArgs(baseOptions(server), "tcg", "/tmp/q.sock", []);
    assert.ok(
      args.includes(
        `type=1,manufacturer=Ingot Lab,product=QMP,, Test Box,serial=INGOT-QMP-0001,uuid=${UUID}`,
      ),
    );
  });

  it("falls back to TCG, with the reason, when KVM cannot run a guest", async () => {
    const choice = await probeKvm({ qemuBinary: "false", timeoutMs: 5_000 });
    assert.equal(choice.accel, "tcg");
    assert.match(choice.reason, /\/dev\/kvm is not usable|exited|cannot start/);
  });

  it("boots through the NIC's iPXE ROM with the SMBIOS identity, and QMP controls boot order and power", async (t) => {
    let vm: QemuVm | undefined;
    t.after(async () => await vm?.stop());
    const logDir = await mkdtemp(path.join(tmpdir(), "ingot-vm-test-"));
    t.after(async () => await rm(logDir, { recursive: true, force: true }));
    vm = await startVm({
      ...baseOptions(server),
      accelDetector: detector,
      serialLog: path.join(logDir, "serial.log"),
    });
    const streamed: string[] = [];
    const stream = vm.console.createReadStream();
    stream.on("data", (chunk: Buffer) => streamed.push(chunk.toString()));
    const streamEnded = new Promise<void>((resolve) => stream.once("end", () => resolve()));
    t.diagnostic(`accelerator: ${vm.accel.accel} (${vm.accel.reason})`);
    const pid = vm.pid;
    assert.ok(pid !== undefined && isRunning(pid));
    assert.deepEqual(await vm.qmp.queryStatus(), { running: true, status: "running" });

    // Disk first: the blank disks fail, then the firmware falls through to the network.
    await vm.waitForConsole(/Booting from Hard Disk/, { timeoutMs: 60_000 });
    const identify = await server.waitForRequest((request) => request.url.pathname === "/identify", {
      timeoutMs: 90_000,
      describe: "iPXE identify request",
    });
    assert.equal(identify.url.searchParams.get("mac"), MAC);
    assert.equal(identify.url.searchParams.get("serial"), SERIAL);
    assert.equal(identify.url.searchParams.get("uuid"), UUID);
    const firstBoot = vm.console.text();
    assert.ok(firstBoot.indexOf("Booting from Hard Disk") < firstBoot.indexOf("iPXE initialising devices"));

    // Network first from the next reset on.
    await vm.qmp.setBootOrder(["network", "disk"]);
    const requestsBefore = server.requests.length;
    const mark = vm.console.position;
    const reset = vm.qmp.waitForEvent("RESET", { timeoutMs: 10_000 });
    await vm.qmp.systemReset();
    await reset;
    await vm.waitForConsole(/INGOT-IDENTIFIED/, { after: mark, timeoutMs: 90_000 });
    const secondBoot = vm.console.since(mark);
    assert.ok(
      !secondBoot.slice(0, secondBoot.indexOf("INGOT-IDENTIFIED")).includes("Booting from Hard Disk"),
    );
    assert.ok(server.requests.length > requestsBefore);

    const powerdown = vm.qmp.waitForEvent("POWERDOWN", { timeoutMs: 10_000 });
    await vm.qmp.systemPowerdown();
    await powerdown;
    await vm.qmp.pause();
    assert.equal((await vm.qmp.queryStatus()).status, "paused");
    await vm.qmp.resume();
    assert.equal((await vm.qmp.queryStatus()).status, "running");

    const workDir = vm.workDir;
    const exit = await vm.stop();
    await streamEnded;
    assert.match(streamed.join(""), /INGOT-IDENTIFIED/, "the console stream saw the output");
    assert.ok(
      vm.console.text().endsWith(streamed.join("")),
      "the stream carries the output from its creation on",
    );
    assert.equal(
      await readFile(path.join(logDir, "serial.log"), "utf8"),
      vm.console.text(),
      "and so did the log file",
    );
    assert.equal(exit.code, 0, "QMP quit ends QEMU cleanly");
    assert.equal(isRunning(pid), false);
    await assert.rejects(access(workDir), { code: "ENOENT" });
    await assert.rejects(vm.waitForConsole(/never/, { timeoutMs: 1_000 }), /QEMU exited \(0\)/);
  });

  it("takes QEMU down with the process that started it, even when that process is killed", async (t) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(import.meta.dirname, "start-vm-child.ts")],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    t.after(() => {
      child.kill("SIGKILL");
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const pid = await eventually(() => {
      const line = output.split("\n")[0];
      return line !== undefined && /^\d+$/.test(line) ? Number(line) : undefined;
    }, 60_000);
    assert.ok(isRunning(pid), "QEMU runs while its parent does");
    child.kill("SIGKILL");
    await eventually(() => (isRunning(pid) ? undefined : true), 10_000);
  });

  it("kills QEMU when QMP no longer answers", async (t) => {
    let vm: QemuVm | undefined;
    t.after(async () => await vm?.stop());
    vm = await startVm({ ...baseOptions(server), name: "kill-test", accelDetector: detector });
    const pid = vm.pid;
    assert.ok(pid !== undefined);
    vm.qmp.close();
    const exit = await vm.stop({ graceMs: 500 });
    assert.equal(exit.signal, "SIGKILL");
    assert.equal(isRunning(pid), false);
  });
});
