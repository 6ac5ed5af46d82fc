/**
 * How the driver runs ipmitool, checked with a stand-in ipmitool (a shell script that records its
 * arguments and environment and answers as told): timeouts, kills, retries, credentials handling.
 */
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { BmcError } from "../../../src/bmc/driver.ts";
import { createIpmiDriver, type IpmiDriverOptions } from "../../../src/bmc/ipmi/driver.ts";
import { eventually } from "../../helpers/app.ts";

const PASSWORD = "s3cret-Pa55word";
const CHASSIS_ON = "System Power         : on\\nPower Overload       : false\\n";
const SESSION_FAILED = "Error: Unable to establish IPMI v2 / RMCP+ session";

const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

interface Fake {
  readonly path: string;
  calls(): string[];
  env(call: number): Map<string, string>;
  pid(call: number): number;
  started(call: number): boolean;
}

/** A fake ipmitool; `behaviour` is shell run with $n (call number) and "$*" (arguments) set. */
function fakeIpmitool(behaviour: string): Fake {
  const dir = mkdtempSync(path.join(tmpdir(), "ingot-fake-ipmitool-"));
  roots.push(dir);
  const script = path.join(dir, "ipmitool");
  writeFileSync(
    script,
    `#!/bin/sh
dir='${dir}'
n=$(cat "$dir/count" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$dir/count"
printf '%s\\n' "$*" >> "$dir/argv"
env > "$dir/env.$n"
echo $$ > "$dir/pid.$n.tmp" && mv "$dir/pid.$n.tmp" "$dir/pid.$n"
${behaviour}
`,
  );
  chmodSync(script, 0o755);
  return {
    path: script,
    calls: () =>
      existsSync(path.join(dir, "argv"))
        ? readFileSync(path.join(dir, "argv"), "utf8").trim().split("\n")
        : [],
    env: (call) =>
      new Map(
        readFileSync(path.join(dir, `env.${call}`), "utf8")
          .trim()
          .split("\n")
          .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
      ),
    pid: (call) => Number(readFileSync(path.join(dir, `pid.${call}`), "utf8")),
    started: (call) => existsSync(path.join(dir, `pid.${call}`)),
  };
}

function driverFor(fake: Fake, options: IpmiDriverOptions = {}, timeoutMs = 10_000) {
  return createIpmiDriver(
    { address: "192.0.2.10", port: 6230, username: "operator", password: PASSWORD, timeoutMs },
    { ipmitoolPath: fake.path, backoffMs: 10, ...options },
  );
}

function kindOf(error: unknown): string {
  return error instanceof BmcError ? error.kind : `not a BmcError: ${String(error)}`;
}

