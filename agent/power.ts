/**
 * Acting on the server's answer. Power actions run `poweroff -f` / `reboot -f` only when the agent is
 * the image's init or its direct child; run by hand anywhere else it says what it would do instead, so
 * that trying the agent on a workstation never powers the workstation off.
 */
import { existsSync } from "node:fs";
import { AGENT_IMAGE_BOOT_ENV } from "../src/protocol/enrollment.ts";
import type { AgentConsole } from "./console.ts";
import type { CommandRunner } from "./probes/exec.ts";

export type PowerAction = "poweroff" | "reboot";

export interface PowerControl {
  perform(action: PowerAction, signal: AbortSignal): Promise<void>;
}

const POWER_COMMANDS: Readonly<Record<PowerAction, readonly [string, ...string[]]>> = {
  poweroff: ["poweroff", "-f"],
  reboot: ["reboot", "-f"],
};

/**
 * True inside the boot image: init (PID 1) started the agent or the agent is init, and the image's /init
 * left its mark. A parent of PID 1 alone is not enough: systemd services and orphaned jobs have it too.
 */
export function runsUnderInit(
  processInfo: { pid: number; ppid: number } = process,
  imageMarkerExists: () => boolean = () => existsSync(AGENT_IMAGE_BOOT_ENV),
): boolean {
  return (processInfo.pid === 1 || processInfo.ppid === 1) && imageMarkerExists();
}

export class SystemPowerControl implements PowerControl {
  constructor(
    private readonly runner: CommandRunner,
    private readonly console: AgentConsole,
    private readonly allowed: () => boolean = runsUnderInit,
  ) {}

  async perform(action: PowerAction, signal: AbortSignal): Promise<void> {
    const [command, ...args] = POWER_COMMANDS[action];
    const printable = [command, ...args].join(" ");
    if (!this.allowed()) {
      this.console.warn(`not running under the boot image's init: skipping "${printable}"`);
      return;
    }
    this.console.info(`running ${printable}`);
    const result = await this.runner.run(command, args, { timeoutMs: 30_000, signal });
    if (result.kind !== "exited" || result.exitCode !== 0) {
      const reason =
        result.kind === "exited" ? `exit ${result.exitCode}: ${result.stderr.trim()}` : result.message;
      this.console.error(`${printable} failed (${reason})`);
    }
  }
}

/** Stays up doing nothing until the process is told to stop (SIGTERM or SIGINT abort the signal). */
export function idleUntil(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    // A pending promise alone does not keep Node running; a timer does.
    const keepAlive = setInterval(() => {}, 60 * 60 * 1000);
    signal.addEventListener(
      "abort",
      () => {
        clearInterval(keepAlive);
        resolve();
      },
      { once: true },
    );
  });
}
