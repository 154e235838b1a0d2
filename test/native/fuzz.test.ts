/**
 * Fuzz: every function the addon exports, called 1,000 times in total with random
 * argument lists (numbers incl. NaN/−1/1e20, strings, arrays, nested arrays, objects,
 * typed arrays of every kind, undefined/null, live and freed tensor ids, real and made-up
 * op names with random inputs/outputs/attrs). Each call must return or throw an Error
 * named 'MdmtError' with a code; never crash. The calls run in a child process so that
 * a crash is reported (with the call that caused it) instead of killing the test run,
 * and so that random ids cannot touch other suites' tensors. The child frees what it
 * allocated, checks nothing leaked and that an add still works.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rawNative } from '../../ts/native/binding';
import { OP_NAMES } from '../../ts/ops/names';
import { Rng } from '../helpers';

const CALLS = 1000;
const SEED = Number(process.env.MDMT_FUZZ_SEED ?? 20241124);
const MAX_SMALL = 4096; // elements of a tensor that ops may run on
const MAX_BIG = 1 << 20; // elements of the occasional large tensor (alloc/view/download/free only)

interface Summary {
  edgeCalls: number;
  calls: number;
  returned: number;
  mdmtErrors: number;
  perFn: Record<string, number>;
  opsRun: Record<string, number>;
  opsReturned: Record<string, number>;
  codes: Record<string, number>;
  bad: string[];
  leakedTensors: number;
  addOk: boolean;
}

function child(): void {
  const raw = rawNative() as Record<string, unknown>;
  const fns = Object.entries(raw).filter(([, v]) => typeof v === 'function') as [string, (...a: unknown[]) => unknown][];
  const call = Object.fromEntries(fns) as Record<string, (...a: unknown[]) => unknown>;
  const log = fs.openSync(process.env.MDMT_FUZZ_LOG!, 'w');
  const rng = new Rng(SEED);
  const live: number[] = [], big: number[] = [], freed: number[] = [];
  const info = new Map<number, { shape: number[]; dtype: string }>();
  const s: Summary = { edgeCalls: 0, calls: 0, returned: 0, mdmtErrors: 0, perFn: {}, opsRun: {}, opsReturned: {}, codes: {}, bad: [], leakedTensors: -1, addOk: false };
  // With a usable GPU, the template calls and the edge pass run on CUDA half of the time.
  const cudaOk = (call.devices() as { type: string; available: boolean }[]).some((d) => d.type === 'cuda' && d.available);
  let allocDevice = 'cpu';
  const live0 = (dev: string) => (call.memStats(dev) as { liveTensors: number }).liveTensors;
  const baseline = live0('cpu'), baselineCuda = cudaOk ? live0('cuda') : 0;

  const chance = (p: number) => rng.next() < p;
  const DTYPES = ['float32', 'float32', 'float32', 'int32', 'uint8', 'bfloat16', 'float16'];
  const smallShape = (): number[] => {
    for (;;) {
      const rank = rng.int(0, 5);
      const sh = Array.from({ length: rank }, () => rng.pick([1, 1, 2, 2, 3, 4, 5, 8, 0]));
      if (sh.reduce((a, b) => a * b, 1) <= MAX_SMALL) return sh;
    }
  };
  const bigShape = (): number[] => rng.pick([[MAX_BIG], [1024, 1024], [16, 64, 32, 32], [1000, 999]]);
  const weird = [NaN, -1, 1e20, -1e20, Infinity, -Infinity, 0.5, -0, 2 ** 31, 2 ** 32 + 1, 2 ** 53, 1e15];
  const someId = (): unknown => {
    const r = rng.next();
    if (r < 0.75 && live.length) return rng.pick(live);
    if (r < 0.85 && freed.length) return rng.pick(freed);
    if (r < 0.88 && big.length) return rng.pick(big);
    return rng.pick([0, -1, NaN, 1e20, 2 ** 53, 0.5, 'x', null, undefined, [], {}]);
  };
  const someShape = (): unknown => {
    const r = rng.next();
    if (r < 0.7) return smallShape();
    if (r < 0.75) return bigShape();
    if (r < 0.9) return Array.from({ length: rng.int(0, 10) }, () => (chance(0.6) ? rng.int(0, 4) : rng.pick([...weird, 'a', null, [2]])));
    return anyValue(1);
  };
  const device = (): unknown => (chance(0.8) ? 'cpu' : rng.pick(['cuda', 'cuda:0', 'cuda:99', 'gpu', '', 'cpu:1', 3, null]));
  const typedArray = (n: number): unknown => {
    const kinds = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array];
    const K = rng.pick(kinds);
    const a = new K(n);
    if (!(a instanceof BigInt64Array || a instanceof BigUint64Array)) for (let i = 0; i < n; i++) (a as Float32Array)[i] = rng.uniform(-100, 100);
    if (chance(0.1)) return new DataView(a.buffer);
    if (chance(0.1) && n > 2) return new K(a.buffer, a.BYTES_PER_ELEMENT, n - 2); // offset view
    return a;
  };
  function anyValue(depth = 0): unknown {
    switch (rng.int(0, 11)) {
      case 0: return rng.pick([0, 1, 2, 3, 4, 7, ...weird]);
      case 1: return rng.pick(['', 'cpu', 'cuda', 'float32', 'int32', 'uint8', 'bfloat16', 'x'.repeat(300), '\u0000', ...OP_NAMES]);
      case 2: return chance(0.5);
      case 3: return rng.pick([undefined, null]);
      case 4: return depth < 2 ? Array.from({ length: rng.int(0, 6) }, () => anyValue(depth + 1)) : [];
      case 5: return depth < 2 ? Object.fromEntries(Array.from({ length: rng.int(0, 4) }, (_, i) => [`k${i}`, anyValue(depth + 1)])) : {};
      case 6: return typedArray(rng.int(0, 64));
      case 7: return someId();
      case 8: return someShape();
      case 9: return rng.pick([10n, Symbol('s'), () => 1, new ArrayBuffer(8), new Date(0)]);
      case 10: return rng.pick([...OP_NAMES]);
      default: return Array.from({ length: rng.int(0, 4) }, someId);
    }
  }
  const ATTR_KEYS = ['kernel', 'stride', 'padding', 'dilation', 'groups', 'ceil_mode', 'count_include_pad', 'axis', 'axes', 'keepdim', 'perm',
    'pads', 'value', 'alpha', 'beta', 'eps', 'momentum', 'p', 'seed_lo', 'seed_hi', 'normalize', 'lr', 'beta1', 'beta2', 'weight_decay',
    'decoupled', 'bias_correction1', 'bias_correction2', 'dampening', 'nesterov', 'first_step', 'transA', 'transB', 'zz'];
  const attrValue = (): unknown => {
    const r = rng.next();
    if (r < 0.35) return rng.int(-1, 4);
    if (r < 0.55) return Array.from({ length: rng.int(0, 6) }, () => (chance(0.85) ? rng.int(-1, 5) : rng.pick(weird)));
    if (r < 0.65) return chance(0.5);
    if (r < 0.75) return rng.uniform(-2, 2);
    if (r < 0.8) return rng.pick(['batch', 'masked', 'x']);
    return anyValue(1);
  };
  const attrs = (): unknown => {
    if (chance(0.1)) return anyValue();
    const o: Record<string, unknown> = {};
    for (let i = rng.int(0, 6); i > 0; i--) o[rng.pick(ATTR_KEYS)] = attrValue();
    return o;
  };
  // an output "like" an input: same shape (or int32 of it), so kernels get past validation
  const outputLike = (ins: unknown[]): unknown => {
    const src = ins.filter((v): v is number => typeof v === 'number' && info.has(v));
    if (!src.length || chance(0.3)) return someId();
    const t = info.get(rng.pick(src))!;
    const dtype = chance(0.8) ? t.dtype : rng.pick(DTYPES);
    const shape = chance(0.8) ? t.shape : smallShape();
    return guardedAlloc(shape, dtype);
  };
  const tensorList = (n: number): unknown[] => Array.from({ length: n }, someId);

  const register = (id: unknown, shape: unknown, dtype: unknown): void => {
    if (typeof id !== 'number') return;
    const sh = shape as number[];
    if (sh.reduce((a, b) => a * b, 1) > MAX_SMALL) big.push(id);
    else {
      live.push(id);
      info.set(id, { shape: [...sh], dtype: dtype as string });
    }
  };
  const forget = (id: unknown): void => {
    for (const list of [live, big]) {
      const i = list.indexOf(id as number);
      if (i >= 0) {
        list.splice(i, 1);
        freed.push(id as number);
      }
    }
    info.delete(id as number);
  };
  function guardedAlloc(shape: number[], dtype: string): unknown {
    try {
      const id = call.alloc(shape, dtype, allocDevice);
      register(id, shape, dtype);
      return id;
    } catch {
      return someId();
    }
  }
  // keep the pool of live tensors small (not counted as fuzz calls)
  const trim = (): void => {
    while (live.length > 48) {
      const id = live[rng.int(0, live.length - 1)];
      try { call.free(id); } catch { /* counted below if it ever happens */ }
      forget(id);
    }
    while (big.length > 2) {
      const id = big.shift()!;
      try { call.free(id); } catch { /* ignore */ }
      freed.push(id);
    }
  };

  function randomRun(): unknown[] {
    const op = chance(0.9) ? rng.pick([...OP_NAMES]) : rng.pick(['', 'nope', 'ADD', 'add ', 'conv3d', 'alloc']);
    const ins = tensorList(rng.pick([0, 1, 1, 1, 2, 2, 3, 4]));
    const outs = Array.from({ length: rng.pick([0, 1, 1, 1, 2, 3]) }, () => outputLike(ins));
    return chance(0.15) ? [op, ins, outs] : [op, ins, outs, attrs()];
  }
  // Calls that look right (float32 NCHW tensors of one shape, outputs shaped like them,
  // attributes with sensible values and a few random ones) so kernels get past the first
  // checks and meet uninitialised data, aliasing, and near-miss shapes.
  // [inputs, outputs] per op as docs/ops.md gives them (variadic ops: one choice of n)
  const arity = (op: string): [number, number] => {
    const n = rng.int(1, 3);
    const table: Record<string, [number, number]> = {
      fill: [0, 1], conv2d: [rng.int(2, 3), 1], conv2d_bwd_data: [2, 1], conv2d_bwd_filter: [2, 1], linear: [rng.int(2, 3), 1], matmul: [2, 1],
      batchnorm_train: [3, 5], batchnorm_eval: [5, 1], batchnorm_bwd: [5, 3], add: [2, 1], sub: [2, 1], mul: [2, 1],
      maxpool2d: [1, 2], maxpool2d_bwd: [2, 1], concat: [n, 1], split: [1, n], dropout: [1, 2], dropout_bwd: [2, 1],
      masked_xent_fwd_bwd: [3, 2], adam: [n, 3 * n], sgd: [n, 2 * n], avgpool2d_bwd: [1, 1], global_avgpool_bwd: [1, 1], pad2d_bwd: [1, 1],
    };
    return table[op] ?? (op.endsWith('_bwd') ? [2, 1] : [1, 1]);
  };
  function plausibleRun(): unknown[] {
    const op = rng.pick([...OP_NAMES]);
    const shape = chance(0.8) ? [rng.int(1, 2), rng.int(1, 4), rng.int(1, 5), rng.int(1, 5)] : smallShape();
    const [ain, aout] = arity(op);
    const nIn = chance(0.85) ? ain : rng.pick([0, 1, 2, 3, 5]);
    const nOut = chance(0.85) ? aout : rng.pick([0, 1, 2, 3, 5]);
    const ins: unknown[] = [];
    for (let k = 0; k < nIn; k++) {
      const r = rng.next();
      if (r < 0.6) ins.push(guardedAlloc(shape, 'float32'));
      else if (r < 0.7) ins.push(guardedAlloc(shape, 'int32'));
      else if (r < 0.8) ins.push(guardedAlloc(shape.length === 4 ? [shape[0], shape[1], 1, 1] : [shape[0] ?? 1], rng.pick(['float32', 'int32'])));
      else if (r < 0.9) ins.push(guardedAlloc(shape.length ? [shape[1] ?? shape[0]] : [], 'float32'));
      else ins.push(someId());
    }
    const outs = Array.from({ length: nOut }, () => {
      const r = rng.next();
      if (r < 0.5) return guardedAlloc(shape, 'float32');
      if (r < 0.6) return guardedAlloc(shape, 'int32');
      if (r < 0.7 && shape.length === 4) return guardedAlloc([shape[0], shape[1], Math.max(1, shape[2] >> 1), Math.max(1, shape[3] >> 1)], rng.pick(['float32', 'int32']));
      if (r < 0.8) return guardedAlloc(shape.length ? [shape[1] ?? shape[0]] : [], 'float32');
      if (r < 0.9) return rng.pick(ins);
      return someId();
    });
    // sometimes fill an input with random values (else: whatever the allocator left there)
    for (const id of ins) {
      const t = info.get(id as number);
      if (!t || chance(0.5)) continue;
      const n = t.shape.reduce((a, b) => a * b, 1);
      try {
        if (t.dtype === 'float32') call.upload(id, Float32Array.from({ length: n }, () => rng.uniform(-3, 3)));
        if (t.dtype === 'int32') call.upload(id, Int32Array.from({ length: n }, () => rng.int(-1, 4)));
      } catch { /* not a fuzz call */ }
    }
    const a: Record<string, unknown> = {
      kernel: [2, 2], stride: [rng.int(1, 2), rng.int(1, 2)], padding: [rng.int(0, 1), 0], dilation: [1, 1], groups: rng.pick([1, 2]),
      ceil_mode: chance(0.5), count_include_pad: chance(0.5), axis: rng.int(-1, 3), axes: [1], keepdim: chance(0.5), perm: [0, 1, 3, 2],
      pads: [rng.int(0, 1), 0, 1, 0], value: 0, alpha: 1, beta: 0, eps: 1e-5, momentum: 0.1, p: 0.5, seed_lo: rng.int(0, 9), seed_hi: 0,
      lr: 1e-3, beta1: 0.9, beta2: 0.999, weight_decay: 0, decoupled: chance(0.5), bias_correction1: 0.1, bias_correction2: 0.01,
      dampening: 0, nesterov: false, first_step: true, transA: chance(0.5), transB: chance(0.5), normalize: 'batch',
    };
    for (let k = rng.int(0, 2); k > 0; k--) a[rng.pick(ATTR_KEYS)] = attrValue();
    return [op, ins, outs, a];
  }
  // A valid call per op (docs/ops.md), then zero to two mutations: a dim off by one or
  // zeroed, a dtype swapped, an attribute replaced / dropped / added, a tensor dropped or
  // added, an id replaced by a freed one, an output aliased to an input. This reaches the
  // kernels' own checks and their loops with near-valid arguments.
  type T = [number[], string?];
  const F = 'float32', I = 'int32', U = 'uint8';
  const X: T = [[2, 4, 5, 6]];
  const TEMPLATES: Record<string, () => [T[], T[], Record<string, unknown>]> = {
    fill: () => [[], [[[2, 3]]], { value: 1.5 }],
    copy: () => [[[[2, 3]]], [[[2, 3]]], {}],
    cast: () => [[[[2, 3]]], [[[2, 3], rng.pick([I, U])]], {}],
    conv2d: () => [[X, [[6, 2, 3, 3]], [[6]]], [[[2, 6, 5, 6]]], { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 2 }],
    conv2d_bwd_data: () => [[[[2, 6, 5, 6]], [[6, 2, 3, 3]]], [X], { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 2 }],
    conv2d_bwd_filter: () => [[[[2, 6, 5, 6]], X], [[[6, 2, 3, 3]]], { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 2 }],
    linear: () => [[[[3, 5]], [[4, 5]], [[4]]], [[[3, 4]]], {}],
    matmul: () => [[[[3, 5]], [[5, 4]]], [[[3, 4]]], { transA: false, transB: false }],
    batchnorm_train: () => [[X, [[4]], [[4]]], [X, [[4]], [[4]], [[4]], [[4]]], { eps: 1e-5, momentum: 0.1 }],
    batchnorm_eval: () => [[X, [[4]], [[4]], [[4]], [[4]]], [X], { eps: 1e-5 }],
    batchnorm_bwd: () => [[X, X, [[4]], [[4]], [[4]]], [X, [[4]], [[4]]], {}],
    add: () => [[X, [[4, 1, 1]]], [X], {}],
    sub: () => [[X, [[6]]], [X], {}],
    mul: () => [[X, [[2, 4, 1, 1]]], [X], {}],
    affine: () => [[X], [X], { alpha: 2, beta: 1 }],
    sum: () => [[X], [[[4]]], { axes: [0, 2, 3], keepdim: false }],
    mean: () => [[X], [[[2, 4, 1, 1]]], { axes: [2, 3], keepdim: true }],
    expand: () => [[[[4, 1, 1]]], [X], {}],
    maxpool2d: () => [[X], [[[2, 4, 3, 3]], [[2, 4, 3, 3], I]], { kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceil_mode: false }],
    maxpool2d_bwd: () => [[[[2, 4, 3, 3]], [[2, 4, 3, 3], I]], [X], {}],
    avgpool2d: () => [[X], [[[2, 4, 3, 3]]], { kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceil_mode: true, count_include_pad: false }],
    avgpool2d_bwd: () => [[[[2, 4, 3, 3]]], [X], { kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceil_mode: true, count_include_pad: true }],
    global_avgpool: () => [[X], [[[2, 4, 1, 1]]], {}],
    global_avgpool_bwd: () => [[[[2, 4, 1, 1]]], [X], {}],
    concat: () => [[[[2, 1, 5, 6]], [[2, 3, 5, 6]]], [X], { axis: 1 }],
    split: () => [[X], [[[2, 4, 2, 6]], [[2, 4, 3, 6]]], { axis: 2 }],
    channel_shuffle: () => [[X], [X], { groups: 2 }],
    transpose: () => [[X], [[[2, 5, 6, 4]]], { perm: [0, 2, 3, 1] }],
    pad2d: () => [[X], [[[2, 4, 6, 8]]], { pads: [0, 1, 1, 1], value: 0 }],
    pad2d_bwd: () => [[[[2, 4, 6, 8]]], [X], { pads: [0, 1, 1, 1] }],
    dropout: () => [[X], [X, [X[0], U]], { p: 0.5, seed_lo: 1, seed_hi: 0 }],
    dropout_bwd: () => [[X, [X[0], U]], [X], { p: 0.5 }],
    masked_xent_fwd_bwd: () => [[[[4, 3]], [[4], I], [[4]]], [[[]], [[4, 3]]], { normalize: rng.pick(['batch', 'masked']) }],
    adam: () => [[[[3]], [[2, 2]]], [[[3]], [[2, 2]], [[3]], [[2, 2]], [[3]], [[2, 2]]],
      { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 1e-4, decoupled: chance(0.5), bias_correction1: 0.1, bias_correction2: 0.001 }],
    sgd: () => [[[[3]], [[2, 2]]], [[[3]], [[2, 2]], [[3]], [[2, 2]]],
      { lr: 0.1, momentum: 0.9, dampening: 0, weight_decay: 1e-4, nesterov: chance(0.5), first_step: chance(0.5) }],
  };
  const fillRandom = (id: unknown): void => {
    const t = info.get(id as number);
    if (!t) return;
    const n = t.shape.reduce((a, b) => a * b, 1);
    try {
      if (t.dtype === F) call.upload(id, Float32Array.from({ length: n }, () => (chance(0.02) ? rng.pick([NaN, Infinity, -Infinity]) : rng.uniform(-3, 3))));
      else if (t.dtype === I) call.upload(id, Int32Array.from({ length: n }, () => rng.int(-1, 32)));
      else if (t.dtype === U) call.upload(id, Uint8Array.from({ length: n }, () => rng.pick([0, 1, 1, 7])));
    } catch { /* not a fuzz call */ }
  };
  function templateRun(): unknown[] {
    allocDevice = cudaOk && chance(0.5) ? 'cuda' : 'cpu';
    try {
      return templateRunOn();
    } finally {
      allocDevice = 'cpu';
    }
  }
  function templateRunOn(): unknown[] {
    const op = rng.pick(Object.keys(TEMPLATES));
    const [tin, tout, a] = TEMPLATES[op]();
    const specs = [...tin, ...tout].map(([sh, dt]) => [[...sh], dt ?? F] as [number[], string]);
    for (let m = rng.pick([0, 1, 1, 2]); m > 0 && specs.length; m--) {
      const sp = rng.pick(specs);
      switch (rng.int(0, 2)) {
        case 0: if (sp[0].length) { const d = rng.int(0, sp[0].length - 1); sp[0][d] = Math.max(0, sp[0][d] + rng.pick([-1, 1, -sp[0][d]])); } break;
        case 1: sp[1] = rng.pick(DTYPES); break;
        default: sp[0] = chance(0.5) ? sp[0].slice(1) : [1, ...sp[0]];
      }
    }
    const ids = specs.map(([sh, dt]) => guardedAlloc(sh, dt));
    ids.slice(0, tin.length).forEach(fillRandom);
    const ins = ids.slice(0, tin.length), outs = ids.slice(tin.length);
    if (op === 'adam' || op === 'sgd' || op === 'batchnorm_train') outs.forEach(fillRandom); // in/out state
    const r = rng.next();
    if (r < 0.1 && ins.length && outs.length) outs[rng.int(0, outs.length - 1)] = rng.pick(ins); // aliasing
    else if (r < 0.2) (chance(0.5) ? ins : outs).splice(rng.int(0, 3), 1); // one tensor too few
    else if (r < 0.25) (chance(0.5) ? ins : outs).push(someId()); // one too many
    else if (r < 0.3 && ins.length) ins[rng.int(0, ins.length - 1)] = freed.length ? rng.pick(freed) : -1;
    else if (r < 0.45) {
      const keys = Object.keys(a);
      const k = chance(0.7) && keys.length ? rng.pick(keys) : rng.pick(ATTR_KEYS);
      if (chance(0.3)) delete a[k];
      else a[k] = attrValue();
    }
    return [op, ins, outs, a];
  }
  const structured: Record<string, () => unknown[]> = {
    alloc: () => [someShape(), chance(0.85) ? rng.pick(DTYPES) : anyValue(), device()],
    free: () => [someId()],
    view: () => [someId(), chance(0.5) && live.length ? [...(info.get(rng.pick(live))?.shape ?? [])].reverse() : someShape()],
    upload: () => {
      const id = someId();
      const t = info.get(id as number);
      const n = t ? t.shape.reduce((a, b) => a * b, 1) : rng.int(0, 16);
      const Match = t && ({ float32: Float32Array, int32: Int32Array, uint8: Uint8Array, bfloat16: Uint16Array, float16: Uint16Array } as Record<string, new (n: number) => unknown>)[t.dtype];
      const typed = Match && chance(0.6) ? new Match(chance(0.85) ? n : n + 1) : typedArray(chance(0.7) ? n : rng.int(0, 70));
      return [id, typed];
    },
    download: () => (chance(0.5) ? [someId()] : [someId(), chance(0.7) ? typedArray(rng.int(0, 64)) : anyValue()]),
    run: () => { const r = rng.next(); return r < 0.55 ? templateRun() : r < 0.75 ? plausibleRun() : randomRun(); },
    devices: () => [],
    memStats: () => (chance(0.5) ? [device()] : [device(), anyValue()]),
    sync: () => [device()],
    ops: () => [],
    setThreads: () => [rng.pick([1, 2, 3, 4, 0, -1, 1025, NaN, 1.5, '2', null])],
    setSeed: () => [rng.pick([0, 1, 12345, 2 ** 53 - 1, 2 ** 53, -1, NaN, 1.5, '7', null])],
    info: () => [someId()],
    nonFinite: () => [Array.from({ length: rng.int(0, 3) }, () => someId())],
  };

  const describe = (v: unknown, d = 0): string => {
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'symbol' || typeof v === 'function') return String(v);
    if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as { length?: number }).length ?? v.byteLength})`;
    if (Array.isArray(v)) return d > 2 ? '[…]' : `[${v.map((e) => describe(e, d + 1)).join(',')}]`;
    if (v && typeof v === 'object') return d > 2 ? '{…}' : `{${Object.entries(v).map(([k, e]) => `${k}:${describe(e, d + 1)}`).join(',')}}`;
    return typeof v === 'string' ? JSON.stringify(v.length > 20 ? v.slice(0, 20) + '…' : v) : String(v);
  };

  // Deterministic edge pass before the random calls: every op template with one dim of one
  // tensor set to 0, and with the batch dim of every 4-D tensor set to 0 (empty tensors
  // reach loops whose bounds are products and quotients of dims).
  const skip = new Set((process.env.MDMT_FUZZ_SKIP_OPS ?? '').split(',').filter(Boolean));
  for (const [dev, op] of (cudaOk ? ['cpu', 'cuda'] : ['cpu']).flatMap((d) => Object.keys(TEMPLATES).map((o) => [d, o]))) {
    if (skip.has(op)) continue;
    allocDevice = dev;
    const [tin, tout, a] = TEMPLATES[op]();
    const all = [...tin, ...tout];
    const variants: [number[], string][][] = [];
    all.forEach(([sh], j) => sh.forEach((_, d) => variants.push(all.map(([s2, dt], k) => [k === j ? s2.map((v, e) => (e === d ? 0 : v)) : [...s2], dt ?? F]))));
    variants.push(all.map(([s2, dt]) => [s2.length === 4 ? [0, ...s2.slice(1)] : [...s2], dt ?? F]));
    for (const v of variants) {
      const ids = v.map(([sh, dt]) => guardedAlloc(sh, dt));
      const args = [op, ids.slice(0, tin.length), ids.slice(tin.length), a];
      fs.writeSync(log, `edge ${dev} ${op}(${args.map((x) => describe(x)).join(', ')}) shapes ${JSON.stringify(v.map(([sh]) => sh))}\n`);
      s.edgeCalls++;
      try {
        call.run(...args);
      } catch (e) {
        const err = e as { name?: unknown; code?: unknown };
        if (!(e instanceof Error && err.name === 'MdmtError' && typeof err.code === 'string') && s.bad.length < 20)
          s.bad.push(`edge ${op} ${JSON.stringify(v.map(([sh]) => sh))}: threw ${String(e)}`);
      }
      for (const id of ids) {
        try { call.free(id); } catch { /* freed already */ }
        forget(id);
      }
    }
  }

  allocDevice = 'cpu';
  for (let i = 0; i < CALLS; i++) {
    trim();
    const name = chance(0.45) ? 'run' : rng.pick(fns.map(([n]) => n));
    let args = structured[name] ? structured[name]() : Array.from({ length: rng.int(0, 4) }, () => anyValue());
    if (chance(0.12)) args = Array.from({ length: rng.int(0, 5) }, () => anyValue()); // fully random list
    else if (chance(0.08)) args = chance(0.5) ? args.slice(0, -1) : [...args, anyValue()]; // wrong count
    // random ids look like dims: never allocate between MAX_BIG elements and "more than any
    // machine has" (those are refused without allocating); keep what is touched small
    if (name === 'alloc' && Array.isArray(args[0]) && args[0].every((d) => Number.isInteger(d) && d >= 0)) {
      const p = (args[0] as number[]).reduce((a, b) => a * b, 1);
      if (p > MAX_BIG && p < 1e12) args[0] = bigShape();
    }
    fs.writeSync(log, `#${i} ${name}(${args.map((a) => describe(a)).join(', ')})\n`);
    s.calls++;
    s.perFn[name] = (s.perFn[name] ?? 0) + 1;
    const op = name === 'run' && typeof args[0] === 'string' ? (args[0] as string) : '';
    if (skip.has(op)) args[0] = 'skipped-by-MDMT_FUZZ_SKIP_OPS';
    if (op) s.opsRun[op] = (s.opsRun[op] ?? 0) + 1;
    try {
      const r = call[name](...args);
      s.returned++;
      if (op) s.opsReturned[op] = (s.opsReturned[op] ?? 0) + 1;
      if (name === 'alloc' || name === 'view') fs.writeSync(log, `  -> ${String(r)}\n`);
      if (name === 'alloc' || name === 'view') register(r, name === 'alloc' ? args[0] : args[1], name === 'alloc' ? args[1] : info.get(args[0] as number)?.dtype ?? 'float32');
      if (name === 'free') forget(args[0]);
    } catch (e) {
      const err = e as { name?: unknown; code?: unknown; op?: unknown; message?: unknown };
      if (e instanceof Error && err.name === 'MdmtError' && typeof err.code === 'string' && /^E[A-Z]+$/.test(err.code) && typeof err.op === 'string' && String(err.message).length > 0) {
        s.mdmtErrors++;
        s.codes[err.code] = (s.codes[err.code] ?? 0) + 1;
        if (process.env.MDMT_FUZZ_VERBOSE) process.stderr.write(`#${i} ${name} ${op}: ${String(err.message).slice(0, 140)}\n`);
      } else if (s.bad.length < 20) {
        s.bad.push(`#${i} ${name}: threw ${e instanceof Error ? `${e.name}: ${e.message}` : describe(e)} (code ${String(err?.code)})`);
      }
    }
  }
  // free everything this process allocated; nothing may remain
  for (const id of [...live, ...big]) {
    try { call.free(id); } catch (e) { s.bad.push(`free(${id}) at the end: ${(e as Error).message}`); }
  }
  if (cudaOk) {
    try { call.sync('cuda'); } catch (e) { if ((e as { name?: string }).name !== 'MdmtError') s.bad.push(`sync(cuda) at the end: ${String(e)}`); }
  }
  s.leakedTensors = live0('cpu') - baseline + (cudaOk ? live0('cuda') - baselineCuda : 0);
  // the engine still works: 1 + 2 = 3
  try {
    call.setThreads(2);
    const a = call.alloc([5], 'float32', 'cpu') as number, b = call.alloc([5], 'float32', 'cpu') as number, y = call.alloc([5], 'float32', 'cpu') as number;
    call.upload(a, Float32Array.from([1, 2, 3, 4, 5]));
    call.upload(b, Float32Array.from([10, 20, 30, 40, 50]));
    call.run('add', [a, b], [y], {});
    const out = Array.from(call.download(y) as Float32Array);
    s.addOk = JSON.stringify(out) === JSON.stringify([11, 22, 33, 44, 55]);
    for (const id of [a, b, y]) call.free(id);
  } catch (e) {
    s.bad.push(`add after fuzzing: ${(e as Error).message}`);
  }
  fs.closeSync(log);
  process.stdout.write(`MDMT_FUZZ_SUMMARY ${JSON.stringify(s)}\n`);
}

