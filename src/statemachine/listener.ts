/**
 * LISTEN on a dedicated PostgreSQL connection (a pooled one would be handed to other queries and lose its
 * LISTENs). Subscribers are called on every notification of their channel and again after a reconnect,
 * because notifications sent while the connection was down are lost: a wake-up after reconnecting makes
 * them look for work they may have missed. Reconnects with backoff until stopped.
 */
import pg from "pg";
import type { Logger } from "../observability/logger.ts";

export interface NotificationListenerOptions {
  readonly databaseUrl: string;
  readonly logger: Logger;
  /** Shown in pg_stat_activity. */
  readonly applicationName?: string;
  readonly connectTimeoutMs?: number;
  readonly reconnectDelayMs?: { readonly min: number; readonly max: number };
}

type Wake = () => void;

export class NotificationListener {
  private client: pg.Client | undefined;
  private readonly subscribers = new Map<string, Set<Wake>>();
  private stopped = false;
  private connecting: Promise<void> | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private failedAttempts = 0;
  private connections = 0;
  private readonly logger: Logger;

  constructor(private readonly options: NotificationListenerOptions) {
    this.logger = options.logger.child({ component: "notification-listener" });
  }

  get connected(): boolean {
    return this.client !== undefined;
  }

  /** Successful connections so far (with every channel listened to); above 1 after a reconnect. */
  get connectionCount(): number {
    return this.connections;
  }

  /** Connects (retrying in the background if the first attempt fails). */
  async start(): Promise<void> {
    this.stopped = false;
    await this.connect();
  }

  /**
   * Calls `wake` on each notification on `channel` and after each reconnect. Returns the unsubscribe
   * function. The LISTEN is in place when the returned promise resolves (if connected).
   */
  async subscribe(channel: string, wake: Wake): Promise<() => Promise<void>> {
    let wakes = this.subscribers.get(channel);
    const first = wakes === undefined;
    if (wakes === undefined) {
      wakes = new Set();
      this.subscribers.set(channel, wakes);
    }
    wakes.add(wake);
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    if (first && client !== undefined) {
      // A connection lost here is re-established with every channel listened to again.
      await this.listen(client, channel).catch((error: unknown) =>
        this.logger.warn({ err: error, channel }, "LISTEN failed; will retry on reconnect"),
      );
    }
    return async () => {
      const current = this.subscribers.get(channel);
      current?.delete(wake);
      if (current !== undefined && current.size === 0) {
        this.subscribers.delete(channel);
        if (this.client !== undefined) {
          await this.client.query(`UNLISTEN ${this.client.escapeIdentifier(channel)}`).catch(() => undefined);
        }
      }
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) await client.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.connecting !== undefined) return await this.connecting;
    this.connecting = this.attempt().finally(() => {
      this.connecting = undefined;
    });
    await this.connecting;
  }

  private async attempt(): Promise<void> {
    if (this.stopped || this.client !== undefined) return;
    const client = new pg.Client({
      connectionString: this.options.databaseUrl,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 10_000,
      keepAlive: true,
      application_name: this.options.applicationName ?? "ingot-listener",
    });
    client.on("notification", (message) => this.deliver(message.channel));
    client.on("error", (error) => this.lost(client, error));
    client.on("end", () => this.lost(client, undefined));
    try {
      await client.connect();
      for (const channel of this.subscribers.keys()) await this.listen(client, channel);
    } catch (error) {
      await client.end().catch(() => undefined);
      this.failedAttempts++;
      this.logger.warn({ err: error, attempt: this.failedAttempts }, "LISTEN connection failed; retrying");
      this.scheduleReconnect();
      return;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.failedAttempts = 0;
    this.connections++;
    if (this.connections > 1) {
      this.logger.info("LISTEN connection re-established");
      for (const channel of this.subscribers.keys()) this.deliver(channel);
    }
  }

  private async listen(client: pg.Client, channel: string): Promise<void> {
    await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
  }

  private deliver(channel: string): void {
    for (const wake of this.subscribers.get(channel) ?? []) {
      try {
        wake();
      } catch (error) {
        this.logger.error({ err: error, channel }, "notification subscriber failed");
      }
    }
  }

  private lost(client: pg.Client, error: Error | undefined): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    if (this.stopped) return;
    this.logger.warn({ err: error }, "LISTEN connection lost; reconnecting");
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer !== undefined) return;
    const { min, max } = this.options.reconnectDelayMs ?? { min: 100, max: 5_000 };
    const delay = Math.min(max, min * 2 ** Math.min(this.failedAttempts, 16));
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect().catch((error: unknown) => this.logger.error({ err: error }, "LISTEN reconnect failed"));
    }, delay);
    this.reconnectTimer.unref();
  }
}
