/**
 * A tiny initramfs for the QEMU BMC tests: static busybox and an /init that prints a marker and powers the
 * machine off, the quickest way to have a guest turn itself off through ACPI as an OS does at shutdown.
 */
import { readFile } from "node:fs/promises";

interface Entry {
  readonly name: string;
  readonly mode: number;
  readonly data?: Buffer;
  readonly rdev?: { readonly major: number; readonly minor: number };
}

/** The kernel's initramfs format: `cpio -H newc`, uncompressed. */
export function newcArchive(entries: readonly Entry[]): Buffer {
  const parts: Buffer[] = [];
  const pad = (length: number): Buffer => Buffer.alloc((4 - (length % 4)) % 4);
  const hex = (value: number): string => value.toString(16).padStart(8, "0");
  const add = (entry: Entry, ino: number): void => {
    const data = entry.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${entry.name}\0`);
    const header = Buffer.from(
      `070701${[
        ino,
        entry.mode,
        0,
        0,
        1,
        0,
        data.length,
        0,
        0,
        entry.rdev?.major ?? 0,
        entry.rdev?.minor ?? 0,
        name.length,
        0,
      ]
        .map(hex)
        .join("")}`,
    );
    parts.push(header, name, pad(header.length + name.length), data, pad(data.length));
  };
  for (const [index, entry] of entries.entries()) add(entry, index + 1);
  add({ name: "TRAILER!!!", mode: 0 }, 0);
  return Buffer.concat(parts);
}

export async function powerOffInitramfs(busybox = "/usr/bin/busybox"): Promise<Buffer> {
  const init = [
    "#!/bin/busybox sh",
    "/bin/busybox echo INGOT-GUEST-POWERING-OFF",
    "/bin/busybox poweroff -f",
    "",
  ].join("\n");
  return newcArchive([
    { name: "bin", mode: 0o040755 },
    { name: "dev", mode: 0o040755 },
    { name: "dev/console", mode: 0o020600, rdev: { major: 5, minor: 1 } },
    { name: "bin/busybox", mode: 0o100755, data: await readFile(busybox) },
    { name: "init", mode: 0o100755, data: Buffer.from(init) },
  ]);
}
