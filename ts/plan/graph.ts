/**
 * The plan IR: what the recorder produces from one eagerly run step, what the passes
 * (ts/plan/passes/*) rewrite, and what the native plan executor replays. It is the one
 * contract between the compiled step (training and inference), the CPU layout work
 * (blocked NCHWc kernels) and the CUDA work (NHWC, bf16, graph capture).
 *
 * A Graph is an ordered list of steps over numbered values. Every value has a logical
 * shape (PyTorch order) and dtype; its physical layout is `nchw` unless a layout pass
 * says otherwise (then only ops that accept that layout may read it, and a `reorder` step
 * converts at the edges). Values are:
 *   input  fed on every run, in `graph.inputs` order (images, labels, masks, per-step scalars)
 *   param  persistent and bound to a live Tensor the plan does not own (parameters,
 *          gradients, BatchNorm running statistics, optimizer moments); steps may read and
 *          write them in place
 *   const  persistent, read-only and owned by the plan (folded BatchNorm weights, constants
 *          made during the trace)
 *   temp   produced by exactly one step and dead after its last reader: the memory pass
 *          places it in the device arena
 * A `reshape` step is a view: its output aliases its input's storage (no kernel runs).
 *
 * Per-run scalars (the learning rate, Adam's bias corrections, dropout seeds) are not
 * constants of the plan: `graph.scalars` names them and a step's `dynamic` maps an
 * attribute to one of them, so each run feeds fresh values without re-recording. (A
 * backend that captures the plan, as a CUDA graph, reads them from its staging of the
 * scalar array or updates the captured nodes; the graph does not change.)
 *
 * The memory pass (passes/memory.ts) gives every temp and input a byte `offset` in one
 * arena per device of `arenaBytes`; a reshape output shares its source's offset.
 */
import { check } from '../errors';
import { Attrs, DType } from '../native/binding';
import { OpName } from '../ops/names';
import { Tensor } from '../tensor';

export type ValueKind = 'input' | 'param' | 'const' | 'temp';
export type Layout = 'nchw' | 'nchw8c' | 'nchw16c' | 'nhwc';

export interface Value {
  id: number;
  shape: number[];
  dtype: DType;
  kind: ValueKind;
  /** physical layout of a 4-D value (default 'nchw') */
  layout?: Layout;
  /** the bound tensor of a param or const value */
  tensor?: Tensor;
  /** a readable name (state_dict key, 'images', 'lr', ...) for errors and dumps */
  name?: string;
  /** byte offset in the device arena (temps and inputs, set by the memory pass) */
  offset?: number;
}

export interface Step {
  op: OpName | 'reshape';
  inputs: number[];
  outputs: number[];
  attrs: Attrs;
  /** attributes fed per run: attribute name → index into graph.scalars */
  dynamic?: Record<string, number>;
}

export interface Graph {
  device: string;
  values: Map<number, Value>;
  steps: Step[];
  /** values fed per run, in order */
  inputs: number[];
  /** values read back after a run (loss, logits); never freed or reused by the memory pass */
  outputs: number[];
  /** names of the per-run scalars, in the order a run feeds them */
  scalars: string[];
  /** bytes of the device arena (set by the memory pass) */
  arenaBytes?: number;
  /** tensors the plan owns (the recorder's snapshots, constants a pass made): freed with it */
  owned?: Tensor[];
}

/** A pass rewrites a graph; it may mutate and return its argument. */
export type Pass = (g: Graph) => Graph;

/** Adds a value with a fresh id. */
export function addValue(g: Graph, v: Omit<Value, 'id'>): Value {
  let id = 0;
  for (const k of g.values.keys()) id = Math.max(id, k + 1);
  const value = { ...v, id };
  g.values.set(id, value);
  return value;
}

/** value id → index of the step that produces it (temps and reshape outputs). */
export function producers(g: Graph): Map<number, number> {
  const m = new Map<number, number>();
  g.steps.forEach((s, i) => s.outputs.forEach((o) => {
    if (g.values.get(o)?.kind === 'temp') m.set(o, i);
  }));
  return m;
}

/** value id → indices of the steps that read it, in order. */
export function consumers(g: Graph): Map<number, number[]> {
  const m = new Map<number, number[]>();
  g.steps.forEach((s, i) => s.inputs.forEach((v) => {
    const l = m.get(v);
    if (l) {
      if (l[l.length - 1] !== i) l.push(i);
    } else m.set(v, [i]);
  }));
  return m;
}

/**
 * Checks the invariants every pass must keep: ids resolve, a temp is produced once and
 * read only after it is produced, inputs are never written, outputs exist. Throws EPLAN.
 */
export function validateGraph(g: Graph, where = 'plan'): void {
  const made = new Set<number>();
  const get = (id: number, s: Step): Value => {
    const v = g.values.get(id);
    check(v !== undefined, 'EPLAN', where, `step '${s.op}' refers to unknown value ${id}`);
    return v!;
  };
  for (const s of g.steps) {
    for (const id of s.inputs) {
      const v = get(id, s);
      check(v.kind !== 'temp' || made.has(id), 'EPLAN', where, `step '${s.op}' reads temp ${id} before it is produced`);
    }
    for (const id of s.outputs) {
      const v = get(id, s);
      check(v.kind !== 'input', 'EPLAN', where, `step '${s.op}' writes plan input ${id} (${v.name ?? 'unnamed'})`);
      check(v.kind !== 'const', 'EPLAN', where, `step '${s.op}' writes constant ${id} (${v.name ?? 'unnamed'})`);
      if (v.kind === 'temp') {
        check(!made.has(id), 'EPLAN', where, `temp ${id} is produced twice (second time by '${s.op}')`);
        made.add(id);
      }
    }
  }
  for (const s of g.steps) {
    for (const [k, i] of Object.entries(s.dynamic ?? {}))
      check(Number.isInteger(i) && i >= 0 && i < g.scalars.length, 'EPLAN', where, `step '${s.op}' feeds attribute '${k}' from unknown scalar ${i}`);
  }
  for (const id of g.inputs) check(g.values.get(id)?.kind === 'input', 'EPLAN', where, `plan input ${id} is not an input value`);
  for (const id of g.outputs) {
    const v = g.values.get(id);
    check(v !== undefined && (v.kind !== 'temp' || made.has(id)), 'EPLAN', where, `plan output ${id} is never produced`);
  }
}
