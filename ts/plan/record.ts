/**
 * The recorder: runs a step once, eagerly, under observeOps, and turns the op calls it
 * made into a Graph (ts/plan/graph.ts). The eager run is a real step: its results are
 * returned to the caller, so recording costs nothing but the bookkeeping.
 *
 * How each tensor the step touches becomes a value:
 *   - the tensors in `inputs`                        → `input` (fed on every run)
 *   - tensors that existed before the step, and tensors made during it (not by an op)
 *     that outlive it (lazily created optimiser moments) → `param`, bound to the tensor
 *     (parameters, BatchNorm running statistics, Adam moments: read and written in place)
 *   - tensors made during the step without an op (tensor(), ones()) and freed by its end
 *     → `const`, a snapshot taken when the step first read them. Host data made inside the
 *     step is therefore frozen into the plan: per-run data must come in as `inputs`.
 *   - op outputs                                   → `temp`
 * Snapshots go to `graph.owned`. Attributes an op declares dynamic (OpCall.dynamic: lr, bias corrections, dropout seeds)
 * become graph scalars, and stepEffect() calls become effects; `hooks` replays both, in
 * recording order, before each run.
 *
 * Refused with EPLAN (never a plan that would replay wrong): an op output other than the
 * results that outlives the step (a gradient left un-zeroed would be overwritten instead
 * of accumulated), an in-place update of a temporary or of an input, a result that is not an op output.
 */
import { check, MdmtError } from '../errors';
import { DependObserver, DynamicAttrs, observeDepends, observeEffects, observeHostWrites, observeOps, OpCall } from '../ops/op';
import { empty, keep, setHostReadGuard, Tensor, tidy } from '../tensor';
import { Graph, Step, validateGraph, Value } from './graph';

/** A replay hook: scalar values for graph.scalars[first..first+count), or a pure effect. */
export type ReplayHook = { first: number; count: number; values: DynamicAttrs['values']; undo?: () => void } | { effect: () => void };

/** A JavaScript-side value the step read (stepDepends): the plan replays only while `read()` gives `value`. */
export interface Dependency {
  read: () => unknown;
  value: unknown;
}

export interface Recording<R> {
  graph: Graph;
  /** called in order before every replay: fills the scalars and replays JS-side effects */
  hooks: ReplayHook[];
  /** what the step's ops were chosen by (modules' training modes, parameters' requiresGrad and gradients) */
  depends: Dependency[];
  /** what the eager run of the step returned */
  result: R;
}

let depth = 0;
/** True while a step is being recorded (a plan replay there would be invisible to the recording). */
export function isRecording(): boolean {
  return depth > 0;
}

function refuseHostRead(): never {
  throw new MdmtError('EPLAN', 'record', 'the step reads the values of a tensor on the host (toArray, item, to) while it is recorded: ' +
    'the plan would replay the values of this call for every later input; compute with ops, or read the step\'s results after run()');
}

/** Runs fn with host reads allowed (the recorder's own snapshots). */
function unguarded<T>(fn: () => T): T {
  const prev = setHostReadGuard(undefined);
  try {
    return fn();
  } finally {
    setHostReadGuard(prev);
  }
}

/**
 * Runs `fn` (inside tidy) and records it. `outputsOf(result)` lists the tensors the plan
 * returns (they stay alive, as the result of tidy). The step must not read tensors made
 * from per-run host data inside `fn`; pass them in `inputs`.
 *
 *   const rec = recordGraph(() => { const l = loss(model.forward(x), y); backward(l); opt.step(); opt.zeroGrad(); return l; }, [x, y], (l) => [l]);
 */
