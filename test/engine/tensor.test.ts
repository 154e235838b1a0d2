import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { add } from '../../ts/ops/elementwise';
import { fill_ } from '../../ts/ops/memory';
import { relu } from '../../ts/ops/activations';
import { reshape } from '../../ts/ops/reshape';
import { empty, emptyCache, full, keep, liveTensorCount, memory, ones, tensor, tidy, zeros } from '../../ts/tensor';
import os from 'os'; // the module itself (a namespace import's members are read-only getters), to stand in for freemem
import { Generator, manualSeed } from '../../ts/random';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { DEVICE, expectError } from '../helpers';

test('tensor round trip keeps data, shape and dtype', () => {
  const f = tensor([1.5, -2, 3, 4], [2, 2], { device: DEVICE });
  assert.equal([...f.toArray()], [1.5, -2, 3, 4]);
  assert.equal(f.shape, [2, 2]);
  const i = tensor([1, -2, 3], [3], { dtype: 'int32', device: DEVICE });
  assert.ok(i.toArray() instanceof Int32Array);
  const u = full([2, 3], 7, { dtype: 'uint8', device: DEVICE });
  assert.equal([...u.toArray()], [7, 7, 7, 7, 7, 7]);
  for (const t of [f, i, u]) t.dispose();
});

test('tidy disposes temporaries and keeps the result; nested scopes hand results up', () => {
  const before = liveTensorCount();
  const x = tensor([1, -2, 3], [3], { device: DEVICE });
  const y = tidy(() => {
    const a = add(x, x);
    const inner = tidy(() => relu(add(a, x)));
    return inner;
  });
  assert.equal([...y.toArray()], [3, 0, 9]);
  assert.is(liveTensorCount(), before + 2);
  x.dispose();
  y.dispose();
  assert.is(liveTensorCount(), before);
});

test('tidy keeps result tensors at any depth (past 4 levels they were disposed silently); a cyclic result is fine', () => {
  const base = liveTensorCount();
  const r = tidy(() => {
    zeros([1]); // a temporary
    const o: Record<string, unknown> = { a: { b: { c: { d: { e: [new Map([['t', ones([2])]])] } } } } };
    o.self = o;
    return o;
  });
  const t = (((((r.a as Record<string, unknown>).b as Record<string, unknown>).c as Record<string, unknown>).d as Record<string, unknown>).e as Map<string, ReturnType<typeof ones>>[])[0].get('t')!;
  assert.not.ok(t.disposed, 'a tensor 6 levels deep in the result was disposed');
  assert.equal([...t.toArray()], [1, 1]);
  assert.is(liveTensorCount(), base + 1, 'the temporary is freed, the result kept');
  t.dispose();
});

test('tidy keeps tensors held in a returned Set or class instance (both were disposed silently); typed arrays are not walked', () => {
  const base = liveTensorCount();
  class Pair {
    readonly extra = new Float32Array(1 << 20);
    constructor(readonly a: ReturnType<typeof ones>, readonly b: { t: ReturnType<typeof ones> }) {}
  }
  const [set, pair] = tidy(() => {
    zeros([1]); // a temporary
    return [new Set([ones([2])]), new Pair(ones([3]), { t: ones([1]) })] as const;
  });
  const fromSet = [...set][0];
  for (const [name, t] of [['the Set\'s tensor', fromSet], ['a class field', pair.a], ['a nested field', pair.b.t]] as const) {
    assert.not.ok(t.disposed, `${name} in the result was disposed`);
  }
  assert.equal([...pair.a.toArray()], [1, 1, 1]);
  assert.is(liveTensorCount(), base + 3, 'the temporary is freed, the result kept');
  for (const t of [fromSet, pair.a, pair.b.t]) t.dispose();
});

