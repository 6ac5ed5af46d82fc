/**
 * A PXE client's DHCP conversation, run inside a client network namespace (`ip netns exec … node --import tsx
 * dnsmasq-pxe-probe.ts '<json>'`): DISCOVER with PXE vendor class and client architecture, collect every
 * OFFER (address offers and proxy-DHCP offers), REQUEST the address, configure it, then fetch the boot file
 * from the proxy (its offer, or the PXE boot server on port 4011) as firmware does. Prints one JSON object.
 * busybox udhcpc cannot do this: it takes the first offer, even a proxy's offer of no address, and never
 * talks to port 4011.
 */
import { spawnSync } from "node:child_process";
import { randomInt } from "node:crypto";
import dgram from "node:dgram";

export interface ProbeRequest {
  readonly interface: string;
  readonly mac: string;
  readonly arch: number;
  readonly userClass?: string;
  /** How long to collect offers (less when both an address and a proxy offer came); then 5 s a step. */
  readonly timeoutMs: number;
}

export interface ProbeOffer {
  readonly server: string;
  readonly yiaddr: string;
  readonly siaddr: string;
  readonly file: string;
  readonly vendorClass: string | undefined;
}

export interface ProbeResult {
  readonly offers: readonly ProbeOffer[];
  readonly lease: { readonly address: string; readonly server: string } | undefined;
  readonly boot:
    | { readonly via: "proxy-offer" | "boot-server"; readonly server: string; readonly file: string }
    | undefined;
}

const DHCP_MAGIC = 0x63825363;
const DISCOVER = 1;
const OFFER = 2;
const REQUEST = 3;
const ACK = 5;
const STEP_MS = 5_000;

interface Packet {
  readonly op: number;
  readonly xid: number;
  readonly ciaddr: string;
  readonly yiaddr: string;
  readonly siaddr: string;
  readonly file: string;
  readonly options: ReadonlyMap<number, Buffer>;
}

function encode(
  request: ProbeRequest,
  xid: number,
  type: number,
  extra: [number, Buffer][],
  ciaddr = "0.0.0.0",
): Buffer {
  const header = Buffer.alloc(240);
  header[0] = 1;
  header[1] = 1;
  header[2] = 6;
  header.writeUInt32BE(xid, 4);
  header.writeUInt16BE(0x8000, 10); // broadcast flag, as PXE firmware sets it
  Buffer.from(ciaddr.split(".").map(Number)).copy(header, 12);
  Buffer.from(request.mac.replace(/:/g, ""), "hex").copy(header, 28);
  header.writeUInt32BE(DHCP_MAGIC, 236);
  const arch = String(request.arch).padStart(5, "0");
  const options: [number, Buffer][] = [
    [53, Buffer.from([type])],
    [93, Buffer.from([request.arch >> 8, request.arch & 0xff])],
    [94, Buffer.from([1, 2, 1])],
    [97, Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 0x42)])],
    [60, Buffer.from(`PXEClient:Arch:${arch}:UNDI:003016`)],
    ...(request.userClass === undefined ? [] : [[77, Buffer.from(request.userClass)] as [number, Buffer]]),
    ...extra,
    [55, Buffer.from([1, 3, 43, 60, 66, 67])],
  ];
  return Buffer.concat([
    header,
    ...options.map(([code, value]) => Buffer.concat([Buffer.from([code, value.length]), value])),
    Buffer.from([255]),
  ]);
}