export function recordGraph<R>(fn: () => R, inputs: readonly Tensor[], outputsOf: (r: R) => Tensor[]): Recording<R> {
  check(inputs.length > 0, 'EPLAN', 'record', 'a recorded step needs at least one input tensor');
  const device = inputs[0].device;
  const probe = empty([0], 'float32', device);
  const watermark = probe.id; // tensor ids are never reused: later ids were made during the step
  probe.dispose();
  const calls: OpCall[] = [];
  const events: ({ call: OpCall } | { effect: () => void })[] = [];
  const snapshots = new Map<Tensor, Tensor>();
  const seen = new Set<Tensor>(inputs);
  // the first value of each (owner, key) the step read; null: the step set it before reading it
  const depends = new Map<object, Map<string, Dependency | null>>();
  const depend: DependObserver = (owner, key, read) => {
    let m = depends.get(owner);
    if (!m) depends.set(owner, (m = new Map<string, Dependency | null>()));
    if (!m.has(key)) m.set(key, read && { read, value: read() });
  };
  const stopOps = observeOps((c) => {
    for (const t of c.inputs) {
      // a tensor made during the step without an op: snapshot it before anything writes it
      if (!seen.has(t) && t.id > watermark && !snapshots.has(t)) snapshots.set(t, unguarded(() => keep(t.to(t.device))));
      if (!seen.has(t) && t.id < watermark) {
        // state: whether autograd gives it a gradient, and whether one is left from outside the
        // step (an eager backward() between runs, which the eager step would add to)
        depend(t, 'requiresGrad', () => t.requiresGrad);
        depend(t, 'grad', () => t.grad !== null);
      }
      seen.add(t);
    }
    for (const t of c.outputs) seen.add(t);
    calls.push(c);
    events.push({ call: c });
  });
  const stopEffects = observeEffects((effect) => events.push({ effect }));
  const stopDepends = observeDepends(depend);
  // an upload into state (an initialiser inside the step) is no op: a plan would never repeat it
  const stopWrites = observeHostWrites((ts, what) => check(ts.every((t) => t.id > watermark), 'EPLAN', 'record',
    () => `${what} writes host values into a tensor made before the step, while it is recorded: the plan replays ops, not uploads (the write would happen on this call only); do it outside the step`));
  let result: R;
  let outs: Tensor[];
  depth++;
  // a value read on the host inside the step (sum(x).item() as a scale, t.to()) would be this
  // call's value in every replay, silently: refused, as the doc above says
  const prevGuard = setHostReadGuard(refuseHostRead);
  try {
    [result, outs] = tidy(() => {
      const r = fn();
      const o = outputsOf(r);
      return [r, o] as [R, Tensor[]];
    });
  } catch (e) {
    for (const t of snapshots.values()) t.dispose();
    throw e;
  } finally {
    setHostReadGuard(prevGuard);
    depth--;
    stopOps();
    stopEffects();
    stopDepends();
    stopWrites();
  }
  try {
    const built = buildGraph(device, events, inputs, outs, watermark, snapshots);
    const deps = [...depends.values()].flatMap((m) => [...m.values()]).filter((d): d is Dependency => d !== null);
    return { ...built, depends: deps, result };
  } catch (e) {
    for (const t of snapshots.values()) t.dispose();
    // only the results the step made: one it returned but did not compute (its input, a
    // parameter, a tensor made before it) is the caller's, and was freed here with the model's weight
    for (const t of outs) if (t.id > watermark) t.dispose();
    throw e;
  }
}

