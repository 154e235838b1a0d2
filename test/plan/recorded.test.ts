/**
 * The precision and layout passes on recorded MDMT training steps (the recorder and the
 * default fusions of ts/plan/step.ts, then the CUDA tables), run through the CPU interpreter
 * of test/plan/_interp.ts: NHWC alone changes no number (loss and every updated parameter
 * bit for bit); the bf16 graph with its values kept at full precision computes the fp32
 * step bit for bit (every cast and dtype edge plumbed right), and with bf16 rounding tracks
 * the fp32 loss; after both passes the only reorders left are the plan's edges (images in,
 * weight copies, weight gradients to Adam).
 * Backbones with the patterns that matter: residual blocks (resnet18), depthwise and relu6
 * (mobilenet_v2), squeeze-excite and SiLU (efficientnet_b0), split / shuffle / concat
 * (shufflenet_v2_x1_0). The CUDA plans themselves run in test/cuda.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Graph, validateGraph } from '../../ts/plan/graph';
import { elideCopies } from '../../ts/plan/passes/copy_elide';
import { dce } from '../../ts/plan/passes/dce';
import { fuseBnAct } from '../../ts/plan/passes/fuse_bn_act';
import { fuseConvAct } from '../../ts/plan/passes/fuse_conv_act';
import { nhwc } from '../../ts/plan/passes/nhwc';
import { CUDA_LOW_OPS, precision } from '../../ts/plan/passes/precision';
import { recordGraph } from '../../ts/plan/record';
import { runPasses } from '../../ts/plan/step';
import { tensor, Tensor } from '../../ts/tensor';
import { batch, trainee } from './_fixture';
import { disposeAll, interpret, logical } from './_interp';

/** A copy a pass may rewrite without touching the original (values shallow-copied, tensors shared). */
function clone(g: Graph): Graph {
  return {
    ...g, values: new Map([...g.values].map(([k, v]) => [k, { ...v }])), steps: g.steps.map((s) => ({ ...s, inputs: [...s.inputs], outputs: [...s.outputs], attrs: { ...s.attrs } })),
    inputs: [...g.inputs], outputs: [...g.outputs], scalars: [...g.scalars],
  };
}

/** The recorded step of `name` after compileStep's default fusions, marked a CUDA plan, and its feed. */
function recorded(name: string, n: number, size: number) {
  const t = trainee(name);
  const data = batch(0, n, size) as { data: Float32Array | Int32Array; shape: readonly number[] }[];
  const ins = data.map((d) => tensor(d.data, d.shape));
  const rec = recordGraph(() => t.step(ins), ins, (r) => r);
  const g = runPasses(rec.graph, [dce, elideCopies, fuseBnAct, fuseConvAct, dce]);
  g.device = 'cuda:0';
  const dispose = () => {
    for (const x of [...ins, ...rec.result, ...(rec.graph.owned ?? [])]) if (x instanceof Tensor && !x.disposed) x.dispose();
    t.model.dispose();
  };
  return { g, feed: data.map((d) => d.data), dispose };
}

for (const name of ['resnet18', 'mobilenet_v2', 'efficientnet_b0', 'shufflenet_v2_x1_0']) {
  test(`${name}: recorded step — NHWC bit-exact, the bf16 graph's plumbing exact, reorders only at the edges`, () => {
    const { g, feed, dispose } = recorded(name, 4, 32);
    try {
      const lay = nhwc()(clone(g));
      const mixed = nhwc()(precision({ lowOps: CUDA_LOW_OPS })(clone(g)));
      validateGraph(lay, 'test');
      validateGraph(mixed, 'test');
      // every reorder sits at an edge: a plan input, a parameter (weight copy), or a weight gradient on its way to Adam
      const producer = new Map<number, string>();
      for (const s of mixed.steps) for (const o of s.outputs) producer.set(o, s.op);
      const inner = mixed.steps.filter((s) => s.op === 'reorder').filter((s) => {
        const v = mixed.values.get(s.inputs[0])!;
        return v.kind === 'temp' && producer.get(s.inputs[0]) !== 'conv2d_bwd_filter';
      });
      assert.equal(inner.map((s) => `${producer.get(s.inputs[0])} [${mixed.values.get(s.inputs[0])!.shape}]`), [], 'reorders inside the NHWC region');
      const ref = interpret(g, feed), got = interpret(lay, feed);
      const plumb = interpret(mixed, feed, { round: false }), low = interpret(mixed, feed);
      const l0 = logical(g, ref, g.outputs[0])[0];
      assert.is(logical(lay, got, lay.outputs[0])[0], l0, 'NHWC: the same loss, bit for bit');
      for (const [id, v] of g.values)
        if (v.kind === 'param' && v.shape.length === 4)
          assert.equal(Array.from(logical(lay, got, id)), Array.from(logical(g, ref, id)), `NHWC: ${v.name} updated bit for bit`);
      // bf16 values kept at full precision: every cast, reorder and dtype edge is plumbed right
      assert.is(logical(mixed, plumb, mixed.outputs[0])[0], l0, 'bf16 graph without rounding: the fp32 loss, bit for bit');
      for (const [id, v] of g.values)
        if (v.kind === 'param') assert.equal(Array.from(logical(mixed, plumb, id)), Array.from(logical(g, ref, id)), `bf16 graph without rounding: ${v.name}`);
      assert.not.equal(logical(mixed, low, mixed.outputs[0])[0], l0, 'with rounding the bf16 loss moves');
      for (const v of [ref, got, plumb, low]) disposeAll(v);
    } finally {
      dispose();
    }
  });
}

// At 4 images of 32² these nets are chaotic (rounding only the images to bf16 moves the fp32
// loss by up to 30 %), so the numeric check runs where they are not: 8 images of 64²
// (resnet18: images-only rounding moves it by 0.1 %). The GPU check (test/cuda/bf16_step) runs
// 20 steps at training sizes.
test('resnet18, 8 images of 64²: the bf16 + NHWC step (emulated) tracks the fp32 loss within 2 %', () => {
  const { g, feed, dispose } = recorded('resnet18', 8, 64);
  try {
    const mixed = nhwc()(precision({ lowOps: CUDA_LOW_OPS })(clone(g)));
    const ref = interpret(g, feed), low = interpret(mixed, feed);
    const l0 = logical(g, ref, g.outputs[0])[0], l1 = logical(mixed, low, mixed.outputs[0])[0];
    assert.ok(Math.abs(l1 - l0) <= 0.02 * Math.abs(l0), `bf16 + NHWC loss ${l1} vs fp32 ${l0}`);
    disposeAll(ref);
    disposeAll(low);
  } finally {
    dispose();
  }
});

test.run();

