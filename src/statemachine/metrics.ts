/**
 * Controller metrics, `ingot_controller_*`, labelled by `controller` (the entity type). Created once per
 * registry and shared by every controller registered on it (prom-client refuses a name twice).
 *
 * The gauges (objects per state, SLA breaches, time in state, queue depth) come from a periodic census of
 * the database; every replica reports the same values, so aggregate them with max(), not sum().
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface ControllerMetrics {
  /** Non-terminal objects per state. */
  readonly objects: Gauge<"controller" | "state">;
  readonly transitions: Counter<"controller" | "from" | "to">;
  /** Every handler answer: transition, wait, do_nothing, deleted, error, lost_race. */
  readonly outcomes: Counter<"controller" | "outcome">;
  readonly handlerDuration: Histogram<"controller" | "state">;
  /** Errors by where they came from: handler, timeout, transition_refused, write, runtime. */
  readonly errors: Counter<"controller" | "state" | "source">;
  readonly queueDepth: Gauge<"controller" | "status">;
  /** Longest time any object has spent in the state. */
  readonly timeInState: Gauge<"controller" | "state">;
  readonly slaBreaches: Gauge<"controller" | "state">;
  readonly claimsTakenOver: Counter<"controller">;
  readonly writeBatchSize: Histogram<"controller">;
}

function getOrCreate<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

export function controllerMetrics(registry: Registry): ControllerMetrics {
  const registers = [registry];
  return {
    objects: getOrCreate(
      registry,
      "ingot_controller_objects",
      () =>
        new Gauge({
          name: "ingot_controller_objects",
          help: "Objects in each non-terminal state",
          labelNames: ["controller", "state"],
          registers,
        }),
    ),
    transitions: getOrCreate(
      registry,
      "ingot_controller_transitions_total",
      () =>
        new Counter({
          name: "ingot_controller_transitions_total",
          help: "State transitions recorded by controllers",
          labelNames: ["controller", "from", "to"],
          registers,
        }),
    ),
    outcomes: getOrCreate(
      registry,
      "ingot_controller_outcomes_total",
      () =>
        new Counter({
          name: "ingot_controller_outcomes_total",
          help: "Handler answers by kind (lost_race: the object changed while the handler ran)",
          labelNames: ["controller", "outcome"],
          registers,
        }),
    ),
    handlerDuration: getOrCreate(
      registry,
      "ingot_controller_handler_duration_seconds",
      () =>
        new Histogram({
          name: "ingot_controller_handler_duration_seconds",
          help: "Time a handler took to answer, by the state it was asked about",
          labelNames: ["controller", "state"],
          buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
          registers,
        }),
    ),
    errors: getOrCreate(
      registry,
      "ingot_controller_errors_total",
      () =>
        new Counter({
          name: "ingot_controller_errors_total",
          help: "Controller errors by state and source (handler, timeout, transition_refused, write, runtime)",
          labelNames: ["controller", "state", "source"],
          registers,
        }),
    ),
    queueDepth: getOrCreate(
      registry,
      "ingot_controller_queue_depth",
      () =>
        new Gauge({
          name: "ingot_controller_queue_depth",
          help: "Queued objects: ready to claim, being processed, delayed (backoff or re-check)",
          labelNames: ["controller", "status"],
          registers,
        }),
    ),
    timeInState: getOrCreate(
      registry,
      "ingot_controller_time_in_state_seconds",
      () =>
        new Gauge({
          name: "ingot_controller_time_in_state_seconds",
          help: "Longest time any object has been in the state",
          labelNames: ["controller", "state"],
          registers,
        }),
    ),
    slaBreaches: getOrCreate(
      registry,
      "ingot_controller_sla_breaches",
      () =>
        new Gauge({
          name: "ingot_controller_sla_breaches",
          help: "Objects that have been in the state longer than its SLA",
          labelNames: ["controller", "state"],
          registers,
        }),
    ),
    claimsTakenOver: getOrCreate(
      registry,
      "ingot_controller_claims_taken_over_total",
      () =>
        new Counter({
          name: "ingot_controller_claims_taken_over_total",
          help: "Claims taken over from a replica whose claim lease expired",
          labelNames: ["controller"],
          registers,
        }),
    ),
    writeBatchSize: getOrCreate(
      registry,
      "ingot_controller_write_batch_size",
      () =>
        new Histogram({
          name: "ingot_controller_write_batch_size",
          help: "Handler answers recorded per database statement",
          labelNames: ["controller"],
          buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
          registers,
        }),
    ),
  };
}
