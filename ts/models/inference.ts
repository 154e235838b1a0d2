/**
 * Inference plans: a model's eval-mode forward recorded once and replayed natively as a
 * step plan (ts/plan), with the rewrites an inference engine does: BatchNorm folded into
 * the preceding convolution (ts/plan/passes/fold_bn.ts: w' = w·γ/√(σ²+ε),
 * b' = (b − μ)·γ/√(σ²+ε) + β, when the conv output feeds only that BN), a convolution and
 * the activation after it made one conv2d_act (passes/fuse_conv_act.ts) — on the CPU also
 * with the residual add between them (passes/fuse_conv_residual.ts) and with 3×3 stride-1
 * weights transformed for Winograd once (passes/winograd.ts) — dead code removed, and
 * every intermediate in one arena reused by lifetime. Folded and Winograd-transformed
 * weights are snapshots taken when a batch size is first seen; other parameters are the
 * module's live tensors. Each run first checks the model's parameters and buffers (the same
 * tensors, no write since: ts/ops/op.ts writeVersion) and records the plan again when they
 * changed, so a plan never runs on stale snapshots.
 * The plan runs inputs of the traced C×H×W at any batch size (each new batch size is
 * recorded once; a few are cached), without autograd.
 *
 *   const plan = compileInference(getModel('resnet50', { withClassifier: false }), { inputShape: [1, 3, 256, 256] });
 *   const feats = plan.run(x);  ...  plan.dispose();   // a Tensor, as the model's forward (MDMTModel: { afc, bx })
 */
import { noGrad } from '../autograd/tape';
import { check, checkOptions, isList, kindOf, show } from '../errors';
import { Module } from '../nn/module';
import { copy } from '../ops/memory';
import { writeVersion } from '../ops/op';
import { Attrs } from '../native/binding';
import { Graph, Pass } from '../plan/graph';
import { dce } from '../plan/passes/dce';
import { foldBatchNorm } from '../plan/passes/fold_bn';
import { fuseConvAct } from '../plan/passes/fuse_conv_act';
import { fuseConvResidual } from '../plan/passes/fuse_conv_residual';
import { memory } from '../plan/passes/memory';
import { winogradConsts } from '../plan/passes/winograd';
import { CompiledStep } from '../plan/step';
import { Tensor, tidy, zeros } from '../tensor';

export interface CompileOptions {
  /** traced input shape N×C×H×W (default [1, 3, 224, 224]); the plan accepts any N */
  inputShape?: readonly number[];
  /** fold eval BatchNorm into the preceding conv (default true) */
  foldBatchNorm?: boolean;
  /** fuse a conv's activation (and on the CPU its residual add) into it, conv2d_act, and pre-transform Winograd weights (default true) */
  fuseEpilogues?: boolean;
  /** batch sizes kept recorded (default 4) */
  maxPlans?: number;
}

/**
 * What a plan of model M returns, as M's forward is typed: a Tensor (a backbone), the same
 * object of Tensors (MDMTModel's { afc, bx }), or either for a Module whose forward is untyped.
 */
export type InferenceOutput<M extends Module> = ReturnType<M['forward']> extends Tensor ? Tensor
  : ReturnType<M['forward']> extends Record<string, Tensor> ? ReturnType<M['forward']> : Tensor | Record<string, Tensor>;

export interface InferencePlan<T = Tensor | Record<string, Tensor>> {
  /** Runs the plan: a Tensor, or an object of Tensors for models that return one (MDMTModel). The caller owns them. */
  run(x: Tensor): T;
  /** op counts of the traced shape's plan after the rewrites, e.g. { conv2d: 20, batchnorm_eval: 0, ... } */
  readonly ops: Record<string, number>;
  readonly foldedBatchNorms: number;
  /**
   * @internal Per-step milliseconds of the plan run last (the latest batch size), summed over
   * runs since the previous call; `true` turns timing on (bench:models --profile).
   */
  profile(on?: boolean): PlanStepTime[];
  /** @internal recordings made so far: one per batch size first seen, and again after the model changed (tests) */
  readonly recordings: number;
  dispose(): void;
}

/** One step of a plan with its time: op, attributes, input and output shapes. */
export interface PlanStepTime {
  op: string;
  attrs: Attrs;
  inputs: number[][];
  output: number[];
  ms: number;
}

const count = (g: Graph, op: string) => g.steps.filter((s) => s.op === op).length;

/**
 * The model's state as a plan sees it: its parameter and buffer tensors and their write
 * versions. A plan bound to other tensors (the model moved, a parameter replaced) or made
 * from older values (training continued, weights loaded: folded and Winograd-transformed
 * weights are snapshots) is stale.
 */
interface StateStamp { tensors: Tensor[]; versions: number[] }
function stampOf(model: Module): StateStamp {
  const tensors = model.stateTensors();
  return { tensors, versions: tensors.map(writeVersion) };
}
function sameState(a: StateStamp, b: StateStamp): boolean {
  return a.tensors.length === b.tensors.length && a.tensors.every((t, i) => t === b.tensors[i] && a.versions[i] === b.versions[i]);
}

