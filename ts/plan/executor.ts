/**
 * A planned Graph handed to native code (native/core/plan.h): one `planCreate` builds the
 * arena and the per-step kernel contexts, then every `run` is one `planRun` call. The
 * plan's inputs and outputs are views on its arena (`inputs`, `outputs`): a run uploads
 * the batch straight into the input slots, and the outputs hold the results until the
 * next run (read them, or copy them out, before running again).
 */
import { check, MdmtError } from '../errors';
import { DType, native, NativePlanSpec } from '../native/binding';
import { Tensor, TypedArray } from '../tensor';
import { Graph, ValueKind } from './graph';
import { Dependency, isRecording, ReplayHook } from './record';

const KIND: Record<ValueKind, number> = { input: 0, param: 1, const: 2, temp: 3 };
const ARRAY_DTYPE: [new (...a: never[]) => TypedArray, DType][] = [
  [Float32Array, 'float32'], [Int32Array, 'int32'], [Uint8Array, 'uint8'], [Uint16Array, 'bfloat16'],
];

/** The dtype a typed array uploads as (Uint16Array: bfloat16 or float16 bits); undefined for another kind of array. */
export function dtypeOfArray(a: unknown): DType | undefined {
  for (const [C, d] of ARRAY_DTYPE) if (a instanceof C) return d;
  return undefined;
}

/** dtypeOfArray, or an error. */
export function arrayDtype(a: TypedArray): DType {
  const d = dtypeOfArray(a);
  if (!d) throw new MdmtError('EINVAL', 'plan', 'input data must be a Float32Array, Int32Array, Uint8Array or Uint16Array');
  return d;
}

/** One input of a run: a tensor (copied in on its device) or host data of the input's shape. */
export type RunInput = Tensor | TypedArray;

/**
 * Plans that never run at the same time (one step's batch sizes; a training step and its
 * evaluation forward) share one arena, grown to the largest: one step's working memory,
 * not one per cached shape.
 */
export class ArenaGroup {
  private readonly members = new Set<PlanExecutor>();
  /** a live member whose arena a new plan joins */
  anchor(): PlanExecutor | undefined {
    return this.members.values().next().value;
  }
  add(p: PlanExecutor): void {
    this.members.add(p);
  }
  delete(p: PlanExecutor): void {
    this.members.delete(p);
  }
}

/**
 * An input or output slot of a plan: a view on its arena, which the plan frees. A caller's
 * dispose() of a result leaves it alone: it freed the slot's handle, and every later run
 * returned that disposed tensor (EDISPOSED) for good.
 */
class PlanView extends Tensor {
  override dispose(): void {}
  /** @internal the plan's own dispose */
  release(): void {
    super.dispose();
  }
}

export class PlanExecutor {
  readonly inputs: Tensor[];
  readonly outputs: Tensor[];
  readonly arenaBytes: number;
  readonly steps: number;
  /** @internal the native plan's id */
  readonly id: number;
  private readonly bound: Tensor[] = [];
  private readonly scalars: Float64Array;
  private disposed = false;

  /**
   * Builds the native plan; from then on it owns `graph.owned` (freed by dispose, or here if
   * this throws). `cudaGraph`: replay it as one CUDA graph (native/core/plan_replay.h).
   * `depends`: the JavaScript-side values the recording read (see `changed`).
   */
  constructor(readonly graph: Graph, private readonly hooks: ReplayHook[], private readonly group?: ArenaGroup,
    private readonly cudaGraph = false, private readonly depends: readonly Dependency[] = []) {
    let made: ReturnType<ReturnType<typeof native>['planCreate']>;
    try {
      check(graph.arenaBytes !== undefined, 'EPLAN', 'plan', 'the graph has no memory plan (run the memory pass last)');
      const anchor = group?.anchor();
      made = native().planCreate({ ...this.spec(), ...(anchor?.graph.device === graph.device ? { shareArena: anchor.id } : {}) });
    } catch (e) {
      for (const t of graph.owned ?? []) t.dispose();
      throw e;
    }
    this.id = made.id;
    this.arenaBytes = made.arenaBytes;
    this.steps = graph.steps.length;
    const view = (tid: number, vid: number) => {
      const v = graph.values.get(vid)!;
      return new PlanView(tid, v.shape, v.dtype, graph.device, false);
    };
    this.inputs = made.inputs.map((t, i) => view(t, graph.inputs[i]));
    this.outputs = made.outputs.map((t, i) => view(t, graph.outputs[i]));
    this.scalars = new Float64Array(graph.scalars.length);
    group?.add(this);
  }

