/**
 * A compiled step: a function of some input tensors (a training step with its backward and
 * optimiser update, or a forward) recorded on its first call for each input signature and
 * replayed natively afterwards (DESIGN §2 "planned").
 *
 *   const step = compileStep(([x, y]) => { const l = loss(net.forward(x), y); backward(l); opt.step(); opt.zeroGrad(); return [l]; });
 *   const [loss] = step.run([{ data: images, shape: [8, 3, 128, 128] }, { data: labels, shape: [8] }]);  loss.item();
 *
 * Plans are cached by the inputs' shapes and dtypes (the last partial batch, the evaluation
 * batch), at most `maxPlans` (least recently used goes). The first call for a signature runs
 * eagerly while recording, and is a real step. A cached plan whose bound state is gone (a
 * parameter or moment disposed) is dropped and the step recorded again, so a disposed model
 * fails with the ops' own EDISPOSED error instead of replaying stale memory; so is one whose
 * recording read JavaScript-side state that differs now (a module's training mode, a
 * parameter's requiresGrad, a gradient an eager backward() left: PlanExecutor.changed). Results are
 * valid until the next run() of this step; copy them to keep them. They are the plan's own
 * buffers, freed with the step: their dispose() does nothing.
 */
import { check, checkOptions, isList, kindOf, MdmtError, show } from '../errors';
import { native } from '../native/binding';
import { getDefaultDevice, keep, normDevice, tensor, Tensor, TypedArray } from '../tensor';
import { ArenaGroup, arrayDtype, dtypeOfArray, PlanExecutor } from './executor';
import { Graph, Pass } from './graph';
import { elideCopies } from './passes/copy_elide';
import { dce } from './passes/dce';
import { fuseBnAct } from './passes/fuse_bn_act';
import { fuseConvAct } from './passes/fuse_conv_act';
import { memory } from './passes/memory';
import { nhwc } from './passes/nhwc';
import { precision } from './passes/precision';
import { recordGraph } from './record';

/** An input: a tensor, or host data with its shape. */
export type StepInput = Tensor | { data: TypedArray; shape: readonly number[] };

const STEP_KEYS = { maxPlans: true, passes: true, device: true, onRecord: true, arena: true, precision: true, cudaGraph: true } as const;

/** run()'s argument: an array of inputs (`run(x)` for `run([x])` was a TypeError). */
function checkInputs(inputs: unknown): asserts inputs is readonly StepInput[] {
  check(isList(inputs), 'EINVAL', 'CompiledStep.run', () => `inputs must be an array of Tensors or { data, shape }, got ${inputs instanceof Tensor ? 'a Tensor (wrap it: run([x]))' : show(inputs)}`);
  for (let i = 0; i < inputs.length; i++) {
    const x = inputs[i] as { data?: unknown; shape?: unknown } | null;
    if (x instanceof Tensor) continue;
    check(x !== null && typeof x === 'object' && ArrayBuffer.isView(x.data) && isList(x.shape), 'EINVAL', 'CompiledStep.run',
      () => `inputs[${i}] must be a Tensor or { data: TypedArray, shape }, got ${kindOf(x)}`);
    // a Float64Array (what tensor() converts) failed as "plan: input data must be ...", naming no input
    check(dtypeOfArray(x.data) !== undefined, 'EDTYPE', 'CompiledStep.run', () => `inputs[${i}].data is a ${x.data!.constructor.name}: ` +
      'a step takes a Float32Array, Int32Array, Uint8Array or Uint16Array (convert it, e.g. Float32Array.from(data))');
  }
}

export interface CompileStepOptions {
  /** plans kept per step (default 4) */
  maxPlans?: number;
  /** the graph passes, in order; the memory pass must come last (default: DEFAULT_PASSES) */
  passes?: Pass[];
  /** device of inputs given as host data (default: the default device) */
  device?: string;
  /** sees each recorded graph before the passes (counts, dumps, tests) */
  onRecord?: (g: Graph) => void;
  /** plans that share one arena (default: this step's own plans); give two steps that never
   * run at the same time (training and evaluation) the same group */
  arena?: ArenaGroup;
  /**
   * 'bf16': mixed precision on CUDA — the precision and NHWC layout passes
   * (ts/plan/passes/precision.ts, nhwc.ts) run before the last pass (the memory plan).
   * Default 'fp32'. The first call of a signature records (and runs) the step eagerly in fp32.
   */
  precision?: 'fp32' | 'bf16';
  /** replay each plan as one CUDA graph (captured on its second run; CUDA only; default false) */
  cudaGraph?: boolean;
}

/** Dead code out, copies into views, BatchNorm+activation and conv+activation fusion, dead code again, then the static memory plan. */
export const DEFAULT_PASSES: Pass[] = [dce, elideCopies, fuseBnAct, fuseConvAct, dce, memory];

