/**
 * FRU inventory data (IPMI Platform Management FRU Information Storage Definition v1.0): the common
 * header plus chassis, board and product info areas, which `ipmitool fru print` decodes into the
 * "Chassis Serial", "Board Mfg", "Product Serial" ... lines the IPMI driver reads.
 */

export interface FruData {
  /** SMBIOS chassis type code; 0x17 is "Rack Mount Chassis". */
  readonly chassisType: number;
  readonly chassisPartNumber: string;
  readonly chassisSerial: string;
  readonly boardManufactured: Date;
  readonly boardManufacturer: string;
  readonly boardProduct: string;
  readonly boardSerial: string;
  readonly boardPartNumber: string;
  readonly productManufacturer: string;
  readonly productName: string;
  readonly productPartNumber: string;
  readonly productVersion: string;
  readonly productSerial: string;
  readonly productAssetTag: string;
}

const FORMAT_VERSION = 0x01;
const END_OF_FIELDS = 0xc1;
const ENGLISH = 0x00;
/** Board manufacturing time counts minutes from 1996-01-01 00:00 UTC. */
const FRU_EPOCH_MS = Date.UTC(1996, 0, 1);

function field(text: string): number[] {
  const bytes = Buffer.from(text, "latin1");
  if (bytes.length > 63) throw new RangeError(`FRU field "${text}" is longer than 63 bytes`);
  return [0xc0 | bytes.length, ...bytes];
}

function zeroChecksum(bytes: readonly number[]): number {
  const sum = bytes.reduce((acc, b) => acc + b, 0);
  return (0x100 - (sum & 0xff)) & 0xff;
}

/** An info area: version, length in 8-byte units, contents, end marker, padding and checksum. */
function area(contents: number[]): number[] {
  const unpadded = [FORMAT_VERSION, 0, ...contents, END_OF_FIELDS];
  const total = Math.ceil((unpadded.length + 1) / 8) * 8;
  const bytes = [...unpadded, ...new Array<number>(total - unpadded.length - 1).fill(0)];
  bytes[1] = total / 8;
  return [...bytes, zeroChecksum(bytes)];
}

export function encodeFru(data: FruData): number[] {
  const minutes = Math.max(0, Math.floor((data.boardManufactured.getTime() - FRU_EPOCH_MS) / 60_000));
  const chassis = area([data.chassisType, ...field(data.chassisPartNumber), ...field(data.chassisSerial)]);
  const board = area([
    ENGLISH,
    minutes & 0xff,
    (minutes >> 8) & 0xff,
    (minutes >> 16) & 0xff,
    ...field(data.boardManufacturer),
    ...field(data.boardProduct),
    ...field(data.boardSerial),
    ...field(data.boardPartNumber),
    ...field(""),
  ]);
  const product = area([
    ENGLISH,
    ...field(data.productManufacturer),
    ...field(data.productName),
    ...field(data.productPartNumber),
    ...field(data.productVersion),
    ...field(data.productSerial),
    ...field(data.productAssetTag),
    ...field(""),
  ]);
  const chassisOffset = 1;
  const boardOffset = chassisOffset + chassis.length / 8;
  const productOffset = boardOffset + board.length / 8;
  const header = [FORMAT_VERSION, 0, chassisOffset, boardOffset, productOffset, 0, 0];
  return [...header, zeroChecksum(header), ...chassis, ...board, ...product];
}
