/**
 * safetensors: a model's state_dict round-trips bit for bit (num_batches_tracked as I64,
 * as PyTorch writes it), a fresh model loads it to identical tensors, strict loading names
 * every missing / unexpected / mis-shaped key, hand-encoded F16/BF16/F64/I64 files decode
 * to the known values, and malformed files fail with named EDATA errors.
 */
import * as fs from 'fs';
import nodeFs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeSafetensors, encodeSafetensors, loadSafetensors, readSafetensorsMetadata, saveSafetensors } from '../../ts/io/safetensors';
import { getModel } from '../../ts/models/zoo';
import { manualSeed } from '../../ts/random';
import { liveTensorCount, tensor, Tensor } from '../../ts/tensor';
import { throwsNaming } from '../helpers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-st-'));
const dispose = (m: Map<string, Tensor>) => m.forEach((t) => t.dispose());

function header(file: string): Record<string, { dtype: string; shape: number[] }> {
  const b = fs.readFileSync(file);
  return JSON.parse(b.toString('utf8', 8, 8 + Number(b.readBigUInt64LE(0)))) as Record<string, { dtype: string; shape: number[] }>;
}


test('state_dict round trip: export → safetensors → import gives identical tensors', () => {
  const live = liveTensorCount();
  manualSeed(1);
  const a = getModel('shufflenet_v2_x0_5');
  manualSeed(2);
  const b = getModel('shufflenet_v2_x0_5');
  const nbt = tensor(Int32Array.of(7), [], { dtype: 'int32' });
  a.loadStateDict(new Map([['conv1.1.num_batches_tracked', nbt]]), { strict: false });
  nbt.dispose();
  const file = path.join(dir, 'a.safetensors');
  saveSafetensors(file, a.stateDict(), { note: 'round trip' });
  const h = header(file);
  assert.is(h['conv1.1.num_batches_tracked'].dtype, 'I64');
  assert.equal(h['conv1.1.num_batches_tracked'].shape, []);
  assert.is(h['conv1.0.weight'].dtype, 'F32');
  const { tensors, metadata } = loadSafetensors(file);
  assert.equal(metadata, { note: 'round trip' });
  assert.equal([...tensors.keys()], [...a.stateDict().keys()], 'keys in state_dict order');
  b.loadStateDict(tensors);
  dispose(tensors);
  const sa = a.stateDict(), sb = b.stateDict();
  for (const [k, t] of sa) assert.equal(Array.from(sb.get(k)!.toArray()), Array.from(t.toArray()), k);
  assert.is(sb.get('conv1.1.num_batches_tracked')!.item(), 7);
  a.dispose();
  b.dispose();
  assert.is(liveTensorCount(), live);
});

test('strict loading names every missing, unexpected and mis-shaped key', () => {
  const m = getModel('shufflenet_v2_x0_5', { withClassifier: false });
  const sd = new Map(m.stateDict());
  const bad = tensor(new Float32Array(24 * 3 * 3 * 2), [24, 3, 3, 2]);
  const extra = tensor(new Float32Array(2), [2]);
  sd.set('conv1.0.weight', bad);
  sd.delete('conv5.1.running_var');
  sd.set('fc.weight', extra);
  throwsNaming(() => m.loadStateDict(sd), 'conv1.0.weight', '[24, 3, 3, 3]', 'conv5.1.running_var', 'fc.weight');
  sd.set('conv1.0.weight', m.stateDict().get('conv1.0.weight')!);
  throwsNaming(() => m.loadStateDict(sd), 'missing: conv5.1.running_var', 'unexpected: fc.weight');
  bad.dispose();
  extra.dispose();
  m.dispose();
});

/** A safetensors file written by hand (no mdmt code involved in the encoding). */
function handmade(entries: [string, string, number[], Buffer][]): Buffer {
  const h: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const [k, dtype, shape, data] of entries) {
    h[k] = { dtype, shape, data_offsets: [off, off + data.length] };
    off += data.length;
  }
  const json = Buffer.from(JSON.stringify(h));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...entries.map((e) => e[3])]);
}