test('tidy works across await and concurrent async scopes stay separate', async () => {
  const before = liveTensorCount();
  const x = tensor([1, 2], [2], { device: DEVICE });
  const work = (k: number) =>
    tidy(async () => {
      const a = add(x, x);
      await new Promise((r) => setTimeout(r, 5 * k));
      const b = add(a, x);
      await new Promise((r) => setImmediate(r));
      return { out: add(b, b), note: k };
    });
  const [r1, r2] = await Promise.all([work(2), work(1)]);
  assert.equal([...r1.out.toArray()], [6, 12]);
  assert.equal([...r2.out.toArray()], [6, 12]);
  assert.is(liveTensorCount(), before + 3);
  r1.out.dispose();
  r2.out.dispose();
  x.dispose();
  assert.is(liveTensorCount(), before);
});

test('tidy cleans up when fn throws (sync and async)', async () => {
  const before = liveTensorCount();
  assert.throws(() => tidy(() => { zeros([4], { device: DEVICE }); throw new Error('boom'); }), /boom/);
  try {
    await tidy(async () => { zeros([4], { device: DEVICE }); await Promise.resolve(); throw new Error('later'); });
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /later/);
  }
  assert.is(liveTensorCount(), before);
});

test('keep() survives tidy; dispose is idempotent; use after dispose names the op', () => {
  const kept = tidy(() => keep(zeros([3], { device: DEVICE })));
  assert.not.ok(kept.disposed);
  kept.dispose();
  kept.dispose();
  try {
    relu(kept);
    assert.unreachable('no error');
  } catch (e) {
    assert.instance(e, MdmtError);
    assert.is((e as MdmtError).code, 'EDISPOSED');
    assert.match((e as Error).message, /^relu: 'x' has been disposed/);
  }
});

test('a fill the device refuses frees the tensor it allocated (zeros of bfloat16 on the CPU stayed live)', () => {
  if (DEVICE !== 'cpu') return; // CUDA fills bfloat16
  const live = liveTensorCount(), bytes = memory('cpu').devices.cpu.liveBytes;
  for (const make of [() => zeros([1000], { dtype: 'bfloat16' }), () => full([1000], 1, { dtype: 'float16' }), () => ones([10], { dtype: 'bfloat16' })])
    assert.throws(make, /fill on cpu supports float32, int32, uint8; got (bfloat16|float16)/);
  assert.is(liveTensorCount(), live, 'live tensors');
  assert.is(memory('cpu').devices.cpu.liveBytes, bytes, 'live bytes');
});

test('reshape is a view sharing data; memory() reports live tensors and bytes', () => {
  tidy(() => {
    const x = tensor([1, 2, 3, 4, 5, 6], [2, 3], { device: DEVICE });
    const v = reshape(x, [3, -1]);
    assert.equal(v.shape, [3, 2]);
    assert.equal([...v.toArray()], [1, 2, 3, 4, 5, 6]);
    const m = memory(DEVICE);
    assert.ok(m.liveTensors >= 2);
    assert.ok(m.devices[DEVICE].liveBytes >= 24);
    assert.throws(() => reshape(x, [4, 2]), /cannot reshape \[2, 3\] \(6 elements\) to \[4, 2\]/);
  });
});

test('emptyCache() gives the freed buffers the allocator keeps back, live tensors untouched', () => {
  const live = tensor([1, 2, 3], [3], { device: DEVICE });
  // freed buffers of sizes no other tensor has: kept for reuse, counted in cachedBytes
  for (let i = 0; i < 4; i++) zeros([1000 + 37 * i, 257], { device: DEVICE }).dispose();
  const before = memory(DEVICE).devices[DEVICE];
  assert.ok(before.cachedBytes >= 4 * 1000 * 257 * 4, `cachedBytes ${before.cachedBytes}`);
  assert.is(emptyCache(DEVICE), before.cachedBytes, 'returns the bytes given back');
  const after = memory(DEVICE).devices[DEVICE];
  assert.is(after.cachedBytes, 0);
  assert.is(after.liveBytes, before.liveBytes, 'live tensors keep their memory');
  assert.equal([...live.toArray()], [1, 2, 3]);
  assert.is(emptyCache(), 0, 'nothing left on any device');
  live.dispose();
  assert.throws(() => emptyCache('tpu'), /unknown device 'tpu'/);
});

