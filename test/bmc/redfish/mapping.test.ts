import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseBootOverride, planBootPatch } from "../../../src/bmc/redfish/boot.ts";
import { normalizeMac, parseDrive, pickBmcMac } from "../../../src/bmc/redfish/inventory.ts";
import { normalizePath } from "../../../src/bmc/redfish/json.ts";
import { planPowerAction } from "../../../src/bmc/redfish/power.ts";
import { parseLegacyPower, parseSensor } from "../../../src/bmc/redfish/sensors.ts";
import { newestFirst, parseTask, transferProtocolFor } from "../../../src/bmc/redfish/tasks.ts";
import { normalizeFingerprint } from "../../../src/bmc/redfish/tls.ts";
import { parseRetryAfter, redfishErrorMessage } from "../../../src/bmc/redfish/transport.ts";

const ILO_RESETS = [
  "On",
  "ForceOff",
  "GracefulShutdown",
  "ForceRestart",
  "Nmi",
  "PushPowerButton",
  "GracefulRestart",
];
const BMCWEB_RESETS = [
  "On",
  "ForceOff",
  "ForceOn",
  "ForceRestart",
  "GracefulRestart",
  "GracefulShutdown",
  "PowerCycle",
];

describe("power action planning", () => {
  test("cycle uses PowerCycle where offered and ForceOff then On where not", () => {
    assert.deepEqual(planPowerAction("cycle", "on", BMCWEB_RESETS), {
      kind: "reset",
      resetType: "PowerCycle",
    });
    assert.deepEqual(planPowerAction("cycle", "on", ILO_RESETS), {
      kind: "off-then-on",
      off: "ForceOff",
      on: "On",
    });
  });

  test("says unsupported, naming what the BMC offers, when no reset can do it", () => {
    const plan = planPowerAction("cycle", "on", ["On", "GracefulShutdown"]);
    assert.equal(plan.kind, "unsupported");
    assert.match(plan.kind === "unsupported" ? plan.reason : "", /On, GracefulShutdown/);
    assert.equal(planPowerAction("graceful-restart", "on", ["On", "ForceOff"]).kind, "unsupported");
  });

  test("does nothing for a machine already in the requested state", () => {
    assert.deepEqual(planPowerAction("on", "on", ILO_RESETS), { kind: "none" });
    assert.deepEqual(planPowerAction("off", "off", ILO_RESETS), { kind: "none" });
    assert.deepEqual(planPowerAction("graceful-shutdown", "off", ILO_RESETS), { kind: "none" });
  });

  test("a restart of a machine that is off powers it on", () => {
    assert.deepEqual(planPowerAction("force-restart", "off", ILO_RESETS), { kind: "reset", resetType: "On" });
    assert.deepEqual(planPowerAction("cycle", "off", ["ForceOn", "ForceOff"]), {
      kind: "reset",
      resetType: "ForceOn",
    });
  });

  test("PushPowerButton is an on only when the machine is known to be off", () => {
    assert.deepEqual(planPowerAction("on", "off", ["PushPowerButton"]), {
      kind: "reset",
      resetType: "PushPowerButton",
    });
    assert.equal(planPowerAction("on", "unknown", ["PushPowerButton"]).kind, "unsupported");
  });

  test("without advertised values the standard reset is tried", () => {
    assert.deepEqual(planPowerAction("force-off", "on", undefined), { kind: "reset", resetType: "ForceOff" });
  });
});

describe("boot override PATCH", () => {
  const boot = {
    BootSourceOverrideEnabled: "Disabled",
    BootSourceOverrideTarget: "None",
    BootSourceOverrideMode: "UEFI",
    "BootSourceOverrideTarget@Redfish.AllowableValues": ["None", "Pxe", "Hdd"],
  };

  test("sends Enabled, Target and the current Mode together", () => {
    assert.deepEqual(planBootPatch({ device: "pxe", persistence: "once" }, boot), {
      kind: "patch",
      body: {
        Boot: {
          BootSourceOverrideEnabled: "Once",
          BootSourceOverrideTarget: "Pxe",
          BootSourceOverrideMode: "UEFI",
        },
      },
    });
  });

  test("omits Mode when the BMC has no such property and refuses to set one", () => {
    const { BootSourceOverrideMode: _mode, ...noMode } = boot;
    const plan = planBootPatch({ device: "disk", persistence: "continuous" }, noMode);
    assert.deepEqual(plan, {
      kind: "patch",
      body: { Boot: { BootSourceOverrideEnabled: "Continuous", BootSourceOverrideTarget: "Hdd" } },
    });
    assert.equal(
      planBootPatch({ device: "disk", persistence: "once", mode: "uefi" }, noMode).kind,
      "unsupported",
    );
  });

  test("refuses a target outside the advertised values", () => {
    const plan = planBootPatch({ device: "http", persistence: "once" }, boot);
    assert.equal(plan.kind, "unsupported");
    assert.match(plan.kind === "unsupported" ? plan.reason : "", /UefiHttp.*None, Pxe, Hdd/);
  });

  test("reads the override back in driver terms", () => {
    assert.deepEqual(
      parseBootOverride({
        BootSourceOverrideEnabled: "Continuous",
        BootSourceOverrideTarget: "UefiHttp",
        BootSourceOverrideMode: "Legacy",
      }),
      { device: "http", persistence: "continuous", mode: "legacy" },
    );
    assert.deepEqual(parseBootOverride({ BootSourceOverrideTarget: "UefiShell" }), {
      device: "other",
      persistence: "disabled",
      mode: "unknown",
    });
  });
});