/** Applies passes in order. */
export function runPasses(g: Graph, passes: readonly Pass[]): Graph {
  return passes.reduce((acc, p) => p(acc), g);
}

export class CompiledStep {
  private readonly plans = new Map<string, PlanExecutor>();
  private readonly maxPlans: number;
  private readonly passes: Pass[];
  private readonly device?: string;
  private readonly onRecord?: (g: Graph) => void;
  private readonly arena: ArenaGroup;
  private readonly cudaGraph: boolean;
  private readonly bf16: boolean;
  private disposed = false;
  /** records made (cache misses), for tests and logs */
  recordings = 0;
  /** signatures whose last recording freed state it did not create (see record) */
  private readonly unplannable = new Set<string>();

  constructor(private readonly fn: (inputs: Tensor[]) => Tensor[], o: CompileStepOptions = {}) {
    // a step that is not a function failed at its first run() with a TypeError
    check(typeof fn === 'function', 'EINVAL', 'compileStep', () => `needs the step as a function of an array of Tensors, got ${kindOf(fn)}`);
    checkOptions('compileStep', o, STEP_KEYS);
    this.maxPlans = o.maxPlans ?? 4;
    check(Number.isInteger(this.maxPlans) && this.maxPlans >= 1, 'EINVAL', 'compileStep', () => `maxPlans must be a positive integer, got ${show(o.maxPlans)}`);
    check(o.passes === undefined || (isList(o.passes) && o.passes.length > 0 && o.passes.every((p) => typeof p === 'function')), 'EINVAL', 'compileStep',
      `'passes' must be a non-empty array of passes (functions)`);
    check(o.onRecord === undefined || typeof o.onRecord === 'function', 'EINVAL', 'compileStep', `'onRecord' must be a function`);
    check(o.cudaGraph === undefined || typeof o.cudaGraph === 'boolean', 'EINVAL', 'compileStep', () => `'cudaGraph' must be a boolean, got ${show(o.cudaGraph)}`);
    check(o.arena === undefined || o.arena instanceof ArenaGroup, 'EINVAL', 'compileStep', `'arena' must be an ArenaGroup`);
    check(o.precision === undefined || o.precision === 'fp32' || o.precision === 'bf16', 'EINVAL', 'compileStep',
      `precision must be 'fp32' or 'bf16', got ${JSON.stringify(o.precision)}`);
    const passes = o.passes ?? DEFAULT_PASSES;
    // mixed precision and the NHWC layout go just before the memory plan, which sizes their values
    this.passes = o.precision === 'bf16' ? [...passes.slice(0, -1), precision(), nhwc(), ...passes.slice(-1)] : passes;
    this.cudaGraph = o.cudaGraph ?? false;
    this.bf16 = o.precision === 'bf16';
    this.device = o.device;
    this.onRecord = o.onRecord;
    this.arena = o.arena ?? new ArenaGroup();
  }

  /** Runs the step on `inputs`: a replay when a plan for their signature exists, else a recorded eager run. */
  run(inputs: readonly StepInput[]): Tensor[] {
    check(!this.disposed, 'EDISPOSED', 'CompiledStep.run', 'the step has been disposed');
    checkInputs(inputs);
    const key = this.key(inputs);
    let plan = this.plans.get(key);
    if (plan && (plan.stale || plan.changed)) {
      plan.dispose();
      this.plans.delete(key);
      plan = undefined;
    }
    if (plan) {
      this.plans.delete(key); // re-insert: most recently used last
      this.plans.set(key, plan);
      return plan.run(inputs.map((x) => (x instanceof Tensor ? x : x.data)));
    }
    return this.record(key, inputs);
  }

  /** True when a plan for the inputs' signature is cached (run() would replay it, not record). */
  has(inputs: readonly StepInput[]): boolean {
    const plan = this.plans.get(this.key(inputs));
    return plan !== undefined && !plan.stale && !plan.changed;
  }

  /** The cache key of a signature: shapes, dtypes and devices of the inputs. */
  private key(inputs: readonly StepInput[]): string {
    // host data go to this step's device: a tensor and host data of one signature share a plan;
    // an input that requires grad gets a gradient from backward() (a plan recorded with one
    // computed it for inputs without, and one recorded without dropped it)
    const dev = normDevice(this.device ?? getDefaultDevice());
    return inputs.map((x) => (x instanceof Tensor ? `${x.dtype}[${x.shape.join()}]@${x.device}${x.requiresGrad ? '+grad' : ''}` : `${arrayDtype(x.data)}[${x.shape.join()}]@${dev}`)).join(';');
  }

  /** The cached plans (most recently used last). */
  get cached(): PlanExecutor[] {
    return [...this.plans.values()];
  }

  dispose(): void {
    this.disposed = true;
    for (const p of this.plans.values()) p.dispose();
    this.plans.clear();
  }