test('creation validates shapes and data length', () => {
  assert.throws(() => tensor([1, 2, 3], [2, 2]), /tensor: data has 3 elements but shape \[2, 2\] needs 4/);
  assert.throws(() => zeros([2, -1]), /shape\[1\] must be a non-negative integer/);
  assert.throws(() => zeros([2], { device: 'tpu' }), /unknown device 'tpu'/);
  assert.throws(() => zeros(['3' as never]), /shape\[0\] must be a non-negative integer, got "3"/);
});

test('host data an integer dtype cannot hold is refused, not converted (NaN → 0, 1.5 → 1, 300 → 44)', () => {
  const cases: [number[], string, RegExp][] = [
    [[1, NaN], 'int32', /tensor: data\[1\] is NaN, which int32 cannot hold \(integers in \[-2147483648, 2147483647\]\)/],
    [[Infinity, 0], 'int32', /data\[0\] is Infinity, which int32 cannot hold/],
    [[1.5, 2], 'int32', /data\[0\] is 1\.5, which int32 cannot hold/],
    [[2 ** 31, 0], 'int32', /data\[0\] is 2147483648, which int32 cannot hold/],
    [[300, 1], 'uint8', /data\[0\] is 300, which uint8 cannot hold \(integers in \[0, 255\]\)/],
    [[0, -1], 'uint8', /data\[1\] is -1, which uint8 cannot hold/],
  ];
  for (const [data, dtype, re] of cases) assert.throws(() => tensor(data, [2], { dtype: dtype as never, device: DEVICE }), re);
  assert.throws(() => tensor(new Float32Array([0.5, 1]), [2], { dtype: 'int32', device: DEVICE }), /data\[0\] is 0\.5, which int32 cannot hold/);
  assert.throws(() => tensor(['a', 'b'] as never, [2], { device: DEVICE }), /tensor: data\[0\] is "a", not a number/);
  // fills too: full() and fill_ stored 300 as 44 in uint8 and Infinity as -2^31 (a fraction
  // truncates, as the fill op's contract and PyTorch's full() say)
  assert.throws(() => full([2], 300, { dtype: 'uint8', device: DEVICE }), /full: value 300 is not a number uint8 can hold \(\[0, 255\]\)/);
  assert.throws(() => full([2], Infinity, { dtype: 'int32', device: DEVICE }), /full: value Infinity is not a number int32 can hold/);
  assert.throws(() => full([2], 3e9, { dtype: 'int32', device: DEVICE }), /full: value 3000000000/);
  tidy(() => {
    const u = zeros([2], { dtype: 'uint8', device: DEVICE });
    assert.throws(() => fill_(u, -1), /fill: value -1 is not a number uint8 can hold/);
    assert.equal([...fill_(u, 255).toArray()], [255, 255]);
    assert.equal([...full([2], -1.5, { dtype: 'int32', device: DEVICE }).toArray()], [-1, -1]);
    assert.equal([...full([2], 2.5, { device: DEVICE }).toArray()], [2.5, 2.5], 'float32 fills take fractions');
  });
  // what fits is kept exactly, and float32 data may hold NaN and infinities
  tidy(() => {
    assert.equal([...tensor([-(2 ** 31), 2 ** 31 - 1], [2], { dtype: 'int32', device: DEVICE }).toArray()], [-(2 ** 31), 2 ** 31 - 1]);
    assert.equal([...tensor(new Float32Array([0, 255]), [2], { dtype: 'uint8', device: DEVICE }).toArray()], [0, 255]);
    assert.equal([...tensor([NaN, -Infinity], [2], { device: DEVICE }).toArray()], [NaN, -Infinity]);
  });
});