describe("document parsing", () => {
  test("normalises links with trailing slashes, fragments and origins", () => {
    assert.equal(normalizePath("/redfish/v1/SessionService/"), "/redfish/v1/SessionService");
    assert.equal(normalizePath("/redfish/v1/Chassis/1/Power#PowerControl/0"), "/redfish/v1/Chassis/1/Power");
    assert.equal(
      normalizePath("https://10.0.0.5/redfish/v1/TaskService/Tasks/3"),
      "/redfish/v1/TaskService/Tasks/3",
    );
  });

  test("MACs are normalised and placeholder addresses dropped", () => {
    assert.equal(normalizeMac("94:40:C9:37:D3:FC"), "94:40:c9:37:d3:fc");
    assert.equal(normalizeMac("9440-c937-d3fc"), "94:40:c9:37:d3:fc");
    assert.equal(normalizeMac("00:00:00:00:00:00"), undefined);
    assert.equal(normalizeMac("N/A"), undefined);
  });

  test("the BMC MAC skips disabled and host-facing interfaces", () => {
    assert.equal(
      pickBmcMac([
        { MACAddress: "0A:CA:FE:F0:0D:04", Links: { HostInterface: { "@odata.id": "/x" } } },
        { MACAddress: "94:40:C9:37:D3:FD", InterfaceEnabled: false },
        { MACAddress: "94:40:C9:37:D3:FC", InterfaceEnabled: true },
      ]),
      "94:40:c9:37:d3:fc",
    );
  });

  test("drives: NVMe by protocol, absent bays skipped", () => {
    assert.deepEqual(parseDrive({ Model: "X", MediaType: "SSD", Protocol: "NVMe", CapacityBytes: 10 }), {
      model: "X",
      sizeBytes: 10,
      mediaType: "nvme",
    });
    assert.equal(parseDrive({ Status: { State: "Absent" } }), undefined);
  });

  test("Sensor resources map their reading type and UCUM units", () => {
    assert.deepEqual(
      parseSensor({
        Name: "CPU0 Temp",
        Reading: 41.5,
        ReadingType: "Temperature",
        ReadingUnits: "Cel",
        Status: { Health: "OK" },
      }),
      { name: "CPU0 Temp", kind: "temperature", value: 41.5, unit: "°C", health: "ok" },
    );
    assert.equal(parseSensor({ Name: "Fan", ReadingType: "Rotational", Reading: null })?.value, null);
  });

  test("legacy power supplies with identical names are told apart", () => {
    const { powerSupplies } = parseLegacyPower({
      PowerSupplies: [
        { Name: "HpeServerPowerSupply", Status: { Health: "OK" } },
        { Name: "HpeServerPowerSupply", Status: { Health: "Critical" } },
      ],
    });
    assert.deepEqual(
      powerSupplies.map((supply) => [supply.name, supply.health]),
      [
        ["HpeServerPowerSupply 1", "ok"],
        ["HpeServerPowerSupply 2", "critical"],
      ],
    );
  });

  test("tasks: Completed with a Critical status is a failure", () => {
    assert.equal(parseTask({ TaskState: "Completed", TaskStatus: "Critical" }).state, "failed");
    assert.deepEqual(
      parseTask({ TaskState: "Running", PercentComplete: 40, Messages: [{ Message: "flashing" }] }),
      {
        state: "running",
        percent: 40,
        messages: ["flashing"],
      },
    );
  });

  test("log entries sort newest first, undated ones last", () => {
    const sorted = newestFirst([
      { id: "a", created: "2021-01-01T00:00:00Z", severity: "ok", message: "old" },
      { id: "b", severity: "ok", message: "undated" },
      { id: "c", created: "2022-01-01T00:00:00Z", severity: "ok", message: "new" },
    ]);
    assert.deepEqual(
      sorted.map((entry) => entry.id),
      ["c", "a", "b"],
    );
  });

  test("transfer protocol, Retry-After, fingerprints and error messages", () => {
    assert.equal(transferProtocolFor("https://repo/fw.bin"), "HTTPS");
    assert.equal(transferProtocolFor("/local/fw.bin"), undefined);
    assert.equal(parseRetryAfter("3"), 3000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
    assert.equal(parseRetryAfter("soon"), undefined);
    assert.equal(normalizeFingerprint("AB:cd:01"), "abcd01");
    assert.equal(normalizeFingerprint("sha256/ABCD01"), "abcd01");
    assert.equal(
      redfishErrorMessage({
        error: {
          message: "x",
          "@Message.ExtendedInfo": [{ MessageId: "Base.1.8.PropertyUnknown", Message: "bad" }],
        },
      }),
      "Base.1.8.PropertyUnknown: bad",
    );
  });
});
