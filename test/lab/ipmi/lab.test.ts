import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { type IpmiLab, type IpmiLabMachine, type LabBoot, startIpmiLab } from "../../../lab/ipmi/index.ts";
import { eventually } from "../../helpers/app.ts";

interface Result {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

/** Plain ipmitool against a lab BMC, password through the environment. */
function ipmitool(
  machine: IpmiLabMachine,
  args: readonly string[],
  password = machine.endpoint.password,
): Promise<Result> {
  const { address, port, username } = machine.endpoint;
  return new Promise((resolve) => {
    execFile(
      "ipmitool",
      [
        "-I",
        "lanplus",
        "-C",
        "3",
        "-N",
        "1",
        "-R",
        "1",
        "-H",
        address,
        "-p",
        String(port),
        "-U",
        username,
        "-E",
        ...args,
      ],
      { env: { PATH: process.env.PATH, IPMI_PASSWORD: password, TZ: "UTC" }, timeout: 20_000 },
      (error, stdout, stderr) => resolve({ ok: error === null, stdout, stderr }),
    );
  });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("IPMI lab (ipmi_sim)", () => {
  let lab: IpmiLab;
  before(async () => {
    lab = await startIpmiLab({ machines: [{ name: "alpha", serial: "ALPHA-0001" }, { powerOn: true }] });
  });
  after(async () => await lab.stop());

  it("starts one BMC per machine on its own loopback port, each with its own credentials", async () => {
    const [alpha, beta] = lab.machines;
    assert.ok(alpha && beta);
    assert.notEqual(alpha.endpoint.port, beta.endpoint.port);
    assert.notEqual(alpha.endpoint.password, beta.endpoint.password);
    assert.equal(alpha.endpoint.address, "127.0.0.1");
    const fru = await ipmitool(alpha, ["fru", "print", "0"]);
    assert.ok(fru.ok, fru.stderr);
    assert.match(fru.stdout, /Product Serial\s+: ALPHA-0001/);
    const other = await ipmitool(beta, ["fru", "print", "0"]);
    assert.match(other.stdout, new RegExp(`Product Serial\\s+: ${beta.serial}`));
    assert.match(
      (await ipmitool(alpha, ["mc", "guid"])).stdout,
      new RegExp(`System GUID\\s+: ${alpha.uuid}`),
    );
  });

  it("refuses a wrong password", async () => {
    const [alpha] = lab.machines;
    assert.ok(alpha);
    const result = await ipmitool(alpha, ["chassis", "power", "status"], "wrong-password");
    assert.equal(result.ok, false);
    assert.match(result.stderr, /Unable to establish IPMI v2/);
  });

  it("wires chassis power on/off to a state the lab observes", async () => {
    const [alpha, beta] = lab.machines;
    assert.ok(alpha && beta);
    assert.equal(alpha.powerState(), "off");
    assert.equal(beta.powerState(), "on", "powerOn: true starts the machine on");
    assert.match((await ipmitool(alpha, ["chassis", "power", "on"])).stdout, /Up\/On/);
    assert.equal(alpha.powerState(), "on");
    assert.match((await ipmitool(alpha, ["chassis", "power", "status"])).stdout, /Chassis Power is on/);
    await ipmitool(alpha, ["chassis", "power", "off"]);
    assert.equal(alpha.powerState(), "off");
    assert.match((await ipmitool(alpha, ["chassis", "power", "status"])).stdout, /Chassis Power is off/);
    assert.deepEqual(
      alpha
        .events()
        .filter((e) => e.kind === "power")
        .map((e) => e.kind === "power" && e.on),
      [true, false],
    );
  });

  it("boots from the device set with chassis bootdev on power on, cycle and reset", async () => {
    const [alpha] = lab.machines;
    assert.ok(alpha);
    const boots: LabBoot[] = [];
    const unsubscribe = alpha.onBoot((boot) => boots.push(boot));
    try {
      assert.match((await ipmitool(alpha, ["chassis", "bootdev", "pxe"])).stdout, /Set Boot Device to pxe/);
      assert.equal(alpha.bootDevice(), "pxe");
      await ipmitool(alpha, ["chassis", "power", "on"]);
      await eventually(async () => (boots.length >= 1 ? true : undefined), { what: "a boot on power on" });
      assert.deepEqual(boots[0], { device: "pxe", cause: "power-on" });

      await ipmitool(alpha, ["chassis", "bootdev", "disk"]);
      await ipmitool(alpha, ["chassis", "power", "cycle"]);
      await eventually(async () => (boots.length >= 2 ? true : undefined), {
        what: "a boot after the cycle",
      });
      assert.deepEqual(boots[1], { device: "disk", cause: "power-on" });
      await alpha.waitForPower("on");

      await ipmitool(alpha, ["chassis", "power", "reset"]);
      await eventually(async () => (boots.length >= 3 ? true : undefined), {
        what: "a boot after the reset",
      });
      assert.deepEqual(boots[2], { device: "disk", cause: "reset" });
    } finally {
      unsubscribe();
    }
  });

  it("honours or ignores an ACPI soft-off as configured", async () => {
    const [, beta] = lab.machines;
    assert.ok(beta);
    beta.setSoftOff("ignore");
    await ipmitool(beta, ["chassis", "power", "soft"]);
    assert.equal(beta.powerState(), "on");
    assert.deepEqual(beta.events().at(-1)?.kind, "soft-off");
    beta.setSoftOff("honour");
    await ipmitool(beta, ["chassis", "power", "soft"]);
    await beta.waitForPower("off");
  });

  it("serves sensors whose readings the lab can change, and logs threshold crossings in the SEL", async () => {
    const [, beta] = lab.machines;
    assert.ok(beta);
    const shown = beta.setSensor("Inlet Temp", 47);
    assert.equal(shown, 47);
    const sdr = await eventually(
      async () => {
        const out = (await ipmitool(beta, ["sdr", "elist"])).stdout;
        return /Inlet Temp\s+\|\s+01h\s+\|\s+ucr\s+\|[^|]+\|\s+47 degrees C/.test(out) ? out : undefined;
      },
      { what: "the new inlet temperature" },
    );
    assert.match(sdr, /FAN1\s+\|\s+\w+h\s+\|\s+ok\s+\|\s+29\.1\s+\|\s+5400 RPM/);
    const sel = (await ipmitool(beta, ["sel", "elist"])).stdout;
    assert.match(sel, /Inlet Temp \| Upper Critical going high \| Asserted/);
    assert.throws(() => beta.setSensor("No Such Sensor", 1), /no analog sensor/);
  });

  it("never leaves an ipmi_sim process behind", async () => {
    const extra = await startIpmiLab({ machines: 2 });
    const pids = extra.machines.map((m) => m.pid);
    assert.ok(pids.every(processAlive));
    await extra.stop();
    assert.ok(
      pids.every((pid) => !processAlive(pid)),
      "every simulator process has exited",
    );
    await extra.stop();
  });

  it("fails to start with a clear error when ipmi_sim cannot run, and cleans up", async () => {
    await assert.rejects(
      startIpmiLab({ machines: 1, ipmiSimPath: "/nonexistent/ipmi_sim", startTimeoutMs: 3_000 }),
      /ipmi_sim exited during start|did not answer/,
    );
  });
});
