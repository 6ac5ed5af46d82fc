/**
 * Regenerates test/bmc/ipmi/fixtures/ipmi-sim/: what ipmitool prints against the lab's ipmi_sim, after
 * a few events (power on and off, a hot inlet, a failed power supply) so the outputs carry states and
 * SEL entries. Run: npx tsx test/bmc/ipmi/capture-sim-fixtures.ts
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { startIpmiLab } from "../../../lab/ipmi/index.ts";

const out = path.resolve(import.meta.dirname, "fixtures", "ipmi-sim");
mkdirSync(out, { recursive: true });
const lab = await startIpmiLab({
  machines: [
    {
      name: "capture",
      serial: "ILAB-CAPTURE-01",
      uuid: "6b1c9d1e-52a5-4c3e-9d53-2f3a4a0c1b7e",
      bmcMac: "02:1b:1a:00:00:01",
    },
  ],
});
try {
  const [m] = lab.machines;
  if (m === undefined) throw new Error("no machine");
  const ipmitool = (...args: string[]): string =>
    execFileSync(
      "ipmitool",
      [
        "-I",
        "lanplus",
        "-C",
        "3",
        "-H",
        "127.0.0.1",
        "-p",
        String(m.endpoint.port),
        "-U",
        m.endpoint.username,
        "-E",
        ...args,
      ],
      { env: { PATH: process.env.PATH, IPMI_PASSWORD: m.endpoint.password, TZ: "UTC", LC_ALL: "C" } },
    ).toString();
  const save = (name: string, text: string): void => writeFileSync(path.join(out, name), text);

  save("chassis-status-off.txt", ipmitool("chassis", "status"));
  ipmitool("chassis", "power", "on");
  await m.waitForPower("on");
  save("chassis-status-on.txt", ipmitool("chassis", "status"));
  ipmitool("chassis", "bootdev", "pxe", "options=efiboot,persistent");
  save("bootparam-get-5-pxe.txt", ipmitool("chassis", "bootparam", "get", "5"));
  m.setSensor("Inlet Temp", 47);
  m.setPowerSupply(2, { failed: true });
  // ipmi_sim polls sensor files every 0.5 s; wait until the SDR shows both changes.
  for (let i = 0; ; i++) {
    const sdr = ipmitool("sdr", "elist");
    if (/47 degrees C/.test(sdr) && /Failure detected/.test(sdr)) {
      save("sdr-elist.txt", sdr);
      break;
    }
    if (i > 50) throw new Error(`sensors did not change:\n${sdr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  save("sensor-list.txt", ipmitool("sensor", "list"));
  ipmitool("chassis", "power", "off");
  await m.waitForPower("off");
  await new Promise((resolve) => setTimeout(resolve, 600));
  save("sel-elist.txt", ipmitool("sel", "elist"));
  save("fru-print.txt", ipmitool("fru", "print"));
  save("mc-info.txt", ipmitool("mc", "info"));
  save("mc-guid.txt", ipmitool("mc", "guid"));
  save("lan-print.txt", ipmitool("lan", "print"));
  console.log(`wrote ${out}`);
} finally {
  await lab.stop();
}
