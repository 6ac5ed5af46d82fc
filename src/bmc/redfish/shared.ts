import { BmcError } from "../driver.ts";

/**
 * Work several callers share (the service root, a login, the system's topology) runs under a deadline of
 * its own; each caller waits for it or for its own signal, whichever comes first, so one caller giving up
 * never fails the others that joined the same work.
 */
export async function joinShared<T>(shared: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  const cancelled = (): BmcError => new BmcError("timeout", `${what}: cancelled by the caller`);
  if (signal.aborted) throw cancelled();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(cancelled());
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([shared, aborted]);
  } finally {
    if (onAbort !== undefined) signal.removeEventListener("abort", onAbort);
  }
}
