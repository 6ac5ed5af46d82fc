/**
 * The SSH side of a simulated NVSwitch: an ssh2 server with a host key generated at start and password
 * authentication, giving the `nv` CLI as an exec command or an interactive shell. While the switch OS is
 * not up the port is closed (connections refused) and open sessions are cut, as during a real reboot.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import ssh2, { type Connection, type ServerChannel } from "ssh2";
import { type CliIo, runCommand } from "./cli.ts";
import type { SimulatedNvos } from "./nvos.ts";

export interface SshCredentials {
  readonly username: string;
  readonly password: string;
}

export interface SshHostKey {
  readonly privateKey: string;
  /** OpenSSH's `SHA256:…` fingerprint of the public key. */
  readonly fingerprint: string;
}

export function generateHostKey(): SshHostKey {
  // ssh2 drops a leading zero byte of an ed25519 public key (mscdex/ssh2#1390), so about one key in 256
  // does not parse; another key does.
  for (let attempt = 1; ; attempt++) {
    const pair = ssh2.utils.generateKeyPairSync("ed25519");
    const parsed = ssh2.utils.parseKey(pair.private);
    if (parsed instanceof Error) {
      if (attempt < 8) continue;
      throw parsed;
    }
    const fingerprint = createHash("sha256")
      .update(parsed.getPublicSSH())
      .digest("base64")
      .replace(/=+$/, "");
    return { privateKey: pair.private, fingerprint: `SHA256:${fingerprint}` };
  }
}

export class NvosSshServer {
  private readonly ssh: ssh2.Server;
  private readonly listener: NetServer;
  private readonly sockets = new Set<Socket>();
  private bound: { readonly host: string; readonly port: number } | undefined;
  private listening = false;
  private closed = false;
  /** Serializes opening and closing the port as the switch goes up and down quickly. */
  private transition: Promise<void> = Promise.resolve();
  private logins = 0;

  constructor(
    private readonly nvos: SimulatedNvos,
    hostKey: SshHostKey,
    private readonly credentials: SshCredentials,
  ) {
    this.ssh = new ssh2.Server(
      { hostKeys: [hostKey.privateKey], ident: "SSH-2.0-OpenSSH_8.4p1 Debian-5+deb11u3" },
      (client) => this.accept(client),
    );
    this.listener = createServer((socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
      socket.on("error", () => undefined);
      this.ssh.injectSocket(socket);
    });
  }

