/**
 * The IPMI part of the lab: one OpenIPMI `ipmi_sim` per simulated machine, each a BMC on 127.0.0.1 at
 * a free UDP port, reachable with `ipmitool -I lanplus`. Power and boot device are wired to files the
 * lab watches (see emulation.ts), so a test sees what `chassis power on/off/cycle/reset/soft` and
 * `chassis bootdev` did, and `onBoot` tells it when the machine would start booting and from where.
 *
 *   const lab = await startIpmiLab({ machines: 2 });
 *   const [m] = lab.machines;  // m.endpoint → { address, port, username, password }
 *   ...
 *   await lab.stop();          // no ipmi_sim process is left behind
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { createSocket } from "node:dgram";
import {
  chmodSync,
  existsSync,
  type FSWatcher,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  watch,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  defaultSensors,
  emulatorCommands,
  fruFile,
  hookScript,
  type LabSensor,
  lanConf,
  type MachineEmulation,
  PSU_STATE,
  representable,
  sensorFile,
  sensorFileValue,
} from "./emulation.ts";
import { encodeFru } from "./fru.ts";

export type LabBootDevice = "none" | "pxe" | "disk" | "cdrom" | "bios";
export type LabPowerState = "on" | "off";
/** How the simulated OS answers an ACPI soft-off (`chassis power soft`): shut down, or ignore it. */
export type SoftOffBehaviour = "honour" | "ignore";

export type LabChassisEvent =
  | { readonly kind: "power"; readonly on: boolean; readonly at: number }
  | { readonly kind: "boot-device"; readonly device: LabBootDevice; readonly at: number }
  | { readonly kind: "reset"; readonly at: number }
  | { readonly kind: "soft-off"; readonly honoured: boolean; readonly at: number }
  | { readonly kind: "identify"; readonly at: number };

export interface LabBoot {
  readonly device: LabBootDevice;
  readonly cause: "power-on" | "reset";
}

export interface IpmiLabEndpoint {
  readonly address: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
}

export interface IpmiLabMachineOptions {
  readonly name?: string;
  readonly serial?: string;
  readonly uuid?: string;
  readonly username?: string;
  /** At most 16 characters of [A-Za-z0-9]; random when omitted. */
  readonly password?: string;
  readonly bmcMac?: string;
  readonly powerOn?: boolean;
  readonly manufacturer?: string;
  readonly productName?: string;
  /** "major.minor", e.g. "2.61". */
  readonly firmware?: string;
  readonly softOff?: SoftOffBehaviour;
}

export interface IpmiLabOptions {
  readonly machines: number | readonly IpmiLabMachineOptions[];
  readonly ipmiSimPath?: string;
  readonly ipmitoolPath?: string;
  /** Deadline for each simulator to answer IPMI, default 15 s. */
  readonly startTimeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface IpmiLabMachine {
  readonly name: string;
  readonly serial: string;
  readonly uuid: string;
  readonly bmcMac: string;
  readonly firmware: string;
  readonly manufacturer: string;
  readonly productName: string;
  readonly endpoint: IpmiLabEndpoint;
  /** The ipmi_sim process id. */
  readonly pid: number;
  powerState(): LabPowerState;
  bootDevice(): LabBootDevice;
  /** Every chassis action the BMC performed, oldest first. */
  events(): readonly LabChassisEvent[];
  waitForPower(state: LabPowerState, timeoutMs?: number): Promise<void>;
  /** Called when the machine would start booting (power on, or reset while on); returns an unsubscribe. */
  onBoot(listener: (boot: LabBoot) => void): () => void;
  /** Sets an analog sensor (by its SDR name) to a reading in its unit; returns the reading the BMC shows. */
  setSensor(name: string, value: number): number;
  setPowerSupply(index: 1 | 2, state: { readonly failed?: boolean; readonly acLost?: boolean }): void;
  setSoftOff(behaviour: SoftOffBehaviour): void;
}

export interface IpmiLab {
  readonly machines: readonly IpmiLabMachine[];
  stop(): Promise<void>;
}

const BOOT_DEVICES: Readonly<Record<string, LabBootDevice>> = {
  none: "none",
  pxe: "pxe",
  default: "disk",
  cdrom: "cdrom",
  bios: "bios",
};
const SETPRIV = "/usr/bin/setpriv";
const START_ATTEMPTS = 5;
const STOP_GRACE_MS = 3_000;

function randomPassword(): string {
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
  return [...randomBytes(16)].map((b) => alphabet[b % alphabet.length]).join("");
}

function randomMac(): string {
  // Locally administered unicast prefix, so it never collides with a real vendor's MAC.
  return ["02", "1b", "1a", ...[...randomBytes(3)].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

/** ipmitool prints the GUID bytes in reverse wire order; store them reversed so it shows `uuid`. */
function guidHexFor(uuid: string): string {
  const bytes = Buffer.from(uuid.replaceAll("-", ""), "hex");
  return Buffer.from(bytes.reverse()).toString("hex");
}

async function freeUdpPort(): Promise<number> {
  const socket = createSocket("udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, "127.0.0.1", () => resolve());
    });
    return socket.address().port;
  } finally {
    socket.close();
  }
}

function run(
  file: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: timeoutMs, killSignal: "SIGKILL" }, (error, stdout, stderr) => {
      resolve({ ok: error === null, output: `${stdout}${stderr}` });
    });
  });
}

