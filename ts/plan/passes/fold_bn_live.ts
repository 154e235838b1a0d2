/**
 * BatchNorm folding at run time (evaluation during training): the same rewrite as
 * fold_bn.ts — conv2d → eval BatchNorm becomes one conv2d with
 *   s = γ/√(σ² + ε),  w' = w·s (per output channel),  b' = (b − μ)·s + β
 * — but w' and b' are computed by steps of the plan from the live parameters on every run,
 * so the plan stays valid while training changes them (fold_bn.ts's snapshot would not).
 * Both are batchnorm_eval itself, on views that put the output channel on axis 1:
 *   w' = batchnorm_eval(w as [1, K, C·R·S, 1], γ, 0, 0, σ²)
 *   b' = batchnorm_eval(b as [1, K, 1, 1] (0 without a bias), γ, β, μ, σ²)
 * (K·C·R·S multiply-adds per conv and run, against N·K·C·R·S·P·Q in the conv), in float32
 * as the eager batchnorm_eval computes. With the BatchNorm gone the conv meets its
 * activation and residual add, which the epilogue passes fuse next (conv2d_act). The
 * zero constants join `graph.owned`.
 */
import { tensor, Tensor } from '../../tensor';
import { addValue, Graph, Pass, Step } from '../graph';
import { convBnPairs } from './fold_bn';

export const foldBatchNormLive: Pass = (g: Graph): Graph => {
  const pairs = convBnPairs(g);
  if (!pairs.length) return g;
  const zeros = new Map<string, number>(); // one zero constant per shape
  const zero = (shape: number[]): number => {
    const key = shape.join('x');
    let id = zeros.get(key);
    if (id === undefined) {
      const t: Tensor = tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, { device: g.device });
      (g.owned ??= []).push(t);
      id = addValue(g, { shape, dtype: 'float32', kind: 'const', tensor: t, name: `zeros[${key}]` }).id;
      zeros.set(key, id);
    }
    return id;
  };
  const temp = (shape: number[], name: string) => addValue(g, { shape, dtype: 'float32', kind: 'temp', name }).id;
  const before = new Map<number, Step[]>(); // conv step index → the fold steps that go just before it
  const drop = new Set<number>();
  for (const { conv: i, bn: j, w } of pairs) {
    const conv = g.steps[i], bn = g.steps[j];
    const [K] = w.shape, crs = w.size / K;
    const [, gamma, beta, mean, variance] = bn.inputs;
    const name = g.values.get(conv.inputs[1])!.name ?? 'conv.weight';
    const attrs = { eps: bn.attrs.eps };
    const wv = temp([1, K, crs, 1], `${name}.view`), wf = temp([1, K, crs, 1], `${name}.folded`), w2 = temp([...w.shape], `${name}.folded`);
    const steps: Step[] = [
      { op: 'reshape', inputs: [conv.inputs[1]], outputs: [wv], attrs: {} },
      { op: 'batchnorm_eval', inputs: [wv, gamma, zero([K]), zero([K]), variance], outputs: [wf], attrs },
      { op: 'reshape', inputs: [wf], outputs: [w2], attrs: {} },
    ];
    let bIn: number;
    if (conv.inputs[2] !== undefined) {
      bIn = temp([1, K, 1, 1], `${name}.bias.view`);
      steps.push({ op: 'reshape', inputs: [conv.inputs[2]], outputs: [bIn], attrs: {} });
    } else bIn = zero([1, K, 1, 1]);
    const bf = temp([1, K, 1, 1], `${name}.folded.bias`), b2 = temp([K], `${name}.folded.bias`);
    steps.push({ op: 'batchnorm_eval', inputs: [bIn, gamma, beta, mean, variance], outputs: [bf], attrs },
      { op: 'reshape', inputs: [bf], outputs: [b2], attrs: {} });
    before.set(i, steps);
    g.steps[i] = { ...conv, inputs: [conv.inputs[0], w2, b2], outputs: [bn.outputs[0]] };
    drop.add(j);
    g.values.delete(conv.outputs[0]);
  }
  g.steps = g.steps.flatMap((s, i) => (drop.has(i) ? [] : [...(before.get(i) ?? []), s]));
  return g;
};