test('seeds: NaN, negatives and fractions are refused, not folded onto another seed', () => {
  for (const bad of [NaN, -1, 1.5, 2 ** 53, '7']) assert.throws(() => manualSeed(bad as number), /seed: a seed must be a non-negative safe integer, got/, String(bad));
  assert.throws(() => new Generator(-1), /got -1/);
  const a = new Generator(2 ** 40), b = new Generator(2 ** 40), c = new Generator(0);
  const draw = (g: Generator) => [g.uniform(), g.uniform()];
  assert.equal(draw(a), draw(b));
  assert.not.equal(draw(new Generator(2 ** 40)), draw(c), 'the high bits of a large seed count');
  manualSeed(0);
});

test('creation options: a misspelt key is refused naming the nearest; bfloat16 data is named as raw 16-bit patterns', () => {
  expectError(() => tensor([1], [1], { dtyp: 'int32' } as never), 'EINVAL', 'tensor', /unknown option 'dtyp' \(it would be ignored\); did you mean dtype\?; options: dtype, device/, 'tensor dtyp');
  // null options are refused as options, not a TypeError reading null.dtype; an enumerable
  // Object.prototype member (a polyfill) is not taken for an option
  expectError(() => tensor([1], [1], null as never), 'EINVAL', 'tensor', /options must be an object, got null/, 'tensor null');
  (Object.prototype as Record<string, unknown>).polyfilled = () => 0;
  try {
    tidy(() => tensor([1], [1], { dtype: 'float32' }).item());
  } finally {
    delete (Object.prototype as Record<string, unknown>).polyfilled;
  }
  // zeros and ones name themselves, not the full() they call
  expectError(() => zeros([2], { dtyp: 'int32' } as never), 'EINVAL', 'zeros', /unknown option 'dtyp'/, 'zeros dtyp');
  expectError(() => ones([2], { devic: 'cpu' } as never), 'EINVAL', 'ones', /unknown option 'devic'/, 'ones devic');
  expectError(() => zeros([1], { devise: 'cpu' } as never), 'EINVAL', 'zeros', /unknown option 'devise'.*did you mean device\?/, 'zeros devise');
  expectError(() => tensor([1.5], [1], { dtype: 'bfloat16', device: DEVICE }), 'EINVAL', 'tensor',
    /data\[0\] is 1\.5, which bfloat16 cannot hold \(bfloat16 data is given as raw 16-bit storage patterns, integers in \[0, 65535\]\)/, 'bf16 data');
});

test('only floating tensors can require grad; tidy needs a function', () => {
  tidy(() => {
    const i = tensor([1], [1], { dtype: 'int32', device: DEVICE });
    expectError(() => (i.requiresGrad = true), 'EDTYPE', 'requiresGrad', /only floating tensors can require gradients, this one is int32/, 'int32');
    i.requiresGrad = false;
    const f = tensor([1], [1], { device: DEVICE });
    expectError(() => (f.requiresGrad = 1 as never), 'EINVAL', 'requiresGrad', /must be a boolean, got 1/, 'number flag');
    f.requiresGrad = true;
    assert.ok(f.requiresGrad);
  });
  expectError(() => tidy(5 as never), 'EINVAL', 'tidy', /needs a function to run, got 5/, 'tidy(5)');
});

test('toArray of a tensor whose host copy does not fit in the memory available is an ENOMEM naming shape and size (V8 aborted the process)', () => {
  // empty() pages are never written and the copy is refused before it is allocated: nothing is at risk
  const t = empty([3, 100, 1 << 20], 'uint8'); // 300 MiB
  const freemem = os.freemem;
  try {
    os.freemem = () => 100 * 2 ** 20;
    expectError(() => t.toArray(), 'ENOMEM', 'toArray', /copying tensor \[3, 100, 1048576\] \(uint8, 314572800 elements, 314572800 bytes\) to the host needs more memory than is available \(104857600 bytes\)/, 'a copy the host cannot hold');
  } finally {
    os.freemem = freemem;
    t.dispose();
  }
  // past a typed array's length: named before anything is allocated
  const huge = empty([2 ** 16, 2 ** 16], 'uint8'); // 4 GiB, pages never written
  try {
    expectError(() => huge.toArray(), 'EINVAL', 'download', /tensor \[65536, 65536\] has 4294967296 elements; a JavaScript typed array holds at most 2\^32 - 1/, '2^32 elements');
  } finally {
    huge.dispose();
  }
  assert.equal(Array.from(full([2], 7).toArray()), [7, 7], 'a small copy is not checked');
});

