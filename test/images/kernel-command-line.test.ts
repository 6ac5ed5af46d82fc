import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { agentKernelCommandLine } from "../../src/images/agent-image.ts";

describe("agent kernel command line", () => {
  it("puts the serial console last, so /dev/console is the serial port", () => {
    const words = agentKernelCommandLine().split(" ");
    const consoles = words.filter((word) => word.startsWith("console="));
    assert.equal(consoles.at(-1), "console=ttyS0,115200n8");
    assert.equal(
      agentKernelCommandLine({ serialConsole: "ttyS1,57600" })
        .split(" ")
        .filter((w) => w.startsWith("console="))
        .at(-1),
      "console=ttyS1,57600",
    );
  });

  it("carries the boot NIC's MAC, the clock and further parameters", () => {
    const line = agentKernelCommandLine({
      mac: "52:54:00:AB:CD:EF",
      time: new Date("2030-01-02T03:04:05.678Z"),
      params: { "ingot.server": "http://10.0.2.2:8080", token: "abc" },
    });
    const words = line.split(" ");
    assert.ok(words.includes("ingot.mac=52:54:00:ab:cd:ef"));
    assert.ok(words.includes(`ingot.time=${Date.UTC(2030, 0, 2, 3, 4, 5) / 1000}`));
    assert.ok(words.includes("ingot.server=http://10.0.2.2:8080"));
    assert.ok(words.includes("token=abc"));
  });

  it("refuses what would break the command line", () => {
    assert.throws(() => agentKernelCommandLine({ mac: "52:54:00:ab:cd" }), /invalid MAC/);
    assert.throws(() => agentKernelCommandLine({ params: { "ingot.x": "two words" } }), /spaces or quotes/);
    assert.throws(() => agentKernelCommandLine({ params: { "bad key": "x" } }), /spaces or quotes/);
  });
});
