import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { native } from '../../ts/native/binding';
import { dropout, dropoutSeedState, setDropoutSeed } from '../../ts/ops/dropout';
import { Tensor, tensor, tidy } from '../../ts/tensor';
import { assertClose, deviceAvailable, expectError, f32, gradcheck, numel, Rng, t32, DEVICE } from '../helpers';
import { dropoutMaskRef, dropoutRef, philox4x32 } from '../ref/dropout';

// y = x·(1/(1−p)) with a float32 scale vs x/(1−p) in float64: two roundings
const TOL = { atol: 1e-7, rtol: 3e-7 };
const on = deviceAvailable('dropout');

/** Runs dropout with a fixed seed; returns y and the mask (derived: the mask output is internal). */
function runDropout(x: Float64Array, shape: number[], p: number, seed: bigint): { y: Float32Array; mask: Uint8Array } {
  return tidy(() => {
    const xt = t32(x, shape);
    const attrs = { p, seed_lo: Number(seed & 0xffffffffn), seed_hi: Number(seed >> 32n) };
    const y = tensor(new Float32Array(xt.size), shape, { device: DEVICE });
    const m = tensor(new Uint8Array(xt.size), shape, { device: DEVICE, dtype: 'uint8' });
    native().run('dropout', [xt.id], [y.id, m.id], attrs);
    return { y: y.toArray() as Float32Array, mask: m.toArray() as Uint8Array };
  });
}

test('philox4x32-10 reference reproduces the Random123 known-answer vectors', () => {
  const hex = (a: bigint[]) => a.map((v) => v.toString(16).padStart(8, '0')).join(' ');
  assert.is(hex(philox4x32([0n, 0n, 0n, 0n], [0n, 0n])), '6627e8d5 e169c58d bc57ac4c 9b00dbd8');
  const f = 0xffffffffn;
  assert.is(hex(philox4x32([f, f, f, f], [f, f])), '408f276d 41c83b0e a20bc7c6 6d5451fd');
  assert.is(hex(philox4x32([0x243f6a88n, 0x85a308d3n, 0x13198a2en, 0x03707344n], [0xa4093822n, 0x299f31d0n])), 'd16cfe09 94fdcceb 5001e420 24126ea1');
});

test('dropout: mask = the documented Philox formula computed in JS, y = x·mask/(1−p)', () => {
  if (!on) return;
  const rng = new Rng(201);
  // odd sizes (a partial last Philox block), a seed using both halves, p at the extremes
  const cases: [number[], number, bigint][] = [
    [[2, 3, 4, 5], 0.5, 1n],
    [[1, 7, 3, 2], 0.1, 0xdeadbeefcafef00dn],
    [[13], 0.9, 42n],
    [[5003], 0.25, 0xffffffffffffffffn],
    [[3, 8], 0.999, 7n],
    [[4, 1, 9, 1], 1e-6, 123456789n],
    [[5, 4001], 0.5, 0x100000000n], // several tasks of the thread pool (4096 blocks each)
  ];
  for (const [shape, p, seed] of cases) {
    const x = f32(rng.array(numel(shape), -4, 4));
    const { y, mask } = runDropout(x, shape, p, seed);
    const ref = dropoutMaskRef(numel(shape), seed, p);
    assert.equal(Array.from(mask), Array.from(ref), `mask ${shape} p=${p} seed=${seed}`);
    assertClose(y, dropoutRef(x, ref, p), TOL, `y ${shape} p=${p}`);
  }
});

test('dropout: the scale 1/(1−p) is formed in double and rounded once, as PyTorch (p = 0.999 scales by 1000, not 1000.0129)', () => {
  if (!on) return;
  for (const p of [0.999, 0.9999, 0.7, 1 / 3]) {
    const n = 20000, scale = Math.fround(1 / (1 - p));
    const { y, mask } = runDropout(new Float64Array(n).fill(1), [n], p, 5n);
    const kept = mask.findIndex((m) => m === 1);
    assert.ok(kept >= 0, `p=${p}: some element kept`);
    assert.is(y[kept], scale, `p=${p}: a kept 1 becomes fround(1/(1−p))`);
    tidy(() => {
      const dy = t32(new Array<number>(n).fill(1), [n]);
      const m = tensor(mask, [n], { dtype: 'uint8', device: DEVICE }), dx = t32(new Array<number>(n).fill(0), [n]);
      native().run('dropout_bwd', [dy.id, m.id], [dx.id], { p });
      assert.is((dx.toArray() as Float32Array)[kept], scale, `p=${p}: dropout_bwd scales by the same value`);
    });
  }
});

test('dropout: same seed → same mask; another seed → another mask; explicit seed through the TS op', () => {
  if (!on) return;
  const shape = [4, 257];
  const x = new Float64Array(numel(shape)).fill(1);
  const a = runDropout(x, shape, 0.5, 99n).mask;
  const b = runDropout(x, shape, 0.5, 99n).mask;
  const c = runDropout(x, shape, 0.5, 100n).mask;
  assert.equal(Array.from(a), Array.from(b), 'same seed');
  const differ = a.reduce((s, v, i) => s + (v !== c[i] ? 1 : 0), 0);
  assert.ok(differ > numel(shape) / 4, `another seed changes about half the mask (${differ} of ${numel(shape)} differ)`);
  // the TS op with seed 99 keeps exactly the elements of mask a
  const y = tidy(() => dropout(t32(x, shape), 0.5, true, 99).toArray());
  assert.equal(Array.from(y, (v) => (v !== 0 ? 1 : 0)), Array.from(a), 'TS op with seed 99');
  const yb = tidy(() => dropout(t32(x, shape), 0.5, true, 99n).toArray());
  assert.equal(Array.from(yb), Array.from(y), 'bigint seed');
});

