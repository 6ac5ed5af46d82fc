import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { AgentConsole } from "../../agent/console.ts";
import {
  backoffDelayMs,
  DEFAULT_RETRY_POLICY,
  type EnrollOptions,
  enroll,
  parseEnrollmentAnswer,
  parseRetryAfter,
  type RetryPolicy,
} from "../../agent/enroll-client.ts";
import type { EnrollmentRequest } from "../../src/protocol/enrollment.ts";
import { hangUp, json, problem, type ScriptedServer, silence, startScriptedServer } from "./server.ts";

const REQUEST: EnrollmentRequest = {
  agentVersion: "0.1.0",
  bootMac: "aa:bb:cc:dd:ee:ff",
  bootMacSource: "cmdline",
  collectedAt: "2026-11-23T16:40:10.000Z",
  inventory: { system: {}, cpu: {}, memory: { dimms: [] }, disks: [], nics: [], gpus: [], pciDevices: [] },
  probes: {},
};

const ENROLLED = { machineId: "m-42", state: "enrolled", next: { action: "poweroff", message: "see you" } };

const POLICY: RetryPolicy = { ...DEFAULT_RETRY_POLICY, maxAttempts: 5, requestTimeoutMs: 2_000 };

class RecordingConsole implements AgentConsole {
  readonly lines: string[] = [];
  info(message: string): void {
    this.lines.push(message);
  }
  warn(message: string): void {
    this.lines.push(`WARNING: ${message}`);
  }
  error(message: string): void {
    this.lines.push(`ERROR: ${message}`);
  }
}

