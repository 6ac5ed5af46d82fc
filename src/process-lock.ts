import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";

/**
 * A lock file naming the process that holds it by pid and start time, so a pid reused since a crash (in a
 * container the server is pid 1 after every restart) is told apart from the live holder.
 */
export class LockHeldError extends Error {
  override name = "LockHeldError";
  constructor(
    readonly lockFile: string,
    readonly holderPid: number,
  ) {
    super(`${lockFile} is held by pid ${holderPid}`);
  }
}

/** Takes the lock or throws LockHeldError; returns the release function. Other errors pass through. */
export function acquireProcessLock(lockFile: string): () => void {
  const identity = processIdentity(process.pid);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockFile, "wx", 0o644);
      writeSync(fd, identity ?? String(process.pid));
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(lockFile, "utf8").trim() === identity) unlinkSync(lockFile);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const recorded = readFileSync(lockFile, "utf8").trim();
      const holderPid = Number(recorded.split(":")[0]);
      if (Number.isInteger(holderPid) && holderPid > 0 && processIdentity(holderPid) === recorded) {
        throw new LockHeldError(lockFile, holderPid);
      }
      unlinkSync(lockFile);
    }
  }
  throw new LockHeldError(lockFile, 0);
}

/** `<pid>:<start time in clock ticks since boot>`, or undefined when no such process runs. */
function processIdentity(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return `${pid}:${fields[19]}`;
  } catch {
    return undefined;
  }
}
