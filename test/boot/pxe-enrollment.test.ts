/**
 * The whole enrollment path on a real virtual machine: QEMU's iPXE ROM gets Ingot's chain URL from DHCP,
 * asks /boot/v1/ipxe with its own MAC, serial and UUID, boots the agent image built from the real
 * ingot-agent, and the agent enrolls through /agent/v1/enroll. Everything is then checked through the API.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { AcceleratorDetector, type QemuVm, startVm } from "../../lab/qemu/vm.ts";
import { agentImageDataDir } from "../helpers/agent-image.ts";
import { startTestApp, type TestApp } from "../helpers/app.ts";
import { enrolledMachine } from "../helpers/enrollment.ts";

const GIB = 1024 ** 3;
const SERIAL = "PXE-E2E-0001";
const UUID = "6a0e5bd2-3c1f-4e8a-9d3b-7f2a1c0e9b41";
const MAC = "52:54:00:e2:e0:01";

describe("PXE enrollment of a QEMU machine (QEMU user networking)", () => {
  let app: TestApp;
  let workDir: string;
  before(async () => {
    const { dataDir } = await agentImageDataDir();
    workDir = await mkdtemp(path.join(tmpdir(), "ingot-pxe-"));
    app = await startTestApp({ config: { dataDir }, listen: { publicHost: "10.0.2.2" } });
  });
  after(async () => {
    await app.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it("boots an unknown machine through iPXE into the agent, which enrolls it", async (t) => {
    let vm: QemuVm | undefined;
    t.after(async () => await vm?.stop());
    const started = performance.now();
    vm = await startVm({
      name: "pxe-enroll",
      memoryMiB: 1024,
      cpus: 2,
      disks: [{ sizeBytes: 3 * GIB }, { sizeBytes: 5 * GIB }],
      nics: [{ mac: MAC, network: { kind: "user", bootfile: `${app.publicUrl()}/boot/v1/ipxe` } }],
      smbios: { serial: SERIAL, uuid: UUID, manufacturer: "Ingot Lab", product: "PXE Test Server" },
      boot: "network",
      serialLog: path.join(workDir, "serial.log"),
      accelDetector: new AcceleratorDetector(),
    });
    const detail = await enrolledMachine(app, SERIAL, vm);
    t.diagnostic(
      `VM start to enrolled: ${((performance.now() - started) / 1000).toFixed(1)} s (${vm.accel.accel})`,
    );

    assert.equal(detail.serialNumber, SERIAL);
    assert.equal(detail.systemUuid, UUID);
    assert.equal(detail.bootMac, MAC);
    assert.ok(detail.interfaces.some((nic) => nic.macAddress === MAC && nic.isBoot));
    assert.equal(detail.summary.cpuThreads, 2);
    assert.ok(
      detail.summary.memoryBytes > 0.8 * GIB && detail.summary.memoryBytes <= GIB,
      `memory ${detail.summary.memoryBytes}`,
    );
    assert.deepEqual(
      detail.summary.disks
        .map((disk: { sizeBytes: number }) => disk.sizeBytes)
        .sort((a: number, b: number) => a - b),
      [3 * GIB, 5 * GIB],
    );
    assert.equal(detail.state.kind, "enrolled");
    await vm.waitForConsole(new RegExp(`enrolled as ${detail.id}`), { timeoutMs: 60_000 });
  });
});
