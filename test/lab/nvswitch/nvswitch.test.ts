import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type LabNvSwitchTray, type NvSwitchLab, startNvSwitchLab } from "../../../lab/nvswitch/index.ts";
import { createLabTls, type LabTlsMaterial } from "../../../lab/redfish/index.ts";
import { eventually } from "../../helpers/app.ts";
import { call } from "../redfish/helpers.ts";
import { connect, connectFailure, exec } from "./ssh.ts";

// The reboot lasts long enough for a test to see the SSH port closed even on a loaded machine.
const NVOS_TIMING = { bootMs: 1_500, fetchMs: 100, installMs: 700, rebootDelayMs: 100 } as const;
const BMC_TIMING = { powerOnDelayMs: 200, powerOffDelayMs: 150, firmwareUpdateMs: 300 } as const;

let tls: LabTlsMaterial;
let lab: NvSwitchLab;
let tray: LabNvSwitchTray;

before(async () => {
  tls = await createLabTls();
  lab = await startNvSwitchLab({
    trays: 2,
    tls,
    nvosVersion: (index) => (index === 0 ? "25.02.2553" : "25.02.2601"),
    nvosTiming: NVOS_TIMING,
    bmcTiming: BMC_TIMING,
  });
  tray = lab.trays[0] as LabNvSwitchTray;
});
after(() => lab.stop());

function json(text: string): Record<string, unknown> {
  return JSON.parse(text) as Record<string, unknown>;
}

