/**
 * State machines as values: the states of a lifecycle, which are terminal, and the allowed transitions
 * (state × event → next state), declared once per entity type in its `model.ts`:
 *
 *   type FirmwareUpdateState = { kind: "queued" } | { kind: "uploading"; taskUri: string } | …;
 *   export const FirmwareUpdateStates = defineStateMachine<FirmwareUpdateState>()({
 *     name: "firmware_update",
 *     states: ["queued", "uploading", "completed", "failed"],
 *     initial: ["queued"],
 *     terminal: ["completed", "failed"],
 *     transitions: { queued: { upload_started: "uploading" }, uploading: { verified: "completed", … } },
 *     slaSeconds: { uploading: 1800 },
 *   });
 *
 * States are rich JSON (discriminated unions with sub-state data); the table works on `kind`. A transition
 * outside the table, or out of a terminal state, is refused with `TransitionRefusedError`. Everything here
 * is pure: the store, the controller runtime and the HTTP routes are built on top of it.
 */
import { ConflictError } from "../errors.ts";

/** Every state is a JSON object whose `kind` names its place in the table. */
export interface StateShape {
  readonly kind: string;
}

/** State kinds and event names are snake_case: they appear in the database, metrics labels and diagrams. */
export const NAME_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;

export interface StateMachineSpec<K extends string, E extends string> {
  /** snake_case name of the lifecycle, e.g. `vetting_run`; used in errors, metrics and diagrams. */
  readonly name: string;
  /** Every state kind, in the order diagrams and metrics list them. */
  readonly states: readonly K[];
  /** Kinds a new object may start in. */
  readonly initial: readonly K[];
  /** Kinds that are final: no transition leaves them. */
  readonly terminal: readonly K[];
  /** from kind → event → next kind. A pair not listed here is refused. */
  readonly transitions: { readonly [From in K]?: { readonly [Event in E]?: K } };
  /** How long an object may stay in a kind before it is flagged (metrics and API). */
  readonly slaSeconds?: { readonly [Kind in K]?: number };
}

export interface TransitionEdge<K extends string = string, E extends string = string> {
  readonly from: K;
  readonly event: E;
  readonly to: K;
}

export type TransitionRefusal = "terminal" | "not_in_table" | "unknown_state" | "wrong_target";

/** A transition the table does not allow. A ConflictError, so the API answers 409 when an operator asks. */
export class TransitionRefusedError extends ConflictError {
  constructor(
    readonly machine: string,
    readonly from: string,
    readonly event: string,
    readonly reason: TransitionRefusal,
    readonly to?: string,
  ) {
    super("state.transition_refused", describeRefusal(machine, from, event, reason, to), {
      machine,
      from,
      event,
      reason,
      ...(to !== undefined ? { to } : {}),
    });
  }
}

function describeRefusal(
  machine: string,
  from: string,
  event: string,
  reason: TransitionRefusal,
  to: string | undefined,
): string {
  switch (reason) {
    case "terminal":
      return `${machine}: ${from} is a terminal state; event ${event} is refused`;
    case "unknown_state":
      return `${machine}: ${from} is not a state of this lifecycle`;
    case "wrong_target":
      return `${machine}: event ${event} leads from ${from} to ${to === undefined ? "another state" : `not to ${to}`}`;
    case "not_in_table":
      return `${machine}: event ${event} is not allowed in state ${from}`;
  }
}

/** The transition table of one lifecycle, validated when it is defined. */
export class StateMachine<S extends StateShape, E extends string = string> {
  readonly name: string;
  readonly states: readonly S["kind"][];
  readonly initial: readonly S["kind"][];
  readonly terminal: readonly S["kind"][];
  /** Kinds that are not terminal, in declaration order. */
  readonly active: readonly S["kind"][];
  readonly edges: readonly TransitionEdge<S["kind"], E>[];
  private readonly table: ReadonlyMap<string, ReadonlyMap<string, S["kind"]>>;
  private readonly terminalSet: ReadonlySet<string>;
  private readonly sla: ReadonlyMap<string, number>;

  constructor(spec: StateMachineSpec<S["kind"], E>) {
    validateSpec(spec);
    this.name = spec.name;
    this.states = [...spec.states];
    this.initial = [...spec.initial];
    this.terminal = [...spec.terminal];
    this.terminalSet = new Set(spec.terminal);
    this.active = this.states.filter((kind) => !this.terminalSet.has(kind));
    const table = new Map<string, Map<string, S["kind"]>>();
    const edges: TransitionEdge<S["kind"], E>[] = [];
    for (const from of spec.states) {
      const row = new Map<string, S["kind"]>();
      const events = spec.transitions[from as S["kind"]] ?? {};
      for (const [event, to] of Object.entries(events) as [E, S["kind"] | undefined][]) {
        if (to === undefined) continue;
        row.set(event, to);
        edges.push({ from, event, to });
      }
      table.set(from, row);
    }
    this.table = table;
    this.edges = edges;
    this.sla = new Map(
      Object.entries(spec.slaSeconds ?? {}).filter(
        (entry): entry is [string, number] => entry[1] !== undefined,
      ),
    );
  }

