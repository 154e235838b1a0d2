/**
 * Bad input gives MdmtError naming the op and the problem, never a crash: wrong shapes,
 * dtypes, disposed tensors, wrong argument types and counts, through the TypeScript API
 * (validated before native code runs) and through the raw addon (validated in C++).
 */
import { inspect } from 'util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { native, rawNative } from '../../ts/native/binding';
import { add } from '../../ts/ops/elementwise';
import { avgpool2d, globalAvgpool, maxpool2d } from '../../ts/ops/pool';
import { channelShuffle, concat, pad2d, split, transpose } from '../../ts/ops/layout';
import { runOp } from '../../ts/ops/op';
import { relu } from '../../ts/ops/activations';
import { reshape } from '../../ts/ops/reshape';
import { sum } from '../../ts/ops/reduce';
import { liveTensorCount, tensor, Tensor, tidy, zeros } from '../../ts/tensor';

interface Want {
  code: string;
  op: string;
  /** the message must match (names the argument / problem) */
  msg: RegExp;
}

/** fn must throw an Error named MdmtError with the code, op and a message naming the problem. */
function throws(label: string, fn: () => unknown, want: Want): void {
  let caught: unknown = null;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== null, `${label}: did not throw`);
  const e = caught as { name?: string; code?: string; op?: string; message?: string };
  assert.ok(caught instanceof Error, `${label}: threw a non-Error ${inspect(caught)}`);
  assert.is(e.name, 'MdmtError', `${label}: ${e.name}: ${e.message}`);
  assert.is(e.code, want.code, `${label}: code (message: ${e.message})`);
  assert.is(e.op, want.op, `${label}: op (message: ${e.message})`);
  assert.match(e.message ?? '', want.msg, `${label}: message '${e.message}' should match ${want.msg}`);
}

const x4 = (shape = [2, 3, 8, 8], dtype: 'float32' | 'int32' = 'float32') => zeros(shape, { dtype });

// ---- TypeScript API -------------------------------------------------------------------

test('pooling ops (TS): non-tensors, ranks, dtypes, disposed inputs, bad options', () => {
  tidy(() => {
    throws('maxpool2d(number)', () => maxpool2d(3 as unknown as Tensor, { kernel: 2 }), { code: 'EINVAL', op: 'maxpool2d', msg: /'x' must be a Tensor, got number/ });
    throws('maxpool2d 3-D', () => maxpool2d(zeros([3, 8, 8]), { kernel: 2 }), { code: 'ESHAPE', op: 'maxpool2d', msg: /'x' must have 4 dims, got shape \[3, 8, 8\]/ });
    throws('maxpool2d int32', () => maxpool2d(x4(undefined, 'int32'), { kernel: 2 }), { code: 'EDTYPE', op: 'maxpool2d', msg: /'x' must be float32, got int32/ });
    const d = x4();
    d.dispose();
    throws('maxpool2d disposed', () => maxpool2d(d, { kernel: 2 }), { code: 'EDISPOSED', op: 'maxpool2d', msg: /'x' has been disposed/ });
    throws('maxpool2d no options', () => maxpool2d(x4(), undefined as never), { code: 'EINVAL', op: 'maxpool2d', msg: /options must be an object/ });
    throws('maxpool2d no kernel', () => maxpool2d(x4(), {} as never), { code: 'EINVAL', op: 'maxpool2d', msg: /'kernel' is required/ });
    throws('maxpool2d kernel 0', () => maxpool2d(x4(), { kernel: 0 }), { code: 'EINVAL', op: 'maxpool2d', msg: /'kernel' must be an integer >= 1/ });
    throws('maxpool2d kernel 1.5', () => maxpool2d(x4(), { kernel: [2, 1.5] }), { code: 'EINVAL', op: 'maxpool2d', msg: /'kernel'/ });
    throws('maxpool2d stride string', () => maxpool2d(x4(), { kernel: 2, stride: '2' as never }), { code: 'EINVAL', op: 'maxpool2d', msg: /'stride' must be an integer >= 1 or a pair/ });
    throws('maxpool2d padding > k/2', () => maxpool2d(x4(), { kernel: 3, padding: 2 }), { code: 'EINVAL', op: 'maxpool2d', msg: /'padding' \[2,2\] must be at most half of 'kernel' \[3,3\]/ });
    throws('maxpool2d too small', () => maxpool2d(x4([1, 1, 2, 2]), { kernel: 3 }), { code: 'ESHAPE', op: 'maxpool2d', msg: /too small for kernel \[3,3\].*output would be 0×0/ });
    throws('maxpool2d ceilMode string', () => maxpool2d(x4(), { kernel: 2, ceilMode: 'yes' as never }), { code: 'EINVAL', op: 'maxpool2d', msg: /'ceilMode' must be a boolean/ });
    throws('avgpool2d countIncludePad', () => avgpool2d(x4(), { kernel: 2, countIncludePad: 1 as never }), { code: 'EINVAL', op: 'avgpool2d', msg: /'countIncludePad' must be a boolean/ });
    throws('avgpool2d empty plane', () => avgpool2d(x4([1, 2, 0, 4]), { kernel: 1 }), { code: 'ESHAPE', op: 'avgpool2d', msg: /empty H×W plane/ });
    throws('globalAvgpool 2-D', () => globalAvgpool(zeros([2, 3])), { code: 'ESHAPE', op: 'global_avgpool', msg: /'x' must have 4 dims, got shape \[2, 3\]/ });
    throws('globalAvgpool empty plane', () => globalAvgpool(x4([2, 3, 0, 1])), { code: 'ESHAPE', op: 'global_avgpool', msg: /empty H×W plane/ });
  });
});