/**
 * Traces `model` in eval mode (mode restored after) and returns a replayable plan. When the
 * model's parameters or buffers change after this (training continues, weights are loaded,
 * the model moves), the next run records the plan again from the model as it is then.
 *   const plan = compileInference(new MDMTModel('densenet121'), { inputShape: [8, 3, 256, 256] });
 */
export function compileInference<M extends Module>(model: M, o: CompileOptions = {}): InferencePlan<InferenceOutput<M>> {
  check(model instanceof Module, 'EINVAL', 'compileInference', () => `needs a Module, got ${kindOf(model)}`);
  // `inputshape` fell back to 224×224
  checkOptions('compileInference', o, { inputShape: true, foldBatchNorm: true, fuseEpilogues: true, maxPlans: true });
  check(o.inputShape === undefined || isList(o.inputShape), 'EINVAL', 'compileInference', () => `inputShape must be 4 positive integers, got ${show(o.inputShape)}`);
  const shape = [...(o.inputShape ?? [1, 3, 224, 224])];
  check(shape.length === 4 && shape.every((d) => Number.isInteger(d) && d > 0), 'EINVAL', 'compileInference', () => `inputShape must be 4 positive integers, got ${show(shape)}`);
  for (const k of ['foldBatchNorm', 'fuseEpilogues'] as const)
    check(o[k] === undefined || typeof o[k] === 'boolean', 'EINVAL', 'compileInference', () => `'${k}' must be a boolean, got ${show(o[k])}`);
  // checked here so that the message names compileInference, not the compileStep inside
  check(o.maxPlans === undefined || (Number.isInteger(o.maxPlans) && o.maxPlans >= 1), 'EINVAL', 'compileInference',
    () => `maxPlans must be a positive integer, got ${show(o.maxPlans)}`);
  let keys: (string | null)[] = [];
  let recordedBn = 0;
  const fuse = o.fuseEpilogues ?? true;
  const passes: Pass[] = [...(o.foldBatchNorm ?? true ? [foldBatchNorm] : []), ...(fuse ? [fuseConvResidual, fuseConvAct, winogradConsts] : []), dce, memory];
  /** A CompiledStep of the model as it is now, recorded at the traced shape. */
  const build = (): CompiledStep => {
    const device = model.parameters()[0]?.device;
    const st = new CompiledStep(([x]) => {
      const wasTraining = model.training;
      model.eval();
      try {
        const y = noGrad(() => model.forward(x)) as Tensor | Record<string, Tensor>;
        const entries: [string | null, Tensor][] = y instanceof Tensor ? [[null, y]] : Object.entries(y);
        keys = entries.map(([k]) => k);
        return entries.map(([, t]) => t);
      } finally {
        model.train(wasTraining);
      }
    }, { passes, maxPlans: o.maxPlans ?? 4, device, onRecord: (g) => (recordedBn = count(g, 'batchnorm_eval')) });
    try {
      tidy(() => st.run([zeros(shape, { device })]));  // native: a shape too big is an ENOMEM naming it
    } catch (e) {
      st.dispose();
      throw e;
    }
    return st;
  };
  let stamp = stampOf(model);
  let step = build();
  let earlierRecordings = 0;
  const g = step.cached[0].graph;
  const ops: Record<string, number> = {};
  for (const s of g.steps) ops[s.op] = (ops[s.op] ?? 0) + 1;
  let disposed = false;
  return {
    ops,
    foldedBatchNorms: recordedBn - count(g, 'batchnorm_eval'),
    run(x: Tensor): InferenceOutput<M> {
      check(!disposed, 'EDISPOSED', 'InferencePlan.run', 'the plan has been disposed');
      check(x instanceof Tensor, 'EINVAL', 'InferencePlan.run', 'x must be a Tensor');
      check(x.ndim === 4 && x.shape.slice(1).every((d, i) => d === shape[i + 1]), 'ESHAPE', 'InferencePlan.run',
        `input [${x.shape}] must be N×${shape.slice(1).join('×')} (the traced shape)`);
      // one pass over the state tensors (identity and write version), far below a forward's cost
      const now = stampOf(model);
      if (!sameState(now, stamp)) {
        earlierRecordings += step.recordings;
        step.dispose();
        step = build();
        stamp = now;
      }
      // the plan's outputs are its arena's: the caller gets copies
      const outs = step.run([x]).map((t) => copy(t));
      // the forward's own form (traced above): its Tensor, or its object's keys in order
      const out = keys.length === 1 && keys[0] === null ? outs[0] : Object.fromEntries(keys.map((k, i) => [k!, outs[i]]));
      return out as InferenceOutput<M>;
    },
    get recordings() {
      return earlierRecordings + step.recordings;
    },
    profile(on?: boolean): PlanStepTime[] {
      const p = step.cached.at(-1);
      if (!p) return [];
      const shape = (id: number) => [...p.graph.values.get(id)!.shape];
      return p.profile(on).map((r, i) => {
        const st = p.graph.steps[i];
        return { op: r.op, attrs: st.attrs, inputs: st.inputs.map(shape), output: shape(st.outputs[0]), ms: r.ms };
      });
    },
    dispose(): void {
      disposed = true;
      step.dispose();
    },
  };
}
