/**
 * ONNX export of max and average pools means what mdmt computes, for every pool geometry of
 * a grid: kernel 2–4, stride 1–3, padding 0..k/2, ceil_mode off and on, max pool and average
 * pool counting padding in the divisor or not, on maps of 5–9 px (H ≠ W, so each axis differs).
 * ceil_mode is where they can part: opset 17 sizes a ceil_mode pool ⌈(H + 2p − k)/s⌉ + 1, while
 * mdmt (PyTorch) drops a last window that would start in the end padding (H 5, k 3, s 3, p 1:
 * opset 17 says 3, mdmt 2). onnxruntime's kernels compute PyTorch's size anyway and only warn
 * that the declared shape differs, so the values alone would not show a graph that says
 * something else. Checked:
 * - onnxruntime's values and shapes equal mdmt's (ORT_TOL);
 * - the size that the opset-17 formulas give from the exported nodes' attributes equals
 *   mdmt's and the declared output shape (the exporter declares no intermediate shapes);
 * - onnxruntime (in a child process, whose stderr is read) logs no warning for any of them.
 * One model per input size holds all the grid's pools as its outputs: 5 sessions, ~2 s.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { noGrad } from '../../ts/autograd/tape';
import { toOnnx } from '../../ts/io/onnx_export';
import { readOnnxModel } from '../../ts/io/onnx_import';
import { OnnxValueInfo } from '../../ts/io/onnx_proto';
import { Module } from '../../ts/nn/module';
import { avgpool2d, maxpool2d } from '../../ts/ops/pool';
import { tensor, Tensor, tidy } from '../../ts/tensor';
import { assertCloseScaled, images } from '../models/util';

interface Pool { name: string; kind: 'max' | 'avg'; k: number; s: number; p: number; ceil: boolean; cip: boolean }

const POOLS: Pool[] = [];
for (const k of [2, 3, 4])
  for (const s of [1, 2, 3])
    for (let p = 0; 2 * p <= k; p++)
      for (const ceil of [false, true])
        for (const [kind, cip] of [['max', false], ['avg', true], ['avg', false]] as const)
          POOLS.push({ name: `${kind}${kind === 'avg' ? (cip ? '_cip' : '_nocip') : ''}_k${k}_s${s}_p${p}${ceil ? '_ceil' : ''}`, kind, k, s, p, ceil, cip });

/** H×W of the traced inputs: every size 5–9 on each axis. */
const SIZES: [number, number][] = [[5, 9], [6, 8], [7, 7], [8, 6], [9, 5]];

class AllPools extends Module {
  forward(x: Tensor): Record<string, Tensor> {
    return Object.fromEntries(POOLS.map((q) => {
      const o = { kernel: q.k, stride: q.s, padding: q.p, ceilMode: q.ceil };
      return [q.name, q.kind === 'max' ? maxpool2d(x, o) : avgpool2d(x, { ...o, countIncludePad: q.cip })];
    }));
  }
}

/** The opset-17 output size of MaxPool / AveragePool (dilation 1). */
function opset17Size(H: number, k: number, s: number, pb: number, pe: number, ceil: boolean): number {
  const r = (H + pb + pe - k) / s + 1;
  return ceil ? Math.ceil(r) : Math.floor(r);
}

type Node = ReturnType<typeof readOnnxModel>['graph']['node'][number];
const ints = (n: Node, name: string) => (n.attribute.find((a) => a.name === name)?.ints ?? []).map(Number);
const int = (n: Node, name: string, def: number) => Number(n.attribute.find((a) => a.name === name)?.i ?? def);

/** Shapes by the opset-17 formulas from the graph's nodes (the ops the pool exports use). */
function inferShapes(bytes: Uint8Array, input: number[]): Map<string, number[]> {
  const g = readOnnxModel(bytes).graph;
  const shapes = new Map<string, number[]>([[g.input[0].name, input]]);
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  for (const n of g.node) {
    const x = shapes.get(n.input[0]);
    assert.ok(x, `${n.name}: input ${n.input[0]} has no shape`);
    if (n.op_type === 'Identity') shapes.set(n.output[0], x);
    else if (n.op_type === 'Pad') {
      const raw = inits.get(n.input[1])!.raw_data!;
      const pads = Array.from(new BigInt64Array(Uint8Array.from(raw).buffer), Number);
      shapes.set(n.output[0], x.map((d, i) => d + pads[i] + pads[i + 4]));
    } else if (n.op_type === 'MaxPool' || n.op_type === 'AveragePool') {
      const k = ints(n, 'kernel_shape'), s = ints(n, 'strides'), pads = ints(n, 'pads'), ceil = int(n, 'ceil_mode', 0) === 1;
      assert.ok(pads.every((v, i) => v < k[i % 2]), `${n.name}: pads ${pads} not below kernel ${k}`);
      shapes.set(n.output[0], [x[0], x[1], ...[0, 1].map((i) => opset17Size(x[2 + i], k[i], s[i], pads[i], pads[i + 2], ceil))]);
    } else assert.unreachable(`${n.name}: unexpected ${n.op_type}`);
  }
  return shapes;
}