class SimulatedMachine implements IpmiLabMachine {
  readonly endpoint: IpmiLabEndpoint;
  readonly #emulation: MachineEmulation;
  readonly #sensors: readonly LabSensor[];
  readonly #events: LabChassisEvent[] = [];
  readonly #bootListeners = new Set<(boot: LabBoot) => void>();
  readonly #changeListeners = new Set<() => void>();
  #watcher: FSWatcher | undefined;
  #eventsOffset = 0;
  #partialLine = "";
  #process: ChildProcess | undefined;
  #output = "";
  #exited: Promise<void> = Promise.resolve();

  constructor(
    emulation: MachineEmulation,
    readonly uuid: string,
    readonly serial: string,
    readonly manufacturer: string,
    readonly productName: string,
    private readonly initiallyOn: boolean,
  ) {
    this.#emulation = emulation;
    this.#sensors = emulation.sensors;
    this.endpoint = {
      address: "127.0.0.1",
      port: emulation.port,
      username: emulation.username,
      password: emulation.password,
    };
  }

  get name(): string {
    return this.#emulation.name;
  }
  get bmcMac(): string {
    return this.#emulation.bmcMac;
  }
  get firmware(): string {
    return this.#emulation.firmware;
  }
  get pid(): number {
    return this.#process?.pid ?? -1;
  }

  get alive(): boolean {
    const child = this.#process;
    return child?.pid !== undefined && child.exitCode === null && child.signalCode === null;
  }

  powerState(): LabPowerState {
    return readFileSync(path.join(this.#emulation.dir, "power"), "utf8").trim() === "1" ? "on" : "off";
  }

  bootDevice(): LabBootDevice {
    const raw = readFileSync(path.join(this.#emulation.dir, "boot"), "utf8").trim();
    return BOOT_DEVICES[raw] ?? "none";
  }

  events(): readonly LabChassisEvent[] {
    this.#readEvents();
    return [...this.#events];
  }

  async waitForPower(state: LabPowerState, timeoutMs = 10_000): Promise<void> {
    if (this.powerState() === state) return;
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (this.powerState() !== state) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: power did not turn ${state} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.#changeListeners.delete(check);
      };
      this.#changeListeners.add(check);
      check();
    });
  }

  onBoot(listener: (boot: LabBoot) => void): () => void {
    this.#bootListeners.add(listener);
    return () => this.#bootListeners.delete(listener);
  }

  setSensor(name: string, value: number): number {
    const sensor = this.#sensors.find((s) => s.record.name === name);
    if (sensor === undefined || sensor.kind !== "analog")
      throw new Error(`${this.name}: no analog sensor "${name}"`);
    this.#writeAtomic(sensorFile(this.#emulation.dir, sensor.record.number), sensorFileValue(sensor, value));
    return representable(sensor, value);
  }

  setPowerSupply(index: 1 | 2, state: { readonly failed?: boolean; readonly acLost?: boolean }): void {
    const sensor = this.#sensors.find((s) => s.record.name === `PSU${index} Status`);
    if (sensor === undefined) throw new Error(`${this.name}: no power supply ${index}`);
    const bits =
      PSU_STATE.presence | (state.failed ? PSU_STATE.failure : 0) | (state.acLost ? PSU_STATE.acLost : 0);
    this.#writeAtomic(sensorFile(this.#emulation.dir, sensor.record.number), sensorFileValue(sensor, bits));
  }

  setSoftOff(behaviour: SoftOffBehaviour): void {
    this.#writeAtomic(path.join(this.#emulation.dir, "acpi"), `${behaviour}\n`);
  }

  /** Writes the files, starts ipmi_sim and waits until it answers over IPMI. */
  async start(
    options: Required<Pick<IpmiLabOptions, "ipmiSimPath" | "ipmitoolPath" | "startTimeoutMs">>,
  ): Promise<void> {
    const m = this.#emulation;
    const hook = path.join(m.dir, "hook.sh");
    const stateDir = path.join(m.dir, "state");
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(path.join(m.dir, "lan.conf"), lanConf(m, hook));
    writeFileSync(path.join(m.dir, "sim.emu"), emulatorCommands(m));
    writeFileSync(hook, hookScript(m));
    chmodSync(hook, 0o700);
    writeFileSync(fruFile(m.dir), Buffer.from(encodeFru(m.fru)));
    writeFileSync(path.join(m.dir, "events"), "");
    for (const s of m.sensors)
      writeFileSync(sensorFile(m.dir, s.record.number), sensorFileValue(s, s.initial));

    const simArgs = [
      "-c",
      path.join(m.dir, "lan.conf"),
      "-f",
      path.join(m.dir, "sim.emu"),
      "-s",
      stateDir,
      "-n",
    ];
    // With setpriv the kernel kills ipmi_sim if this process dies without calling stop().
    const [file, args] = existsSync(SETPRIV)
      ? [SETPRIV, ["--pdeathsig", "KILL", "--", options.ipmiSimPath, ...simArgs]]
      : [options.ipmiSimPath, simArgs];
    const child = spawn(file, args, { cwd: m.dir, stdio: ["ignore", "pipe", "pipe"] });
    this.#process = child;
    const collect = (chunk: Buffer): void => {
      this.#output = `${this.#output}${chunk.toString("utf8")}`.slice(-8_192);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    this.#exited = new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.once("error", (error) => {
        collect(Buffer.from(`\n${error.message}\n`));
        resolve();
      });
    });

