import fs from "node:fs";

/**
 * A whitelist's device file (`.devices`): the devices in leaf order, as fixed-size binary records, so a
 * device's index (its leaf in the tree file) is found by id without any text. Format: 8 bytes of magic
 * (`TLWLDEV1`), the device count as a big-endian uint64, then one 56-byte record a device: the device id
 * (32 bytes), its key (the 20-byte address) and its type (big-endian uint32).
 */
const MAGIC = Buffer.from("TLWLDEV1", "latin1");
const HEADER_BYTES = 16;
export const DEVICE_RECORD_BYTES = 56;

/** Records buffered before each write (about 3.6 MiB). */
const BLOCK_RECORDS = 1 << 16;

/** One device as its record holds it: id and key as lowercase 0x hex. */
export interface DeviceRecord {
  index: number;
  deviceId: string;
  deviceKey: string;
  deviceType: number;
}

/** Writes a device file one record at a time, in bounded memory. */
export class DeviceRecordWriter {
  private readonly fd: number;
  private readonly block = Buffer.allocUnsafe(BLOCK_RECORDS * DEVICE_RECORD_BYTES);
  private used = 0;
  private count = 0;

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, "w");
    fs.writeSync(this.fd, Buffer.alloc(HEADER_BYTES), 0, HEADER_BYTES, 0);
  }

  /**
   * Appends a device from its ABI-encoded leaf words (`abi.encode(deviceId, deviceKey, deviceType, …)`):
   * the id is word 0, the key the last 20 bytes of word 1, the type the last 4 bytes of word 2.
   */
  addEncoded(words: Buffer): void {
    const at = this.used * DEVICE_RECORD_BYTES;
    words.copy(this.block, at, 0, 32);
    words.copy(this.block, at + 32, 44, 64);
    words.copy(this.block, at + 52, 92, 96);
    if (++this.used === BLOCK_RECORDS) this.flush();
  }

  private flush(): void {
    const at = HEADER_BYTES + this.count * DEVICE_RECORD_BYTES;
    fs.writeSync(this.fd, this.block, 0, this.used * DEVICE_RECORD_BYTES, at);
    this.count += this.used;
    this.used = 0;
  }

  /** Writes what is left and the header, and closes the file. */
  close(): void {
    try {
      this.flush();
      const header = Buffer.alloc(HEADER_BYTES);
      MAGIC.copy(header);
      header.writeBigUInt64BE(BigInt(this.count), MAGIC.length);
      fs.writeSync(this.fd, header, 0, HEADER_BYTES, 0);
    } finally {
      fs.closeSync(this.fd);
    }
  }
}

/** Opens a device file and checks its header and size; throws one line naming the file. */
function openDeviceFile(file: string): { fd: number; count: number } {
  if (!fs.existsSync(file)) throw new Error(`${file} does not exist: the whitelist's device file is missing`);
  const fd = fs.openSync(file, "r");
  try {
    const header = Buffer.alloc(HEADER_BYTES);
    const read = fs.readSync(fd, header, 0, HEADER_BYTES, 0);
    if (read < HEADER_BYTES || !header.subarray(0, MAGIC.length).equals(MAGIC))
      throw new Error(`${file} is not a whitelist device file`);
    const count = Number(header.readBigUInt64BE(MAGIC.length));
    const bytes = HEADER_BYTES + count * DEVICE_RECORD_BYTES;
    const size = fs.fstatSync(fd).size;
    if (size !== bytes)
      throw new Error(
        `${file} is ${size < bytes ? "truncated" : "damaged"}: ${count} devices need ${bytes} bytes, found ${size}`,
      );
    return { fd, count };
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

/**
 * Finds a device by id in a device file (a scan, a block of records per read: a million devices is 56 MB,
 * tens of milliseconds). Returns its record and the file's device count; undefined record when absent.
 */
export function findDeviceRecord(file: string, deviceId: string): { record?: DeviceRecord; count: number } {
  if (!/^0x[0-9a-fA-F]{64}$/.test(deviceId)) throw new Error(`device id ${deviceId} is not 0x + 64 hex`);
  const id = Buffer.from(deviceId.slice(2), "hex");
  const { fd, count } = openDeviceFile(file);
  try {
    const block = Buffer.allocUnsafe(BLOCK_RECORDS * DEVICE_RECORD_BYTES);
    for (let from = 0; from < count; from += BLOCK_RECORDS) {
      const n = Math.min(BLOCK_RECORDS, count - from);
      const bytes = n * DEVICE_RECORD_BYTES;
      fs.readSync(fd, block, 0, bytes, HEADER_BYTES + from * DEVICE_RECORD_BYTES);
      const view = block.subarray(0, bytes);
      for (let at = view.indexOf(id); at >= 0; at = view.indexOf(id, at + 1)) {
        if (at % DEVICE_RECORD_BYTES !== 0) continue;
        const record: DeviceRecord = {
          index: from + at / DEVICE_RECORD_BYTES,
          deviceId: `0x${view.toString("hex", at, at + 32)}`,
          deviceKey: `0x${view.toString("hex", at + 32, at + 52)}`,
          deviceType: view.readUInt32BE(at + 52),
        };
        return { record, count };
      }
    }
    return { count };
  } finally {
    fs.closeSync(fd);
  }
}
