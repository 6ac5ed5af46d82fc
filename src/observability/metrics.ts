import { collectDefaultMetrics, Histogram, Registry } from "prom-client";

export { Counter, Gauge, Histogram, Registry } from "prom-client";

/** One registry per server instance: no global default registry, so tests can build many apps. */
export interface Metrics {
  readonly registry: Registry;
  readonly httpRequestDuration: Histogram<"method" | "route" | "status_code">;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "ingot_" });
  const httpRequestDuration = new Histogram({
    name: "ingot_http_request_duration_seconds",
    help: "HTTP request duration by route template and status code",
    labelNames: ["method", "route", "status_code"],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return { registry, httpRequestDuration };
}