test('dropout: keep rate within 4σ of 1−p over 10^5 elements', () => {
  if (!on) return;
  const n = 100000;
  const x = new Float64Array(n).fill(1);
  for (const p of [0.05, 0.3, 0.5, 0.9]) {
    for (const seed of [3n, 0xabcdef0123n]) {
      const kept = runDropout(x, [n], p, seed).mask.reduce((s, v) => s + v, 0);
      const sigma = Math.sqrt(n * p * (1 - p));
      assert.ok(Math.abs(kept - n * (1 - p)) <= 4 * sigma, `p=${p} seed=${seed}: kept ${kept}, expected ${n * (1 - p)} ± ${4 * sigma}`);
    }
  }
});

test('dropout: the JS seed stream makes runs reproducible and advances per call', () => {
  if (!on) return;
  const shape = [1000];
  const x = new Float64Array(1000).fill(1);
  const draw = () => tidy(() => Array.from(dropout(t32(x, shape), 0.5, true).toArray()));
  setDropoutSeed(7);
  const a1 = draw(), a2 = draw();
  const state = dropoutSeedState();
  const a3 = draw();
  setDropoutSeed(7);
  assert.equal(draw(), a1, 'first call after reseeding');
  assert.equal(draw(), a2, 'second call after reseeding');
  assert.not.equal(a1, a2, 'consecutive calls use different masks');
  setDropoutSeed(state.seed, state.calls);
  assert.equal(draw(), a3, 'resumed from a saved state');
  setDropoutSeed(8);
  assert.not.equal(draw(), a1, 'another base seed');
});

test('dropout op without seed attributes: the native global stream (reproducible after setSeed)', () => {
  if (!on) return;
  const draw = () => tidy(() => {
    const x = t32(new Float64Array(512).fill(1), [512]);
    const y = t32(new Float64Array(512), [512]);
    const m = tensor(new Uint8Array(512), [512], { dtype: 'uint8', device: DEVICE });
    native().run('dropout', [x.id], [y.id, m.id], { p: 0.5 });
    return Array.from(m.toArray());
  });
  native().setSeed(11);
  const a = draw(), b = draw();
  native().setSeed(11);
  assert.equal(draw(), a, 'same global seed');
  assert.not.equal(a, b, 'the stream advances');
});

test('dropout: identity (x itself) when not training or p = 0; no tensors kept', () => {
  if (!on) return;
  tidy(() => {
    const x = t32([1, 2, 3, 4], [4]);
    assert.ok(dropout(x, 0.5, false) === x, 'eval');
    assert.ok(dropout(x, 0, true) === x, 'p = 0');
  });
});

test('dropout vjp = finite differences of x·mask/(1−p) with the same seed', () => {
  if (!on) return;
  const rng = new Rng(202);
  for (const [shape, p] of [[[2, 3, 4, 5], 0.5], [[1, 7, 3, 2], 0.2], [[13], 0.8], [[3, 8], 0.35]] as [number[], number][]) {
    const seed = BigInt(rng.int(0, 1e9));
    const mask = dropoutMaskRef(numel(shape), seed, p);
    gradcheck({
      label: `dropout ${shape}`, rng, inputs: [{ data: rng.array(numel(shape), -3, 3), shape }],
      engine: ([x]) => dropout(x, p, true, seed), ref: ([x]) => dropoutRef(x, mask, p),
    });
  }
});


test('dropout: bad inputs give MdmtError naming the op and the argument', () => {
  if (!on) return;
  tidy(() => {
    const x = t32([1, 2, 3, 4], [4]);
    // one wording for every refused p (p = 1 and p < 0 once said '[0, 1)' and '[0, 1]')
    for (const p of [1, -0.1, NaN, 0.99999999]) expectError(() => dropout(x, p, true), 'EINVAL', 'dropout', new RegExp(`'p' must be a number in \\[0, 1\\), got ${p}$`), `p = ${p}`);
    expectError(() => dropout(x, 0.5, true, -1), 'EINVAL', 'dropout', /'seed'/, 'negative seed');
    expectError(() => dropout(tensor(Int32Array.from([1, 2]), [2]), 0.5, true), 'EDTYPE', 'dropout', /'x'/, 'int32 x');
    const d = t32([1], [1]);
    d.dispose();
    expectError(() => dropout(d, 0.5, true), 'EDISPOSED', 'dropout', /'x'/, 'disposed x');
    const run = (op: string, ins: Tensor[], outs: Tensor[], attrs: Record<string, number>) => () => native().run(op, ins.map((t) => t.id), outs.map((t) => t.id), attrs);
    const y = t32([0, 0, 0, 0], [4]);
    const m = tensor(new Uint8Array(4), [4], { dtype: 'uint8', device: DEVICE });
    expectError(run('dropout', [x], [y, m], { p: 1.5 }), 'EINVAL', 'dropout', /'p'/, 'native p');
    expectError(run('dropout', [x], [y, y], { p: 0.5 }), 'EDTYPE', 'dropout', /mask/, 'native float mask');
    expectError(run('dropout', [x], [y, m], { p: 0.5, seed_lo: 1 }), 'EINVAL', 'dropout', /seed_hi/, 'native half seed');
    expectError(run('dropout', [x], [y, m], { p: 0.5, seed_lo: 2 ** 32, seed_hi: 0 }), 'EINVAL', 'dropout', /seed_lo/, 'native seed_lo range');
    expectError(run('dropout_bwd', [x, t32([1, 1], [2])], [y], { p: 0.5 }), 'EDTYPE', 'dropout_bwd', /mask/, 'native bwd mask dtype');
  });
});

test.run();
