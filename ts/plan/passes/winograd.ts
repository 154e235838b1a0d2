/**
 * Winograd weights (CPU inference): a 3×3 stride-1 conv (conv2d or conv2d_act) whose weights
 * are a constant of the plan gets them transformed once, now (a snapshot), for the
 * CPU's Winograd kernel — conv2d_act with `winograd: m` and U = winogradWeights(w, m)
 * [(m+2)², K, C] — instead of transforming them on every run. F(4,3) on maps from 16×16
 * (≥ 16 tiles per image), F(2,3) on 6×6 to 15×15 (more, narrower tiles: wider GEMMs at
 * batch 1, and the direct method's error); ≥ 32 channels each way. The transformed
 * constants join `graph.owned` (freed with the plan); a weight that nothing else reads is
 * left for dead-value elimination. Only for plans of frozen models (compileInference): the
 * transform is a snapshot of the weights, as BatchNorm folding is.
 */
import { winogradWeights } from '../../ops/conv2d_act';
import { addValue, Graph, Pass } from '../graph';

const one = (v: unknown) => Array.isArray(v) ? v.every((d) => d === 1) : v === undefined || v === 1;

/** m for this conv's output map, or 0 where Winograd does not pay (or apply). */
export function winogradM(w: readonly number[], attrs: Record<string, unknown>, out: readonly number[]): 0 | 2 | 4 {
  const [K, C, R, S] = w;
  if (R !== 3 || S !== 3 || !one(attrs.stride) || !one(attrs.dilation) || (attrs.groups ?? 1) !== 1 || C < 32 || K < 32) return 0;
  const PQ = out[2] * out[3];
  return PQ >= 256 ? 4 : PQ >= 36 ? 2 : 0;
}

export const winogradConsts: Pass = (g: Graph): Graph => {
  if (g.device !== 'cpu') return g; // winograd_weights and pre-transformed conv2d_act are CPU kernels
  for (const s of g.steps) {
    if ((s.op !== 'conv2d' && s.op !== 'conv2d_act') || s.attrs.winograd !== undefined) continue;
    const w = g.values.get(s.inputs[1]);
    if ((w?.kind !== 'const' && w?.kind !== 'param') || w.tensor?.device !== 'cpu') continue;
    const m = winogradM(w.shape, s.attrs, g.values.get(s.outputs[0])!.shape);
    if (!m) continue;
    const u = winogradWeights(w.tensor, m);
    (g.owned ??= []).push(u);
    const uv = addValue(g, { shape: [...u.shape], dtype: 'float32', kind: 'const', tensor: u, name: `${w.name ?? 'conv.weight'}.winograd${m}` });
    s.inputs = [s.inputs[0], uv.id, ...s.inputs.slice(2)];
    s.attrs = { ...s.attrs, act: s.op === 'conv2d' ? 'none' : s.attrs.act, winograd: m };
    s.op = 'conv2d_act';
  }
  return g;
};
