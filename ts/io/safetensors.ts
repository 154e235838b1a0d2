/**
 * safetensors read/write (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length n, n bytes of JSON (`{"__metadata__": {str: str},
 * name: {dtype, shape, data_offsets: [begin, end]}}`, padded with spaces to 8 bytes), then
 * the raw little-endian data; offsets are relative to the end of the header.
 * Written: float32 → F32, int32 → I32 except `*.num_batches_tracked` → I64 (as PyTorch
 * stores it), uint8 → U8, bfloat16/float16 → BF16/F16. Read: F32, F64 (range-checked), F16, BF16 (all to
 * float32), I64 (to int32, range-checked), I32, I16, I8, U8, BOOL.
 *
 *   saveSafetensors('w.safetensors', model.stateDict(), { epoch: '3' });
 *   const { tensors, metadata } = loadSafetensors('w.safetensors');  model.loadStateDict(tensors);
 */
import * as fs from 'fs';
import { check, checkOptions, checkPath, kindOf, MdmtError } from '../errors';
import { DType } from '../native/binding';
import { getDefaultDevice, narrowToFloat32, shapeStr, tensor, Tensor, toFloat32, TypedArray } from '../tensor';

export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

export interface SaveOptions {
  /** keys written as I64 when their tensor is int32 (default: PyTorch's num_batches_tracked) */
  int64Keys?: (key: string) => boolean;
}

const WRITE_DTYPE: Record<DType, string> = { float32: 'F32', int32: 'I32', uint8: 'U8', bfloat16: 'BF16', float16: 'F16' };
const ITEM_SIZE: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

interface Entry { key: string; dtype: string; shape: number[]; bytes: Uint8Array }

function entryOf(key: string, t: Tensor, int64: boolean): Entry {
  // the header's '__metadata__' entry: a tensor of that name would be lost on reading
  check(key !== '__metadata__', 'EINVAL', 'saveSafetensors', () => `tensor name '__metadata__' is reserved by the safetensors format (the header's metadata); rename the tensor`);
  check(t instanceof Tensor, 'EINVAL', 'saveSafetensors', () => `'${key}' must be a Tensor, got ${Array.isArray(t) ? 'an array' : typeof t}`);
  t.assertAlive('saveSafetensors', `'${key}'`);
  const a = t.toArray();
  let dtype = WRITE_DTYPE[t.dtype];
  let bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (int64 && t.dtype === 'int32') {
    const w = new BigInt64Array(a.length);
    for (let i = 0; i < a.length; i++) w[i] = BigInt(a[i]);
    dtype = 'I64';
    bytes = new Uint8Array(w.buffer);
  }
  return { key, dtype, shape: [...t.shape], bytes };
}

function headerOf(entries: Entry[], metadata: Record<string, string>): Buffer {
  const h: Record<string, unknown> = {};
  if (Object.keys(metadata).length) h.__metadata__ = metadata;
  let off = 0;
  for (const e of entries) {
    h[e.key] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + e.bytes.byteLength] };
    off += e.bytes.byteLength;
  }
  let json = JSON.stringify(h);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  return Buffer.from(json, 'utf8');
}

function checkMetadata(metadata: Record<string, string>): void {
  // null was a raw TypeError from Object.entries
  check(metadata !== null && typeof metadata === 'object' && !Array.isArray(metadata) && !(metadata instanceof Map), 'EINVAL', 'saveSafetensors',
    () => `metadata must be an object of strings, got ${kindOf(metadata)}`);
  for (const [k, v] of Object.entries(metadata))
    check(typeof v === 'string', 'EINVAL', 'saveSafetensors', `metadata '${k}' must be a string, got ${typeof v}`);
}

/**
 * Writes `tensors` (state_dict order is kept) with optional string metadata. The argument
 * order (file, tensors) and (tensors, file) are both accepted.
 *   saveSafetensors('best.safetensors', model.stateDict(), { epoch: '41' })
 */
