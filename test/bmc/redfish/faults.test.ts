import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { before, describe, type TestContext, test } from "node:test";
import {
  createLabTls,
  type LabTlsMaterial,
  type RedfishLabBmc,
  type RedfishLabOptions,
  startRedfishLab,
} from "../../../lab/redfish/index.ts";
import { BmcError } from "../../../src/bmc/driver.ts";
import type { RedfishDriver, RedfishDriverOptions } from "../../../src/bmc/redfish/index.ts";
import { createLogger } from "../../../src/observability/logger.ts";
import { eventually } from "../../helpers/app.ts";
import { deadline, FAST_TIMING, fastDriver, watchPower } from "./helpers.ts";

let tls: LabTlsMaterial;
before(async () => {
  tls = await createLabTls();
});

async function labBmc(
  t: TestContext,
  options: Partial<Omit<RedfishLabOptions, "machines">> = {},
): Promise<RedfishLabBmc> {
  const lab = await startRedfishLab({ machines: 1, tls, timing: FAST_TIMING, ...options });
  t.after(() => lab.stop());
  return lab.bmcs[0] as RedfishLabBmc;
}

function driverFor(t: TestContext, bmc: RedfishLabBmc, options: RedfishDriverOptions = {}): RedfishDriver {
  const driver = fastDriver(bmc.endpoint(), options);
  t.after(() => driver.close());
  return driver;
}

