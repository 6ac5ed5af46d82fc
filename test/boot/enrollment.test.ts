import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { startTestApp, type TestApp } from "../helpers/app.ts";
import { enrollmentRequest, storeFakeAgentImage, tokenFromScript } from "../helpers/enrollment.ts";

const MAC_A = "52:54:00:aa:00:01";
const MAC_B = "52:54:00:bb:00:01";

describe("enrollment through /boot/v1 and /agent/v1", () => {
  let app: TestApp;
  let dataDir: string;
  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "ingot-enroll-"));
    chmodSync(dataDir, 0o755);
    app = await startTestApp({ config: { dataDir, publicUrl: "http://10.0.2.2:8080" } });
  });
  after(async () => {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function bootScript(query: string): Promise<string> {
    const response = await app.anonymous({ method: "GET", url: `/boot/v1/ipxe${query}` });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers["content-type"]), /^text\/plain/);
    assert.ok(response.body.startsWith("#!ipxe\n"));
    return response.body;
  }

  async function enroll(token: string, body: unknown) {
    return await app.anonymous({
      method: "POST",
      url: "/agent/v1/enroll",
      headers: { authorization: `Bearer ${token}` },
      payload: body as Record<string, unknown>,
    });
  }

  async function count(table: string): Promise<number> {
    const result = await app.database.handle.pool.query(`SELECT count(*)::int AS n FROM ${table}`);
    return result.rows[0].n;
  }

  it("hands any DHCP server one URL that asks again with iPXE's view of the machine", async () => {
    const script = await bootScript("");
    assert.match(
      script,
      /chain --replace --autofree http:\/\/10\.0\.2\.2:8080\/boot\/v1\/ipxe\?mac=\$\{netX\/mac\}&serial=\$\{serial:uristring\}&uuid=\$\{uuid\}&arch=\$\{buildarch\}/,
    );
  });

  it("tells an unknown machine to wait when no agent image is built", async () => {
    const script = await bootScript(`?mac=${MAC_A}`);
    assert.match(script, /no agent image is built/);
    assert.match(script, /sleep 60/);
    assert.doesNotMatch(script, /ingot\.token=/);
  });

  let machineId: string;

  it("boots an unknown machine into the agent with a token bound to its MAC, and enrolls it", async () => {
    const version = await storeFakeAgentImage(dataDir);
    const script = await bootScript(`?mac=${MAC_A.toUpperCase()}&serial=Not%20Specified&arch=x86_64`);
    assert.match(
      script,
      new RegExp(
        `kernel http://10\\.0\\.2\\.2:8080/boot/v1/files/agent/${version}/vmlinuz initrd=initrd\\.img`,
      ),
    );
    assert.match(
      script,
      /initrd --name initrd\.img http:\/\/10\.0\.2\.2:8080\/boot\/v1\/files\/agent\/test-1\/initrd\.img/,
    );
    assert.match(script, /ingot\.url=http:\/\/10\.0\.2\.2:8080 /);
    assert.match(script, /ingot\.mode=enroll/);
    assert.match(script, new RegExp(`ingot\\.mac=${MAC_A}`));
    const token = tokenFromScript(script);

    const response = await enroll(
      token,
      enrollmentRequest({
        serial: "SRV-0001",
        uuid: "4c4c4544-0031-3210-8052-b4c04f4d3332",
        bootMac: MAC_A,
        otherMacs: ["52:54:00:aa:00:02"],
      }),
    );
    assert.equal(response.statusCode, 200, response.body);
    const body = response.json();
    assert.equal(body.state, "enrolled");
    assert.equal(body.next.action, "idle");
    machineId = body.machineId;

    const machine = (
      await app.admin({ method: "GET", url: `/api/v1/orgs/default/machines/${machineId}` })
    ).json();
    assert.equal(machine.serialNumber, "SRV-0001");
    assert.equal(machine.systemUuid, "4c4c4544-0031-3210-8052-b4c04f4d3332");
    assert.equal(machine.bootMac, MAC_A);
    assert.equal(machine.state.kind, "enrolled");
    assert.equal(machine.summary.cpuThreads, 128);
    assert.equal(machine.summary.memoryBytes, 512 * 2 ** 30);
    assert.deepEqual(
      machine.interfaces.map((nic: { macAddress: string; isBoot: boolean }) => [nic.macAddress, nic.isBoot]),
      [
        [MAC_A, true],
        ["52:54:00:aa:00:02", false],
      ],
    );
    const events = (
      await app.admin({ method: "GET", url: `/api/v1/orgs/default/machines/${machineId}/events` })
    ).json();
    assert.deepEqual(
      events.items.map((event: { kind: string }) => event.kind),
      ["enrolled"],
    );
  });

  it("changes nothing and adds no history when the same hardware enrolls again", async () => {
    const token = tokenFromScript(await bootScript(`?mac=${MAC_A}`));
    const before = await app.database.handle.pool.query(
      "SELECT updated_at, state_version FROM machines WHERE id = $1",
      [machineId],
    );
    const [history, events] = [await count("machine_state_history"), await count("machine_events")];
    const payload = enrollmentRequest({
      serial: "SRV-0001",
      uuid: "4c4c4544-0031-3210-8052-b4c04f4d3332",
      bootMac: MAC_A,
      otherMacs: ["52:54:00:aa:00:02"],
    });
    payload.inventory.disks = payload.inventory.disks.map((disk) => ({
      ...disk,
      smart: { passed: true, powerOnHours: 1240, temperatureCelsius: 41 },
    }));
    const response = await enroll(token, payload);
    assert.equal(response.statusCode, 200);
    assert.equal(response.json().machineId, machineId);
    const afterRow = await app.database.handle.pool.query(
      "SELECT updated_at, state_version FROM machines WHERE id = $1",
      [machineId],
    );
    assert.deepEqual(afterRow.rows, before.rows);
    assert.equal(await count("machine_state_history"), history);
    assert.equal(await count("machine_events"), events);
  });

  it("records what changed when the hardware changes", async () => {
    const token = tokenFromScript(await bootScript(`?mac=${MAC_A}`));
    const response = await enroll(
      token,
      enrollmentRequest({
        serial: "SRV-0001",
        uuid: "4c4c4544-0031-3210-8052-b4c04f4d3332",
        bootMac: MAC_A,
        otherMacs: ["52:54:00:aa:00:02"],
        memoryBytes: 256 * 2 ** 30,
        disks: [
          { name: "nvme0n1", serial: "S6CKNE0R100001", sizeBytes: 3_840_755_982_336 },
          { name: "nvme1n1", serial: "S6CKNE0R100002", sizeBytes: 3_840_755_982_336 },
        ],
      }),
    );
    assert.equal(response.json().machineId, machineId);
    const events = (
      await app.admin({ method: "GET", url: `/api/v1/orgs/default/machines/${machineId}/events` })
    ).json();
    const changed = events.items[0];
    assert.equal(changed.kind, "inventory_changed");
    const paths = changed.details.changes.map((change: { path: string }) => change.path);
    assert.ok(paths.includes("memory.totalBytes"), JSON.stringify(paths));
    assert.ok(paths.includes("disks[serial=S6CKNE0R100002]"), JSON.stringify(paths));
    const memory = changed.details.changes.find(
      (change: { path: string }) => change.path === "memory.totalBytes",
    );
    assert.deepEqual([memory.before, memory.after], [512 * 2 ** 30, 256 * 2 ** 30]);
  });

  it("finds a machine by system UUID when its serial is unknown, and by MAC when both are", async () => {
    const byUuid = tokenFromScript(await bootScript(`?mac=${MAC_A}`));
    const noSerial = await enroll(
      byUuid,
      enrollmentRequest({ uuid: "4c4c4544-0031-3210-8052-b4c04f4d3332", bootMac: MAC_A }),
    );
    assert.equal(noSerial.json().machineId, machineId);
    const byMac = tokenFromScript(await bootScript(`?mac=${MAC_A}`));
    const anonymous = await enroll(byMac, enrollmentRequest({ bootMac: MAC_A }));
    assert.equal(anonymous.json().machineId, machineId);
    const machine = (
      await app.admin({ method: "GET", url: `/api/v1/orgs/default/machines/${machineId}` })
    ).json();
    assert.equal(
      machine.serialNumber,
      "SRV-0001",
      "a report without a serial does not erase the one on record",
    );
    assert.equal(machine.systemUuid, "4c4c4544-0031-3210-8052-b4c04f4d3332");
  });

  it("attaches the expected machine and its spec, matched by serial or by BMC MAC", async () => {
    const spec = { cpu: { minThreads: 64 }, memory: { minBytes: 256 * 2 ** 30 } };
    const bySerial = await app.admin({
      method: "POST",
      url: "/api/v1/orgs/default/expected-machines",
      payload: { serial: "SRV-EXP-1", hostname: "gpu-01", labels: { pool: "gpu" }, spec },
    });
    assert.equal(bySerial.statusCode, 201, bySerial.body);
    const byBmc = await app.admin({
      method: "POST",
      url: "/api/v1/orgs/default/expected-machines",
      payload: { bmcMac: "AA-BB-CC-00-00-07" },
    });
    assert.equal(byBmc.statusCode, 201, byBmc.body);

    const first = await enroll(
      tokenFromScript(await bootScript("?mac=52:54:00:ee:00:01")),
      enrollmentRequest({ serial: "SRV-EXP-1", bootMac: "52:54:00:ee:00:01" }),
    );
    const matched = (
      await app.admin({ method: "GET", url: `/api/v1/orgs/default/machines/${first.json().machineId}` })
    ).json();
    assert.equal(matched.expectedMachineId, bySerial.json().id);
    assert.deepEqual(matched.hardwareSpec, spec);
    assert.equal(matched.hostname, "gpu-01");
    assert.deepEqual(matched.labels, { pool: "gpu" });
    const events = (
      await app.admin({ method: "GET", url: `/api/v1/orgs/default/machines/${matched.id}/events` })
    ).json();
    assert.deepEqual(
      events.items.map((event: { kind: string }) => event.kind),
      ["expected_matched", "enrolled"],
    );
    assert.equal(events.items[0].details.by, "serial");

    const second = await enroll(
      tokenFromScript(await bootScript("?mac=52:54:00:ee:00:02")),
      enrollmentRequest({ serial: "SRV-EXP-2", bootMac: "52:54:00:ee:00:02", bmcMac: "aa:bb:cc:00:00:07" }),
    );
    const viaBmc = (
      await app.admin({ method: "GET", url: `/api/v1/orgs/default/machines/${second.json().machineId}` })
    ).json();
    assert.equal(viaBmc.expectedMachineId, byBmc.json().id);
    assert.equal(viaBmc.summary.bmcMac, "aa:bb:cc:00:00:07");

    const sameBmc = await enroll(
      tokenFromScript(await bootScript("?mac=52:54:00:ee:00:03")),
      enrollmentRequest({ serial: "SRV-EXP-3", bootMac: "52:54:00:ee:00:03", bmcMac: "aa:bb:cc:00:00:07" }),
    );
    assert.equal(sameBmc.statusCode, 200, "a second machine matching a taken expected machine still enrolls");
    const unlinked = (
      await app.admin({ method: "GET", url: `/api/v1/orgs/default/machines/${sameBmc.json().machineId}` })
    ).json();
    assert.equal(unlinked.expectedMachineId, null);
  });

  it("accepts a boot token only from the MAC it was issued to, and only until it expires", async () => {
    const token = tokenFromScript(await bootScript(`?mac=${MAC_B}`));
    const machines = await count("machines");
    const wrongMac = await enroll(
      token,
      enrollmentRequest({ serial: "SRV-0002", bootMac: "52:54:00:cc:00:01" }),
    );
    assert.equal(wrongMac.statusCode, 401);
    assert.equal(wrongMac.json().detail, "boot token was issued to another MAC address");
    assert.equal(
      (await enroll("bt_nonsense", enrollmentRequest({ serial: "SRV-0002", bootMac: MAC_B }))).statusCode,
      401,
    );
    const missing = await app.anonymous({
      method: "POST",
      url: "/agent/v1/enroll",
      payload: enrollmentRequest({ serial: "SRV-0002", bootMac: MAC_B }) as unknown as Record<
        string,
        unknown
      >,
    });
    assert.equal(missing.statusCode, 401);
    await app.database.handle.pool.query("UPDATE boot_tokens SET expires_at = now() - interval '1 second'");
    const expired = await enroll(token, enrollmentRequest({ serial: "SRV-0002", bootMac: MAC_B }));
    assert.equal(expired.statusCode, 401);
    assert.equal(expired.json().detail, "boot token has expired");
    assert.equal(await count("machines"), machines);
  });

  it("refuses malformed and oversized payloads without changing anything", async () => {
    const token = tokenFromScript(await bootScript(`?mac=${MAC_B}`));
    const machines = await count("machines");
    const badMac = enrollmentRequest({ serial: "SRV-0002", bootMac: MAC_B });
    const missingCpu = { ...badMac, inventory: { ...badMac.inventory, cpu: undefined } };
    const noCpu = await enroll(token, missingCpu);
    assert.equal(noCpu.statusCode, 400);
    assert.equal(noCpu.json().errors[0].field, "body.inventory.cpu");
    const extra = await enroll(token, { ...badMac, surprise: true });
    assert.equal(extra.statusCode, 400);
    assert.equal(extra.json().errors[0].field, "body.surprise");
    const longSerial = enrollmentRequest({ serial: "X".repeat(5000), bootMac: MAC_B });
    const tooLong = await enroll(token, longSerial);
    assert.equal(tooLong.statusCode, 400);
    assert.equal(tooLong.json().errors[0].field, "body.inventory.system.serialNumber");
    const huge = enrollmentRequest({ serial: "SRV-0002", bootMac: MAC_B });
    const oversized = await app.anonymous({
      method: "POST",
      url: "/agent/v1/enroll",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      payload: JSON.stringify({ ...huge, padding: "x".repeat(9 * 1024 * 1024) }),
    });
    assert.equal(oversized.statusCode, 413);
    assert.equal(await count("machines"), machines);
  });

  it("lets only one machine come out of two agents of the same machine racing", async () => {
    const first = tokenFromScript(await bootScript("?mac=52:54:00:dd:00:01"));
    const second = tokenFromScript(await bootScript("?mac=52:54:00:dd:00:02"));
    const responses = await Promise.all([
      enroll(
        first,
        enrollmentRequest({
          serial: "SRV-RACE",
          bootMac: "52:54:00:dd:00:01",
          otherMacs: ["52:54:00:dd:00:02"],
        }),
      ),
      enroll(
        second,
        enrollmentRequest({
          serial: "SRV-RACE",
          bootMac: "52:54:00:dd:00:02",
          otherMacs: ["52:54:00:dd:00:01"],
        }),
      ),
    ]);
    assert.deepEqual(
      responses.map((r) => r.statusCode),
      [200, 200],
    );
    assert.equal(responses[0]?.json().machineId, responses[1]?.json().machineId);
    const rows = await app.database.handle.pool.query(
      "SELECT count(*)::int AS n FROM machines WHERE serial_number = 'SRV-RACE'",
    );
    assert.equal(rows.rows[0].n, 1);
  });

  it("chooses the boot by state: agent while enrolled, local disk when ready without an image, the image once assigned", async () => {
    const url = `/api/v1/orgs/default/machines/${machineId}`;
    assert.match(await bootScript(`?mac=${MAC_A}`), /ingot\.mode=enroll/);
    const ready = await app.admin({
      method: "POST",
      url: `${url}/lifecycle`,
      payload: { event: "mark_ready" },
    });
    assert.equal(ready.statusCode, 200);
    assert.equal(ready.json().state.kind, "ready");
    assert.match(await bootScript(`?mac=${MAC_A}`), /booting from local disk\nexit\n$/);
    const image = {
      kernel: "images/ubuntu/vmlinuz",
      initrd: "https://mirror.example/initrd.img",
      cmdline: "ip=dhcp root=/dev/ram0",
    };
    assert.equal((await app.admin({ method: "PATCH", url, payload: { bootImage: image } })).statusCode, 200);
    const imageScript = await bootScript(`?mac=${MAC_A}`);
    assert.match(
      imageScript,
      /kernel http:\/\/10\.0\.2\.2:8080\/boot\/v1\/files\/images\/ubuntu\/vmlinuz initrd=initrd\.img ip=dhcp root=\/dev\/ram0/,
    );
    assert.match(imageScript, /initrd --name initrd\.img https:\/\/mirror\.example\/initrd\.img/);
    assert.doesNotMatch(imageScript, /ingot\.token/);
    const held = await app.admin({
      method: "POST",
      url: `${url}/lifecycle`,
      payload: { event: "hold", reason: "fan noise" },
    });
    assert.equal(held.json().state.kind, "held");
    assert.equal(held.json().state.heldFrom, "ready");
    const heldScript = await bootScript(`?mac=${MAC_A}`);
    assert.match(heldScript, /held \(fan noise\)/);
    assert.match(heldScript, /\nexit\n$/);
    const badCmdline = await app.admin({
      method: "PATCH",
      url,
      payload: { bootImage: { ...image, cmdline: "a\nchain http://evil" } },
    });
    assert.equal(badCmdline.statusCode, 400);
    assert.equal(badCmdline.json().errors[0].field, "body.bootImage.cmdline");
  });

  it("refuses lifecycle events the table does not allow, and keeps the history", async () => {
    const url = `/api/v1/orgs/default/machines/${machineId}`;
    const refused = await app.admin({
      method: "POST",
      url: `${url}/lifecycle`,
      payload: { event: "mark_ready" },
    });
    assert.equal(refused.statusCode, 409);
    assert.equal(refused.json().code, "state.transition_refused");
    const history = (await app.admin({ method: "GET", url: `${url}/state-history` })).json();
    assert.deepEqual(
      history.items.map((entry: { event: string; kind: string }) => `${entry.event}:${entry.kind}`),
      ["hold:held", "mark_ready:ready", "created:enrolled"],
    );
    const state = (await app.admin({ method: "GET", url: `${url}/state` })).json();
    assert.equal(state.kind, "held");
    assert.equal(state.lastOutcome.by, "admin");
  });

  it("refuses a hardware report about a machine that is not booted into the agent", async () => {
    const before = (
      await app.admin({ method: "GET", url: `/api/v1/orgs/default/machines/${machineId}` })
    ).json();
    assert.equal(before.state.kind, "held");
    const intruder = "02:00:00:00:00:99";
    const response = await enroll(
      tokenFromScript(await bootScript(`?mac=${intruder}`)),
      enrollmentRequest({ serial: "SRV-0001", bootMac: intruder, memoryBytes: 1024 }),
    );
    assert.equal(response.statusCode, 409);
    assert.equal(response.json().code, "enrollment.not_allowed");
    const after = (
      await app.admin({ method: "GET", url: `/api/v1/orgs/default/machines/${machineId}` })
    ).json();
    assert.deepEqual(after.interfaces, before.interfaces);
    assert.equal(after.summary.memoryBytes, before.summary.memoryBytes);
  });

  it("serves boot files with Range requests and nothing outside the store", async () => {
    const whole = await app.anonymous({ method: "GET", url: "/boot/v1/files/agent/test-1/vmlinuz" });
    assert.equal(whole.statusCode, 200);
    assert.equal(whole.body, "kernel-bytes-0123456789");
    const part = await app.anonymous({
      method: "GET",
      url: "/boot/v1/files/agent/test-1/vmlinuz",
      headers: { range: "bytes=7-11" },
    });
    assert.equal(part.statusCode, 206);
    assert.equal(part.body, "bytes");
    assert.equal(part.headers["content-range"], "bytes 7-11/23");
    for (const url of [
      "/boot/v1/files/../postgres-password",
      "/boot/v1/files/%2e%2e/postgres-password",
      "/boot/v1/files/.meta/x",
    ]) {
      const response = await app.anonymous({ method: "GET", url });
      assert.ok(
        response.statusCode === 404 || response.statusCode === 403,
        `${url} → ${response.statusCode}`,
      );
    }
  });
});
