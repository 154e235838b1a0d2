/**
 * BatchNorm + activation fusion on training graphs (the named ops batchnorm_act_train and
 * batchnorm_act_bwd, docs/ops.md; each equals its unfused ops bit for bit):
 *
 *   forward   batchnorm_train(x) → z, act(z) → y               ⇒ batchnorm_act_train(x) → y
 *             batchnorm_train(x) → z, add(z, r) → s, relu(s) → y ⇒ batchnorm_act_train(x, r) → y
 *   backward  act_bwd(dy, ·) → dz, batchnorm_bwd(dz, x, …)     ⇒ batchnorm_act_bwd(dy, y, x, …)
 *             (dz stays an output when others read it: the residual branch's gradient)
 *
 * act is relu or relu6. relu6_bwd reads the pre-activation z, which the forward fusion
 * removes: the backward rewrite runs first and points it at y (0 < y < 6 iff 0 < z < 6).
 * A forward match needs z (and s) read by nothing else; a fused step may move later (to the
 * add) only when no step in between touches its state. Reshape views of dz (elided copies)
 * count as dz.
 */
import { consumers, Graph, Pass, producers, Step } from '../graph';

const ACTS: Record<string, { act: 'relu' | 'relu6'; bwd: string }> = { relu: { act: 'relu', bwd: 'relu_bwd' }, relu6: { act: 'relu6', bwd: 'relu6_bwd' } };
const BWD: Record<string, 'relu' | 'relu6'> = { relu_bwd: 'relu', relu6_bwd: 'relu6' };

export const fuseBnAct: Pass = (g: Graph): Graph => {
  fuseBackward(g);
  fuseForward(g);
  return g;
};

/** Indices of the steps that read `id` or a same-shape reshape view of it (with the view's id). */
function readersThroughViews(g: Graph, readers: Map<number, number[]>, id: number): { step: number; via: number }[] {
  const out: { step: number; via: number }[] = [];
  for (const i of readers.get(id) ?? []) {
    const s = g.steps[i];
    if (s.op === 'reshape') for (const r of readersThroughViews(g, readers, s.outputs[0])) out.push(r);
    else out.push({ step: i, via: id });
  }
  return out;
}

function fuseBackward(g: Graph): void {
  const readers = consumers(g), made = producers(g);
  const drop = new Set<number>();
  g.steps.forEach((p, i) => {
    const act = BWD[p.op];
    if (!act || g.outputs.includes(p.outputs[0])) return;
    const dz = p.outputs[0];
    const uses = readersThroughViews(g, readers, dz);
    const q = uses.find((u) => g.steps[u.step].op === 'batchnorm_bwd' && g.steps[u.step].inputs[0] === u.via && u.step > i);
    if (!q) return;
    const Q = g.steps[q.step];
    // Q's other inputs (forward values) must exist already at P
    if (Q.inputs.slice(1).some((v) => (made.get(v) ?? -1) >= i)) return;
    // the activation's output: relu_bwd reads it; relu6_bwd reads the pre-activation z
    let y = p.inputs[1];
    if (act === 'relu6') {
      const r = (readers.get(y) ?? []).map((k) => g.steps[k]).find((s) => s.op === 'relu6' && s.inputs[0] === y);
      if (!r) return;
      y = r.outputs[0];
    }
    if ((made.get(y) ?? -1) >= i) return;
    const others = uses.filter((u) => u !== q);
    const viaView = q.via !== dz && (readers.get(q.via) ?? []).length === 1;
    const keepDz = others.length > 0 || (q.via !== dz && !viaView);
    const fused: Step = {
      op: 'batchnorm_act_bwd', inputs: [p.inputs[0], y, ...Q.inputs.slice(1)], outputs: [...Q.outputs, ...(keepDz ? [dz] : [])], attrs: { act },
    };
    g.steps[i] = fused;
    drop.add(q.step);
    if (!keepDz) g.values.delete(dz);
  });
  g.steps = g.steps.filter((_, i) => !drop.has(i));
}

function fuseForward(g: Graph): void {
  const readers = consumers(g);
  const only = (id: number): number | undefined => {
    const r = readers.get(id) ?? [];
    return r.length === 1 && !g.outputs.includes(id) ? r[0] : undefined;
  };
  const drop = new Set<number>();
  g.steps.forEach((bn, i) => {
    if (bn.op !== 'batchnorm_train' || drop.has(i)) return;
    const z = bn.outputs[0];
    const j = only(z);
    if (j === undefined) return;
    const b = g.steps[j];
    if (ACTS[b.op] && b.inputs[0] === z) {
      g.steps[i] = { op: 'batchnorm_act_train', inputs: [...bn.inputs], outputs: [b.outputs[0], ...bn.outputs.slice(1)], attrs: { ...bn.attrs, act: ACTS[b.op].act } };
      drop.add(j);
      g.values.delete(z);
      return;
    }
    if (b.op !== 'add' || !b.inputs.includes(z)) return;
    const r = b.inputs[0] === z ? b.inputs[1] : b.inputs[0];
    const [vz, vr] = [g.values.get(z)!, g.values.get(r)!];
    if (r === z || vr.dtype !== vz.dtype || vr.shape.join() !== vz.shape.join()) return;
    const k = only(b.outputs[0]);
    if (k === undefined || g.steps[k].op !== 'relu' || g.steps[k].inputs[0] !== b.outputs[0]) return;
    // the fused step runs at the add (r exists there): nothing in between may touch the BN's values
    const state = new Set([...bn.inputs, ...bn.outputs.slice(3)]);
    for (let m = i + 1; m < j; m++) if (g.steps[m].outputs.some((v) => state.has(v)) || g.steps[m].inputs.some((v) => bn.outputs.slice(3).includes(v))) return;
    g.steps[j] = { op: 'batchnorm_act_train', inputs: [...bn.inputs, r], outputs: [g.steps[k].outputs[0], ...bn.outputs.slice(1)], attrs: { ...bn.attrs, act: 'relu' } };
    drop.add(i).add(k);
    g.values.delete(z);
    g.values.delete(b.outputs[0]);
  });
  g.steps = g.steps.filter((_, i) => !drop.has(i));
}
