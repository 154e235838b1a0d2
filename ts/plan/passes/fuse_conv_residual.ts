/**
 * Residual fusion (CPU inference): a conv2d whose output only an `add` reads, the add's other
 * operand shaped like it (a ResNet / MobileNet shortcut), and optionally the activation that
 * alone reads the sum, become one conv2d_act with that operand as its residual:
 *   relu(add(conv2d(x, w, b), r))  ⇒  conv2d_act(x, w, b, r; act relu)
 * The fused step takes the place of the last step of the chain, since the shortcut may be
 * computed after the conv (ResNet's downsample branch runs after the block's last conv).
 * conv2d_act takes a residual only after a bias: a conv without one gets a zero bias, a
 * constant made here that joins `graph.owned` (freed with the plan).
 * Run it before the plain conv → activation fusion (fuse_conv_act), which does not look
 * through the add.
 */
import { zeros } from '../../tensor';
import { addValue, consumers, Graph, Pass, Step } from '../graph';

const ACTS = new Set(['relu', 'relu6', 'silu', 'sigmoid', 'hardswish']);

export const fuseConvResidual: Pass = (g: Graph): Graph => {
  if (g.device !== 'cpu') return g; // conv2d_act with a residual is a CPU kernel
  const readers = consumers(g);
  const only = (id: number): number | null => {
    const r = readers.get(id) ?? [];
    return r.length === 1 && !g.outputs.includes(id) ? r[0] : null;
  };
  const same = (a: number, b: number) => g.values.get(a)?.shape.join() === g.values.get(b)?.shape.join();
  const drop = new Set<number>(), taken = new Set<number>();
  g.steps.forEach((conv, i) => {
    const z = conv.outputs[0];
    const ai = conv.op === 'conv2d' ? only(z) : null;
    if (ai === null || taken.has(ai)) return;
    const add = g.steps[ai];
    if (add.op !== 'add' || add.inputs.length !== 2 || add.inputs[0] === add.inputs[1] || !add.inputs.includes(z)) return;
    const r = add.inputs[0] === z ? add.inputs[1] : add.inputs[0];
    if (!same(r, z) || !same(add.outputs[0], z)) return;
    const ti = only(add.outputs[0]);
    const act = ti !== null && !taken.has(ti) && ACTS.has(g.steps[ti].op) && g.steps[ti].inputs[0] === add.outputs[0] ? ti : null;
    let bias = conv.inputs[2];
    if (bias === undefined) {
      const t = zeros([g.values.get(z)!.shape[1]], { device: g.values.get(conv.inputs[1])?.tensor?.device ?? g.device });
      (g.owned ??= []).push(t);
      bias = addValue(g, { shape: [...t.shape], dtype: 'float32', kind: 'const', tensor: t, name: 'conv.zero_bias' }).id;
    }
    const last = act ?? ai;
    const fused: Step = {
      op: 'conv2d_act', inputs: [conv.inputs[0], conv.inputs[1], bias, r], outputs: [g.steps[last].outputs[0]],
      attrs: { ...conv.attrs, act: act === null ? 'none' : g.steps[act].op },
    };
    g.steps[last] = fused;
    for (const k of [i, ai, act]) if (k !== null && k !== last) drop.add(k);
    taken.add(ai);
    if (act !== null) taken.add(act);
    g.values.delete(z);
    if (act !== null) g.values.delete(add.outputs[0]);
  });
  g.steps = g.steps.filter((_, i) => !drop.has(i));
  return g;
};