const dims = (v: OnnxValueInfo) => v.type!.tensor_type!.shape!.dim!.slice(1).map((d) => Number((d as { dim_value?: number }).dim_value));

test('the grid holds pools where opset-17 ceil_mode would size differently from mdmt', () => {
  let diverge = 0;
  for (const [H, W] of SIZES) for (const q of POOLS) for (const n of [H, W]) {
    if (!q.ceil) continue;
    const mdmt = tidy(() => noGrad(() => maxpool2d(tensor(new Float32Array(n), [1, 1, n, 1]), { kernel: [q.k, 1], stride: [q.s, 1], padding: [q.p, 0], ceilMode: true }).shape[2]));
    if (opset17Size(n, q.k, q.s, q.p, q.p, true) !== mdmt) diverge++;
  }
  assert.ok(diverge > 0, 'no divergent case in the grid');
  // the reported one: 5 px, kernel 3, stride 3, padding 1
  assert.is(opset17Size(5, 3, 3, 1, 1, true), 3);
  assert.equal(tidy(() => noGrad(() => maxpool2d(tensor(new Float32Array(25), [1, 1, 5, 5]), { kernel: 3, stride: 3, padding: 1, ceilMode: true }).shape)), [1, 1, 2, 2]);
});

test('every pool of the grid: onnxruntime equals mdmt, and the opset-17 sizes of the graph are mdmt\'s', async () => {
  const m = new AllPools();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-onnx-pool-'));
  try {
    for (const [H, W] of SIZES) {
      const shape = [2, 3, H, W];
      const x = images(shape, H);
      const ref = tidy(() => noGrad(() => Object.fromEntries(Object.entries(m.forward(tensor(x, shape)))
        .map(([k, v]) => [k, { shape: [...v.shape], data: v.toArray() as Float32Array }]))));
      const bytes = toOnnx(m, { inputShape: shape });
      fs.writeFileSync(path.join(dir, `${H}x${W}.onnx`), bytes);
      const g = readOnnxModel(bytes).graph;
      const inferred = inferShapes(bytes, shape);
      assert.is(g.output.length, POOLS.length);
      for (const o of g.output) {
        const want = ref[o.name].shape;
        assert.equal(dims(o), want.slice(1), `${H}x${W} ${o.name}: declared shape`);
        assert.equal(inferred.get(o.name), want, `${H}x${W} ${o.name}: opset-17 shape of the exported nodes`);
      }
      const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
      try {
        const r = await s.run({ input: new ort.Tensor('float32', x, shape) });
        for (const q of POOLS) {
          assert.equal(Array.from(r[q.name].dims, Number), ref[q.name].shape, `${H}x${W} ${q.name}: onnxruntime shape`);
          assertCloseScaled(r[q.name].data as Float32Array, ref[q.name].data, `${H}x${W} ${q.name}`);
        }
      } finally {
        await s.release();
      }
    }
    // onnxruntime writes its shape warnings (MergeShapeInfo, VerifyOutputSizes) to the
    // process's stderr from native code: a child process runs the same files, its stderr read
    const script = `
      const ort = require(${JSON.stringify(require.resolve('onnxruntime-node'))});
      (async () => {
        for (const [H, W] of ${JSON.stringify(SIZES)}) {
          const s = await ort.InferenceSession.create(${JSON.stringify(dir)} + '/' + H + 'x' + W + '.onnx', { intraOpNumThreads: 1, interOpNumThreads: 1 });
          await s.run({ input: new ort.Tensor('float32', new Float32Array(2 * 3 * H * W), [2, 3, H, W]) });
          await s.release();
        }
        console.log('ran');
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 0, `child onnxruntime failed: ${r.stderr}`);
    assert.is(r.stdout.trim(), 'ran');
    assert.is(r.stderr.trim(), '', 'onnxruntime logged on stderr');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
