/**
 * Convolution + activation fusion: conv2d → z read only by relu/relu6/silu/sigmoid/hardswish
 * ⇒ one conv2d_act (docs/ops.md), so a backend can apply the activation in the convolution's
 * output loop. In inference graphs it follows BatchNorm folding (conv-BN-act becomes one op);
 * in training graphs it applies where the backward does not read z (relu: relu_bwd reads y).
 */
import { consumers, Graph, Pass } from '../graph';

const ACTS = new Set(['relu', 'relu6', 'silu', 'sigmoid', 'hardswish']);

export const fuseConvAct: Pass = (g: Graph): Graph => {
  const readers = consumers(g);
  const drop = new Set<number>();
  g.steps.forEach((conv, i) => {
    if (conv.op !== 'conv2d' || g.outputs.includes(conv.outputs[0])) return;
    const r = readers.get(conv.outputs[0]) ?? [];
    if (r.length !== 1) return;
    const a = g.steps[r[0]];
    if (!ACTS.has(a.op) || a.inputs[0] !== conv.outputs[0]) return;
    g.steps[i] = { ...conv, op: 'conv2d_act', outputs: [a.outputs[0]], attrs: { ...conv.attrs, act: a.op } };
    drop.add(r[0]);
    g.values.delete(conv.outputs[0]);
  });
  g.steps = g.steps.filter((_, i) => !drop.has(i));
  return g;
};
