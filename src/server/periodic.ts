import type { Logger } from "../observability/logger.ts";

/**
 * Background jobs that run every few seconds or minutes. Runs never overlap, failures are logged and
 * retried at the next tick, and stop() waits for a run in progress so shutdown leaves nothing half-done.
 */
export class PeriodicJobs {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Set<Promise<void>>();
  private stopped = false;

  constructor(private readonly logger: Logger) {}

  every(name: string, intervalMs: number, job: () => Promise<unknown>): void {
    let busy = false;
    const timer = setInterval(() => {
      if (busy || this.stopped) return;
      busy = true;
      const run = job()
        .then(() => undefined)
        .catch((error: unknown) => this.logger.warn({ err: error, job: name }, "periodic job failed"))
        .finally(() => {
          busy = false;
          this.running.delete(run);
        });
      this.running.add(run);
    }, intervalMs);
    timer.unref();
    this.timers.push(timer);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    await Promise.all(this.running);
  }
}