function buildGraph(device: string, events: ({ call: OpCall } | { effect: () => void })[], inputs: readonly Tensor[], outs: Tensor[],
  watermark: number, snapshots: Map<Tensor, Tensor>): Omit<Recording<unknown>, 'result' | 'depends'> {
  const owned: Tensor[] = [];
  const g: Graph = { device, values: new Map(), steps: [], inputs: [], outputs: [], scalars: [], owned };
  const ids = new Map<Tensor, number>();
  const results = new Set(outs);
  const hooks: ReplayHook[] = [];
  let next = 0;
  const add = (t: Tensor, kind: Value['kind'], bound?: Tensor): number => {
    const id = next++;
    g.values.set(id, { id, shape: [...t.shape], dtype: t.dtype, kind, ...(bound ? { tensor: bound } : {}), ...(t.name ? { name: t.name } : {}) });
    ids.set(t, id);
    return id;
  };
  for (const t of inputs) g.inputs.push(add(t, 'input'));
  // a tensor that outlives the step and was not made by an op is state: bind it
  const persistent = (t: Tensor) => t.id < watermark || (!t.disposed && !results.has(t));
  const read = (t: Tensor, op: string): number => {
    const id = ids.get(t);
    if (id !== undefined) return id;
    if (persistent(t)) return add(t, 'param', t);
    const snap = snapshots.get(t);
    if (!snap) throw new MdmtError('EINTERNAL', 'record', `'${op}' reads a tensor made during the step that the recorder never saw`);
    // it stays in `snapshots` until the graph is built: a refused recording frees it with the rest
    owned.push(snap);
    return add(t, 'const', snap);
  };
  for (const ev of events) {
    if ('effect' in ev) {
      hooks.push({ effect: ev.effect });
      continue;
    }
    const c = ev.call;
    const step: Step = { op: c.op, inputs: c.inputs.map((t) => read(t, c.op)), outputs: [], attrs: { ...c.attrs } };
    for (const t of c.outputs) step.outputs.push(write(c, t));
    if (c.dynamic) {
      const first = g.scalars.length;
      step.dynamic = {};
      c.dynamic.keys.forEach((k, i) => {
        g.scalars.push(`${c.op}#${g.steps.length}.${k}`);
        step.dynamic![k] = first + i;
      });
      hooks.push({ first, count: c.dynamic.keys.length, values: c.dynamic.values, undo: c.dynamic.undo });
    }
    g.steps.push(step);
  }
  function write(c: OpCall, t: Tensor): number {
    const id = ids.get(t);
    if (!c.into) {
      // a fresh output: a temporary, unless it outlives the step without being returned
      if (!t.disposed && !results.has(t)) {
        // most often a gradient: PyTorch's habit of zero_grad() first leaves this step's for the next
        const owner = [...ids.keys()].find((p) => p.grad === t);
        throw new MdmtError('EPLAN', 'record', owner
          ? `the gradient of ${owner.name ? `'${owner.name}'` : inputs.includes(owner) ? `input ${inputs.indexOf(owner)}` : `a parameter of shape [${owner.shape.join(', ')}]`} outlives the recorded step: ` +
            'zero the gradients at the end of the step (opt.step(); opt.zeroGrad()): a zeroGrad() at its start, or none, leaves them to the next call'
          : `a tensor made by '${c.op}' during the recorded step outlives it (a gradient that is never zeroed?): return it or free it inside the step`);
      }
      return add(t, 'temp');
    }
    if (id === undefined) return persistent(t) ? add(t, 'param', t) : add(t, 'temp');
    const v = g.values.get(id)!;
    if (v.kind === 'param') return id;
    // overwriting a temporary whole (fill, copy) starts a new value; updating one in place cannot be replayed
    if (v.kind === 'temp' && (c.op === 'fill' || c.op === 'copy')) return add(t, 'temp');
    throw new MdmtError('EPLAN', 'record', `'${c.op}' updates ${v.kind} value ${v.name ?? id} in place: only bound state (parameters, statistics, moments) may be`);
  }
  for (const t of outs) {
    const id = ids.get(t);
    check(id !== undefined && g.values.get(id)!.kind === 'temp', 'EPLAN', 'record', `result ${t.toString()} is not computed by an op of the step`);
    g.outputs.push(id!);
  }
  validateGraph(g, 'record');
  const kept = new Set(owned);
  for (const t of snapshots.values()) if (!kept.has(t)) t.dispose(); // snapshots of tensors that turned out to be state
  snapshots.clear();
  return { graph: g, hooks };
}
