/**
 * Run as a child process by vm.test.ts: starts a VM, prints QEMU's pid, and waits to be killed, so the
 * test can check that QEMU dies with its parent even when the parent gets no chance to clean up.
 */
import { startVm } from "../../../lab/qemu/vm.ts";

const vm = await startVm({
  name: "orphan-test",
  memoryMiB: 64,
  cpus: 1,
  disks: [],
  nics: [],
  smbios: {
    serial: "ORPHAN",
    uuid: "00000000-0000-4000-8000-000000000001",
    manufacturer: "Ingot",
    product: "Lab",
  },
  boot: "disk",
  accel: "tcg",
});
process.stdout.write(`${vm.pid}\n`);
await new Promise(() => {
  setInterval(() => {}, 60_000);
});
