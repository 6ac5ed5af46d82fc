import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { createLogger } from "../../src/observability/logger.ts";
import {
  backoffDelayMs,
  type ControlledObject,
  DEFAULT_BACKOFF,
  type HandlerContext,
  Outcome,
  reconciler,
} from "../../src/statemachine/handler.ts";
import { renderMermaid } from "../../src/statemachine/mermaid.ts";
import {
  defineStateMachine,
  type StateMachineSpec,
  type StateShape,
  TransitionRefusedError,
} from "../../src/statemachine/model.ts";
import { type DemoTaskState, DemoTaskStates } from "./demo.ts";

interface RandomTable {
  readonly spec: StateMachineSpec<string, string>;
  readonly expected: Map<string, Map<string, string>>;
}

const EVENTS = ["go", "stop", "retry", "fail", "done"] as const;

/** Random consistent transition tables: 1–8 states, some terminal, random edges out of the others. */
const randomTable: fc.Arbitrary<RandomTable> = fc.integer({ min: 1, max: 8 }).chain((count) => {
  const states = Array.from({ length: count }, (_, index) => `s${index}`);
  return fc
    .record({
      terminal: fc.subarray(states.slice(1)),
      edges: fc.array(
        fc.record({
          from: fc.constantFrom(...states),
          event: fc.constantFrom(...EVENTS),
          to: fc.constantFrom(...states),
        }),
        { maxLength: 20 },
      ),
    })
    .map(({ terminal, edges }) => {
      const terminalSet = new Set(terminal);
      const expected = new Map<string, Map<string, string>>();
      const transitions: Record<string, Record<string, string>> = {};
      for (const edge of edges) {
        if (terminalSet.has(edge.from)) continue;
        const row = transitions[edge.from] ?? {};
        row[edge.event] = edge.to;
        transitions[edge.from] = row;
        const map = expected.get(edge.from) ?? new Map<string, string>();
        map.set(edge.event, edge.to);
        expected.set(edge.from, map);
      }
      return {
        spec: { name: "random", states, initial: ["s0"], terminal, transitions },
        expected,
      };
    });
});