  private spec(): NativePlanSpec {
    const g = this.graph;
    const index = new Map<number, number>();
    const values: NativePlanSpec['values'] = [];
    for (const [id, v] of g.values) {
      index.set(id, values.length);
      if (v.tensor) this.bound.push(v.tensor);
      values.push({
        kind: KIND[v.kind], dtype: v.dtype, shape: v.shape, ...(v.offset !== undefined ? { offset: v.offset } : {}),
        ...(v.tensor ? { tensor: v.tensor.id } : {}), ...(v.name ? { name: v.name } : {}),
      });
    }
    const ix = (id: number) => index.get(id)!;
    return {
      device: g.device, arenaBytes: g.arenaBytes!, nscalars: g.scalars.length, values,
      steps: g.steps.map((s) => ({
        op: s.op, inputs: s.inputs.map(ix), outputs: s.outputs.map(ix), attrs: s.attrs,
        ...(s.dynamic ? { dynamic: Object.entries(s.dynamic).flat() } : {}),
      })),
      inputs: g.inputs.map(ix), outputs: g.outputs.map(ix),
      ...(this.cudaGraph ? { graph: true } : {}),
    };
  }

  /** CUDA-graph launches so far (-1: the plan runs op by op). */
  get graphLaunches(): number {
    return this.disposed ? -1 : native().planGraphLaunches(this.id);
  }

  /** True when a bound tensor (a parameter, a moment) has been disposed: the plan cannot run. */
  get stale(): boolean {
    return this.bound.some((t) => t.disposed);
  }

  /**
   * True when a JavaScript-side value the recording read differs now (a module switched to
   * eval mode, a parameter frozen, a gradient left by an eager backward()): the plan holds the
   * ops the old value chose, and would replay them silently.
   */
  get changed(): boolean {
    return this.depends.some((d) => !Object.is(d.read(), d.value));
  }

  /** One replay: stages the inputs, replays the hooks (scalars, effects), runs the steps. */
  run(data: readonly RunInput[]): Tensor[] {
    check(!this.disposed, 'EDISPOSED', 'plan.run', 'the plan has been disposed');
    check(!isRecording(), 'EPLAN', 'plan.run', 'a compiled step ran inside the recording of another: its ops would be missing from the outer plan');
    check(data.length === this.inputs.length, 'EINVAL', 'plan.run', `expects ${this.inputs.length} inputs, got ${data.length}`);
    const n = native();
    data.forEach((d, i) => {
      const slot = this.inputs[i];
      if (d instanceof Tensor) {
        d.assertAlive('plan.run', `input ${i}`);
        check(d.dtype === slot.dtype && d.shape.length === slot.shape.length && d.shape.every((s, j) => s === slot.shape[j]), 'ESHAPE', 'plan.run',
          `input ${i} is ${d.dtype} [${d.shape}], the plan was recorded with ${slot.dtype} [${slot.shape}]`);
        if (d.size) n.run('copy', [d.id], [slot.id], {});
      } else {
        const dt = arrayDtype(d);
        check((dt === slot.dtype || (dt === 'bfloat16' && slot.dtype === 'float16')) && d.length === slot.size, 'ESHAPE', 'plan.run',
          `input ${i} has ${d.length} ${dt} values, the plan's slot is ${slot.dtype} [${slot.shape}]`);
        if (d.length) n.upload(slot.id, d);
      }
    });
    const taken: (() => void)[] = [];
    try {
      for (const h of this.hooks) {
        if ('effect' in h) {
          h.effect();
          continue;
        }
        const v = h.values();
        if (h.undo) taken.push(h.undo);
        check(v.length === h.count, 'EINTERNAL', 'plan.run', `a replay hook gave ${v.length} scalars, expected ${h.count}`);
        this.scalars.set(v, h.first);
      }
      n.planRun(this.id, this.scalars);
    } catch (e) {
      // the updates come last in a step: a failure stopped it before them, as it stops the eager step
      for (const u of taken.reverse()) u();
      throw e;
    }
    return this.outputs;
  }

  /** Per-step milliseconds summed since the last call (needs MDMT_DEBUG=1 or profile(true) first). */
  profile(on?: boolean): { op: string; shapes: string; ms: number }[] {
    // an explicit undefined is an argument to the native call, which refuses it: `profile()` threw
    return on === undefined ? native().planProfile(this.id) : native().planProfile(this.id, on);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.group?.delete(this);
    for (const t of [...this.inputs, ...this.outputs]) (t as PlanView).release();
    for (const t of this.graph.owned ?? []) t.dispose();
    native().planFree(this.id);
  }
}