test('layout ops (TS): shapes that do not fit, dtypes, axes, permutations, pads', () => {
  tidy(() => {
    throws('concat []', () => concat([]), { code: 'EINVAL', op: 'concat', msg: /non-empty array of tensors/ });
    throws('concat not array', () => concat(x4() as never), { code: 'EINVAL', op: 'concat', msg: /non-empty array/ });
    throws('concat shapes', () => concat([x4([2, 3, 4, 4]), x4([2, 3, 5, 4])]), { code: 'ESHAPE', op: 'concat', msg: /'xs\[1\]' \[2, 3, 5, 4\] does not match 'xs\[0\]' \[2, 3, 4, 4\] outside axis 1/ });
    throws('concat ranks', () => concat([x4([2, 3, 4, 4]), zeros([2, 3, 4])]), { code: 'ESHAPE', op: 'concat', msg: /'xs\[1\]'/ });
    throws('concat dtypes', () => concat([x4(), x4(undefined, 'int32')]), { code: 'EDTYPE', op: 'concat', msg: /'xs\[1\]' is int32 but 'xs\[0\]' is float32/ });
    throws('concat axis', () => concat([x4(), x4()], 4), { code: 'EINVAL', op: 'concat', msg: /'axis' must be an integer in \[-4, 4\), got 4/ });
    throws('concat non-tensor', () => concat([x4(), null as never]), { code: 'EINVAL', op: 'concat', msg: /'xs\[1\]' must be a Tensor, got null/ });
    const d = x4();
    d.dispose();
    throws('concat disposed', () => concat([x4(), d]), { code: 'EDISPOSED', op: 'concat', msg: /'xs\[1\]' has been disposed/ });
    throws('split sum', () => split(x4(), [1, 1]), { code: 'ESHAPE', op: 'split', msg: /'sizes' \[1,1\] add up to 2, but 'x' \[2, 3, 8, 8\] has 3 along axis 1/ });
    throws('split negative', () => split(x4(), [4, -1]), { code: 'EINVAL', op: 'split', msg: /non-negative integers/ });
    throws('split axis', () => split(x4(), [3], -5), { code: 'EINVAL', op: 'split', msg: /'axis'/ });
    throws('channelShuffle groups', () => channelShuffle(x4(), 2), { code: 'EINVAL', op: 'channel_shuffle', msg: /'groups' must be a positive divisor of the 3 channels, got 2/ });
    throws('channelShuffle 3-D', () => channelShuffle(zeros([3, 4, 4]), 1), { code: 'ESHAPE', op: 'channel_shuffle', msg: /'x' must have 4 dims/ });
    throws('transpose repeated', () => transpose(x4(), [0, 1, 1, 2]), { code: 'EINVAL', op: 'transpose', msg: /'perm' must be a permutation of 0..3, got \[0,1,1,2\]/ });
    throws('transpose length', () => transpose(x4(), [1, 0]), { code: 'EINVAL', op: 'transpose', msg: /'perm'/ });
    throws('transpose 7-D', () => transpose(zeros([1, 1, 1, 1, 1, 1, 1]), [0, 1, 2, 3, 4, 5, 6]), { code: 'ESHAPE', op: 'transpose', msg: /at most 6 dims/ });
    throws('pad2d negative', () => pad2d(x4(), [0, -1, 0, 0]), { code: 'EINVAL', op: 'pad2d', msg: /'pads' must be \[top, bottom, left, right\] of non-negative integers, got \[0,-1,0,0\]/ });
    throws('pad2d length', () => pad2d(x4(), [1, 1]), { code: 'EINVAL', op: 'pad2d', msg: /'pads'/ });
    throws('pad2d value', () => pad2d(x4(), [1, 1, 1, 1], NaN), { code: 'EINVAL', op: 'pad2d', msg: /'value' must be a number \(±Infinity included\), got NaN/ });
    throws('pad2d 1-D', () => pad2d(zeros([4]), [1, 1, 1, 1]), { code: 'ESHAPE', op: 'pad2d', msg: /at least 2 dims/ });
    throws('pad2d int32', () => pad2d(x4(undefined, 'int32'), [1, 1, 1, 1]), { code: 'EDTYPE', op: 'pad2d', msg: /'x' must be float32, got int32/ });
  });
});

