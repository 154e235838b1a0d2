/**
 * The CPU convolutions on thread counts the other suites do not use. They run on 2 threads
 * (this machine's cores), but the kernels split images, groups, channels and rows by the
 * thread count, and an uneven split has gone wrong only at 3+ threads: conv2d_bwd_filter
 * gave 4 images on 3 threads parts of 2, 2 and 0 and added the empty part's stale partial
 * sum into dw. Seeded random geometries, weighted toward the sizes that split unevenly
 * (1, primes, one off a multiple of 2, 8 or 16), forward and both gradients on 3 and 5
 * threads, each against the float64 definition and run twice with bitwise-equal results.
 * The cases run one after another, so each finds the scratch buffers holding the previous
 * case's values, as a training step does.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { conv2d, conv2dBwdData, conv2dBwdFilter } from '../../ts/ops/conv2d';
import { tidy, type Tensor } from '../../ts/tensor';
import { assertClose, DEVICE, deviceAvailable, f32, numel, onThreads, Rng, t32 } from '../helpers';
import { conv2dBwdDataRef, conv2dBwdFilterRef, conv2dRef, type ConvCfg, convOutShape } from '../ref/conv2d';

const on = deviceAvailable('thread_splits') && DEVICE === 'cpu';
const THREADS = [3, 5];
const CASES = 100;

const BATCH = [1, 2, 3, 4, 5, 6, 7, 9, 12, 17];
const CHANNELS = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 33];
const PLANE = [1, 2, 3, 5, 7, 8, 9, 13, 16, 17, 23, 31];

interface Geom extends ConvCfg { xs: number[]; ws: number[]; label: string }

/** A random convolution: dense, grouped, depthwise or 1×1, with valid output. */
function geometry(rng: Rng): Geom {
  for (;;) {
    const kind = rng.pick(['dense', 'dense', 'grouped', 'depthwise', '1x1'] as const);
    const N = rng.pick(BATCH), H = rng.pick(PLANE), W = rng.pick(PLANE);
    let C = rng.pick(CHANNELS), K = rng.pick(CHANNELS), groups = 1;
    if (kind === 'grouped') {
      groups = rng.pick([2, 3, 4]);
      C *= groups;
      K *= groups;
    } else if (kind === 'depthwise') {
      groups = C;
      K = C * rng.pick([1, 1, 2]);
    }
    const R = kind === '1x1' ? 1 : rng.pick([1, 3, 3, 5]), S = kind === '1x1' ? 1 : rng.next() < 0.8 ? R : rng.pick([1, 3]);
    const s = rng.pick([1, 1, 2]), d = kind === '1x1' ? 1 : rng.pick([1, 1, 2]);
    const ph = kind === '1x1' ? 0 : rng.int(0, R), pw = kind === '1x1' ? 0 : rng.int(0, S);
    const cfg: ConvCfg = { stride: [s, s], padding: [ph, pw], dilation: [d, d], groups };
    const xs = [N, C, H, W], ws = [K, C / groups, R, S];
    const ys = convOutShape(xs, ws, cfg);
    if (ys[2] < 1 || ys[3] < 1) continue;
    return { ...cfg, xs, ws, label: `${kind} x=[${xs}] w=[${ws}] stride ${s} pad [${ph},${pw}] dilation ${d} groups ${groups}` };
  }
}

// float32 sums of `terms` products of |values| ≤ 1 against float64, as in conv2d.test.ts
const tol = (terms: number) => ({ atol: 1e-5 + 2e-7 * terms, rtol: 1e-5 });

/** Runs `f` twice on `t` threads; the results must be bitwise equal. */
function twice(label: string, f: () => Tensor): Float32Array {
  const a = tidy(() => f().toArray()) as Float32Array, b = tidy(() => f().toArray()) as Float32Array;
  const at = a.findIndex((v, i) => !Object.is(v, b[i]));
  assert.is(at, -1, `${label}: two runs differ at [${at}]: ${a[at]} vs ${b[at]}`);
  return a;
}

test(`conv2d and both gradients on ${THREADS.join(' and ')} threads = the float64 definition, bitwise the same twice`, () => {
  if (!on) return;
  const rng = new Rng(20261202);
  for (let i = 0; i < CASES; i++) {
    const g = geometry(rng);
    const ys = convOutShape(g.xs, g.ws, g);
    const x = f32(rng.array(numel(g.xs))), w = f32(rng.array(numel(g.ws))), dy = f32(rng.array(numel(ys)));
    const cfg = { stride: g.stride, padding: g.padding, dilation: g.dilation, groups: g.groups };
    const want = {
      y: conv2dRef(x, g.xs, w, g.ws, null, g),
      dx: conv2dBwdDataRef(dy, g.xs, w, g.ws, g),
      dw: conv2dBwdFilterRef(dy, x, g.xs, g.ws, g),
    };
    const [, Cg, R, S] = g.ws;
    onThreads(THREADS, (t) => {
      const at = `#${i} ${g.label}, ${t} threads`;
      assertClose(twice(`${at} y`, () => conv2d(t32(x, g.xs), t32(w, g.ws), null, cfg)), want.y, tol(Cg * R * S), `${at} y`);
      assertClose(twice(`${at} dx`, () => conv2dBwdData(t32(dy, ys), t32(w, g.ws), g.xs, cfg)), want.dx, tol((g.ws[0] / g.groups) * R * S), `${at} dx`);
      assertClose(twice(`${at} dw`, () => conv2dBwdFilter(t32(dy, ys), t32(x, g.xs), g.ws, cfg)), want.dw, tol(g.xs[0] * ys[2] * ys[3]), `${at} dw`);
    });
  }
});

test.run();
