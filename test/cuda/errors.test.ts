/**
 * CUDA backend behaviour beyond op values: device report, error paths (each a JS
 * exception with a code, the process alive and the device usable afterwards), the caching
 * allocator (no device allocation once shapes repeat, cached bytes reported) and memory
 * accounting.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { native } from '../../ts/native/binding';
import { CUDA_DEVICE, cudaSkipReason, rand, runOp } from './_cuda';

const skip = cudaSkipReason();

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? `no code: ${(e as Error).message}`;
  }
  return 'no exception';
}

function stillWorks() {
  const x = rand(1, 1000, -1, 1);
  const [y] = runOp(CUDA_DEVICE, 'relu', [{ shape: [1000], data: x }], [{ shape: [1000] }]);
  native().sync(CUDA_DEVICE);
  assert.equal(y, x.map((v) => Math.fround(Math.max(v, 0))));
}

if (skip) {
  test('cuda backend', () => console.log(`  [skip] cuda backend: ${skip}`));
} else {
  test('devices() reports the GPU and the library versions', () => {
    const d = native().devices().find((x) => x.name === CUDA_DEVICE)!;
    assert.ok(d.available);
    assert.ok(d.description.length > 0, 'GPU name');
    for (const k of ['driver', 'runtime', 'cudnn', 'cublas', 'compute_capability', 'memory_bytes'])
      assert.ok(d.props[k] && d.props[k].length > 0, `props.${k}`);
    console.log(`  ${d.description}: ${JSON.stringify(d.props)}`);
  });

  test('an impossible allocation (1 TB) throws ENOMEM naming the request; the device stays usable', () => {
    let err: { code?: string; message?: string } = {};
    try {
      native().alloc([1024, 1024, 1024, 256], 'float32', CUDA_DEVICE);
    } catch (e) {
      err = e as typeof err;
    }
    assert.is(err.code, 'ENOMEM', String(err.message));
    assert.match(String(err.message), '1099511627776 bytes');
    assert.match(String(err.message), 'free');
    stillWorks();
  });

  test('wrong shapes, bad attributes, mixed devices, unknown device: exceptions with codes', () => {
    const n = native();
    const a = n.alloc([4, 5], 'float32', CUDA_DEVICE), b = n.alloc([4, 6], 'float32', CUDA_DEVICE);
    const c = n.alloc([4, 5], 'float32', 'cpu'), i = n.alloc([4, 5], 'int32', CUDA_DEVICE);
    const u8 = n.alloc([4, 5], 'uint8', CUDA_DEVICE);
    try {
      assert.is(codeOf(() => n.run('relu', [a], [b])), 'ESHAPE');
      assert.is(codeOf(() => n.run('relu', [i], [a])), 'EDTYPE');
      assert.is(codeOf(() => n.run('relu', [a], [c])), 'EDEVICE');
      assert.is(codeOf(() => n.run('add', [a, b], [a])), 'ESHAPE');
      assert.is(codeOf(() => n.run('dropout', [a], [a, u8], { p: 1.5 })), 'EINVAL');
      assert.is(codeOf(() => n.run('dropout', [a], [a, b], { p: 0.5 })), 'EDTYPE');  // mask must be uint8
      assert.is(codeOf(() => n.run('sum', [a], [b], { axes: [3] })), 'EINVAL');
      assert.is(codeOf(() => n.alloc([2], 'float32', 'cuda:7')), 'EDEVICE');
      const x = n.alloc([1, 2, 5, 5], 'float32', CUDA_DEVICE), w = n.alloc([3, 2, 3, 3], 'float32', CUDA_DEVICE);
      const y = n.alloc([1, 3, 3, 3], 'float32', CUDA_DEVICE);
      assert.is(codeOf(() => n.run('conv2d', [x, w], [y], { stride: [0, 1] })), 'EINVAL');
      assert.is(codeOf(() => n.run('conv2d', [x, w], [y], { padding: [1, 1] })), 'ESHAPE');  // y should be 5x5
      [x, w, y].forEach((t) => n.free(t));
    } finally {
      [a, b, c, i, u8].forEach((t) => n.free(t));
    }
    stillWorks();
  });

  test('masked_xent: an active row with a bad label or a non-0/1 mask throws EINVAL', () => {
    const logits = { shape: [3, 2], data: [1, 2, 3, 4, 5, 6] };
    const outs = [{ shape: [] }, { shape: [3, 2] }];
    let e1: { code?: string; message?: string } = {};
    try { runOp(CUDA_DEVICE, 'masked_xent_fwd_bwd', [logits, { shape: [3], dtype: 'int32', data: [0, 2, -1] }, { shape: [3], data: [1, 1, 0] }], outs); } catch (e) { e1 = e as typeof e1; }
    assert.is(e1.code, 'EINVAL');
    assert.match(String(e1.message), 'row 1');
    let e2: { code?: string } = {};
    try { runOp(CUDA_DEVICE, 'masked_xent_fwd_bwd', [logits, { shape: [3], dtype: 'int32', data: [0, 1, -1] }, { shape: [3], data: [1, 0.5, 0] }], outs); } catch (e) { e2 = e as typeof e2; }
    assert.is(e2.code, 'EINVAL');
    // label -1 on a masked-out row is fine
    const [loss] = runOp(CUDA_DEVICE, 'masked_xent_fwd_bwd', [logits, { shape: [3], dtype: 'int32', data: [0, 1, -1] }, { shape: [3], data: [1, 1, 0] }], outs);
    const l0 = Math.log(Math.exp(1) + Math.exp(2)) - 1, l1 = Math.log(Math.exp(3) + Math.exp(4)) - 4;
    assert.ok(Math.abs(loss[0] - (l0 + l1) / 3) < 1e-6, `loss ${loss[0]}`);
    stillWorks();
  });

  test('caching allocator: repeated shapes cause no device allocation; cached bytes reported; live bytes return', () => {
    const n = native();
    const step = () => {
      const ids = [[128, 64, 32, 32], [128, 64, 32, 32], [1000], [7, 3]].map((s) => n.alloc(s, 'float32', CUDA_DEVICE));
      n.run('relu', [ids[0]], [ids[1]]);
      n.run('fill', [], [ids[2]], { value: 1 });
      ids.forEach((t) => n.free(t));
    };
    step();
    n.sync(CUDA_DEVICE);
    const before = n.memStats(CUDA_DEVICE);
    for (let k = 0; k < 20; k++) step();
    n.sync(CUDA_DEVICE);
    const after = n.memStats(CUDA_DEVICE);
    assert.is(after.deviceFree, before.deviceFree, 'device free memory changed: the step called cudaMalloc/cudaFree');
    assert.is(after.liveBytes, before.liveBytes, 'live bytes');
    assert.ok(after.cachedBytes >= 2 * 128 * 64 * 32 * 32 * 4, `cachedBytes ${after.cachedBytes}`);
    assert.ok(after.deviceTotal > 0 && after.peakBytes >= 2 * 128 * 64 * 32 * 32 * 4, 'total / peak');
  });

  test('upload / download round trip across staging-buffer chunks (40 MB) and of int32 / uint8', () => {
    const n = native();
    const big = new Float32Array(10_000_000);
    for (let i = 0; i < big.length; i++) big[i] = (i % 1000) - 500.5;
    const id = n.alloc([big.length], 'float32', CUDA_DEVICE);
    n.upload(id, big);
    const back = n.download(id) as Float32Array;
    n.free(id);
    let same = back.length === big.length;
    for (let i = 0; same && i < big.length; i++) same = back[i] === big[i];
    assert.ok(same, 'round trip differs');
    const [i32] = runOp(CUDA_DEVICE, 'copy', [{ shape: [5], dtype: 'int32', data: [-2, -1, 0, 1, 2147483647] }], [{ shape: [5], dtype: 'int32' }]);
    assert.equal(i32, [-2, -1, 0, 1, 2147483647]);
  });

  test('bf16 / f16: fill bit patterns and round trips through cast', () => {
    const [b] = runOp(CUDA_DEVICE, 'fill', [], [{ shape: [4], dtype: 'bfloat16' }], { value: 1 });
    assert.equal(b, [0x3f80, 0x3f80, 0x3f80, 0x3f80]);
    const [h] = runOp(CUDA_DEVICE, 'fill', [], [{ shape: [2], dtype: 'float16' }], { value: -2 });
    assert.equal(h, [0xc000, 0xc000]);
    const x = rand(7, 257, -100, 100);
    for (const [dt, rel] of [['bfloat16', 2 ** -8], ['float16', 2 ** -11]] as const) {
      const n = native();
      const a = n.alloc([257], 'float32', CUDA_DEVICE), m = n.alloc([257], dt, CUDA_DEVICE), z = n.alloc([257], 'float32', CUDA_DEVICE);
      n.upload(a, Float32Array.from(x));
      n.run('cast', [a], [m]);
      n.run('cast', [m], [z]);
      const r = n.download(z) as Float32Array;
      [a, m, z].forEach((t) => n.free(t));
      for (let i = 0; i < x.length; i++) assert.ok(Math.abs(r[i] - x[i]) <= rel * Math.abs(x[i]) + 1e-6, `${dt} [${i}] ${r[i]} vs ${x[i]}`);
    }
  });

  test('sync surfaces no error after valid work', () => {
    native().sync(CUDA_DEVICE);
    stillWorks();
  });
}

test.run();
