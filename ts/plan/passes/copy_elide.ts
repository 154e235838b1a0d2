/**
 * Copy elision: a `copy` of a temporary into a temporary becomes a view (a `reshape` to the
 * same shape), so no bytes move. Legal because a temporary is written once, by the step that
 * produces it, and never again (graph.ts); the memory pass keeps a view and its source in one
 * buffer that lives until the last reader of either, and writes over it in place only when
 * all of them are dead. The tape makes these copies when a vjp hands one gradient to two
 * inputs (add's vjp: a ResNet shortcut), and they are a full pass over an activation each.
 */
import { Graph, Pass } from '../graph';

export const elideCopies: Pass = (g: Graph): Graph => {
  const arena = (id: number) => {
    const k = g.values.get(id)?.kind;
    return k === 'temp' || k === 'input';
  };
  for (const s of g.steps) {
    if (s.op !== 'copy' || s.inputs.length !== 1 || s.outputs.length !== 1) continue;
    const [x, y] = [g.values.get(s.inputs[0])!, g.values.get(s.outputs[0])!];
    if (!arena(x.id) || y.kind !== 'temp' || x.dtype !== y.dtype) continue;
    s.op = 'reshape';
    s.attrs = { shape: [...y.shape] };
  }
  return g;
};