describe("transition tables", () => {
  it("allows exactly the pairs in the table and refuses everything else (property)", () => {
    fc.assert(
      fc.property(randomTable, ({ spec, expected }) => {
        const machine = defineStateMachine<StateShape>()(spec);
        for (const from of [...spec.states, "nowhere"]) {
          for (const event of [...EVENTS, "unknown_event"]) {
            const to = expected.get(from)?.get(event);
            if (to !== undefined) {
              assert.equal(machine.next(from, event), to);
              assert.equal(machine.allows(from, event), true);
              continue;
            }
            assert.equal(machine.allows(from, event), false);
            assert.throws(
              () => machine.next(from, event),
              (error: unknown) =>
                error instanceof TransitionRefusedError &&
                error.reason ===
                  (from === "nowhere"
                    ? "unknown_state"
                    : spec.terminal.includes(from)
                      ? "terminal"
                      : "not_in_table"),
            );
          }
        }
        assert.equal(
          machine.edges.length,
          [...expected.values()].reduce((sum, row) => sum + row.size, 0),
        );
      }),
      { numRuns: 300 },
    );
  });

  it("keeps terminal states final along any walk (property)", () => {
    fc.assert(
      fc.property(randomTable, fc.array(fc.constantFrom(...EVENTS), { maxLength: 40 }), ({ spec }, walk) => {
        const machine = defineStateMachine<StateShape>()(spec);
        let current = "s0";
        let reachedTerminal = machine.isTerminal(current);
        for (const event of walk) {
          if (machine.allows(current, event)) {
            assert.equal(reachedTerminal, false, "left a terminal state");
            current = machine.next(current, event);
          } else {
            assert.throws(() => machine.next(current, event), TransitionRefusedError);
          }
          reachedTerminal ||= machine.isTerminal(current);
          if (reachedTerminal) assert.deepEqual(machine.eventsFrom(current), []);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("checks the target of a transition, sub-state data aside", () => {
    const running: DemoTaskState = { kind: "running", step: 1 };
    DemoTaskStates.check(running, "step_done", { kind: "running", step: 2 });
    assert.throws(
      () => DemoTaskStates.check(running, "finish", { kind: "failed", reason: "x" }),
      (error: unknown) =>
        error instanceof TransitionRefusedError &&
        error.reason === "wrong_target" &&
        error.code === "state.transition_refused",
    );
  });

  it("refuses inconsistent tables when they are defined", () => {
    type S = { kind: "a" } | { kind: "b" };
    const base = { name: "bad", states: ["a", "b"], initial: ["a"], terminal: ["b"] } as const;
    const define = defineStateMachine<S>();
    assert.throws(
      () => define({ ...base, transitions: { b: { back: "a" } } }),
      /terminal state b has outgoing/,
    );
    assert.throws(() => define({ ...base, transitions: { a: { go: "c" as "b" } } }), /c is not in states/);
    assert.throws(() => define({ ...base, terminal: ["c" as "b"], transitions: {} }), /c is not in states/);
    assert.throws(() => define({ ...base, initial: [], transitions: {} }), /no initial state/);
    assert.throws(() => define({ ...base, transitions: { a: { "Go!": "b" } } }), /snake_case/);
    assert.throws(() => define({ ...base, states: ["a", "a"], transitions: {} }), /listed twice/);
    assert.throws(() => define({ ...base, transitions: {}, slaSeconds: { b: 10 } }), /SLA for terminal/);
    assert.throws(() => define({ ...base, transitions: {}, slaSeconds: { a: 0 } }), /must be > 0/);
  });

  it("renders a table as a Mermaid state diagram", () => {
    assert.equal(
      renderMermaid(DemoTaskStates),
      [
        "stateDiagram-v2",
        "  [*] --> pending",
        "  pending --> running: start",
        "  pending --> cancelled: cancel",
        "  running --> running: step_done",
        "  running --> succeeded: finish",
        "  running --> failed: fail",
        "  running --> cancelled: cancel",
        "  succeeded --> [*]",
        "  failed --> [*]",
        "  cancelled --> [*]",
        "  note right of running: SLA 10 min",
        "",
      ].join("\n"),
    );
  });

  it("keeps the diagram in docs/state-machines.md the one the helper renders", () => {
    const doc = readFileSync(path.resolve(import.meta.dirname, "../../docs/state-machines.md"), "utf8");
    const block = /```mermaid\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.equal(block, renderMermaid(DemoTaskStates));
  });

  it("draws every edge of any table (property)", () => {
    fc.assert(
      fc.property(randomTable, ({ spec }) => {
        const machine = defineStateMachine<StateShape>()(spec);
        const lines = renderMermaid(machine).trimEnd().split("\n");
        for (const edge of machine.edges)
          assert.ok(lines.includes(`  ${edge.from} --> ${edge.to}: ${edge.event}`));
        assert.equal(
          lines.length,
          1 + machine.initial.length + machine.edges.length + machine.terminal.length,
        );
      }),
      { numRuns: 100 },
    );
  });
});

describe("backoff", () => {
  it("grows by the factor up to the maximum, shortened by at most the jitter", () => {
    const policy = { initialMs: 100, maxMs: 1_000, factor: 2, jitter: 0 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((failures) => backoffDelayMs(failures, policy)),
      [100, 200, 400, 800, 1_000, 1_000],
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (failures, r) => {
          const delay = backoffDelayMs(failures, DEFAULT_BACKOFF, () => r);
          const full = Math.min(DEFAULT_BACKOFF.maxMs, DEFAULT_BACKOFF.initialMs * 2 ** (failures - 1));
          assert.ok(
            delay <= full && delay >= Math.floor(full * (1 - DEFAULT_BACKOFF.jitter)),
            `${delay} vs ${full}`,
          );
        },
      ),
    );
  });
});

describe("reconciler", () => {
  const object: ControlledObject<DemoTaskState> = {
    id: "00000000-0000-0000-0000-000000000001",
    state: { kind: "running", step: 2 },
    version: 3,
    enteredAt: new Date(),
    kindEnteredAt: new Date(),
    lastOutcome: null,
    failures: 0,
  };
  const context: HandlerContext = {
    signal: new AbortController().signal,
    logger: createLogger("silent"),
    replica: "test",
  };

  it("observes, decides purely, then carries out the effects in order", async () => {
    const acted: string[] = [];
    const handler = reconciler<DemoTaskState, string, { done: boolean }, string>({
      observe: async () => ({ done: true }),
      decide: (current, observation) =>
        observation.done && current.state.kind === "running"
          ? { ...Outcome.transition("finish", { kind: "succeeded" }), effects: ["power_off", "notify"] }
          : Outcome.wait("still running"),
      act: async (effect) => {
        acted.push(effect);
      },
    });
    const result = await handler(object, context);
    assert.deepEqual(result, { kind: "transition", event: "finish", next: { kind: "succeeded" } });
    assert.deepEqual(acted, ["power_off", "notify"]);
  });

  it("lets a failing effect fail the attempt", async () => {
    const handler = reconciler<DemoTaskState, string, null, string>({
      observe: async () => null,
      decide: () => ({ ...Outcome.wait("x"), effects: ["boom"] }),
      act: async () => {
        throw new Error("BMC unreachable");
      },
    });
    await assert.rejects(handler(object, context), /BMC unreachable/);
  });
});
