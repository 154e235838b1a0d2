/**
 * Dead-code elimination: drops the steps whose results nobody needs. A step stays when it
 * writes bound state (a `param` value: parameters, statistics, moments) or produces a value
 * that a kept step reads or the plan returns; walking the steps backwards decides each one
 * after all its readers. Values no remaining step touches are removed from the graph
 * (inputs and bound values stay: they are the plan's interface). Replay hooks are not
 * steps and stay, so the dropout stream still advances as the eager step would.
 */
import { Graph, Pass } from '../graph';

export const dce: Pass = (g: Graph): Graph => {
  const live = new Set<number>(g.outputs);
  const keep = Array.from({ length: g.steps.length }, () => false);
  for (let i = g.steps.length - 1; i >= 0; i--) {
    const s = g.steps[i];
    const needed = s.outputs.some((o) => live.has(o) || g.values.get(o)!.kind === 'param');
    if (!needed) continue;
    keep[i] = true;
    for (const v of s.inputs) live.add(v);
  }
  g.steps = g.steps.filter((_, i) => keep[i]);
  const used = new Set<number>([...g.inputs, ...g.outputs]);
  for (const s of g.steps) for (const v of [...s.inputs, ...s.outputs]) used.add(v);
  for (const [id, v] of g.values) if (!used.has(id) && v.kind !== 'input') g.values.delete(id);
  return g;
};
