import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  createLabTls,
  type LabTlsMaterial,
  type RedfishLab,
  startRedfishLab,
} from "../../lab/redfish/index.ts";
import { BmcConnections } from "../../src/bmc/connections.ts";
import { type BmcDriver, BmcError, type BmcErrorKind, type PowerState } from "../../src/bmc/driver.ts";
import { type BmcTarget, bmcDriverFactory, createBmcDriver } from "../../src/bmc/driver-factory.ts";
import { bmcFailure } from "../../src/bmc/failures.ts";
import { toProblem } from "../../src/http/problem.ts";

const FAST_RETRY = { attempts: 3, baseDelayMs: 20, maxDelayMs: 100, maxRetryAfterMs: 500 };

async function failure(promise: Promise<unknown>): Promise<BmcError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BmcError, `expected a BmcError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the call to fail");
}

/** A driver whose power reads never answer and ignore their signal: what the deadline must defeat. */
class DeafDriver implements BmcDriver {
  readonly protocol = "redfish" as const;
  closed = 0;
  getPowerState(): Promise<PowerState> {
    return new Promise(() => undefined);
  }
  setPower(): Promise<void> {
    return Promise.resolve();
  }
  getBootOverride(): never {
    throw new Error("not used");
  }
  setBootOverride(): never {
    throw new Error("not used");
  }
  getInventory(): never {
    throw new Error("not used");
  }
  getSensors(): never {
    throw new Error("not used");
  }
  getLogEntries(): never {
    throw new Error("not used");
  }
  startFirmwareUpdate(): never {
    throw new Error("not used");
  }
  getFirmwareUpdateStatus(): never {
    throw new Error("not used");
  }
  async close(): Promise<void> {
    this.closed++;
  }
}

describe("BMC driver factory", () => {
  let tls: LabTlsMaterial;
  let lab: RedfishLab;
  before(async () => {
    tls = await createLabTls();
    lab = await startRedfishLab({ machines: 2, tls });
  });
  after(async () => {
    await lab.stop();
  });

  function target(index: number, overrides: Partial<BmcTarget["endpoint"]> = {}): BmcTarget {
    const bmc = lab.bmcs[index];
    assert.ok(bmc);
    return { protocol: "redfish", endpoint: bmc.endpoint(overrides) };
  }

  it("builds the driver of the BMC's protocol", async () => {
    const redfish = createBmcDriver(target(0));
    const ipmi = createBmcDriver({
      protocol: "ipmi",
      endpoint: { address: "127.0.0.1", port: 623, username: "u", password: "p" },
    });
    try {
      assert.equal(redfish.protocol, "redfish");
      assert.equal(ipmi.protocol, "ipmi");
      assert.equal(await redfish.getPowerState(AbortSignal.timeout(10_000)), "off");
    } finally {
      await redfish.close();
      await ipmi.close();
    }
  });

  it("gives every request the configured timeout when the endpoint sets none", async () => {
    const bmc = lab.bmcs[1];
    assert.ok(bmc);
    bmc.faults.setLatency(2_000);
    const driver = createBmcDriver(target(1), { requestTimeoutMs: 150, redfish: { retry: FAST_RETRY } });
    try {
      const started = Date.now();
      const error = await failure(driver.getPowerState(AbortSignal.timeout(30_000)));
      assert.equal(error.kind, "timeout");
      assert.match(error.message, /within 150 ms/);
      assert.ok(Date.now() - started < 2_000, "the request was not cut at its timeout");
    } finally {
      bmc.faults.clear();
      await driver.close();
    }
  });
});

describe("BMC connections", () => {
  let tls: LabTlsMaterial;
  let lab: RedfishLab;
  before(async () => {
    tls = await createLabTls();
    lab = await startRedfishLab({ machines: 2, tls });
  });
  after(async () => {
    await lab.stop();
  });

  function target(index: number, overrides: Partial<BmcTarget["endpoint"]> = {}): BmcTarget {
    const bmc = lab.bmcs[index];
    assert.ok(bmc);
    return { protocol: "redfish", endpoint: bmc.endpoint(overrides) };
  }

  function sessions(index: number): number {
    return lab.bmcs[index]?.state().sessions ?? -1;
  }

  const readPower = (driver: BmcDriver, signal: AbortSignal): Promise<PowerState> =>
    driver.getPowerState(signal);

  it("reuses one driver, and so one Redfish session, for calls to the same BMC", async () => {
    const connections = new BmcConnections({ factory: bmcDriverFactory() });
    try {
      assert.equal(await connections.use(target(0), "read power", readPower), "off");
      // The same policy read back from jsonb comes with its keys in another order.
      const reordered = { ca: lab.tls.caCert, mode: "verify" as const };
      assert.equal(await connections.use(target(0, { tls: reordered }), "read power", readPower), "off");
      await Promise.all([
        connections.use(target(0), "read power", readPower),
        connections.use(target(0), "read power", readPower),
      ]);
      assert.equal(connections.openCount, 1);
      assert.equal(sessions(0), 1);
      const logins = lab.bmcs[0]?.requests().filter((r) => r.method === "POST" && /Sessions$/.test(r.url));
      assert.equal(logins?.length, 1);
    } finally {
      await connections.close();
    }
    assert.equal(sessions(0), 0, "closing deletes the session");
  });

  it("opens a new driver when the password changes, and drops one whose credentials are refused", async () => {
    const connections = new BmcConnections({ factory: bmcDriverFactory({ redfish: { retry: FAST_RETRY } }) });
    try {
      await connections.use(target(1), "read power", readPower);
      const refused = await failure(
        connections.use(target(1, { password: "not-the-password" }), "read power", readPower),
      );
      assert.equal(refused.kind, "auth");
      assert.equal(connections.openCount, 1, "the refused driver is not kept");
      await connections.use(target(1), "read power", readPower);
      assert.equal(connections.openCount, 1);
    } finally {
      await connections.close();
    }
  });

  it("ends an operation at its deadline even when the driver ignores its signal", async () => {
    const deaf = new DeafDriver();
    const connections = new BmcConnections({ factory: () => deaf, operationTimeoutMs: 100 });
    const started = Date.now();
    const error = await failure(connections.use(target(0), "read the power state", readPower));
    assert.equal(error.kind, "timeout");
    assert.match(error.message, /^BMC 127\.0\.0\.1:\d+: read the power state did not finish within 100 ms$/);
    assert.ok(Date.now() - started < 5_000);
    const cancelled = new AbortController();
    const pending = connections.use(target(0), "read the power state", readPower, {
      signal: cancelled.signal,
      timeoutMs: 60_000,
    });
    cancelled.abort();
    assert.match((await failure(pending)).message, /was cancelled$/);
    await connections.close();
    assert.equal(deaf.closed, 1);
    assert.equal((await failure(connections.use(target(0), "read power", readPower))).kind, "unreachable");
  });

  it("closes drivers left idle, and the least recently used beyond the bound", async () => {
    const connections = new BmcConnections({
      factory: bmcDriverFactory(),
      maxOpen: 1,
      idleTimeoutMs: 60_000,
    });
    try {
      await connections.use(target(0), "read power", readPower);
      assert.equal(sessions(0), 1);
      await connections.use(target(1), "read power", readPower);
      assert.equal(connections.openCount, 1);
      assert.equal(sessions(1), 1);
      await waitFor(() => sessions(0) === 0, "the evicted driver's session to be deleted");
      assert.equal(await connections.closeIdle(Date.now()), 0, "not idle long enough yet");
      assert.equal(await connections.closeIdle(Date.now() + 60_000), 1);
      assert.equal(connections.openCount, 0);
      assert.equal(sessions(1), 0);
    } finally {
      await connections.close();
    }
  });
});

describe("BMC failures as problems", () => {
  const cases: Array<[BmcErrorKind, number, string]> = [
    ["timeout", 504, "bmc.timeout"],
    ["unreachable", 502, "bmc.unreachable"],
    ["rejected", 502, "bmc.rejected"],
    ["protocol", 502, "bmc.protocol_error"],
    ["tls", 502, "bmc.tls_failed"],
    ["auth", 422, "bmc.credentials_refused"],
    ["unsupported", 422, "bmc.unsupported"],
  ];
  for (const [kind, status, code] of cases) {
    it(`maps ${kind} to ${status} ${code}, naming the BMC`, () => {
      const mapped = bmcFailure(new BmcError(kind, "BMC 10.1.2.3: GET /redfish/v1: it went wrong"), {
        address: "10.1.2.3",
        port: 8443,
        macAddress: "02:00:00:00:00:01",
      });
      const problem = toProblem(mapped);
      assert.equal(problem.status, status);
      assert.equal(problem.code, code);
      assert.equal(problem.detail, "BMC 10.1.2.3:8443 (02:00:00:00:00:01): GET /redfish/v1: it went wrong");
      assert.equal(problem.details?.bmcAddress, "10.1.2.3:8443");
    });
  }

  it("leaves other errors alone", () => {
    const error = new Error("not a BMC failure");
    assert.equal(bmcFailure(error, { address: "10.1.2.3" }), error);
  });
});

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
