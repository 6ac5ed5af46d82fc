import assert from "node:assert/strict";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { type LabNvSwitchTray, type NvSwitchLab, startNvSwitchLab } from "../../../lab/nvswitch/index.ts";
import { createLabTls } from "../../../lab/redfish/index.ts";
import type { ComponentManager, ComponentTarget } from "../../../src/bmc/component-managers/index.ts";
import type { ComponentManagerRegistry } from "../../../src/bmc/component-managers/registry.ts";
import { eventually } from "../../helpers/app.ts";
import { followUpdate, kindOf, labRegistry, signal } from "./helpers.ts";

describe("nvswitch/redfish+ssh against lab NVSwitch trays", () => {
  let lab: NvSwitchLab;
  let registry: ComponentManagerRegistry;
  let manager: ComponentManager;
  const tray = (index: number): LabNvSwitchTray => lab.trays[index] as LabNvSwitchTray;
  const switchTarget = (index: number, nvos = true): ComponentTarget => ({
    id: `nvswitch-${index}`,
    bmc: tray(index).bmc.endpoint(),
    ...(nvos ? { nvos: tray(index).nvosEndpoint({ timeoutMs: 5_000 }) } : {}),
  });

  before(async () => {
    lab = await startNvSwitchLab({
      trays: 3,
      tls: await createLabTls(),
      nvosVersion: "25.02.2553",
      // Long enough that polls (an SSH login each) see the install run and the switch away while it reboots.
      nvosTiming: { bootMs: 2_000, fetchMs: 100, installMs: 2_500, rebootDelayMs: 100 },
      bmcTiming: { powerOnDelayMs: 200, powerOffDelayMs: 150, firmwareUpdateMs: 300 },
    });
    registry = labRegistry();
    manager = registry.get("nvswitch", "redfish+ssh");
  });
  after(async () => {
    await registry.close();
    await lab.stop();
  });

  test("the ssh strategy copies and installs the image, waits out the reboot, then verifies the version", async () => {
    const target = switchTarget(0);
    const started = await manager.firmwareControl(
      target,
      { imageUri: "https://images.example/nvos-amd64-25.02.2601.bin", version: "25.02.2601" },
      signal(),
    );
    assert.deepEqual(
      [started.state, started.phase, started.expectedVersion],
      ["running", "install", "25.02.2601"],
    );
    assert.deepEqual(
      tray(0).state().files,
      ["nvos-amd64-25.02.2601.bin"],
      "COPY put the image on the switch",
    );

    const { final, seen, statuses } = await followUpdate(manager, target, started.handle);
    assert.deepEqual(seen, ["running/install", "running/wait-reachable", "completed/verify"]);
    const percents = statuses.flatMap((status) =>
      status.phase === "install" && status.percent !== undefined ? [status.percent] : [],
    );
    assert.ok(
      percents.some((percent) => percent > 0 && percent < 100),
      `install progress was visible: ${percents.join(", ")}`,
    );
    assert.ok(
      statuses.some(
        (status) =>
          status.phase === "wait-reachable" && /does not answer over SSH/.test(status.messages.join(" ")),
      ),
      "the reboot showed as the switch being unreachable",
    );
    assert.equal(final.version, "25.02.2601");
    assert.equal(tray(0).state().version, "25.02.2601");
  });

  test("firmware consistency reads NVOS versions and finds the switch that differs", async () => {
    const report = await manager.firmwareConsistency?.(
      [0, 1, 2].map((index) => switchTarget(index)),
      signal(),
    );
    assert.ok(report !== undefined);
    assert.equal(report.consistent, false);
    assert.deepEqual(report.distinctVersions, ["25.02.2553", "25.02.2601"]);
    assert.deepEqual(report.outliers, ["nvswitch-0"]);
    assert.deepEqual(
      report.versions.map((reading) => reading.version),
      ["25.02.2601", "25.02.2553", "25.02.2553"],
    );
  });

  test("an install that lands on another version, or a corrupt image, fails", async () => {
    const target = switchTarget(1);
    manager.injectExpectation(target, { firmwareVersion: "25.03.0001" });
    const started = await manager.firmwareControl(
      target,
      { imageUri: "https://images.example/nvos-amd64-25.02.2601.bin" },
      signal(),
    );
    const mismatch = await followUpdate(manager, target, started.handle);
    assert.equal(mismatch.final.state, "failed");
    assert.equal(mismatch.final.phase, "verify");
    assert.match(mismatch.final.messages.join(" "), /expected 25\.03\.0001, NVOS runs 25\.02\.2601/);

    const corrupt = await manager.firmwareControl(
      target,
      { imageUri: "https://images.example/nvos-corrupt-25.03.0001.bin" },
      signal(),
    );
    const failed = await followUpdate(manager, target, corrupt.handle);
    assert.deepEqual([failed.final.state, failed.final.phase], ["failed", "install"]);
    assert.match(failed.final.messages.join(" "), /image verification failed/);
    assert.equal(tray(1).state().nvos, "up", "a failed install leaves the switch running");

    await assert.rejects(
      manager.firmwareControl(target, { imageUri: "https://images.example/a.bin;reboot" }, signal()),
      { code: "component_manager.unsafe_argument" },
    );
  });

  test("the redfish strategy updates the tray BMC through SimpleUpdate and skips the reboot wait", async () => {
    const target = switchTarget(2);
    const started = await manager.firmwareControl(
      target,
      { imageUri: "https://images.example/switch-bmc-25.04.bin", strategy: "redfish", version: "25.04" },
      signal(),
    );
    const { final, seen } = await followUpdate(manager, target, started.handle);
    assert.ok(!seen.some((label) => label.endsWith("wait-reachable")));
    assert.equal(final.state, "completed");
    assert.equal(final.version, "25.04");
    assert.equal(tray(2).state().nvos, "up");
    // A tray without an NVOS endpoint gets the BMC path by default, and its BMC firmware in consistency checks.
    const bmcOnly = switchTarget(2, false);
    const report = await manager.firmwareConsistency?.([bmcOnly], signal());
    assert.deepEqual(report?.versions, [{ targetId: "nvswitch-2", version: "25.04" }]);
  });

  test("power goes through the tray BMC; bring-up waits until NVOS answers", async () => {
    const target = switchTarget(2);
    await manager.powerControl(target, "force-off", signal());
    await eventually(async () =>
      (await manager.getPowerStatus(target, signal())).state === "off" ? true : undefined,
    );
    assert.equal(tray(2).state().nvos, "down");
    const result = await manager.bringUp?.(target, signal());
    assert.deepEqual(result?.steps, [
      "tray power on requested",
      "tray powered on",
      "NVOS 25.02.2553 reachable",
    ]);
    assert.equal(tray(2).state().nvos, "up");
  });

  test("a wrong host key or password fails the SSH login with the right kind", async () => {
    const target = switchTarget(1);
    const files = tray(1).state().files.length;
    const forged: ComponentTarget = {
      ...target,
      nvos: tray(1).nvosEndpoint({
        hostKey: { mode: "pinned", sha256Fingerprint: tray(2).hostKeyFingerprint },
      }),
    };
    const report = await manager.firmwareConsistency?.([forged], signal());
    assert.match(report?.versions[0]?.error ?? "", /SSH host key mismatch/);
    const image = { imageUri: "https://images.example/nvos-amd64-25.02.2700.bin" };
    await assert.rejects(
      manager.firmwareControl(forged, image, signal()),
      (error) => kindOf(error) === "tls",
    );
    const wrongPassword: ComponentTarget = { ...target, nvos: tray(1).nvosEndpoint({ password: "wrong" }) };
    await assert.rejects(
      manager.firmwareControl(wrongPassword, image, signal()),
      (error) => kindOf(error) === "auth",
    );
    assert.equal(tray(1).state().files.length, files, "nothing reached a switch that failed the login");
  });

  test("an SSH server that never answers is cut off by the call's deadline", async (t) => {
    // Accepts connections and reads what it is sent, but never says a word of SSH.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    t.after(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const port = (silent.address() as AddressInfo).port;
    const slow = labRegistry(400);
    t.after(() => slow.close());
    const target: ComponentTarget = {
      ...switchTarget(1),
      nvos: { ...tray(1).nvosEndpoint(), port, timeoutMs: 20_000 },
    };
    await assert.rejects(
      slow
        .get("nvswitch", "redfish+ssh")
        .firmwareConsistency?.([target], signal())
        .then((report) => {
          throw new Error(report.versions[0]?.error);
        }) ?? Promise.resolve(),
      /firmware version did not finish within 400 ms/,
    );
  });
});