function decode(message: Buffer): Packet | undefined {
  if (message.length < 240 || message.readUInt32BE(236) !== DHCP_MAGIC) return undefined;
  const address = (offset: number): string => [...message.subarray(offset, offset + 4)].join(".");
  const options = new Map<number, Buffer>();
  for (let at = 240; at < message.length; ) {
    const code = message[at] ?? 255;
    if (code === 255) break;
    if (code === 0) {
      at += 1;
      continue;
    }
    const length = message[at + 1] ?? 0;
    options.set(code, message.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
  return {
    op: message[0] ?? 0,
    xid: message.readUInt32BE(4),
    ciaddr: address(12),
    yiaddr: address(16),
    siaddr: address(20),
    file: message.subarray(108, 236).toString("latin1").replace(/\0.*$/s, ""),
    options,
  };
}

/** PXE vendor options (option 43): boot menu item types, in menu order (sub-option 9). */
function menuItemTypes(option43: Buffer | undefined): number[] {
  const types: number[] = [];
  for (let at = 0; option43 !== undefined && at + 1 < option43.length; ) {
    const code = option43[at] ?? 255;
    if (code === 255) break;
    const length = option43[at + 1] ?? 0;
    const value = option43.subarray(at + 2, at + 2 + length);
    if (code === 9) {
      for (let item = 0; item + 2 < value.length; item += 3 + (value[item + 2] ?? 0))
        types.push(value.readUInt16BE(item));
    }
    at += 2 + length;
  }
  return types;
}

function ipv4(buffer: Buffer | undefined): string | undefined {
  return buffer?.length === 4 ? [...buffer].join(".") : undefined;
}

async function conversation(
  socket: dgram.Socket,
  send: () => void,
  accept: (packet: Packet, from: string) => boolean,
  deadline: number,
): Promise<void> {
  await new Promise<void>((resolve) => {
    const onMessage = (message: Buffer, remote: dgram.RemoteInfo): void => {
      const packet = decode(message);
      if (packet !== undefined && packet.op === 2 && accept(packet, remote.address)) finish();
    };
    const retransmit = setInterval(send, 1000);
    const timer = setTimeout(finish, Math.max(0, deadline - Date.now()));
    function finish(): void {
      clearInterval(retransmit);
      clearTimeout(timer);
      socket.off("message", onMessage);
      resolve();
    }
    socket.on("message", onMessage);
    send();
  });
}

async function probe(request: ProbeRequest): Promise<ProbeResult> {
  // An unconfigured interface has no route for the limited broadcast a DHCP client sends.
  spawnSync("ip", ["route", "replace", "255.255.255.255", "dev", request.interface]);
  const socket = dgram.createSocket({ type: "udp4", reuseAddr: true });
  await new Promise<void>((resolve) => socket.bind(68, "0.0.0.0", resolve));
  socket.setBroadcast(true);
  const xid = randomInt(1, 0x7fffffff);
  const offers: (ProbeOffer & { packet: Packet })[] = [];
  const discover = encode(request, xid, DISCOVER, []);
  await conversation(
    socket,
    () => socket.send(discover, 67, "255.255.255.255"),
    (packet, from) => {
      if (packet.xid !== xid || packet.options.get(53)?.[0] !== OFFER) return false;
      const vendorClass = packet.options.get(60)?.toString("latin1");
      const server = ipv4(packet.options.get(54)) ?? from;
      offers.push({
        server,
        yiaddr: packet.yiaddr,
        siaddr: packet.siaddr,
        file: packet.file,
        vendorClass,
        packet,
      });
      const hasAddress = offers.some((offer) => offer.yiaddr !== "0.0.0.0");
      const hasProxy = offers.some((offer) => offer.yiaddr === "0.0.0.0");
      return hasAddress && hasProxy;
    },
    Date.now() + request.timeoutMs,
  );

  let lease: ProbeResult["lease"];
  const addressOffer = offers.find((offer) => offer.yiaddr !== "0.0.0.0");
  if (addressOffer !== undefined) {
    const request3 = encode(request, xid, REQUEST, [
      [50, Buffer.from(addressOffer.yiaddr.split(".").map(Number))],
      [54, Buffer.from(addressOffer.server.split(".").map(Number))],
    ]);
    let acked: Packet | undefined;
    await conversation(
      socket,
      () => socket.send(request3, 67, "255.255.255.255"),
      (packet) => {
        if (packet.xid !== xid || packet.options.get(53)?.[0] !== ACK) return false;
        acked = packet;
        return true;
      },
      Date.now() + STEP_MS,
    );
    if (acked !== undefined) {
      const mask = ipv4(acked.options.get(1)) ?? "255.255.255.0";
      const prefix = mask
        .split(".")
        .reduce((bits, octet) => bits + Number(octet).toString(2).replace(/0/g, "").length, 0);
      spawnSync("ip", ["addr", "replace", `${acked.yiaddr}/${prefix}`, "dev", request.interface]);
      lease = { address: acked.yiaddr, server: addressOffer.server };
    }
  }
  socket.close();

  let boot: ProbeResult["boot"];
  const proxyOffer = offers.find((offer) => offer.yiaddr === "0.0.0.0" && offer.vendorClass === "PXEClient");
  if (proxyOffer !== undefined && proxyOffer.file !== "") {
    boot = { via: "proxy-offer", server: proxyOffer.server, file: proxyOffer.file };
  } else if (proxyOffer !== undefined && lease !== undefined) {
    // The proxy is a PXE boot server: ask it on port 4011 for the first menu item (UEFI firmware gets no
    // menu and asks without one), from the address the DHCP server gave us.
    const items = menuItemTypes(proxyOffer.packet.options.get(43));
    const bootServer = proxyOffer.siaddr !== "0.0.0.0" ? proxyOffer.siaddr : proxyOffer.server;
    const item = items[0];
    const extra: [number, Buffer][] =
      item === undefined ? [] : [[43, Buffer.from([71, 4, item >> 8, item & 0xff, 0, 0, 255])]];
    const bootRequest = encode(request, xid, REQUEST, extra, lease.address);
    const socket4011 = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => socket4011.bind(0, lease?.address, resolve));
    await conversation(
      socket4011,
      () => socket4011.send(bootRequest, 4011, bootServer),
      (packet) => {
        if (packet.xid !== xid || packet.options.get(53)?.[0] !== ACK || packet.file === "") return false;
        boot = { via: "boot-server", server: bootServer, file: packet.file };
        return true;
      },
      Date.now() + STEP_MS,
    );
    socket4011.close();
  }
  return {
    offers: offers.map(({ packet: _packet, ...offer }) => offer),
    lease,
    boot,
  };
}

const request = JSON.parse(process.argv[2] ?? "{}") as ProbeRequest;
process.stdout.write(`${JSON.stringify(await probe(request))}\n`);