const u16 = (...v: number[]) => Buffer.from(Uint16Array.from(v).buffer);

test('reads F16, BF16, F64, I64, I32, U8 and BOOL (unpadded header, unaligned data)', () => {
  const f64 = Buffer.from(Float64Array.of(0.1, -2.5).buffer);
  const i64 = Buffer.from(BigInt64Array.of(3n, -4n, 2147483647n).buffer);
  const buf = handmade([
    ['u8', 'U8', [3], Buffer.from([1, 2, 255])], // 3 bytes: everything after is unaligned
    ['h', 'F16', [2, 2], u16(0x3c00, 0xc000, 0x3555, 0x7bff)],
    ['bf', 'BF16', [2], u16(0x3f80, 0x4049)],
    ['d', 'F64', [2], f64],
    ['n', 'I64', [3], i64],
    ['i', 'I32', [1], Buffer.from(Int32Array.of(-9).buffer)],
    ['b', 'BOOL', [2], Buffer.from([0, 1])],
  ]);
  const { tensors, metadata } = decodeSafetensors(buf);
  assert.equal(metadata, { format: 'pt' });
  const arr = (k: string) => Array.from(tensors.get(k)!.toArray());
  assert.equal(arr('u8'), [1, 2, 255]);
  assert.equal(arr('h'), [1, -2, Math.fround(0.333251953125), 65504]);
  assert.equal(tensors.get('h')!.shape, [2, 2]);
  assert.equal(arr('bf'), [1, 3.140625]);
  assert.equal(arr('d'), [Math.fround(0.1), -2.5]);
  assert.equal(arr('n'), [3, -4, 2147483647]);
  assert.is(tensors.get('n')!.dtype, 'int32');
  assert.equal(arr('i'), [-9]);
  assert.equal(arr('b'), [0, 1]);
  dispose(tensors);
});

test('encode/decode agree and keep metadata', () => {
  const t = new Map([['x', tensor([1.5, -2, 3, 4], [2, 2])], ['k', tensor(Int32Array.of(5, 6), [2], { dtype: 'int32' })]]);
  const { tensors, metadata } = decodeSafetensors(encodeSafetensors(t, { a: 'b' }));
  assert.equal(metadata, { a: 'b' });
  assert.equal(Array.from(tensors.get('x')!.toArray()), [1.5, -2, 3, 4]);
  assert.equal(Array.from(tensors.get('k')!.toArray()), [5, 6]);
  dispose(tensors);
  dispose(t);
});

test('a tensor named __metadata__ or a value that is not a Tensor is refused, not lost or thrown as a TypeError', () => {
  const file = path.join(dir, 'reserved.safetensors');
  const x = tensor([1, 2], [2]);
  for (const [m, msg] of [
    [new Map([['__metadata__', x]]), "tensor name '__metadata__' is reserved by the safetensors format"],
    [new Map([['a', [1] as unknown as Tensor]]), "'a' must be a Tensor, got an array"],
  ] as const) {
    throwsNaming(() => saveSafetensors(file, m), msg);
    throwsNaming(() => encodeSafetensors(m), msg);
  }
  assert.not.ok(fs.existsSync(file), 'nothing written');
  x.dispose();
});

