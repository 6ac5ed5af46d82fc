/**
 * A QEMU Machine Protocol client: JSON lines over QEMU's unix socket (`-qmp unix:<path>,server=on,wait=off`).
 * Commands are matched to replies by `id`; asynchronous events (SHUTDOWN, RESET, POWERDOWN, STOP, RESUME)
 * go to subscribers. A Redfish BMC simulator drives a VM through this client only.
 */
import { createConnection, type Socket } from "node:net";
import { setTimeout as delay } from "node:timers/promises";

export interface QmpEvent {
  readonly event: string;
  readonly data: Record<string, unknown>;
  readonly timestamp: { readonly seconds: number; readonly microseconds: number };
}

export interface QmpCallOptions {
  /** Default 10 s. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** What `query-status` reports: `running`, `paused`, `shutdown`, `prelaunch`, … */
export interface QmpStatus {
  readonly running: boolean;
  readonly status: string;
}

/** Boot devices in the order the firmware tries them (SeaBIOS reads the order at each reset). */
export type BootDevice = "network" | "disk" | "cdrom";

const BOOT_DEVICE_LETTER: Readonly<Record<BootDevice, string>> = { network: "n", disk: "c", cdrom: "d" };

/** A command QEMU refused (`{"error": {"class": …, "desc": …}}`), or a connection problem. */
export class QmpError extends Error {
  constructor(
    message: string,
    readonly errorClass: string | undefined,
  ) {
    super(message);
    this.name = "QmpError";
  }
}

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

export class QmpClient {
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Set<(event: QmpEvent) => void>();
  private nextId = 1;
  private buffer = "";
  private closedError: Error | undefined;
  private readonly closedPromise: Promise<void>;

  private constructor(
    private readonly socket: Socket,
    readonly greeting: Record<string, unknown>,
    initialBuffer: string,
  ) {
    this.buffer = initialBuffer;
    socket.on("data", (chunk: Buffer) => this.receive(chunk.toString("utf8")));
    socket.resume();
    this.closedPromise = new Promise<void>((resolve) => {
      socket.once("close", () => {
        this.closedError ??= new QmpError("QMP connection closed", undefined);
        for (const pending of this.pending.values()) pending.reject(this.closedError);
        this.pending.clear();
        resolve();
      });
    });
    socket.on("error", (error) => {
      this.closedError = new QmpError(`QMP connection failed: ${error.message}`, undefined);
    });
    this.drain();
  }

  /**
   * Connects to a QMP socket and negotiates capabilities. Retries while the socket is not there yet (QEMU
   * still starting) until the deadline; `isAlive` lets the caller stop waiting for a QEMU that already died.
   */
  static async connect(
    socketPath: string,
    options: QmpCallOptions & { readonly isAlive?: () => boolean } = {},
  ): Promise<QmpClient> {
    const deadline = Date.now() + (options.timeoutMs ?? 15_000);
    let lastError: Error | undefined;
    while (Date.now() < deadline) {
      options.signal?.throwIfAborted();
      if (options.isAlive?.() === false) break;
      try {
        const { socket, greeting, rest } = await openSocket(socketPath, deadline - Date.now());
        const client = new QmpClient(socket, greeting, rest);
        try {
          await client.execute("qmp_capabilities", {}, options);
          return client;
        } catch (error) {
          client.close();
          throw error;
        }
      } catch (error) {
        lastError = error as Error;
        await delay(50, undefined, { signal: options.signal });
      }
    }
    throw new QmpError(
      `could not connect to QMP at ${socketPath}${lastError ? `: ${lastError.message}` : ""}`,
      undefined,
    );
  }