test('core ops (TS): broadcasting, axes, reshape, disposed inputs', () => {
  tidy(() => {
    throws('add shapes', () => add(zeros([2, 3]), zeros([4])), { code: 'ESHAPE', op: 'add', msg: /shapes \[2, 3\] and \[4\] do not broadcast/ });
    throws('add non-tensor', () => add(zeros([2]), [1, 2] as never), { code: 'EINVAL', op: 'add', msg: /'b' must be a Tensor, got an array/ });
    const d = zeros([3]);
    d.dispose();
    throws('relu disposed', () => relu(d), { code: 'EDISPOSED', op: 'relu', msg: /'x' has been disposed/ });
    throws('sum axis', () => sum(zeros([2, 3]), [2]), { code: 'EINVAL', op: 'sum', msg: /axis 2 out of range for 2 dims/ });
    throws('reshape', () => reshape(zeros([2, 3]), [4, 2]), { code: 'ESHAPE', op: 'reshape', msg: /cannot reshape \[2, 3\] \(6 elements\) to \[4, 2\]/ });
    throws('tensor data', () => tensor([1, 2, 3], [2, 2]), { code: 'ESHAPE', op: 'tensor', msg: /data has 3 elements but shape \[2, 2\] needs 4/ });
  });
});

test('a failing op leaves no tensors behind (outputs allocated before a native failure are freed)', () => {
  const x = x4();
  const before = liveTensorCount();
  for (let i = 0; i < 3; i++) {
    throws('maxpool2d kernel 9', () => maxpool2d(x, { kernel: 9 }), { code: 'ESHAPE', op: 'maxpool2d', msg: /too small/ });
    // TS validation passed, outputs allocated, then the kernel refuses the attribute
    throws('runOp bad kernel', () => runOp('maxpool2d', [x], { kernel: [2, 2, 2] }, [{ shape: [2, 3, 4, 4] }, { shape: [2, 3, 4, 4], dtype: 'int32' }]),
      { code: 'EINVAL', op: 'maxpool2d', msg: /attribute 'kernel' must have 2 values, got 3/ });
  }
  assert.is(liveTensorCount(), before);
  x.dispose();
});

// ---- the raw addon (validation in C++) -------------------------------------------------

const raw = () => rawNative() as Record<string, (...a: unknown[]) => unknown>;
function rawTensor(shape: number[], dtype = 'float32'): number {
  return raw().alloc(shape, dtype, 'cpu') as number;
}
function rawFree(...ids: number[]): void {
  for (const id of ids) raw().free(id);
}

