/**
 * A VM's serial console: everything QEMU's serial port prints goes to a log file and to subscribers, and is
 * kept (the last few MiB) so tests can wait for a line that may already have passed.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import { Readable, type Writable } from "node:stream";
import { StringDecoder } from "node:string_decoder";

export interface ConsoleWaitOptions {
  /** Default 60 s. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Only output after this position (from {@link VmConsole.position}) counts, e.g. output after a reset. */
  readonly after?: number;
}

/** The console did not show what was waited for; the message carries the console's last lines. */
export class ConsoleWaitError extends Error {
  constructor(
    message: string,
    readonly consoleTail: string,
  ) {
    super(`${message}\n--- last console output ---\n${consoleTail}\n---`);
    this.name = "ConsoleWaitError";
  }
}

interface Waiter {
  readonly pattern: RegExp;
  readonly after: number;
  readonly resolve: (match: RegExpExecArray) => void;
  readonly reject: (error: Error) => void;
}

const RETAINED_CHARS = 4 * 1024 * 1024;
const TAIL_CHARS = 3000;

export class VmConsole {
  private retained = "";
  /** Characters dropped from the front of `retained` to cap memory. */
  private dropped = 0;
  private readonly decoder = new StringDecoder("utf8");
  private readonly listeners = new Set<(text: string) => void>();
  private readonly waiters = new Set<Waiter>();
  private readonly endListeners = new Set<() => void>();
  private endedReason: string | undefined;
  private readonly file: WriteStream;

  constructor(
    /** The serial log file. */
    readonly path: string,
    private readonly input: Writable | null,
  ) {
    this.file = createWriteStream(path, { flags: "a" });
  }

  /** Characters received so far: a mark for {@link ConsoleWaitOptions.after}. */
  get position(): number {
    return this.dropped + this.retained.length;
  }

  /** The retained output (the last 4 MiB). */
  text(): string {
    return this.retained;
  }

  /** Retained output after a {@link VmConsole.position} mark. */
  since(position: number): string {
    return this.retained.slice(Math.max(0, position - this.dropped));
  }

  tail(chars = TAIL_CHARS): string {
    return this.retained.slice(-chars);
  }

  /** Calls `listener` with each piece of output; returns the unsubscribe function. */
  onData(listener: (text: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A live stream of the output from now on; it ends when the VM does. */
  createReadStream(): Readable {
    const stream = new Readable({ read(): void {} });
    const unsubscribe = this.onData((text) => stream.push(text));
    stream.once("close", unsubscribe);
    if (this.endedReason !== undefined) stream.push(null);
    else this.endListeners.add(() => stream.push(null));
    return stream;
  }

  /** Types on the serial console (the guest's shell reads it). */
  write(text: string): void {
    if (this.input === null || this.endedReason !== undefined)
      throw new Error("the console is not connected");
    this.input.write(text);
  }

  /** Resolves with the first match of `pattern` in the output (after `options.after`). */
  async waitFor(pattern: RegExp, options: ConsoleWaitOptions = {}): Promise<RegExpExecArray> {
    const after = options.after ?? 0;
    const immediate = this.match(pattern, after);
    if (immediate !== null) return immediate;
    if (this.endedReason !== undefined) {
      throw new ConsoleWaitError(`console never showed ${pattern}: ${this.endedReason}`, this.tail());
    }
    const timeoutMs = options.timeoutMs ?? 60_000;
    options.signal?.throwIfAborted();
    return await new Promise<RegExpExecArray>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        options.signal?.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter = {
        pattern,
        after,
        resolve: (match) => {
          done();
          resolve(match);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      };
      const timer = setTimeout(
        () =>
          waiter.reject(
            new ConsoleWaitError(`console did not show ${pattern} within ${timeoutMs} ms`, this.tail()),
          ),
        timeoutMs,
      );
      const onAbort = (): void =>
        waiter.reject(options.signal?.reason instanceof Error ? options.signal.reason : new Error("aborted"));
      options.signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  /** Feeds raw bytes from QEMU's serial output. */
  append(chunk: Buffer): void {
    const text = this.decoder.write(chunk);
    if (text === "") return;
    this.file.write(text);
    this.retained += text;
    if (this.retained.length > RETAINED_CHARS) {
      const excess = this.retained.length - RETAINED_CHARS;
      this.retained = this.retained.slice(excess);
      this.dropped += excess;
    }
    for (const listener of this.listeners) listener(text);
    for (const waiter of this.waiters) {
      const match = this.match(waiter.pattern, waiter.after);
      if (match !== null) waiter.resolve(match);
    }
  }

  /** The VM is gone: pending waits fail with `reason`, the log file is flushed and closed. */
  async end(reason: string): Promise<void> {
    if (this.endedReason !== undefined) return;
    this.endedReason = reason;
    for (const waiter of this.waiters) {
      waiter.reject(new ConsoleWaitError(`console wait ended: ${reason}`, this.tail()));
    }
    for (const listener of this.endListeners) listener();
    this.endListeners.clear();
    await new Promise<void>((resolve) => this.file.end(resolve));
  }

  private match(pattern: RegExp, after: number): RegExpExecArray | null {
    const flags = pattern.flags.replace(/[gy]/g, "");
    return new RegExp(pattern.source, flags).exec(this.since(after));
  }
}