  /** Runs a QMP command and returns its `return` value. */
  async execute(
    command: string,
    args: Record<string, unknown> = {},
    options: QmpCallOptions = {},
  ): Promise<unknown> {
    if (this.closedError !== undefined) throw this.closedError;
    options.signal?.throwIfAborted();
    const id = `ingot-${this.nextId++}`;
    const timeoutMs = options.timeoutMs ?? 10_000;
    return await new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpError(`QMP ${command} got no answer within ${timeoutMs} ms`, undefined));
      }, timeoutMs);
      const onAbort = (): void => {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(options.signal?.reason instanceof Error ? options.signal.reason : new Error("aborted"));
      };
      options.signal?.addEventListener("abort", onAbort, { once: true });
      const settle = (): void => {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
      };
      this.pending.set(id, {
        resolve: (value) => {
          settle();
          resolve(value);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      });
      const message =
        Object.keys(args).length === 0 ? { execute: command, id } : { execute: command, arguments: args, id };
      this.socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  async queryStatus(options: QmpCallOptions = {}): Promise<QmpStatus> {
    const result = (await this.execute("query-status", {}, options)) as {
      running?: unknown;
      status?: unknown;
    };
    return { running: result.running === true, status: String(result.status) };
  }

  /** Hard reset, like the reset button. */
  async systemReset(options: QmpCallOptions = {}): Promise<void> {
    await this.execute("system_reset", {}, options);
  }

  /** ACPI power button: the guest OS decides whether to shut down. */
  async systemPowerdown(options: QmpCallOptions = {}): Promise<void> {
    await this.execute("system_powerdown", {}, options);
  }

  /** Freezes the virtual CPUs (QEMU keeps running). */
  async pause(options: QmpCallOptions = {}): Promise<void> {
    await this.execute("stop", {}, options);
  }

  async resume(options: QmpCallOptions = {}): Promise<void> {
    await this.execute("cont", {}, options);
  }

  /** Ends QEMU at once. Resolves when QEMU acknowledged it or closed the connection. */
  async quit(options: QmpCallOptions = {}): Promise<void> {
    try {
      await this.execute("quit", {}, options);
    } catch (error) {
      if (!(error instanceof QmpError && error.message === "QMP connection closed")) throw error;
    }
  }

  /**
   * The boot order from the next reset on. Uses the monitor's `boot_set`, which rewrites the order that
   * SeaBIOS reads from CMOS; it applies because the runner starts VMs with `-boot order=` and no bootindex.
   */
  async setBootOrder(order: readonly BootDevice[], options: QmpCallOptions = {}): Promise<void> {
    if (order.length === 0) throw new Error("boot order needs at least one device");
    const letters = order.map((device) => BOOT_DEVICE_LETTER[device]).join("");
    const output = await this.humanMonitorCommand(`boot_set ${letters}`, options);
    // HMP answers in prose: "boot device list now set to nc" on success, an explanation otherwise.
    if (!output.includes(`now set to ${letters}`)) {
      throw new QmpError(`boot_set ${letters} failed: ${output.trim()}`, undefined);
    }
  }

  /** A human monitor (HMP) command, for what QMP lacks; returns its text output. */
  async humanMonitorCommand(commandLine: string, options: QmpCallOptions = {}): Promise<string> {
    return String(await this.execute("human-monitor-command", { "command-line": commandLine }, options));
  }

  /** Calls `listener` for each asynchronous event; returns the unsubscribe function. */
  onEvent(listener: (event: QmpEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The next event named `name` (for example `RESET`, `SHUTDOWN`). */
  async waitForEvent(name: string, options: QmpCallOptions = {}): Promise<QmpEvent> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    return await new Promise<QmpEvent>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        unsubscribe();
        options.signal?.removeEventListener("abort", onAbort);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new QmpError(`no QMP event ${name} within ${timeoutMs} ms`, undefined));
      }, timeoutMs);
      const onAbort = (): void => {
        cleanup();
        reject(options.signal?.reason instanceof Error ? options.signal.reason : new Error("aborted"));
      };
      options.signal?.addEventListener("abort", onAbort, { once: true });
      const unsubscribe = this.onEvent((event) => {
        if (event.event !== name) return;
        cleanup();
        resolve(event);
      });
    });
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  close(): void {
    this.socket.destroy();
  }

  /** Resolves once the connection is closed (QEMU exited or close() was called). */
  async whenClosed(): Promise<void> {
    await this.closedPromise;
  }

  private receive(text: string): void {
    this.buffer += text;
    this.drain();
  }

  private drain(): void {
    let newline = this.buffer.indexOf("\n");
    while (newline >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line !== "") this.dispatch(line);
      newline = this.buffer.indexOf("\n");
    }
  }

  private dispatch(line: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (typeof message.event === "string") {
      const event: QmpEvent = {
        event: message.event,
        data: (message.data as Record<string, unknown> | undefined) ?? {},
        timestamp: (message.timestamp as QmpEvent["timestamp"] | undefined) ?? {
          seconds: 0,
          microseconds: 0,
        },
      };
      for (const listener of this.listeners) listener(event);
      return;
    }
    const id = typeof message.id === "string" ? message.id : undefined;
    const pending = id === undefined ? undefined : this.pending.get(id);
    if (pending === undefined || id === undefined) return;
    this.pending.delete(id);
    if ("error" in message) {
      const error = message.error as { class?: unknown; desc?: unknown };
      pending.reject(
        new QmpError(`QMP: ${String(error.desc)}`, typeof error.class === "string" ? error.class : undefined),
      );
    } else {
      pending.resolve(message.return);
    }
  }
}

/** Opens the socket and reads QEMU's greeting line; returns whatever followed it. */
async function openSocket(
  socketPath: string,
  timeoutMs: number,
): Promise<{ socket: Socket; greeting: Record<string, unknown>; rest: string }> {
  return await new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let buffer = "";
    const timer = setTimeout(() => fail(new Error("no QMP greeting")), Math.max(timeoutMs, 100));
    const fail = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString("utf8");
      const newline = buffer.indexOf("\n");
      if (newline < 0) return;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", fail);
      socket.pause();
      try {
        const greeting = JSON.parse(buffer.slice(0, newline)) as Record<string, unknown>;
        if (!("QMP" in greeting)) throw new Error("not a QMP greeting");
        resolve({ socket, greeting, rest: buffer.slice(newline + 1) });
      } catch (error) {
        fail(error as Error);
      }
    };
    socket.on("data", onData);
    socket.once("error", fail);
  });
}