const signal = (): AbortSignal => AbortSignal.timeout(30_000);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("running ipmitool", () => {
  it("passes the password in the environment, never on the command line, and nothing else of ours", async () => {
    const fake = fakeIpmitool(`printf '${CHASSIS_ON}'`);
    assert.equal(await driverFor(fake).getPowerState(signal()), "on");
    const [argv] = fake.calls();
    assert.ok(argv !== undefined && !argv.includes(PASSWORD), "no password in argv");
    assert.match(
      argv,
      /^-I lanplus -H 192\.0\.2\.10 -p 6230 -U operator -E -C 3 -L ADMINISTRATOR .* chassis status$/,
    );
    const env = fake.env(1);
    assert.equal(env.get("IPMI_PASSWORD"), PASSWORD);
    assert.equal(env.get("TZ"), "UTC");
    assert.equal(env.get("INGOT_TEST_ADMIN_URL"), undefined, "the server's environment is not handed down");
    assert.equal(env.get("HOME"), undefined);
  });

  it("kills ipmitool when the call's deadline passes", async () => {
    const fake = fakeIpmitool("exec sleep 60");
    await assert.rejects(driverFor(fake, {}, 500).getPowerState(signal()), (e) => kindOf(e) === "timeout");
    const pid = fake.pid(1);
    await eventually(async () => (alive(pid) ? undefined : true), { what: "the killed ipmitool to be gone" });
  });

  it("kills ipmitool when the caller aborts", async () => {
    const fake = fakeIpmitool("exec sleep 60");
    const controller = new AbortController();
    const pending = driverFor(fake).getSensors(controller.signal);
    await eventually(async () => (fake.started(1) ? true : undefined), { what: "ipmitool to start" });
    controller.abort(new Error("cancelled"));
    await assert.rejects(pending, /cancelled/);
    const pid = fake.pid(1);
    await eventually(async () => (alive(pid) ? undefined : true), {
      what: "the aborted ipmitool to be gone",
    });
  });

  it("asks once more in verbose mode when no session came up, and retries a transient failure", async () => {
    const fake = fakeIpmitool(`
case "$*" in
  *" -v raw 0x06 0x01") echo " 20 01 02 61"; exit 0 ;;
esac
if [ "$n" = 1 ]; then echo "${SESSION_FAILED}" >&2; exit 1; fi
printf '${CHASSIS_ON}'`);
    assert.equal(await driverFor(fake).getPowerState(signal()), "on");
    const calls = fake.calls();
    assert.equal(calls.length, 3);
    assert.match(calls[1] ?? "", / -v raw 0x06 0x01$/);
  });

  it("reports bad credentials without retrying, so the BMC does not lock the account", async () => {
    const fake = fakeIpmitool(`
case "$*" in
  *" -v raw 0x06 0x01") printf 'Loading IANA PEN Registry...\\n> RAKP 2 HMAC is invalid\\n${SESSION_FAILED}\\n' >&2; exit 1 ;;
esac
echo "${SESSION_FAILED}" >&2; exit 1`);
    await assert.rejects(driverFor(fake).getPowerState(signal()), (e) => kindOf(e) === "auth");
    assert.equal(fake.calls().length, 2);
  });

  it("gives up as unreachable after its attempts when the BMC never answers", async () => {
    const fake = fakeIpmitool(`
case "$*" in
  *" -v raw 0x06 0x01") printf 'Get Auth Capabilities error\\nError issuing Get Channel Authentication Capabilities request\\n' >&2; exit 1 ;;
esac
echo "${SESSION_FAILED}" >&2; exit 1`);
    await assert.rejects(
      driverFor(fake, { attempts: 3 }).getPowerState(signal()),
      (e) => kindOf(e) === "unreachable",
    );
    assert.equal(fake.calls().length, 4, "three tries and one probe");
  });

  it("retries a read after no response, but never repeats a reset the BMC may already have done", async () => {
    const flaky = fakeIpmitool(`
if [ "$n" = 1 ]; then echo "No response from remote controller" >&2; exit 1; fi
printf '${CHASSIS_ON}'`);
    assert.equal(await driverFor(flaky).getPowerState(signal()), "on");
    assert.equal(flaky.calls().length, 2);

    const reset = fakeIpmitool(`
case "$*" in
  *"chassis status") printf '${CHASSIS_ON}' ;;
  *"power reset") echo "No response from remote controller" >&2; exit 1 ;;
esac`);
    await assert.rejects(
      driverFor(reset).setPower("force-restart", signal()),
      (e) => kindOf(e) === "rejected",
    );
    assert.equal(reset.calls().filter((c) => c.endsWith("chassis power reset")).length, 1);
  });

  it("treats a failure printed with exit code 0 as a refusal, and nonsense output as a protocol error", async () => {
    const refusing = fakeIpmitool(
      `echo "Set Chassis Boot Parameter 5 failed: Unspecified error" >&2; exit 0`,
    );
    await assert.rejects(
      driverFor(refusing).setBootOverride({ device: "pxe", persistence: "once", mode: "legacy" }, signal()),
      (e) => kindOf(e) === "rejected" && /Boot Parameter 5 failed/.test((e as Error).message),
    );
    const garbled = fakeIpmitool(`echo "something else entirely"`);
    await assert.rejects(driverFor(garbled).getPowerState(signal()), (e) => kindOf(e) === "protocol");
  });

  it("says so when ipmitool cannot be run", async () => {
    const driver = createIpmiDriver(
      { address: "192.0.2.10", username: "u", password: "p" },
      { ipmitoolPath: "/nonexistent/ipmitool" },
    );
    await assert.rejects(
      driver.getPowerState(signal()),
      (e) => kindOf(e) === "protocol" && /cannot run/.test((e as Error).message),
    );
  });
});