test('Generator.fillNormal / fillUniform: the values and the stream of one draw per element', () => {
  // with and without a spare normal pending, odd and even lengths, and the draws after
  for (const [n, pending] of [[7, false], [8, false], [7, true], [8, true], [0, true], [1, false]] as const) {
    const a = new Generator(11), b = new Generator(11);
    if (pending) assert.is(a.normal(), b.normal());
    const want = Float32Array.from({ length: n }, () => a.normal(0.5, 0.02));
    assert.equal(b.fillNormal(new Float32Array(n), 0.5, 0.02), want, `normal, ${n}, spare ${pending}`);
    assert.equal([b.normal(), b.next()], [a.normal(), a.next()], `the stream after, ${n}, spare ${pending}`);
    const u = Float32Array.from({ length: n }, () => a.uniform(-3, 2));
    assert.equal(b.fillUniform(new Float32Array(n), -3, 2), u, `uniform, ${n}`);
    assert.equal(b.getState(), a.getState());
  }
  const g = new Generator(1);
  expectError(() => g.fillNormal(new Float32Array(2), 0, NaN), 'EINVAL', 'Generator.fillNormal', /std >= 0, got mean=0 std=NaN/, 'fillNormal std NaN');
  expectError(() => g.fillUniform(new Float32Array(2), 1, 0), 'EINVAL', 'Generator.fillUniform', /lo <= hi, got lo=1 hi=0/, 'fillUniform(1, 0)');
});

test('Generator: an empty or reversed range, and a state that would draw 0 forever, are refused', () => {
  const g = new Generator(1);
  for (const n of [0, -3, 1.5, NaN, 2 ** 33]) expectError(() => g.int(n), 'EINVAL', 'Generator.int', /needs an integer n in \[1, 2\^32\]/, `int(${n})`);
  expectError(() => g.uniform(5, 1), 'EINVAL', 'Generator.uniform', /needs finite bounds lo <= hi, got lo=5 hi=1/, 'uniform(5, 1)');
  expectError(() => g.uniform(0, NaN), 'EINVAL', 'Generator.uniform', /hi=NaN/, 'uniform(0, NaN)');
  expectError(() => g.normal(0, -1), 'EINVAL', 'Generator.normal', /std >= 0/, 'normal(0, -1)');
  expectError(() => g.setState([1]), 'EINVAL', 'Generator.setState', /needs the 4 or 5 numbers getState\(\) returns, got \[1\]/, 'setState([1])');
  expectError(() => g.setState([0, 0, 0, 0]), 'EINVAL', 'Generator.setState', /an all-zero state would draw 0 forever/, 'all zero');
  expectError(() => g.setState([1, 2, 3, 2 ** 32]), 'EINVAL', 'Generator.setState', /state\[3\] must be a 32-bit unsigned integer/, 'overflow');
  // what is legal: int(1), an empty range lo = hi, and a round trip of getState() with its spare normal
  assert.is(g.int(1), 0);
  assert.is(g.uniform(2, 2), 2);
  g.normal();
  const st = g.getState();
  const a = [g.normal(), g.next()];
  g.setState(st);
  assert.equal([g.normal(), g.next()], a);
});