const servers: ScriptedServer[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

async function server(...answers: Parameters<typeof startScriptedServer>[0]): Promise<ScriptedServer> {
  const started = await startScriptedServer(answers);
  servers.push(started);
  return started;
}

/** Sleeps are recorded, not waited: the test checks the delays the client asked for. */
function options(serverUrl: string, overrides: Partial<EnrollOptions> = {}) {
  const delays: number[] = [];
  const console = new RecordingConsole();
  const base: EnrollOptions = {
    serverUrl,
    token: "boot-token-1",
    request: REQUEST,
    agentVersion: "0.1.0",
    policy: POLICY,
    console,
    signal: new AbortController().signal,
    sleep: async (ms) => {
      delays.push(ms);
    },
    random: () => 0.5,
    now: () => Date.parse("2026-11-23T16:40:10Z"),
    ...overrides,
  };
  return { options: base, delays, console };
}

describe("enrollment client against a real HTTP server", () => {
  it("posts the request as JSON with the bearer token to /agent/v1/enroll", async () => {
    const target = await server(json(200, ENROLLED));
    const { options: enrollOptions } = options(target.url);
    const outcome = await enroll(enrollOptions);
    assert.deepEqual(outcome, {
      kind: "enrolled",
      attempts: 1,
      answer: { machineId: "m-42", state: "enrolled", action: "poweroff", message: "see you" },
    });
    const [received] = target.received;
    assert.equal(received?.method, "POST");
    assert.equal(received?.path, "/agent/v1/enroll");
    assert.equal(received?.headers.authorization, "Bearer boot-token-1");
    assert.equal(received?.headers["content-type"], "application/json");
    assert.equal(received?.headers["user-agent"], "ingot-agent/0.1.0");
    assert.deepEqual(JSON.parse(received?.body ?? ""), REQUEST);
  });

  it("retries 503, 500 and 408 with growing, jittered delays, then succeeds", async () => {
    const target = await server(
      problem(503, "Service Unavailable", "starting"),
      problem(500, "Internal Server Error", "oops"),
      problem(408, "Request Timeout", "slow"),
      json(200, ENROLLED),
    );
    const { options: enrollOptions, delays, console } = options(target.url);
    const outcome = await enroll(enrollOptions);
    assert.equal(outcome.kind, "enrolled");
    assert.equal(outcome.attempts, 4);
    assert.equal(target.received.length, 4);
    // random() = 0.5 of the bounds 1 s, 2 s, 4 s
    assert.deepEqual(delays, [500, 1000, 2000]);
    assert.match(
      console.lines[0] ?? "",
      /^WARNING: attempt 1 failed: server answered 503 Service Unavailable: Service Unavailable: starting; retrying in 0\.5 s$/,
    );
  });

  it("waits as long as Retry-After asks on 429 and 503, in seconds or as a date", async () => {
    const target = await server(
      problem(429, "Too Many Requests", "slow down", { "retry-after": "7" }),
      problem(503, "Service Unavailable", "maintenance", { "retry-after": "Mon, 23 Nov 2026 16:40:40 GMT" }),
      json(200, ENROLLED),
    );
    const { options: enrollOptions, delays } = options(target.url);
    const outcome = await enroll(enrollOptions);
    assert.equal(outcome.kind, "enrolled");
    assert.deepEqual(delays, [7000, 30000]);
  });

  it("caps an absurd Retry-After and never waits less than its own backoff", async () => {
    const target = await server(
      problem(503, "Service Unavailable", "", { "retry-after": "86400" }),
      problem(503, "Service Unavailable", "", { "retry-after": "0" }),
      json(200, ENROLLED),
    );
    const { options: enrollOptions, delays } = options(target.url, { random: () => 0.999 });
    await enroll(enrollOptions);
    assert.deepEqual(delays, [POLICY.maxRetryAfterMs, 1998]);
  });

  it("gives up at once on 401, 403, 400 and 404, explaining the server's problem", async () => {
    for (const [status, title] of [
      [401, "Unauthorized"],
      [403, "Forbidden"],
      [400, "Bad Request"],
      [404, "Not Found"],
    ] as const) {
      const target = await server(problem(status, title, `detail ${status}`));
      const { options: enrollOptions, delays } = options(target.url);
      const outcome = await enroll(enrollOptions);
      assert.equal(outcome.kind, "rejected", String(status));
      assert.equal(outcome.attempts, 1);
      assert.deepEqual(delays, []);
      if (outcome.kind === "rejected") {
        assert.equal(outcome.status, status);
        assert.match(outcome.reason, new RegExp(`^${status} ${title}: ${title}: detail ${status}$`));
      }
    }
  });

  it("retries network errors (connection refused, hang-ups, silent servers) until its attempts are spent", async () => {
    const closed = await startScriptedServer([json(200, ENROLLED)]);
    const refusedUrl = closed.url;
    await closed.close();
    const refused = options(refusedUrl, { policy: { ...POLICY, maxAttempts: 3 } });
    const outcome = await enroll(refused.options);
    assert.equal(outcome.kind, "exhausted");
    assert.equal(outcome.attempts, 3);
    assert.equal(refused.delays.length, 2);
    if (outcome.kind === "exhausted")
      assert.match(
        outcome.reason,
        /^cannot reach http:\/\/127\.0\.0\.1:\d+\/agent\/v1\/enroll: fetch failed: .*ECONNREFUSED/,
      );

    const flaky = await server(hangUp, silence, json(200, ENROLLED));
    const recovering = options(flaky.url, { policy: { ...POLICY, requestTimeoutMs: 300 } });
    const recovered = await enroll(recovering.options);
    assert.equal(recovered.kind, "enrolled");
    assert.equal(recovered.attempts, 3);
    assert.equal(flaky.received.length, 3);
  });

  it("stops when aborted while waiting to retry", async () => {
    const target = await server(problem(503, "Service Unavailable", "down"));
    const stop = new AbortController();
    const { options: enrollOptions } = options(target.url, {
      signal: stop.signal,
      sleep: async () => {
        stop.abort();
        throw new Error("aborted");
      },
    });
    assert.deepEqual(await enroll(enrollOptions), { kind: "aborted", attempts: 1 });
  });
});

describe("enrollment client pieces", () => {
  it("bounds full-jitter backoff exponentially up to the maximum", () => {
    const policy = { ...DEFAULT_RETRY_POLICY, initialDelayMs: 1000, maxDelayMs: 60_000 };
    assert.deepEqual(
      [1, 2, 3, 7, 8, 20].map((retry) => backoffDelayMs(policy, retry, () => 1)),
      [1000, 2000, 4000, 60_000, 60_000, 60_000],
    );
    assert.equal(
      backoffDelayMs(policy, 5, () => 0),
      0,
    );
  });

  it("reads Retry-After as seconds or an HTTP date and ignores nonsense", () => {
    const now = Date.parse("2026-11-23T16:40:10Z");
    assert.equal(parseRetryAfter("120", now), 120_000);
    assert.equal(parseRetryAfter("Mon, 23 Nov 2026 16:41:10 GMT", now), 60_000);
    assert.equal(parseRetryAfter("Mon, 23 Nov 2026 16:00:00 GMT", now), 0);
    assert.equal(parseRetryAfter("soon", now), undefined);
    assert.equal(parseRetryAfter(null, now), undefined);
  });

  it("idles on an answer it does not understand, and says why", () => {
    assert.deepEqual(
      parseEnrollmentAnswer('{"machineId":"m","state":"s","next":{"action":"dance"},"new":1}'),
      {
        machineId: "m",
        state: "s",
        action: "idle",
        problem: 'unknown next action "dance"',
      },
    );
    assert.equal(parseEnrollmentAnswer("<html>").problem, "the server's answer is not JSON");
    assert.equal(parseEnrollmentAnswer("null").problem, "the server's answer is not an object");
  });
});