describe("simulated NVSwitch tray: NVOS over SSH", () => {
  test("nv show system, version and firmware answer as NVUE tables, and as JSON with -o json", async () => {
    const endpoint = tray.nvosEndpoint();
    const system = await exec(endpoint, "nv show system");
    assert.equal(system.code, 0);
    const lines = system.stdout.split("\n");
    assert.match(lines[0] ?? "", /^\s+operational\s+applied$/);
    assert.match(lines[1] ?? "", /^-+\s+-+\s+-+$/);
    assert.match(system.stdout, /^hostname\s+nvsw-tray-0\s+nvsw-tray-0$/m);
    assert.match(system.stdout, /^product-release\s+25\.02\.2553$/m);

    const version = await exec(endpoint, "nv show system version -o json");
    assert.equal(version.code, 0);
    assert.deepEqual(
      { image: json(version.stdout).image, product: json(version.stdout)["product-name"] },
      { image: "25.02.2553", product: "NVOS" },
    );
    const other = await exec(lab.trays[1]?.nvosEndpoint() ?? endpoint, "nv show system version -o json");
    assert.equal(json(other.stdout).image, "25.02.2601", "each tray runs its own version");

    const firmware = await exec(endpoint, "nv show system firmware");
    assert.match(firmware.stdout, /^Name\s+actual-firmware\s+installed-firmware\s+part-number$/m);
    assert.match(firmware.stdout, /^ASIC\s+35\.2502\.2553\s+35\.2502\.2553\s+/m);
    const firmwareJson = json((await exec(endpoint, "nv show system firmware --output json")).stdout);
    assert.deepEqual(Object.keys(firmwareJson), ["ASIC", "BIOS", "CPLD1", "SSD"]);
  });

  test("unknown commands are answered like a shell: an error line on stderr and a non-zero status", async () => {
    const endpoint = tray.nvosEndpoint();
    const unknownPath = await exec(endpoint, "nv show system bogus");
    assert.deepEqual(unknownPath, {
      stdout: "",
      stderr: "Error: Invalid Command: nv show system bogus\n",
      code: 1,
    });
    const notNv = await exec(endpoint, "reboot now");
    assert.deepEqual(notNv, { stdout: "", stderr: "-bash: reboot: command not found\n", code: 127 });
    const format = await exec(endpoint, "nv show system -o yaml");
    assert.equal(format.code, 1);
    assert.match(format.stderr, /Invalid output format 'yaml'/);
    const missing = await exec(endpoint, "nv action install system image files nothing.bin force");
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Action failed: File 'nothing\.bin' not found/);
  });

  test("password login only, with the host key generated at start", async () => {
    const seen: { fingerprint?: string } = {};
    const client = await connect(tray.nvosEndpoint(), seen);
    client.end();
    assert.equal(seen.fingerprint, tray.hostKeyFingerprint);
    assert.notEqual(lab.trays[1]?.hostKeyFingerprint, tray.hostKeyFingerprint, "each switch has its own key");
    assert.equal(await connectFailure(tray.nvosEndpoint({ password: "wrong" })), "client-authentication");
    assert.equal(await connectFailure(tray.nvosEndpoint({ username: "root" })), "client-authentication");
  });

  test("an interactive shell has a prompt, echoes input and runs commands until exit", async () => {
    const client = await connect(tray.nvosEndpoint());
    try {
      const transcript = await new Promise<string>((resolve, reject) => {
        client.shell({ term: "xterm", cols: 120, rows: 40 }, (error, channel) => {
          if (error !== undefined) {
            reject(error);
            return;
          }
          let output = "";
          let step = 0;
          const script = ["nv show system version\r", "nv bogus\r", "exit\r"];
          channel.on("data", (chunk: Buffer) => {
            output += chunk.toString("utf8");
            // Type the next line each time a fresh prompt appears.
            const prompts = output.split(`${tray.sshCredentials.username}@nvsw-tray-0:~$ `).length - 1;
            while (step < prompts && step < script.length) channel.write(script[step++]);
          });
          channel.on("close", () => resolve(output));
        });
      });
      assert.match(transcript, /^Welcome to NVOS 25\.02\.2553/);
      assert.match(transcript, /:~\$ nv show system version\r\n/);
      assert.match(transcript, /image\s+25\.02\.2553\r\n/);
      assert.match(transcript, /Error: Invalid Command: nv bogus\r\n/);
      assert.match(transcript, /logout\r\n$/);
    } finally {
      client.end();
    }
  });

  test("an image install shows progress, reboots the switch (SSH refused meanwhile) and comes back on the new version", async () => {
    const endpoint = tray.nvosEndpoint();
    const fetched = await exec(
      endpoint,
      "nv action fetch system image https://images.example/nvos-amd64-25.02.2601.bin",
    );
    assert.equal(fetched.code, 0);
    assert.match(fetched.stdout, /Action succeeded/);
    assert.deepEqual(tray.state().files, ["nvos-amd64-25.02.2601.bin"]);

    const declined = await exec(
      endpoint,
      "nv action install system image files nvos-amd64-25.02.2601.bin",
      "n\n",
    );
    assert.equal(declined.code, 1);
    assert.match(declined.stdout, /Are you sure\? \[y\/N\] Action canceled\./);
    assert.deepEqual(
      tray
        .state()
        .actions.filter((action) => action.command.includes("install"))
        .map((action) => action.command),
      ["nv action install system image files nothing.bin force"],
      "a declined install starts nothing",
    );

    const downs: string[] = [];
    const unsubscribe = tray.onNvosLifecycle((lifecycle) => downs.push(lifecycle));
    const install = await exec(
      endpoint,
      "nv action install system image files nvos-amd64-25.02.2601.bin",
      "y\n",
    );
    assert.equal(install.code, 0);
    const progress = install.stdout.split("\n").filter((line) => line.startsWith("Installing image:"));
    assert.deepEqual(progress, [
      "Installing image: 20%",
      "Installing image: 40%",
      "Installing image: 60%",
      "Installing image: 80%",
      "Installing image: 100%",
    ]);
    assert.match(install.stdout, /Image installed: 25\.02\.2601\nThe system will reboot/);
    assert.equal(tray.state().version, "25.02.2553", "the new image runs only after the reboot");
    assert.equal(tray.state().nextVersion, "25.02.2601");

    await tray.waitForNvos("booting", 5_000);
    assert.equal(await connectFailure(endpoint), "ECONNREFUSED");
    await tray.waitForNvos("up", 5_000);
    unsubscribe();
    assert.deepEqual(downs, ["down", "booting", "up"]);
    const version = json((await exec(endpoint, "nv show system version -o json")).stdout);
    assert.equal(version.image, "25.02.2601");
    assert.equal(tray.state().asicFirmware, "35.2502.2601");
    assert.deepEqual(
      json((await exec(endpoint, "nv show action -o json")).stdout),
      {},
      "actions do not survive a reboot",
    );
    const image = json((await exec(endpoint, "nv show system image -o json")).stdout);
    assert.deepEqual(image, {
      current: "25.02.2601",
      next: "25.02.2601",
      partition1: { image: "25.02.2553" },
      partition2: { image: "25.02.2601" },
    });
  });

  test("a corrupt image fails verification; the switch keeps running its version", async () => {
    const other = lab.trays[1] as LabNvSwitchTray;
    const endpoint = other.nvosEndpoint();
    await exec(endpoint, "nv action fetch system image https://images.example/nvos-corrupt-25.03.0001.bin");
    const install = await exec(
      endpoint,
      "nv action install system image files nvos-corrupt-25.03.0001.bin force",
    );
    assert.equal(install.code, 1);
    assert.match(install.stderr, /Action failed: image verification failed/);
    const actions = json((await exec(endpoint, "nv show action -o json")).stdout);
    const last = Object.values(actions).at(-1) as Record<string, unknown>;
    assert.equal(last.state, "action_fail");
    assert.equal(other.state().nvos, "up");
    assert.equal(other.state().version, "25.02.2601");
    const badUrl = await exec(endpoint, "nv action fetch system image not-a-url");
    assert.equal(badUrl.code, 1);
    assert.match(badUrl.stderr, /Invalid remote URL/);
  });
});

