/**
 * BatchNorm folding (inference): a conv2d whose output only an eval BatchNorm reads becomes
 * one conv2d with folded constants, as inference engines do:
 *   s = γ/√(σ² + ε),  w' = w·s (per output channel),  b' = (b − μ)·s + β
 * computed in float64 on the host from the bound tensors' values now, so the folded
 * weights are a snapshot: later changes to the model do not reach the plan. The folded
 * constants join `graph.owned`. Only for plans of frozen models (compileInference); a
 * training run's evaluation plan keeps batchnorm_eval, whose parameters change every step.
 */
import { tensor, Tensor } from '../../tensor';
import { addValue, consumers, Graph, Pass, Value } from '../graph';

function foldConvBn(w: Tensor, b: Tensor | undefined, gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor, eps: number): [Tensor, Tensor] {
  const K = w.shape[0], per = w.size / K;
  const wa = w.toArray(), ba = b ? b.toArray() : null;
  const g = gamma.toArray(), be = beta.toArray(), mu = mean.toArray(), v = variance.toArray();
  const w2 = new Float32Array(w.size), b2 = new Float32Array(K);
  for (let k = 0; k < K; k++) {
    const s = g[k] / Math.sqrt(v[k] + eps);
    for (let j = 0; j < per; j++) w2[k * per + j] = wa[k * per + j] * s;
    b2[k] = ((ba ? ba[k] : 0) - mu[k]) * s + be[k];
  }
  return [tensor(w2, w.shape, { device: w.device }), tensor(b2, [K], { device: w.device })];
}

/** A conv2d whose output only an eval BatchNorm reads: the step indices and the bound tensors. */
export interface ConvBn {
  conv: number;
  bn: number;
  w: Tensor;
  b?: Tensor;
  /** γ, β, running mean, running variance */
  stats: [Tensor, Tensor, Tensor, Tensor];
}

/** The conv → eval-BatchNorm pairs of `g` whose weights and statistics are bound tensors. */
export function convBnPairs(g: Graph): ConvBn[] {
  const readers = consumers(g);
  const bound = (id: number | undefined): Tensor | undefined => {
    const v = id === undefined ? undefined : g.values.get(id);
    return v && (v.kind === 'param' || v.kind === 'const') ? v.tensor : undefined;
  };
  const out: ConvBn[] = [];
  g.steps.forEach((conv, i) => {
    if (conv.op !== 'conv2d' || g.outputs.includes(conv.outputs[0])) return;
    const r = readers.get(conv.outputs[0]) ?? [];
    if (r.length !== 1) return;
    const bn = g.steps[r[0]];
    if (bn.op !== 'batchnorm_eval' || bn.inputs[0] !== conv.outputs[0] || bn.inputs.slice(1).includes(conv.outputs[0])) return;
    const [w, b] = [bound(conv.inputs[1]), bound(conv.inputs[2])];
    const stats = bn.inputs.slice(1).map(bound);
    if (!w || (conv.inputs[2] !== undefined && !b) || stats.some((t) => !t)) return;
    out.push({ conv: i, bn: r[0], w, b, stats: stats as ConvBn['stats'] });
  });
  return out;
}

export const foldBatchNorm: Pass = (g: Graph): Graph => {
  const drop = new Set<number>();
  for (const { conv: i, bn: j, w, b, stats } of convBnPairs(g)) {
    const conv = g.steps[i], bn = g.steps[j];
    const [w2, b2] = foldConvBn(w, b, stats[0], stats[1], stats[2], stats[3], bn.attrs.eps as number);
    (g.owned ??= []).push(w2, b2);
    const constant = (t: Tensor, name: string): Value => addValue(g, { shape: [...t.shape], dtype: 'float32', kind: 'const', tensor: t, name });
    const wv = constant(w2, `${g.values.get(conv.inputs[1])!.name ?? 'conv'}.folded`), bv = constant(b2, `${wv.name}.bias`);
    g.steps[i] = { ...conv, inputs: [conv.inputs[0], wv.id, bv.id], outputs: [bn.outputs[0]] };
    drop.add(j);
    g.values.delete(conv.outputs[0]);
  }
  g.steps = g.steps.filter((_, i) => !drop.has(i));
  return g;
};