async function rejection(promise: Promise<unknown>): Promise<BmcError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BmcError, `expected a BmcError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the call to fail");
}

function statuses(bmc: RedfishLabBmc, method: string, urlEnd: string): Array<number | "dropped"> {
  return bmc
    .requests()
    .filter((r) => r.method === method && r.url.endsWith(urlEnd))
    .map((r) => r.status);
}

describe("Redfish driver under injected faults", () => {
  test("an answer slower than the timeout is a timeout error, not a hang", { timeout: 10_000 }, async (t) => {
    const bmc = await labBmc(t);
    const driver = driverFor(t, bmc);
    await driver.getPowerState(deadline());
    bmc.faults.setLatency(2_000);
    const slow = fastDriver(bmc.endpoint({ timeoutMs: 200 }));
    t.after(() => slow.close());
    const error = await rejection(slow.getPowerState(deadline()));
    assert.equal(error.kind, "timeout");
    assert.match(error.message, /no answer within 200 ms/);
  });

  test("the caller's AbortSignal ends a call", { timeout: 10_000 }, async (t) => {
    const bmc = await labBmc(t);
    const driver = driverFor(t, bmc);
    await driver.getPowerState(deadline());
    bmc.faults.setLatency(5_000);
    const controller = new AbortController();
    const pending = driver.getInventory(controller.signal);
    setTimeout(() => controller.abort(), 100);
    const error = await rejection(pending);
    assert.equal(error.kind, "timeout");
    assert.match(error.message, /cancelled/);
  });

  test("one caller giving up during a shared login does not fail the others that joined it", {
    timeout: 15_000,
  }, async (t) => {
    const bmc = await labBmc(t);
    const driver = driverFor(t, bmc);
    bmc.faults.setLatency(300);
    const impatient = new AbortController();
    const first = driver.getPowerState(impatient.signal);
    const second = driver.getPowerState(deadline());
    setTimeout(() => impatient.abort(), 50);
    const error = await rejection(first);
    assert.match(error.message, /cancelled by the caller/);
    assert.equal(typeof (await second), "string", "the caller that waited got its answer");
  });

  test("503 answers are retried until the BMC answers", async (t) => {
    const bmc = await labBmc(t);
    const driver = driverFor(t, bmc);
    await driver.getPowerState(deadline());
    bmc.clearRequests();
    bmc.faults.failNext(2, { status: 503 });
    assert.equal(await driver.getPowerState(deadline()), "off");
    assert.deepEqual(statuses(bmc, "GET", "/Systems/system"), [503, 503, 200]);
  });

  test("Retry-After is honoured between retries", async (t) => {
    const bmc = await labBmc(t);
    const driver = driverFor(t, bmc);
    await driver.getPowerState(deadline());
    bmc.clearRequests();
    bmc.faults.failNext(1, { status: 503, retryAfterSeconds: 1 });
    await driver.getPowerState(deadline());
    const [failed, retried] = bmc.requests();
    assert.equal(failed?.status, 503);
    assert.equal(retried?.status, 200);
    assert.ok((retried?.at ?? 0) - (failed?.at ?? 0) >= 900, "the retry waited for Retry-After");
  });

  test("a BMC that stays unavailable is reported unreachable after the bounded attempts", async (t) => {
    const bmc = await labBmc(t);
    const driver = driverFor(t, bmc);
    await driver.getPowerState(deadline());
    bmc.clearRequests();
    bmc.faults.failNext(100, { status: 503 });
    const error = await rejection(driver.getPowerState(deadline()));
    assert.equal(error.kind, "unreachable");
    assert.equal(error.status, 503);
    assert.equal(bmc.requests().length, 4, "four attempts, then give up");
  });

  test("409 right after a power-off is retried (iLO's power-cycle quirk)", async (t) => {
    const bmc = await labBmc(t, { vendor: "ilo5", initialPowerState: "On" });
    const driver = driverFor(t, bmc, { retry: { attempts: 8, baseDelayMs: 100, maxDelayMs: 800 } });
    bmc.faults.conflictAfterPowerOff(1_500);
    await driver.setPower("cycle", deadline());
    await watchPower(driver, "on");
    const resets = statuses(bmc, "POST", "/ComputerSystem.Reset");
    assert.equal(resets[0], 200, "ForceOff accepted");
    assert.ok(resets.includes(409), "On was refused right after the power-off");
    assert.equal(resets.at(-1), 200, "and accepted on a retry");
    assert.equal(bmc.state().bootCount, 1);
  });

  test("a dropped connection is retried", async (t) => {
    const bmc = await labBmc(t);
    const driver = driverFor(t, bmc);
    await driver.getPowerState(deadline());
    bmc.clearRequests();
    bmc.faults.dropNext(1);
    assert.equal(await driver.getPowerState(deadline()), "off");
    assert.deepEqual(statuses(bmc, "GET", "/Systems/system"), ["dropped", 200]);
  });

  test("connections that keep dropping end as unreachable", async (t) => {
    const bmc = await labBmc(t);
    const driver = driverFor(t, bmc);
    await driver.getPowerState(deadline());
    bmc.clearRequests();
    bmc.faults.dropAll(true);
    const error = await rejection(driver.getPowerState(deadline()));
    assert.equal(error.kind, "unreachable");
    assert.match(error.message, /dropped/);
    assert.equal(bmc.requests().length, 4);
  });

  test("a dropped reset that is not safe to repeat is not re-sent", async (t) => {
    const bmc = await labBmc(t, { initialPowerState: "On" });
    const driver = driverFor(t, bmc);
    bmc.faults.dropNext(1, { method: "POST", path: "ComputerSystem.Reset" });
    const error = await rejection(driver.setPower("cycle", deadline()));
    assert.equal(error.kind, "unreachable");
    assert.deepEqual(statuses(bmc, "POST", "/ComputerSystem.Reset"), ["dropped"]);
    assert.equal(bmc.state().powerState, "On", "a PowerCycle may have happened once, never twice");
  });

  test("a dropped power-on is re-sent: On twice is still on", async (t) => {
    const bmc = await labBmc(t);
    const driver = driverFor(t, bmc);
    bmc.faults.dropNext(1, { method: "POST", path: "ComputerSystem.Reset" });
    await driver.setPower("on", deadline());
    assert.deepEqual(statuses(bmc, "POST", "/ComputerSystem.Reset"), ["dropped", 204]);
    await watchPower(driver, "on");
  });

  test("a stale ETag is read again and the PATCH retried", async (t) => {
    const bmc = await labBmc(t, { vendor: "ilo5" });
    const driver = driverFor(t, bmc);
    await driver.getPowerState(deadline());
    bmc.clearRequests();
    bmc.faults.staleEtagOnce();
    await driver.setBootOverride({ device: "pxe", persistence: "once" }, deadline());
    assert.deepEqual(
      bmc
        .requests()
        .filter((r) => r.url.endsWith("/Systems/1"))
        .map((r) => `${r.method} ${r.status}`),
      ["GET 200", "PATCH 412", "GET 200", "PATCH 200"],
    );
    assert.equal(bmc.state().bootOverride.target, "Pxe");
  });

  test("an answer that is not JSON is a protocol error", async (t) => {
    const bmc = await labBmc(t);
    const driver = driverFor(t, bmc);
    await driver.getPowerState(deadline());
    bmc.faults.garbageNext(1, { path: "/Systems/system" });
    const error = await rejection(driver.getPowerState(deadline()));
    assert.equal(error.kind, "protocol");
    assert.equal(await driver.getPowerState(deadline()), "off");
  });

  test("a 503 on one inventory section leaves that section out", async (t) => {
    const bmc = await labBmc(t, { vendor: "openbmc", initialPowerState: "On" });
    const driver = driverFor(t, bmc);
    await driver.getPowerState(deadline());
    bmc.faults.failNext(50, { status: 500, match: { path: "/Storage" } });
    const inventory = await driver.getInventory(deadline());
    assert.deepEqual(inventory.drives, []);
    assert.equal(inventory.serial, bmc.identity.serial);
    assert.equal(inventory.cpus.length, 2);
  });

  test("credentials and session tokens never reach errors or logs", async (t) => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString("utf8"));
        done();
      },
    });
    const logger = createLogger("trace", sink);
    const bmc = await labBmc(t);
    const driver = driverFor(t, bmc, { logger });
    await driver.getPowerState(deadline());
    bmc.expireSessions();
    bmc.faults.failNext(2, { status: 503 });
    await driver.getPowerState(deadline());
    bmc.faults.dropAll(true);
    const failure = await rejection(driver.getInventory(deadline()));
    bmc.faults.clear();
    const wrong = fastDriver(bmc.endpoint({ password: "not-the-password-123" }), { logger });
    t.after(() => wrong.close());
    const denied = await rejection(wrong.getPowerState(deadline()));
    await eventually(async () => (lines.length > 0 ? true : undefined), { what: "log lines" });
    const text = [...lines, failure.message, denied.message].join("\n");
    assert.ok(!text.includes(bmc.credentials.password));
    assert.ok(!text.includes("not-the-password-123"));
    assert.ok(!text.includes(Buffer.from(`admin:${bmc.credentials.password}`).toString("base64")));
    assert.ok(!/[0-9a-f]{48}/.test(text), "no session token (the lab's are 48 hex digits)");
    assert.ok(text.includes("retrying"), "the retries were logged");
  });
});