describe("simulated NVSwitch tray: its BMC", () => {
  const redfish = (path: string, method: "GET" | "POST" = "GET", body?: unknown) =>
    call({ url: tray.bmc.url, ca: tls.caCert }, method, path, {
      auth: tray.bmc.credentials,
      ...(body !== undefined ? { body } : {}),
    });

  test("is a Redfish BMC with the tray's identity and firmware inventory", async () => {
    const system = await redfish("/redfish/v1/Systems/system");
    assert.equal(system.body.Manufacturer, "NVIDIA");
    assert.equal(system.body.Model, "NVLink Switch Tray");
    assert.match(String(system.body.SerialNumber), /^NVSW/);
    const inventory = await redfish("/redfish/v1/UpdateService/FirmwareInventory");
    assert.deepEqual(
      (inventory.body.Members as Array<{ "@odata.id": string }>).map((member) =>
        member["@odata.id"].split("/").pop(),
      ),
      ["FW_BMC_0", "FW_CPLD_0", "FW_ERoT_BMC_0"],
    );
    const update = await redfish("/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate", "POST", {
      ImageURI: "https://images.example/switch-bmc-25.04-2.tar",
    });
    assert.equal(update.status, 202);
    await eventually(async () => {
      const bmcFirmware = await redfish("/redfish/v1/UpdateService/FirmwareInventory/FW_BMC_0");
      return bmcFirmware.body.Version === "25.04" ? true : undefined;
    });
  });

  test("power off through the BMC takes NVOS down (SSH refused); power on boots it again", async () => {
    const reset = (type: string) =>
      redfish("/redfish/v1/Systems/system/Actions/ComputerSystem.Reset", "POST", { ResetType: type });
    assert.equal((await reset("ForceOff")).status, 204);
    await tray.waitForNvos("down", 5_000);
    assert.equal(await connectFailure(tray.nvosEndpoint()), "ECONNREFUSED");
    await eventually(async () => (tray.bmc.state().powerState === "Off" ? true : undefined));
    assert.equal((await reset("On")).status, 204);
    assert.equal(tray.state().nvos, "down", "the OS boots only once the tray is on");
    await tray.waitForNvos("up", 5_000);
    assert.equal(await connectFailure(tray.nvosEndpoint()), "connected");

    assert.equal((await reset("ForceRestart")).status, 204);
    await tray.waitForNvos("booting", 5_000);
    await tray.waitForNvos("up", 5_000);
  });
});
