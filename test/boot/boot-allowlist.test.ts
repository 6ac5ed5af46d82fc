import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { BootTokens } from "../../src/boot/boot-tokens.ts";
import { startTestApp, type TestApp } from "../helpers/app.ts";
import { enrollmentRequest, storeFakeAgentImage } from "../helpers/enrollment.ts";

describe("boot scripts with the DHCP allowlist on", () => {
  let app: TestApp;
  let dataDir: string;
  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "ingot-allowlist-"));
    chmodSync(dataDir, 0o755);
    app = await startTestApp({
      config: {
        dataDir,
        dhcp: {
          mode: "full",
          interface: "eth0",
          range: { start: "10.0.0.100", end: "10.0.0.200" },
          subnet: undefined,
          router: undefined,
          dns: [],
          leaseSeconds: 3600,
          allowlist: true,
          uefiBinary: "ipxe.efi",
        },
      },
    });
    await storeFakeAgentImage(dataDir);
  });
  after(async () => {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const script = async (mac: string) =>
    (await app.anonymous({ method: "GET", url: `/boot/v1/ipxe?mac=${mac}` })).body;

  it("sends an unknown MAC to its local disk without a token", async () => {
    const text = await script("52:54:00:00:99:01");
    assert.match(text, /not on the boot allowlist/);
    assert.doesNotMatch(text, /ingot\.token=/);
    const tokens = await app.database.handle.pool.query("SELECT count(*)::int AS n FROM boot_tokens");
    assert.equal(tokens.rows[0].n, 0);
  });

  it("boots a known machine's MAC into the agent, keeping one live token per MAC", async () => {
    const mac = "52:54:00:00:99:02";
    const tokens = new BootTokens(app.database.handle.db);
    const enrolled = await app.anonymous({
      method: "POST",
      url: "/agent/v1/enroll",
      headers: { authorization: `Bearer ${await tokens.issue(mac, "enroll")}` },
      payload: enrollmentRequest({ serial: "ALLOW-1", bootMac: mac }) as unknown as Record<string, unknown>,
    });
    assert.equal(enrolled.statusCode, 200);
    assert.match(await script(mac), /ingot\.token=/);
    assert.match(await script(mac), /ingot\.token=/);
    const live = await app.database.handle.pool.query(
      "SELECT count(*)::int AS n FROM boot_tokens WHERE mac_address = $1",
      [mac],
    );
    assert.equal(live.rows[0].n, 1);
  });
});