  private record(key: string, inputs: readonly StepInput[]): Tensor[] {
    const made: Tensor[] = [];
    try {
      const ts = inputs.map((x) => {
        if (x instanceof Tensor) return x;
        const t = tensor(x.data, x.shape, this.device ? { device: this.device } : {});
        made.push(t);
        return t;
      });
      // before the step runs: refused after it, every call was a training update that then threw
      const dev = ts[0]?.device;
      if (dev !== undefined && !dev.startsWith('cuda')) {
        check(!this.cudaGraph, 'ENOTIMPL', 'compileStep', `cudaGraph replays CUDA plans, the step's inputs are on ${dev}`);
        check(!this.bf16, 'EPLAN', 'compileStep', `precision 'bf16' targets CUDA plans, the step's inputs are on ${dev}`);
      }
      const rec = recordGraph(() => results(this.fn(ts)), ts, (r) => r);
      this.recordings++;
      const gone = consumed(rec.graph);
      if (gone.length) {
        // The step freed state it did not make (a parameter's .grad left by an earlier eager
        // backward(), which this step's backward added to and its zeroGrad freed): this call
        // ran eagerly and stands, but a plan would replay that one-off read, so the next call
        // records again. A step that does so on every call cannot be planned: say what it frees.
        for (const t of rec.graph.owned ?? []) t.dispose();
        const again = this.unplannable.has(key);
        this.unplannable.add(key);
        if (again) {
          for (const t of rec.result) t.dispose();
          throw new MdmtError('EINVAL', 'compileStep', `the step frees tensors it did not create on every call (${gone.join(', ')}): ` +
            'a plan cannot replay that; create them inside the step, or keep them alive across calls (most often gradients a backward() ' +
            'outside the step left, which its zeroGrad() frees: zero them before running the step)');
        }
        return rec.result;
      }
      this.unplannable.delete(key);
      let plan: PlanExecutor;
      try {
        let g: Graph;
        try {
          this.onRecord?.(rec.graph); // a callback that threw left the recording's constants alive
          // the CUDA sgd kernel takes lr from its attributes, which a captured graph keeps (Adam's reads the staged scalars)
          check(!this.cudaGraph || !rec.graph.steps.some((s) => s.op === 'sgd'), 'EPLAN', 'compileStep',
            'SGD\'s learning rate would stay the one captured in the CUDA graph: use Adam with cudaGraph, or cudaGraph: false');
          g = runPasses(rec.graph, this.passes);
        } catch (e) {
          for (const t of rec.graph.owned ?? []) t.dispose();
          throw e;
        }
        // the plan owns them now (freed by its dispose), not a caller's tidy: a pass's constants
        // (folded BatchNorm, Winograd weights) made inside one were disposed at its end, which
        // left the plan stale and re-recorded on every run
        for (const t of g.owned ?? []) keep(t);
        plan = new PlanExecutor(g, rec.hooks, this.arena, this.cudaGraph, rec.depends);
        // the eager results move into the plan's output slots: results are always the plan's views
        rec.result.forEach((t, i) => t.size && native().run('copy', [t.id], [plan.outputs[i].id], {}));
      } finally {
        for (const t of rec.result) t.dispose();
      }
      this.plans.set(key, plan);
      while (this.plans.size > this.maxPlans) {
        const [oldest, p] = this.plans.entries().next().value as [string, PlanExecutor];
        p.dispose();
        this.plans.delete(oldest);
      }
      return plan.outputs;
    } finally {
      for (const t of made) t.dispose();
    }
  }
}

/** The step's results, checked: a non-tensor failed later as a raw TypeError (t.dispose is not a function). */
function results(r: unknown): Tensor[] {
  if (!Array.isArray(r) || !r.every((t) => t instanceof Tensor))
    throw new MdmtError('EINVAL', 'compileStep', `the step must return an array of tensors, got ${Array.isArray(r) ? `[${r.map((t) => (t instanceof Tensor ? 'Tensor' : show(t))).join(', ')}]`
      // a bare Tensor was shown as the JSON of its fields (id, _scope, ...)
      : r instanceof Tensor ? `${r.toString()} (wrap it: return [y])` : show(r)}`);
  return r as Tensor[];
}

/** Bound tensors (parameters, state) a recording freed: a plan cannot read them again. */
function consumed(g: Graph): string[] {
  const owned = new Set(g.owned ?? []);
  return [...g.values.values()].filter((v) => v.tensor?.disposed && !owned.has(v.tensor))
    .map((v) => `${v.name ? `'${v.name}'` : 'a tensor'} of shape [${v.shape.join(', ')}]`);
}

/** A step compiled on first use (see CompiledStep). */
export function compileStep(fn: (inputs: Tensor[]) => Tensor[], o: CompileStepOptions = {}): CompiledStep {
  return new CompiledStep(fn, o);
}
