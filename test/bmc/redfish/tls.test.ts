import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createLabTls, type RedfishLab, startRedfishLab } from "../../../lab/redfish/index.ts";
import { BmcError, type BmcTlsPolicy } from "../../../src/bmc/driver.ts";
import { deadline, FAST_TIMING, fastDriver } from "./helpers.ts";

describe("per-BMC TLS policy", () => {
  let lab: RedfishLab;

  before(async () => {
    lab = await startRedfishLab({ machines: 1, tls: await createLabTls(), timing: FAST_TIMING });
  });
  after(() => lab.stop());

  async function powerStateWith(tls: BmcTlsPolicy): Promise<string> {
    const bmc = lab.bmcs[0];
    assert.ok(bmc !== undefined);
    const driver = fastDriver(bmc.endpoint({ tls }));
    try {
      return await driver.getPowerState(deadline());
    } finally {
      await driver.close();
    }
  }

  async function tlsFailure(tls: BmcTlsPolicy): Promise<BmcError> {
    try {
      await powerStateWith(tls);
    } catch (error) {
      assert.ok(error instanceof BmcError);
      return error;
    }
    assert.fail("expected a TLS failure");
  }

  test("verify against the CA that issued the BMC's certificate", async () => {
    assert.equal(await powerStateWith({ mode: "verify", ca: lab.tls.caCert }), "off");
  });

  test("a certificate no trusted CA signed is refused under verify", async () => {
    const error = await tlsFailure({ mode: "verify" });
    assert.equal(error.kind, "tls");
    assert.match(error.message, /TLS verification failed/);
  });

  test("verify with another CA is refused", async () => {
    const other = await createLabTls();
    assert.equal((await tlsFailure({ mode: "verify", ca: other.caCert })).kind, "tls");
  });

  test("the pinned SHA-256 fingerprint is accepted, in either notation", async () => {
    assert.equal(await powerStateWith({ mode: "pinned", sha256Fingerprint: lab.tls.fingerprint256 }), "off");
    const bare = lab.tls.fingerprint256.replaceAll(":", "").toLowerCase();
    assert.equal(await powerStateWith({ mode: "pinned", sha256Fingerprint: bare }), "off");
  });

  test("a wrong pin is refused with kind tls, and nothing is sent", async () => {
    const bmc = lab.bmcs[0];
    assert.ok(bmc !== undefined);
    bmc.clearRequests();
    const wrong = `${lab.tls.fingerprint256.slice(0, -2)}00`;
    const error = await tlsFailure({ mode: "pinned", sha256Fingerprint: wrong });
    assert.equal(error.kind, "tls");
    assert.match(error.message, /PIN_MISMATCH/);
    assert.deepEqual(bmc.requests(), [], "no request (and no credentials) went to the impostor");
  });

  test("self-signed certificates are accepted only when explicitly allowed", async () => {
    assert.equal(await powerStateWith({ mode: "insecure-allow-self-signed" }), "off");
  });
});

describe("a BMC with a factory self-signed certificate", () => {
  let lab: RedfishLab;

  before(async () => {
    lab = await startRedfishLab({
      machines: 1,
      tls: await createLabTls({ selfSigned: true }),
      timing: FAST_TIMING,
    });
  });
  after(() => lab.stop());

  async function attempt(tls: BmcTlsPolicy): Promise<string | BmcError> {
    const bmc = lab.bmcs[0];
    assert.ok(bmc !== undefined);
    const driver = fastDriver(bmc.endpoint({ tls }));
    try {
      return await driver.getPowerState(deadline());
    } catch (error) {
      assert.ok(error instanceof BmcError);
      return error;
    } finally {
      await driver.close();
    }
  }

  test("is refused under verify without its certificate as CA", async () => {
    const result = await attempt({ mode: "verify" });
    assert.ok(result instanceof BmcError);
    assert.equal(result.kind, "tls");
    assert.match(result.message, /SELF_SIGNED/);
  });

  test("is accepted when pinned, allowed, or trusted as its own CA", async () => {
    assert.equal(await attempt({ mode: "pinned", sha256Fingerprint: lab.tls.fingerprint256 }), "off");
    assert.equal(await attempt({ mode: "insecure-allow-self-signed" }), "off");
    assert.equal(await attempt({ mode: "verify", ca: lab.tls.caCert }), "off");
  });
});