test('raw addon: argument counts and types of every entry point', () => {
  const r = raw();
  throws('run()', () => r.run(), { code: 'EINVAL', op: 'run', msg: /expects 3..4 arguments, got 0/ });
  throws('run(5 args)', () => r.run('add', [], [], {}, 1), { code: 'EINVAL', op: 'run', msg: /expects 3..4 arguments, got 5/ });
  throws('run(op number)', () => r.run(7, [], []), { code: 'EINVAL', op: 'run', msg: /op must be a string/ });
  throws('run(unknown op)', () => r.run('conv3d', [], []), { code: 'EINVAL', op: 'run', msg: /unknown op 'conv3d'/ });
  throws('run(inputs not array)', () => r.run('relu', 3, []), { code: 'EINVAL', op: 'relu', msg: /inputs must be an array of tensor ids/ });
  throws('run(id string)', () => r.run('relu', ['1'], []), { code: 'EINVAL', op: 'relu', msg: /inputs\[0\] must be a tensor id/ });
  throws('run(id NaN)', () => r.run('relu', [NaN], []), { code: 'EINVAL', op: 'relu', msg: /inputs\[0\] is not a valid tensor id/ });
  throws('run(no tensors)', () => r.run('relu', [], []), { code: 'EINVAL', op: 'relu', msg: /at least one tensor/ });
  throws('alloc(2 args)', () => r.alloc([2], 'float32'), { code: 'EINVAL', op: 'alloc', msg: /expects 3 argument\(s\), got 2/ });
  throws('alloc(shape string)', () => r.alloc('2', 'float32', 'cpu'), { code: 'EINVAL', op: 'alloc', msg: /shape must be an array/ });
  throws('alloc(shape -1)', () => r.alloc([2, -1], 'float32', 'cpu'), { code: 'ESHAPE', op: 'alloc', msg: /shape\[1\] must be a non-negative integer, got -1/ });
  throws('alloc(dtype)', () => r.alloc([2], 'float64', 'cpu'), { code: 'EDTYPE', op: 'alloc', msg: /unknown dtype 'float64'/ });
  throws('alloc(device)', () => r.alloc([2], 'float32', 'tpu'), { code: 'EDEVICE', op: 'alloc', msg: /unknown device 'tpu'/ });
  throws('alloc(huge)', () => r.alloc([1e15], 'float32', 'cpu'), { code: 'ENOMEM', op: 'alloc', msg: /cannot allocate/ });
  throws('free(string)', () => r.free('x'), { code: 'EINVAL', op: 'free', msg: /tensor must be a tensor id/ });
  throws('info()', () => r.info(), { code: 'EINVAL', op: 'info', msg: /expects 1 argument/ });
  throws('setThreads(0)', () => r.setThreads(0), { code: 'EINVAL', op: 'setThreads', msg: /integer in \[1, 1024\]/ });
  throws('setSeed(-1)', () => r.setSeed(-1), { code: 'EINVAL', op: 'setSeed', msg: /non-negative safe integer/ });
  throws('memStats(device)', () => r.memStats('gpu'), { code: 'EDEVICE', op: 'memStats', msg: /unknown device 'gpu'/ });
  if (!native().cudaCompiled) throws('alloc(cuda) without CUDA', () => r.alloc([2], 'float32', 'cuda'), { code: 'EDEVICE', op: 'alloc', msg: /built without CUDA/ });
});

test('raw addon: disposed ids, upload/download mismatches, view', () => {
  const r = raw();
  const t = rawTensor([2, 3]);
  throws('upload(Int32Array)', () => r.upload(t, new Int32Array(6)), { code: 'EDTYPE', op: 'upload', msg: /a float32 tensor takes a Float32Array/ });
  throws('upload(length)', () => r.upload(t, new Float32Array(5)), { code: 'ESHAPE', op: 'upload', msg: /data has 5 elements, tensor \[2, 3\] has 6/ });
  throws('upload(array)', () => r.upload(t, [1, 2, 3, 4, 5, 6]), { code: 'EINVAL', op: 'upload', msg: /data must be a typed array/ });
  throws('download(out length)', () => r.download(t, new Float32Array(2)), { code: 'ESHAPE', op: 'download', msg: /out has 2 elements, tensor has 6/ });
  const ti = rawTensor([3], 'int32');
  throws('nonFinite(int32)', () => r.nonFinite([t, ti]), { code: 'EDTYPE', op: 'nonFinite', msg: /tensor 1 is int32, not float32/ });
  rawFree(ti);
  throws('nonFinite(id)', () => r.nonFinite(t), { code: 'EINVAL', op: 'nonFinite', msg: /tensors/ });
  throws('view(numel)', () => r.view(t, [4]), { code: 'ESHAPE', op: 'view', msg: /cannot view \[2, 3\] \(6 elements\) as \[4\]/ });
  rawFree(t);
  throws('free twice', () => r.free(t), { code: 'EDISPOSED', op: 'free', msg: new RegExp(`tensor #${t}\\) has been disposed`) });
  throws('download disposed', () => r.download(t), { code: 'EDISPOSED', op: 'download', msg: /has been disposed/ });
  throws('nonFinite disposed', () => r.nonFinite([t]), { code: 'EDISPOSED', op: 'nonFinite', msg: /has been disposed/ });
  throws('run disposed input', () => r.run('relu', [t], [t]), { code: 'EDISPOSED', op: 'relu', msg: new RegExp(`inputs\\[0\\] \\(tensor #${t}\\) has been disposed`) });
  throws('never allocated', () => r.info(1e12), { code: 'EDISPOSED', op: 'info', msg: /does not exist/ });
});