    this.#watcher = watch(m.dir, (_event, filename) => {
      // Some platforms do not say which file changed; reading the log again is cheap.
      if (filename === "events" || filename === null) this.#readEvents();
    });

    const deadline = Date.now() + options.startTimeoutMs;
    const env = { ...process.env, IPMI_PASSWORD: m.password, TZ: "UTC", LC_ALL: "C" };
    // Setting the SEL clock doubles as the readiness probe; without it ipmi_sim stamps entries "Pre-Init".
    const probe = [
      "-I",
      "lanplus",
      "-C",
      "3",
      "-N",
      "1",
      "-R",
      "1",
      "-H",
      "127.0.0.1",
      "-p",
      String(m.port),
      "-U",
      m.username,
      "-E",
      "sel",
      "time",
      "set",
      "now",
    ];
    for (;;) {
      if (!this.alive) {
        await this.#exited;
        throw new SimulatorStartError(this.name, this.#output);
      }
      const result = await Promise.race([
        run(options.ipmitoolPath, probe, env, 3_000),
        this.#exited.then(() => ({ ok: false, output: this.#output })),
      ]);
      if (result.ok) return;
      if (Date.now() > deadline) {
        throw new Error(
          `${this.name}: ipmi_sim did not answer within ${options.startTimeoutMs} ms: ${result.output}`,
        );
      }
    }
  }

  async stop(): Promise<void> {
    this.#watcher?.close();
    this.#watcher = undefined;
    const child = this.#process;
    if (child === undefined || !this.alive) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    await this.#exited;
    clearTimeout(timer);
  }

  /** For the process exit hook: synchronous and unconditional. */
  killNow(): void {
    if (this.alive) this.#process?.kill("SIGKILL");
  }

  #writeAtomic(file: string, content: string): void {
    writeFileSync(`${file}.tmp`, content);
    // rename is atomic, so ipmi_sim and the hook never read a half-written file.
    renameSync(`${file}.tmp`, file);
  }

  #readEvents(): void {
    let content: Buffer;
    try {
      content = readFileSync(path.join(this.#emulation.dir, "events"));
    } catch {
      return;
    }
    if (content.length <= this.#eventsOffset) return;
    const text = this.#partialLine + content.subarray(this.#eventsOffset).toString("utf8");
    this.#eventsOffset = content.length;
    const lines = text.split("\n");
    this.#partialLine = lines.pop() ?? "";
    for (const line of lines) {
      const event = parseEventLine(line);
      if (event === undefined) continue;
      const wasOn = this.#lastPower();
      this.#events.push(event);
      if (event.kind === "power" && event.on && !wasOn) this.#emitBoot("power-on");
      if (event.kind === "reset" && wasOn) this.#emitBoot("reset");
    }
    for (const listener of [...this.#changeListeners]) listener();
  }

  #lastPower(): boolean {
    for (let i = this.#events.length - 1; i >= 0; i--) {
      const e = this.#events[i];
      if (e?.kind === "power") return e.on;
    }
    return this.initiallyOn;
  }

  #emitBoot(cause: LabBoot["cause"]): void {
    const boot = { device: this.bootDevice(), cause };
    for (const listener of [...this.#bootListeners]) listener(boot);
  }
}

function parseEventLine(line: string): LabChassisEvent | undefined {
  const [stamp, kind, value] = line.trim().split(/\s+/);
  const at = Number(stamp);
  if (!Number.isFinite(at)) return undefined;
  switch (kind) {
    case "power":
      return { kind: "power", on: value === "1", at };
    case "boot":
      return { kind: "boot-device", device: BOOT_DEVICES[value ?? ""] ?? "none", at };
    case "reset":
      return { kind: "reset", at };
    case "shutdown":
      return { kind: "soft-off", honoured: true, at };
    case "shutdown-ignored":
      return { kind: "soft-off", honoured: false, at };
    case "identify":
      return { kind: "identify", at };
    default:
      return undefined;
  }
}

class SimulatorStartError extends Error {
  constructor(
    readonly machine: string,
    readonly output: string,
  ) {
    super(`${machine}: ipmi_sim exited during start: ${output.trim() || "(no output)"}`);
  }
  get portTaken(): boolean {
    return /Unable to bind to LAN port/.test(this.output);
  }
}

export async function startIpmiLab(options: IpmiLabOptions): Promise<IpmiLab> {
  const specs: readonly IpmiLabMachineOptions[] =
    typeof options.machines === "number"
      ? Array.from({ length: options.machines }, () => ({}))
      : options.machines;
  const settings = {
    ipmiSimPath: options.ipmiSimPath ?? "/usr/bin/ipmi_sim",
    ipmitoolPath: options.ipmitoolPath ?? "ipmitool",
    startTimeoutMs: options.startTimeoutMs ?? 15_000,
  };
  const labId = randomBytes(3).toString("hex").toUpperCase();
  const root = mkdtempSync(path.join(tmpdir(), "ingot-ipmi-lab-"));
  chmodSync(root, 0o700);
  const machines: SimulatedMachine[] = [];
  const killAll = (): void => {
    for (const m of machines) m.killNow();
  };
  process.once("exit", killAll);

  const stop = async (): Promise<void> => {
    await Promise.all(machines.map((m) => m.stop()));
    process.removeListener("exit", killAll);
    rmSync(root, { recursive: true, force: true });
  };

  try {
    for (const [i, spec] of specs.entries()) {
      options.signal?.throwIfAborted();
      const name = spec.name ?? `lab-bmc-${i + 1}`;
      if (!/^[A-Za-z0-9_.-]{1,32}$/.test(name)) throw new Error(`machine name "${name}" is not usable`);
      const dir = path.join(root, name);
      mkdirSync(dir);
      const password = spec.password ?? randomPassword();
      if (!/^[A-Za-z0-9]{1,16}$/.test(password))
        throw new Error("a lab BMC password is 1-16 letters or digits");
      const uuid = spec.uuid ?? randomUUID();
      const serial = spec.serial ?? `ILAB${labId}${String(i + 1).padStart(3, "0")}`;
      const manufacturer = spec.manufacturer ?? "Ingot Lab";
      const productName = spec.productName ?? "Simulated Server S1";
      const powerOn = spec.powerOn ?? false;
      writeFileSync(path.join(dir, "power"), powerOn ? "1\n" : "0\n");
      writeFileSync(path.join(dir, "boot"), "none\n");
      writeFileSync(path.join(dir, "acpi"), `${spec.softOff ?? "honour"}\n`);

      let started: SimulatedMachine | undefined;
      for (let attempt = 1; started === undefined; attempt++) {
        const emulation: MachineEmulation = {
          name,
          dir,
          port: await freeUdpPort(),
          username: spec.username ?? "admin",
          password,
          guidHex: guidHexFor(uuid),
          bmcMac: spec.bmcMac ?? randomMac(),
          firmware: spec.firmware ?? "2.61",
          manufacturerId: 0x1291,
          productId: 0x0f02,
          fru: {
            chassisType: 0x17,
            chassisPartNumber: "ILAB-CH-1U",
            chassisSerial: serial,
            boardManufactured: new Date(Date.UTC(2024, 2, 1, 10, 0)),
            boardManufacturer: manufacturer,
            boardProduct: "ILAB-MB-01",
            boardSerial: `B${serial}`,
            boardPartNumber: "ILAB-MB-01-A00",
            productManufacturer: manufacturer,
            productName,
            productPartNumber: "ILAB-S1",
            productVersion: "A00",
            productSerial: serial,
            productAssetTag: name,
          },
          sensors: defaultSensors(powerOn),
        };
        const machine = new SimulatedMachine(emulation, uuid, serial, manufacturer, productName, powerOn);
        machines.push(machine);
        try {
          await machine.start(settings);
          started = machine;
        } catch (error) {
          await machine.stop();
          machines.pop();
          // Another process can take the port between probing it and ipmi_sim binding it: try another.
          if (!(error instanceof SimulatorStartError && error.portTaken && attempt < START_ATTEMPTS))
            throw error;
        }
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { machines, stop };
}