test('malformed files fail with errors naming the problem', () => {
  const ok = handmade([['w', 'F32', [2], Buffer.from(Float32Array.of(1, 2).buffer)]]);
  throwsNaming(() => decodeSafetensors(ok.subarray(0, 5)), 'too short');
  throwsNaming(() => decodeSafetensors(ok.subarray(0, ok.length - 1)), "'w'", 'data_offsets');
  throwsNaming(() => decodeSafetensors(handmade([['w', 'F32', [3], Buffer.from(Float32Array.of(1, 2).buffer)]])), "'w'", 'expected 12');
  throwsNaming(() => decodeSafetensors(handmade([['w', 'C64', [1], Buffer.alloc(8)]])), "'w'", 'unsupported dtype');
  throwsNaming(() => decodeSafetensors(handmade([['n', 'I64', [1], Buffer.from(BigInt64Array.of(1n << 40n).buffer)]])), "'n'", 'int32');
  // a finite F64 beyond float32's range was read as Infinity; Infinity itself stays what it is
  throwsNaming(() => decodeSafetensors(handmade([['d', 'F64', [2], Buffer.from(Float64Array.of(1, -1e300).buffer)]])), "'d'", '-1e+300', 'index 1', 'float32');
  const inf = decodeSafetensors(handmade([['d', 'F64', [2], Buffer.from(Float64Array.of(Infinity, 3.4028234e38).buffer)]]));
  assert.equal(Array.from(inf.tensors.get('d')!.toArray()), [Infinity, Math.fround(3.4028234e38)]);
  dispose(inf.tensors);
  const bad = Buffer.from(ok);
  bad.write('{', 8 + 1);
  throwsNaming(() => decodeSafetensors(bad), 'not JSON');
  throwsNaming(() => loadSafetensors(path.join(dir, 'nope.safetensors')), 'nope.safetensors');
});

test('__metadata__ that is not an object of strings is refused (a string was read as {"0": "s", ...}, an object value as "[object Object]")', () => {
  const withMeta = (meta: unknown) => {
    const json = Buffer.from(JSON.stringify({ __metadata__: meta, w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    return Buffer.concat([len, json, Buffer.alloc(4)]);
  };
  throwsNaming(() => decodeSafetensors(withMeta('str'), 'cpu', 'm.safetensors'), 'm.safetensors', '__metadata__ must be an object of strings, got "str"');
  throwsNaming(() => decodeSafetensors(withMeta([1])), '__metadata__ must be an object of strings, got an array');
  throwsNaming(() => decodeSafetensors(withMeta({ epoch: 3 })), "__metadata__ 'epoch' must be a string, got 3");
  throwsNaming(() => decodeSafetensors(withMeta({ a: { b: 'c' } })), "__metadata__ 'a' must be a string, got an Object");
  const file = path.join(dir, 'meta.safetensors');
  fs.writeFileSync(file, withMeta({ epoch: 3 }));
  throwsNaming(() => readSafetensorsMetadata(file), 'meta.safetensors', "__metadata__ 'epoch' must be a string");
  for (const meta of [null, {}, { a: 'b' }]) {
    const { tensors, metadata } = decodeSafetensors(withMeta(meta));
    assert.equal(metadata, meta ?? {});
    dispose(tensors);
  }
});

test('a write the disk cuts short is continued: the file is whole, never silently shorter', () => {
  // write(2) returns fewer bytes than asked when the disk fills up (ENOSPC comes with the next
  // call); a single writeSync per part left such a file cut short, and a checkpoint renamed over the last one
  const real = nodeFs.writeSync;
  const f = path.join(dir, 'short.safetensors');
  const w = tensor(Float32Array.from({ length: 300 }, (_, i) => i), [300]);
  (nodeFs as unknown as { writeSync: unknown }).writeSync = (fd: number, b: Uint8Array, off = 0, len = b.byteLength - off) => real(fd, b, off, Math.min(len, 7));
  try {
    saveSafetensors(f, new Map([['w', w]]), { epoch: '3' });
  } finally {
    (nodeFs as unknown as { writeSync: unknown }).writeSync = real;
  }
  const back = loadSafetensors(f);
  assert.equal([...back.tensors.get('w')!.toArray()], [...w.toArray()]);
  assert.is(back.metadata.epoch, '3');
  dispose(back.tensors);
  w.dispose();
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test.run();
