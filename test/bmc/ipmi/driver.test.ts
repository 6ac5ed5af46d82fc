import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { after, before, describe, it } from "node:test";
import { type IpmiLab, type IpmiLabMachine, type LabBoot, startIpmiLab } from "../../../lab/ipmi/index.ts";
import { type BmcDriver, BmcError } from "../../../src/bmc/driver.ts";
import { createIpmiDriver } from "../../../src/bmc/ipmi/driver.ts";
import { eventually } from "../../helpers/app.ts";

const signal = (): AbortSignal => AbortSignal.timeout(60_000);

function kindOf(error: unknown): string {
  return error instanceof BmcError ? error.kind : `not a BmcError: ${String(error)}`;
}

/** A loopback UDP port nobody answers on: bound, then closed. */
async function silentPort(): Promise<number> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

describe("IPMI driver against ipmi_sim", () => {
  let lab: IpmiLab;
  let machine: IpmiLabMachine;
  let driver: BmcDriver;

  before(async () => {
    lab = await startIpmiLab({
      machines: [{ name: "node-7", serial: "SN-NODE-0007", bmcMac: "02:1b:1a:00:07:07", firmware: "3.14" }],
    });
    const [first] = lab.machines;
    assert.ok(first);
    machine = first;
    driver = createIpmiDriver({ ...machine.endpoint, timeoutMs: 15_000 }, { powerPollIntervalMs: 100 });
  });
  after(async () => {
    await driver.close();
    await lab.stop();
  });

  it("reads the inventory: FRU serial and model, GUID, BMC firmware and MAC", async () => {
    const inventory = await driver.getInventory(signal());
    assert.equal(inventory.serial, "SN-NODE-0007");
    assert.equal(inventory.manufacturer, "Ingot Lab");
    assert.equal(inventory.model, machine.productName);
    assert.equal(inventory.uuid, machine.uuid);
    assert.equal(inventory.bmcFirmwareVersion, "3.14");
    assert.equal(inventory.bmcMac, "02:1b:1a:00:07:07");
    assert.equal(inventory.powerState, "off");
    assert.deepEqual(inventory.firmware, [
      { id: "bmc", name: "BMC firmware", version: "3.14", updateable: false },
    ]);
  });

  it("powers on, cycles and off, and the machine does it", async () => {
    const boots: LabBoot[] = [];
    const unsubscribe = machine.onBoot((boot) => boots.push(boot));
    try {
      await driver.setPower("on", signal());
      assert.equal(machine.powerState(), "on");
      assert.equal(await driver.getPowerState(signal()), "on");

      const before = machine.events().length;
      await driver.setPower("cycle", signal());
      await eventually(async () => (boots.length >= 2 ? true : undefined), {
        what: "the boot after the cycle",
      });
      const powerChanges = machine
        .events()
        .slice(before)
        .flatMap((e) => (e.kind === "power" ? [e.on] : []));
      assert.deepEqual(powerChanges, [false, true], "a cycle is off, then on");
      await machine.waitForPower("on");

      await driver.setPower("force-restart", signal());
      await eventually(async () => (boots.at(-1)?.cause === "reset" ? true : undefined), {
        what: "the reset",
      });

      await driver.setPower("off", signal());
      assert.equal(machine.powerState(), "off");
      assert.equal(await driver.getPowerState(signal()), "off");

      // Restart of a machine that is off turns it on rather than failing.
      await driver.setPower("restart", signal());
      assert.equal(machine.powerState(), "on");
      assert.equal(boots.at(-1)?.cause, "power-on");
    } finally {
      unsubscribe();
    }
  });

  it("shuts down gracefully, and restarts gracefully through the OS", async () => {
    await driver.setPower("on", signal());
    await driver.setPower("graceful-shutdown", signal());
    assert.equal(machine.powerState(), "off");
    assert.equal(machine.events().at(-2)?.kind, "soft-off");

    await driver.setPower("on", signal());
    const before = machine.events().length;
    await driver.setPower("graceful-restart", signal());
    assert.equal(machine.powerState(), "on");
    assert.deepEqual(
      machine
        .events()
        .slice(before)
        .map((e) => (e.kind === "power" ? `power-${e.on ? "on" : "off"}` : e.kind)),
      ["soft-off", "power-off", "power-on"],
    );
  });

  it("gives up a graceful restart when the OS ignores the ACPI request", async () => {
    machine.setSoftOff("ignore");
    try {
      const impatient = createIpmiDriver(machine.endpoint, {
        gracefulRestartTimeoutMs: 1_500,
        powerPollIntervalMs: 100,
      });
      await driver.setPower("on", signal());
      await assert.rejects(impatient.setPower("graceful-restart", signal()), (e) => kindOf(e) === "timeout");
      assert.equal(machine.powerState(), "on");
    } finally {
      machine.setSoftOff("honour");
    }
  });

  it("sets the boot device and reads it back", async () => {
    await driver.setBootOverride({ device: "pxe", persistence: "continuous", mode: "uefi" }, signal());
    assert.equal(machine.bootDevice(), "pxe");
    assert.equal((await driver.getBootOverride(signal())).device, "pxe");
    for (const [device, lab] of [
      ["disk", "disk"],
      ["cd", "cdrom"],
      ["bios", "bios"],
    ] as const) {
      await driver.setBootOverride({ device, persistence: "once" }, signal());
      assert.equal(machine.bootDevice(), lab);
      assert.equal((await driver.getBootOverride(signal())).device, device);
    }
    await assert.rejects(
      driver.setBootOverride({ device: "http", persistence: "once" }, signal()),
      (e) => kindOf(e) === "unsupported",
    );

    const boots: LabBoot[] = [];
    const unsubscribe = machine.onBoot((boot) => boots.push(boot));
    try {
      await driver.setBootOverride({ device: "pxe", persistence: "once", mode: "legacy" }, signal());
      await driver.setPower("off", signal());
      await driver.setPower("on", signal());
      await eventually(async () => (boots.length > 0 ? true : undefined), { what: "a boot" });
      assert.deepEqual(boots[0], { device: "pxe", cause: "power-on" });
    } finally {
      unsubscribe();
    }
  });

  it("reads sensors and power supplies, and sees them change", async () => {
    const report = await driver.getSensors(signal());
    const inlet = report.sensors.find((s) => s.name === "Inlet Temp");
    assert.deepEqual(inlet, { name: "Inlet Temp", kind: "temperature", value: 23, unit: "°C", health: "ok" });
    assert.ok(report.sensors.some((s) => s.kind === "fan" && s.value === 5400 && s.unit === "RPM"));
    assert.ok(report.sensors.some((s) => s.name === "12V" && s.value === 12 && s.unit === "V"));
    assert.deepEqual(
      report.powerSupplies.map((p) => [p.name, p.health]),
      [
        ["PSU1 Status", "ok"],
        ["PSU2 Status", "ok"],
      ],
    );

    machine.setSensor("Inlet Temp", 52);
    machine.setPowerSupply(1, { failed: true });
    try {
      const changed = await eventually(
        async () => {
          const r = await driver.getSensors(signal());
          const hot = r.sensors.find((s) => s.name === "Inlet Temp");
          const psu = r.powerSupplies.find((p) => p.name === "PSU1 Status");
          return hot?.value === 52 && psu?.health === "critical" ? { hot, psu } : undefined;
        },
        { what: "the hot inlet and the failed PSU" },
      );
      assert.equal(changed.hot.health, "critical");
    } finally {
      machine.setSensor("Inlet Temp", 23);
      machine.setPowerSupply(1, {});
    }
  });

  it("lists SEL entries after power events, newest first", async () => {
    await driver.setPower("on", signal());
    await driver.setPower("off", signal());
    const entries = await eventually(
      async () => {
        const list = await driver.getLogEntries(50, signal());
        return list[0]?.message.includes("Power off/down (asserted)") ? list : undefined;
      },
      { what: "the power-off entry at the top of the SEL" },
    );
    assert.match(entries[0]?.created ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(entries.some((e) => e.message.includes("Power off/down (deasserted)")));
    assert.ok(entries.some((e) => e.severity === "critical" && /Failure detected/.test(e.message)));
    const ids = entries.map((e) => Number.parseInt(e.id, 16));
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => b - a),
    );
    assert.equal((await driver.getLogEntries(2, signal())).length, 2);
  });

  it("has no firmware update over IPMI", async () => {
    await assert.rejects(
      driver.startFirmwareUpdate({ imageUri: "http://x/fw.bin" }, signal()),
      (e) => kindOf(e) === "unsupported",
    );
    await assert.rejects(driver.getFirmwareUpdateStatus("h", signal()), (e) => kindOf(e) === "unsupported");
  });

  it("reports a wrong password as an auth error", async () => {
    const wrong = createIpmiDriver({ ...machine.endpoint, password: "not-the-password" });
    await assert.rejects(wrong.getPowerState(signal()), (e) => {
      assert.equal(kindOf(e), "auth");
      assert.ok(!String((e as Error).message).includes("not-the-password"));
      return true;
    });
    const nobody = createIpmiDriver({ ...machine.endpoint, username: "nobody" });
    await assert.rejects(nobody.getPowerState(signal()), (e) => kindOf(e) === "auth");
  });

  it("fails with timeout or unreachable, within the call's deadline, when nobody answers", {
    timeout: 30_000,
  }, async () => {
    const silent = createIpmiDriver({
      address: "127.0.0.1",
      port: await silentPort(),
      username: "admin",
      password: "x",
      timeoutMs: 4_000,
    });
    await assert.rejects(silent.getPowerState(signal()), (e) =>
      ["timeout", "unreachable"].includes(kindOf(e)),
    );
  });

  it("honours the caller's abort", { timeout: 30_000 }, async () => {
    const silent = createIpmiDriver({
      address: "127.0.0.1",
      port: await silentPort(),
      username: "admin",
      password: "x",
    });
    const controller = new AbortController();
    const pending = silent.getSensors(controller.signal);
    controller.abort(new Error("operator cancelled"));
    await assert.rejects(pending, /operator cancelled/);
  });
});