  /** Successful logins so far. */
  get loginCount(): number {
    return this.logins;
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.listener.once("error", reject);
      this.listener.listen(port, host, () => {
        this.listener.off("error", reject);
        resolve();
      });
    });
    const address = this.listener.address();
    const bound = typeof address === "object" && address !== null ? address.port : port;
    this.bound = { host, port: bound };
    this.listening = true;
    return bound;
  }

  /** Opens the port when the OS is up, closes it (and cuts every session) otherwise. */
  async follow(up: boolean): Promise<void> {
    this.transition = this.transition.then(async () => {
      if (this.closed || this.bound === undefined) return;
      if (up && !this.listening) {
        await this.listen(this.bound.host, this.bound.port);
      } else if (!up && this.listening) {
        this.listening = false;
        await this.shut();
      }
    });
    await this.transition;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.transition;
    if (!this.listening) {
      for (const socket of this.sockets) socket.destroy();
      return;
    }
    this.listening = false;
    await this.shut();
  }

  private async shut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private accept(client: Connection): void {
    client.on("error", () => undefined);
    client.on("authentication", (context) => {
      if (context.method === "password" && this.matches(context.username, context.password)) {
        context.accept();
        this.logins++;
        return;
      }
      context.reject(["password"]);
    });
    client.on("ready", () => {
      client.on("session", (acceptSession) => {
        const session = acceptSession();
        let pty = false;
        session.on("pty", (accept) => {
          pty = true;
          accept?.();
        });
        session.on("env", (accept) => accept?.());
        session.on("exec", (accept, _reject, info) => {
          const channel = accept();
          void this.exec(channel, info.command, pty);
        });
        session.on("shell", (accept) => {
          const channel = accept();
          void this.shell(channel, client);
        });
      });
    });
  }

  private matches(username: string, password: string): boolean {
    const same = (a: string, b: string): boolean => {
      const left = Buffer.from(a);
      const right = Buffer.from(b);
      return left.length === right.length && timingSafeEqual(left, right);
    };
    return same(username, this.credentials.username) && same(password, this.credentials.password);
  }

  private async exec(channel: ServerChannel, command: string, pty: boolean): Promise<void> {
    const lines = new LineReader(channel, false);
    const newline = (text: string): string => (pty ? text.replace(/\n/g, "\r\n") : text);
    const io: CliIo = {
      out: (text) => write(channel, newline(text)),
      // Without a terminal, errors go to stderr as a shell's would.
      err: (text) => (pty ? write(channel, newline(text)) : writeStderr(channel, text)),
      readLine: () => lines.next(),
    };
    const status = await runCommand(this.nvos, command, io).catch((error: unknown) => {
      io.err(`Error: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    });
    if (channel.destroyed || channel.writableEnded) return;
    channel.exit(status);
    channel.end();
  }

  /** An interactive login shell: a prompt, echo, line editing enough for a person at a terminal. */
  private async shell(channel: ServerChannel, client: Connection): Promise<void> {
    const lines = new LineReader(channel, true);
    const prompt = `${this.credentials.username}@${this.nvos.hostname}:~$ `;
    const io: CliIo = {
      out: (text) => write(channel, text.replace(/\n/g, "\r\n")),
      err: (text) => write(channel, text.replace(/\n/g, "\r\n")),
      readLine: () => lines.next(),
    };
    write(channel, `Welcome to NVOS ${this.nvos.version} (${this.nvos.platform})\r\n\r\n`);
    for (;;) {
      write(channel, prompt);
      const line = await lines.next();
      if (line === undefined || ["exit", "logout"].includes(line.trim())) break;
      await runCommand(this.nvos, line, io);
    }
    if (!channel.destroyed && !channel.writableEnded) {
      write(channel, "logout\r\n");
      channel.exit(0);
      channel.end();
    }
    client.end();
  }
}

function write(channel: ServerChannel, text: string): void {
  if (!channel.destroyed && !channel.writableEnded) channel.write(text);
}

function writeStderr(channel: ServerChannel, text: string): void {
  if (!channel.destroyed && !channel.writableEnded) channel.stderr.write(text);
}

/** Lines typed into a channel; with echo, what a terminal user types is shown and can be edited. */
class LineReader {
  private buffer = "";
  private readonly ready: string[] = [];
  private waiting: ((line: string | undefined) => void) | undefined;
  private ended = false;

  constructor(
    private readonly channel: ServerChannel,
    private readonly echo: boolean,
  ) {
    channel.on("data", (chunk: Buffer) => this.receive(chunk.toString("utf8")));
    channel.on("end", () => this.finish());
    channel.on("close", () => this.finish());
  }

  async next(): Promise<string | undefined> {
    const line = this.ready.shift();
    if (line !== undefined) return line;
    if (this.ended) return undefined;
    return await new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  private receive(text: string): void {
    for (const char of text) {
      if (char === "\r" || char === "\n") {
        if (this.echo) write(this.channel, "\r\n");
        this.deliver(this.buffer);
        this.buffer = "";
      } else if (char === "\x7f" || char === "\b") {
        if (this.buffer.length > 0) {
          this.buffer = this.buffer.slice(0, -1);
          if (this.echo) write(this.channel, "\b \b");
        }
      } else if (char === "\x03") {
        // Ctrl-C drops the line being typed.
        if (this.echo) write(this.channel, "^C\r\n");
        this.buffer = "";
        this.deliver("");
      } else if (char === "\x04" && this.buffer === "") {
        this.finish();
      } else if (char >= " ") {
        this.buffer += char;
        if (this.echo) write(this.channel, char);
      }
    }
  }

  private deliver(line: string): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting !== undefined) waiting(line);
    else this.ready.push(line);
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.(undefined);
  }
}