test('raw addon: a tensor too large for a JS typed array is refused by download (V8 would abort)', () => {
  const r = raw();
  let id = 0;
  try {
    id = r.alloc([2 ** 32 + 1], 'uint8', 'cpu') as number; // 4 GiB, never touched
  } catch (e) {
    console.log(`  [skip] giant download: cannot reserve 4 GiB here (${(e as Error).message})`);
    return;
  }
  try {
    throws('download 2^32+1', () => r.download(id), { code: 'EINVAL', op: 'download', msg: /has 4294967297 elements; a JavaScript typed array holds at most 2\^32 - 1/ });
  } finally {
    r.free(id);
  }
});

test('raw addon: pool and layout kernels name the op and the argument', () => {
  const r = raw();
  const x = rawTensor([2, 3, 8, 8]), xi = rawTensor([2, 3, 8, 8], 'int32');
  const y = rawTensor([2, 3, 4, 4]), yi = rawTensor([2, 3, 4, 4], 'int32'), bad = rawTensor([2, 3, 5, 4]);
  const mp = { kernel: [2, 2], stride: [2, 2], padding: [0, 0], ceil_mode: false };
  try {
    // y alone is allowed (eval: no indices); three outputs are not
    throws('maxpool2d three outputs', () => r.run('maxpool2d', [x], [y, yi, yi], mp), { code: 'EINVAL', op: 'maxpool2d', msg: /expects 1\.\.2 outputs, got 3/ });
    throws('maxpool2d int32 x', () => r.run('maxpool2d', [xi], [y, yi], mp), { code: 'EDTYPE', op: 'maxpool2d', msg: /input 'x' must be float32, got int32/ });
    throws('maxpool2d y shape', () => r.run('maxpool2d', [x], [bad, yi], mp), { code: 'ESHAPE', op: 'maxpool2d', msg: /'y' must have shape \[2, 3, 4, 4\], got \[2, 3, 5, 4\]/ });
    throws('maxpool2d indices dtype', () => r.run('maxpool2d', [x], [y, y], mp), { code: 'EDTYPE', op: 'maxpool2d', msg: /output 'indices' must be int32/ });
    throws('maxpool2d no kernel', () => r.run('maxpool2d', [x], [y, yi], {}), { code: 'EINVAL', op: 'maxpool2d', msg: /missing attribute 'kernel'/ });
    throws('maxpool2d kernel type', () => r.run('maxpool2d', [x], [y, yi], { kernel: 'big' }), { code: 'EINVAL', op: 'maxpool2d', msg: /attribute 'kernel' must be an array of numbers/ });
    throws('maxpool2d kernel 3 values', () => r.run('maxpool2d', [x], [y, yi], { kernel: [2, 2, 2] }), { code: 'EINVAL', op: 'maxpool2d', msg: /attribute 'kernel' must have 2 values, got 3/ });
    throws('maxpool2d padding', () => r.run('maxpool2d', [x], [y, yi], { ...mp, padding: [2, 2] }), { code: 'EINVAL', op: 'maxpool2d', msg: /padding must be >= 0 and at most half the kernel/ });
    throws('maxpool2d stride NaN', () => r.run('maxpool2d', [x], [y, yi], { ...mp, stride: [NaN, 1] }), { code: 'EINVAL', op: 'maxpool2d', msg: /attribute 'stride' must be an integer/ });
    r.upload(yi, new Int32Array(2 * 3 * 16).fill(64)); // index 64 is outside an 8×8 plane
    throws('maxpool2d_bwd index', () => r.run('maxpool2d_bwd', [y, yi], [x]), { code: 'EINVAL', op: 'maxpool2d_bwd', msg: /indices\[0\] = 64 is outside the plane of 64 elements/ });
    throws('maxpool2d_bwd dx shape', () => r.run('maxpool2d_bwd', [y, yi], [rawTensorKeep([1, 3, 8, 8])]), { code: 'ESHAPE', op: 'maxpool2d_bwd', msg: /output 'dx' must be \[N, C, H, W\] with N, C of dy/ });
    throws('avgpool2d_bwd dy shape', () => r.run('avgpool2d_bwd', [bad], [x], mp), { code: 'ESHAPE', op: 'avgpool2d_bwd', msg: /'dy' must have shape \[2, 3, 4, 4\], got \[2, 3, 5, 4\]/ });
    throws('global_avgpool y', () => r.run('global_avgpool', [x], [y]), { code: 'ESHAPE', op: 'global_avgpool', msg: /'y' must have shape \[2, 3, 1, 1\]/ });
    throws('global_avgpool_bwd dy', () => r.run('global_avgpool_bwd', [y], [x]), { code: 'ESHAPE', op: 'global_avgpool_bwd', msg: /'dy' must have shape \[2, 3, 1, 1\]/ });
    throws('concat sizes', () => r.run('concat', [x, x], [x], { axis: 1 }), { code: 'ESHAPE', op: 'concat', msg: /sizes along axis 1 add up to 6 but y \[2, 3, 8, 8\] has 3/ });
    throws('concat dtype', () => r.run('concat', [x, xi], [rawTensorKeep([2, 6, 8, 8])], { axis: 1 }), { code: 'EDTYPE', op: 'concat', msg: /inputs\[1\] is int32 but y is float32/ });
    throws('concat axis', () => r.run('concat', [x], [x], { axis: 4 }), { code: 'EINVAL', op: 'concat', msg: /axis 4 out of range for 4 dims/ });
    throws('split shapes', () => r.run('split', [x], [y, y], { axis: 1 }), { code: 'ESHAPE', op: 'split', msg: /outputs\[0\] \[2, 3, 4, 4\] does not match x \[2, 3, 8, 8\] outside axis 1/ });
    throws('channel_shuffle groups', () => r.run('channel_shuffle', [x], [x], { groups: 2 }), { code: 'EINVAL', op: 'channel_shuffle', msg: /groups must be a positive divisor of C = 3, got 2/ });
    throws('channel_shuffle no groups', () => r.run('channel_shuffle', [x], [x], {}), { code: 'EINVAL', op: 'channel_shuffle', msg: /missing attribute 'groups'/ });
    throws('transpose perm', () => r.run('transpose', [x], [x], { perm: [0, 0, 1, 2] }), { code: 'EINVAL', op: 'transpose', msg: /perm must be a permutation of 0..3/ });
    throws('transpose y', () => r.run('transpose', [x], [y], { perm: [0, 1, 3, 2] }), { code: 'ESHAPE', op: 'transpose', msg: /'y' must have shape \[2, 3, 8, 8\], got \[2, 3, 4, 4\]/ });
    throws('pad2d pads', () => r.run('pad2d', [x], [x], { pads: [1, -1, 0, 0] }), { code: 'EINVAL', op: 'pad2d', msg: /pads must be in \[0, \d+\], got -1/ });
    throws('pad2d y', () => r.run('pad2d', [x], [x], { pads: [1, 1, 0, 0] }), { code: 'ESHAPE', op: 'pad2d', msg: /'y' must have shape \[2, 3, 10, 8\], got \[2, 3, 8, 8\]/ });
    throws('pad2d_bwd dy', () => r.run('pad2d_bwd', [x], [x], { pads: [1, 1, 0, 0] }), { code: 'ESHAPE', op: 'pad2d_bwd', msg: /'dy' must have shape \[2, 3, 10, 8\]/ });
    throws('attrs array', () => r.run('pad2d', [x], [x], [1, 2]), { code: 'EINVAL', op: 'pad2d', msg: /attrs must be a plain object/ });
    throws('attr object value', () => r.run('pad2d', [x], [x], { pads: { a: 1 } }), { code: 'EINVAL', op: 'pad2d', msg: /attribute 'pads' must be a number, boolean, string or number array/ });
  } finally {
    rawFree(x, xi, y, yi, bad, ...kept.splice(0));
  }
});
const kept: number[] = [];
function rawTensorKeep(shape: number[], dtype = 'float32'): number {
  const id = rawTensor(shape, dtype);
  kept.push(id);
  return id;
}

test('through the wrapper, native failures arrive as MdmtError instances', () => {
  const n = native();
  let e: unknown = null;
  try {
    n.run('relu', [], []);
  } catch (err) {
    e = err;
  }
  assert.ok(e instanceof MdmtError, 'native() wraps errors in MdmtError');
  assert.is((e as MdmtError).code, 'EINVAL');
  assert.is((e as MdmtError).op, 'relu');
  assert.ok(typeof (e as MdmtError).nativeFile === 'string' && (e as MdmtError).nativeLine! > 0, 'native source location is kept');
});

test.run();