  hasState(kind: string): kind is S["kind"] {
    return this.table.has(kind);
  }

  isTerminal(kind: string): boolean {
    return this.terminalSet.has(kind);
  }

  /** The kind `event` leads to from `from`; throws TransitionRefusedError when the table does not allow it. */
  next(from: string, event: string): S["kind"] {
    const row = this.table.get(from);
    if (row === undefined) throw new TransitionRefusedError(this.name, from, event, "unknown_state");
    if (this.terminalSet.has(from)) throw new TransitionRefusedError(this.name, from, event, "terminal");
    const to = row.get(event);
    if (to === undefined) throw new TransitionRefusedError(this.name, from, event, "not_in_table");
    return to;
  }

  /** Checks a whole transition, sub-state data included: `to.kind` must be where `event` leads. */
  check(from: S, event: string, to: S): void {
    const expected = this.next(from.kind, event);
    if (to.kind !== expected)
      throw new TransitionRefusedError(this.name, from.kind, event, "wrong_target", to.kind);
  }

  /** Whether the table allows `event` from `from` (never throws). */
  allows(from: string, event: string): boolean {
    return !this.terminalSet.has(from) && this.table.get(from)?.has(event) === true;
  }

  /** The events that leave `kind`, and where they lead: "what can happen next". */
  eventsFrom(kind: string): { event: E; to: S["kind"] }[] {
    if (this.terminalSet.has(kind)) return [];
    return this.edges.filter((edge) => edge.from === kind).map(({ event, to }) => ({ event, to }));
  }

  /** SLA for time spent in `kind`, in seconds; undefined when the kind has none. */
  slaSeconds(kind: string): number | undefined {
    return this.sla.get(kind);
  }
}

/**
 * Declares a state machine. Curried so that the state type is given and the event names are inferred:
 * `defineStateMachine<MyState>()({ … })`. Throws on an inconsistent table (unknown kinds, transitions out
 * of a terminal state, bad names), so a mistake fails at import, not at 3 a.m.
 */
export function defineStateMachine<S extends StateShape>(): <const E extends string>(
  spec: StateMachineSpec<S["kind"], E>,
) => StateMachine<S, E> {
  return (spec) => new StateMachine(spec);
}

function validateSpec<K extends string, E extends string>(spec: StateMachineSpec<K, E>): void {
  const fail = (message: string): never => {
    throw new Error(`state machine ${spec.name}: ${message}`);
  };
  if (!NAME_PATTERN.test(spec.name)) fail("name must be snake_case");
  if (spec.states.length === 0) fail("declares no states");
  const states = new Set<string>();
  for (const kind of spec.states) {
    if (!NAME_PATTERN.test(kind)) fail(`state ${JSON.stringify(kind)} must be snake_case`);
    if (states.has(kind)) fail(`state ${kind} is listed twice`);
    states.add(kind);
  }
  if (spec.initial.length === 0) fail("declares no initial state");
  for (const kind of [...spec.initial, ...spec.terminal]) {
    if (!states.has(kind)) fail(`${kind} is not in states`);
  }
  const terminal = new Set<string>(spec.terminal);
  for (const [from, events] of Object.entries(spec.transitions) as [string, Record<string, string>][]) {
    if (!states.has(from)) fail(`transitions from unknown state ${from}`);
    const targets = Object.entries(events ?? {});
    if (terminal.has(from) && targets.length > 0) fail(`terminal state ${from} has outgoing transitions`);
    for (const [event, to] of targets) {
      if (!NAME_PATTERN.test(event)) fail(`event ${JSON.stringify(event)} must be snake_case`);
      if (!states.has(to)) fail(`${from} --${event}--> ${to}: ${to} is not in states`);
    }
  }
  for (const [kind, seconds] of Object.entries(spec.slaSeconds ?? {}) as [string, number | undefined][]) {
    if (!states.has(kind)) fail(`SLA for unknown state ${kind}`);
    if (terminal.has(kind)) fail(`SLA for terminal state ${kind}`);
    if (seconds === undefined || !Number.isFinite(seconds) || seconds <= 0)
      fail(`SLA for ${kind} must be > 0`);
  }
}