test('bad MDMT_NUM_THREADS, MDMT_CPU_ISA, MDMT_SPIN_US, MDMT_TF32, MDMT_DEVICE and the other variables are errors naming the variable and the value', () => {
  const index = path.resolve(__dirname, '..', '..', 'ts', 'index.js');
  const script = `try { const m = require(${JSON.stringify(index)}); m.ones([1]).item(); console.log('ok'); } catch (e) { console.log(e.code + ' ' + e.message); }`;
  const cases: [Record<string, string>, string][] = [
    [{ MDMT_NUM_THREADS: 'abc' }, "ECONFIG MDMT_NUM_THREADS: 'abc' is not a thread count: an integer in 1..1024"],
    [{ MDMT_NUM_THREADS: '0' }, "ECONFIG MDMT_NUM_THREADS: '0' is not a thread count"],
    [{ MDMT_NUM_THREADS: '-3' }, "ECONFIG MDMT_NUM_THREADS: '-3'"],
    [{ MDMT_CPU_ISA: 'foo' }, "ECONFIG MDMT_CPU_ISA: 'foo' is not a CPU kernel cap: generic, avx2 or avx512"],
    [{ MDMT_DEVICE: 'gpu' }, "EDEVICE MDMT_DEVICE: 'gpu' is not a device: cpu, cuda or cuda:N"],
    [{ MDMT_SPIN_US: 'abc' }, "ECONFIG MDMT_SPIN_US: 'abc' is not a spin time"],
    [{ MDMT_MAX_ALLOC_BYTES: '8G' }, "ECONFIG MDMT_MAX_ALLOC_BYTES: '8G' is not a byte count"],
    [{ MDMT_MAX_ALLOC_BYTES: '0' }, "ECONFIG MDMT_MAX_ALLOC_BYTES: '0' is not a byte count"],
    [{ MDMT_TF32: 'no' }, "ECONFIG MDMT_TF32: 'no' is not 0 or 1"],
    // read natively as exactly '1' (or 'own') and strtoll: other spellings were silently off
    [{ MDMT_DETERMINISTIC: 'true' }, "ECONFIG MDMT_DETERMINISTIC: 'true' is not 0 or 1"],
    [{ MDMT_CUDA_GRAPH: 'yes' }, "ECONFIG MDMT_CUDA_GRAPH: 'yes' is not 0 or 1"],
    [{ MDMT_OP_PREPARED: 'on' }, "ECONFIG MDMT_OP_PREPARED: 'on' is not 0 or 1"],
    [{ MDMT_CUDA_CONV: 'OWN' }, "ECONFIG MDMT_CUDA_CONV: 'OWN' is not 'own'"],
    [{ MDMT_DEBUG: 'yes' }, "ECONFIG MDMT_DEBUG: 'yes' is not 0 or 1"],
    [{ MDMT_CPU_CACHE_BYTES: '8G' }, "ECONFIG MDMT_CPU_CACHE_BYTES: '8G' is not a byte count"],
    [{ MDMT_CPU_CACHE_BYTES: '-5' }, "ECONFIG MDMT_CPU_CACHE_BYTES: '-5' is not a byte count"],
    [{ MDMT_CPU_CACHE_BYTES: '0', MDMT_DETERMINISTIC: '1', MDMT_CUDA_GRAPH: '0', MDMT_OP_PREPARED: '0', MDMT_CUDA_CONV: 'own' }, 'ok'],
    [{ MDMT_NUM_THREADS: '2', MDMT_CPU_ISA: 'generic', MDMT_SPIN_US: '0', MDMT_TF32: '0' }, 'ok'],
  ];
  for (const [env, want] of cases) {
    const base = { ...process.env };
    delete base.MDMT_DEVICE;
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...base, ...env }, encoding: 'utf8' });
    assert.ok(r.stdout.startsWith(want), `${JSON.stringify(env)}: ${r.stdout}${r.stderr}`);
  }
  // the op log is on for MDMT_DEBUG=1 only (any value, 0 included, turned it on)
  for (const v of ['0', '1']) {
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, MDMT_DEVICE: 'cpu', MDMT_DEBUG: v }, encoding: 'utf8' });
    assert.is(r.stdout.trim(), 'ok', r.stderr);
    assert.is(r.stderr.includes('[mdmt]'), v === '1', `MDMT_DEBUG=${v}: ${r.stderr.slice(0, 200)}`);
  }
});

test.run();