if (process.env.MDMT_FUZZ_CHILD === '1') {
  child();
} else {
  test(`native fuzz: ${CALLS} random calls over every exported function, no crash, only MdmtErrors`, () => {
    const logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-fuzz-')), 'calls.log');
    const r = spawnSync(process.execPath, [...process.execArgv, __filename], {
      env: { ...process.env, MDMT_FUZZ_CHILD: '1', MDMT_FUZZ_LOG: logFile, MDMT_NUM_THREADS: '2' },
      encoding: 'utf8', timeout: 180_000, maxBuffer: 16 << 20,
    });
    const lastCall = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').trim().split('\n').pop() : '(no log)';
    assert.ok(r.error === undefined, `fuzz child failed to run: ${r.error?.message}`);
    assert.ok(r.signal === null && r.status === 0,
      `fuzz child died (status ${r.status}, signal ${r.signal}) at call ${lastCall} (seed ${SEED}; all calls in ${logFile})\n${(r.stderr ?? '').slice(-3000)}`);
    const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('MDMT_FUZZ_SUMMARY '));
    assert.ok(line, `no summary from the fuzz child; stderr:\n${(r.stderr ?? '').slice(-3000)}`);
    const s = JSON.parse(line!.slice('MDMT_FUZZ_SUMMARY '.length)) as Summary;
    assert.is(s.calls, CALLS);
    assert.equal(s.bad, [], `calls that threw something other than an MdmtError with a code (seed ${SEED}):\n  ${s.bad.join('\n  ')}`);
    assert.is(s.returned + s.mdmtErrors, CALLS);
    const exported = Object.entries(rawNative()).filter(([, v]) => typeof v === 'function').map(([k]) => k);
    const uncalled = exported.filter((f) => !s.perFn[f]);
    assert.equal(uncalled, [], `exported functions never called: ${uncalled.join(', ')}`);
    assert.ok(Object.keys(s.opsRun).length >= 30, `only ${Object.keys(s.opsRun).length} op names were tried`);
    assert.ok(Object.keys(s.opsReturned).length >= 20, `only ${JSON.stringify(s.opsReturned)} ops ever got past validation`);
    assert.is(s.leakedTensors, 0, 'tensors left alive after freeing everything the fuzzer allocated');
    assert.ok(s.addOk, 'add gives the wrong result after fuzzing');
    if (process.env.MDMT_FUZZ_SKIP_OPS) console.log(`  [note] fuzz skipped ops ${process.env.MDMT_FUZZ_SKIP_OPS} (MDMT_FUZZ_SKIP_OPS)`);
    fs.rmSync(path.dirname(logFile), { recursive: true, force: true }); // kept only when the test fails
    console.log(`  fuzz: ${s.edgeCalls} edge calls, ${s.calls} calls, ${s.returned} returned, ${s.mdmtErrors} MdmtErrors ${JSON.stringify(s.codes)}; ops that ran: ${Object.keys(s.opsReturned).sort().join(' ')}`);
  });
  test.run();
}