export function saveSafetensors(file: string, tensors: Map<string, Tensor>, metadata?: Record<string, string>, opts?: SaveOptions): void;
export function saveSafetensors(tensors: Map<string, Tensor>, file: string, metadata?: Record<string, string>, opts?: SaveOptions): void;
export function saveSafetensors(a: string | Map<string, Tensor>, b: string | Map<string, Tensor>, metadata: Record<string, string> = {}, opts: SaveOptions = {}): void {
  const [file, tensors] = typeof a === 'string' ? [a, b as Map<string, Tensor>] : [b as string, a];
  check(typeof file === 'string' && tensors instanceof Map, 'EINVAL', 'saveSafetensors', 'expected a file name and a Map of tensors');
  const parts = safetensorsParts(tensors, metadata, opts);
  try {
    const fd = fs.openSync(file, 'w');
    try {
      writeAll(fd, parts);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    // as loadSafetensors does: a missing folder or a full disk is EIO naming the file
    throw new MdmtError('EIO', 'saveSafetensors', `${file}: cannot write (${(e as Error).message})`);
  }
}

/**
 * Writes `parts` to `fd` in full: a write the disk cut short (it returns fewer bytes when it
 * fills up) is continued, so a full disk is the ENOSPC of the next write, never a short file.
 */
export function writeAll(fd: number, parts: readonly Uint8Array[]): void {
  for (const p of parts)
    for (let off = 0; off < p.byteLength;) off += fs.writeSync(fd, p, off, p.byteLength - off);
}

/** The parts of a safetensors file holding `tensors`, in order: header length, header, each tensor's bytes. */
export function safetensorsParts(tensors: Map<string, Tensor>, metadata: Record<string, string> = {}, opts: SaveOptions = {}): Uint8Array[] {
  checkMetadata(metadata);
  // { int64keys } was ignored: every int32 tensor then went out as I32
  checkOptions('saveSafetensors', opts, { int64Keys: true });
  check(opts.int64Keys === undefined || typeof opts.int64Keys === 'function', 'EINVAL', 'saveSafetensors', () => `'int64Keys' must be a function of the key, got ${kindOf(opts.int64Keys)}`);
  const int64 = opts.int64Keys ?? ((k: string) => k.endsWith('num_batches_tracked'));
  const entries = [...tensors].map(([k, t]) => entryOf(k, t, int64(k)));
  const header = headerOf(entries, metadata);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  return [len, header, ...entries.map((e) => e.bytes)];
}

/** The bytes of a safetensors file holding `tensors` (what saveSafetensors writes). */
export function encodeSafetensors(tensors: Map<string, Tensor>, metadata: Record<string, string> = {}, opts: SaveOptions = {}): Buffer {
  return Buffer.concat(safetensorsParts(tensors, metadata, opts));
}

function convert(key: string, dtype: string, raw: Buffer, n: number): { data: TypedArray; dtype: DType } {
  const bytes = new Uint8Array(raw.length);
  bytes.set(raw); // aligned copy
  const buf = bytes.buffer;
  switch (dtype) {
    case 'F32': return { data: new Float32Array(buf, 0, n), dtype: 'float32' };
    case 'F64': {
      const tooBig = (v: number, i: number) => new MdmtError('EDATA', 'loadSafetensors', `'${key}': F64 value ${v} at index ${i} does not fit float32 (largest ±3.4028e38)`);
      return { data: narrowToFloat32(new Float64Array(buf, 0, n), tooBig), dtype: 'float32' };
    }
    case 'F16': return { data: toFloat32(new Uint16Array(buf, 0, n), 'float16'), dtype: 'float32' };
    case 'BF16': return { data: toFloat32(new Uint16Array(buf, 0, n), 'bfloat16'), dtype: 'float32' };
    case 'I64': {
      const v = new BigInt64Array(buf, 0, n), o = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        if (v[i] > 2147483647n || v[i] < -2147483648n)
          throw new MdmtError('EDATA', 'loadSafetensors', `'${key}': I64 value ${v[i]} at index ${i} does not fit int32`);
        o[i] = Number(v[i]);
      }
      return { data: o, dtype: 'int32' };
    }
    case 'I32': return { data: new Int32Array(buf, 0, n), dtype: 'int32' };
    case 'I16': return { data: Int32Array.from(new Int16Array(buf, 0, n)), dtype: 'int32' };
    case 'I8': return { data: Int32Array.from(new Int8Array(buf, 0, n)), dtype: 'int32' };
    case 'U8': case 'BOOL': return { data: bytes, dtype: 'uint8' };
    default: throw new MdmtError('EDATA', 'loadSafetensors', `'${key}': unsupported dtype ${dtype}`);
  }
}

/**
 * The header's `__metadata__`: an object of strings, as the format defines it (the reference
 * reader refuses anything else). A string was read as {"0": "s", "1": "t", ...} and an object
 * value as "[object Object]"; absent or null, there is none.
 */
function metadataOf(v: unknown, bad: (m: string) => Error): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(`__metadata__ must be an object of strings, got ${kindOf(v)}`);
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'string') throw bad(`__metadata__ '${k}' must be a string, got ${kindOf(x)}`);
  return { ...(v as Record<string, string>) };
}

