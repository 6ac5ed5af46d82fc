/**
 * The agent talks to whoever watches the machine's serial console: plain ASCII-friendly lines with a
 * UTC timestamp, no colours, no JSON.
 */
export interface AgentConsole {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export class LineConsole implements AgentConsole {
  constructor(
    private readonly write: (line: string) => void = (line) => process.stdout.write(line),
    private readonly clock: () => Date = () => new Date(),
  ) {}

  private line(prefix: string, message: string): void {
    const time = this.clock()
      .toISOString()
      .replace(/\.\d{3}Z$/, "Z");
    for (const text of message.split("\n")) this.write(`${time} ingot-agent: ${prefix}${text}\n`);
  }

  info(message: string): void {
    this.line("", message);
  }

  warn(message: string): void {
    this.line("WARNING: ", message);
  }

  error(message: string): void {
    this.line("ERROR: ", message);
  }
}