/** Parses the bytes of a safetensors file into tensors on `device` (default device). */
export function decodeSafetensors(buf: Buffer, device: string = getDefaultDevice(), what = 'safetensors data'): SafetensorsFile {
  const bad = (m: string) => new MdmtError('EDATA', 'loadSafetensors', `${what}: ${m}`);
  if (buf.length < 8) throw bad(`too short (${buf.length} bytes) for the 8-byte header length`);
  const n = Number(buf.readBigUInt64LE(0));
  if (n < 2 || 8 + n > buf.length) throw bad(`header length ${n} does not fit the file (${buf.length} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.toString('utf8', 8, 8 + n)) as Record<string, unknown>;
  } catch (e) {
    throw bad(`header is not JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw bad('header is not a JSON object');
  const dataLen = buf.length - 8 - n;
  const metadata: Record<string, string> = {};
  const specs: { key: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [key, v] of Object.entries(header)) {
    if (key === '__metadata__') {
      Object.assign(metadata, metadataOf(v, bad));
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const shape = e?.shape, off = e?.data_offsets;
    if (typeof e?.dtype !== 'string' || !(e.dtype in ITEM_SIZE)) throw bad(`'${key}': unsupported dtype ${JSON.stringify(e?.dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw bad(`'${key}': bad shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[0] > off[1])
      throw bad(`'${key}': bad data_offsets ${JSON.stringify(off)} (data section is ${dataLen} bytes)`);
    // a well-formed header whose data runs past the end: a copy or download cut short
    if (off[1] > dataLen) throw bad(`'${key}': data_offsets ${JSON.stringify(off)} end past the data section (${dataLen} bytes): the file is truncated`);
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    if (off[1] - off[0] !== numel * ITEM_SIZE[e.dtype])
      throw bad(`'${key}': ${off[1] - off[0]} bytes for ${e.dtype} ${shapeStr(shape as number[])} (expected ${numel * ITEM_SIZE[e.dtype]})`);
    specs.push({ key, dtype: e.dtype, shape: shape as number[], begin: off[0] as number, end: off[1] as number });
  }
  specs.sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < specs.length; i++)
    if (specs[i].begin < specs[i - 1].end) throw bad(`'${specs[i].key}' overlaps '${specs[i - 1].key}'`);
  const tensors = new Map<string, Tensor>();
  try {
    for (const s of specs) {
      const numel = s.shape.reduce((a, b) => a * b, 1);
      const { data, dtype } = convert(s.key, s.dtype, buf.subarray(8 + n + s.begin, 8 + n + s.end), numel);
      tensors.set(s.key, tensor(data, s.shape, { dtype, device }));
    }
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  }
  return { tensors, metadata };
}

/**
 * Reads a safetensors file: every tensor (in file order, on `device`) and the metadata.
 * The caller owns (and disposes) the tensors.
 *   const { tensors } = loadSafetensors('resnet18.safetensors');  net.loadStateDict(tensors);
 */
export function loadSafetensors(file: string, device?: string): SafetensorsFile {
  // a number was read as an open file descriptor
  checkPath('loadSafetensors', file);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new MdmtError('EIO', 'loadSafetensors', `cannot read ${file}: ${(e as Error).message}`);
  }
  return decodeSafetensors(buf, device, file);
}

/**
 * The `__metadata__` of a safetensors file, reading only its header (provenance checks of
 * large weight files without loading them).
 *   readSafetensorsMetadata('runs/x/best.safetensors').experiment // 'stl_bx'
 */
export function readSafetensorsMetadata(file: string): Record<string, string> {
  const bad = (m: string) => new MdmtError('EDATA', 'readSafetensorsMetadata', `${file}: ${m}`);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new MdmtError('EIO', 'readSafetensorsMetadata', `cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    const size = fs.fstatSync(fd).size;
    const head = Buffer.alloc(8);
    if (size < 8 || fs.readSync(fd, head, 0, 8, 0) !== 8) throw bad(`too short (${size} bytes) for the 8-byte header length`);
    const n = Number(head.readBigUInt64LE(0));
    if (n < 2 || 8 + n > size) throw bad(`header length ${n} does not fit the file (${size} bytes)`);
    const json = Buffer.alloc(n);
    fs.readSync(fd, json, 0, n, 8);
    let header: { __metadata__?: Record<string, unknown> };
    try {
      header = JSON.parse(json.toString('utf8')) as typeof header;
    } catch (e) {
      throw bad(`header is not JSON (${(e as Error).message})`);
    }
    return metadataOf(header?.__metadata__, bad);
  } finally {
    fs.closeSync(fd);
  }
}
