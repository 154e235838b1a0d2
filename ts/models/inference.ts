/**
 * Inference plans: a model's eval-mode forward recorded once and replayed natively as a
 * step plan (ts/plan), with the rewrites an inference engine does: BatchNorm folded into
 * the preceding convolution (ts/plan/passes/fold_bn.ts: w' = w·γ/√(σ²+ε),
 * b' = (b − μ)·γ/√(σ²+ε) + β, when the conv output feeds only that BN), a convolution and
 * the activation after it made one conv2d_act (passes/fuse_conv_act.ts), dead code removed,
 * and every intermediate in one arena reused by lifetime. Folded weights are a snapshot
 * taken when a batch size is first seen; other parameters are the module's live tensors.
 * The plan runs inputs of the traced C×H×W at any batch size (each new batch size is
 * recorded once; a few are cached), without autograd.
 *
 *   const plan = compileInference(getModel('resnet50', { withClassifier: false }), { inputShape: [1, 3, 256, 256] });
 *   const feats = plan.run(x) as Tensor;  ...  plan.dispose();
 */
import { noGrad } from '../autograd/tape';
import { check } from '../errors';
import { Module } from '../nn/module';
import { copy } from '../ops/copy';
import { Graph, Pass } from '../plan/graph';
import { dce } from '../plan/passes/dce';
import { foldBatchNorm } from '../plan/passes/fold_bn';
import { fuseConvAct } from '../plan/passes/fuse_conv_act';
import { memory } from '../plan/passes/memory';
import { CompiledStep } from '../plan/step';
import { tensor, Tensor, tidy } from '../tensor';

export interface CompileOptions {
  /** traced input shape N×C×H×W (default [1, 3, 224, 224]); the plan accepts any N */
  inputShape?: readonly number[];
  /** fold eval BatchNorm into the preceding conv (default true) */
  foldBatchNorm?: boolean;
  /** batch sizes kept recorded (default 4) */
  maxPlans?: number;
}

export interface InferencePlan {
  /** Runs the plan: a Tensor, or an object of Tensors for models that return one (MDMTModel). The caller owns them. */
  run(x: Tensor): Tensor | Record<string, Tensor>;
  /** op counts of the traced shape's plan after the rewrites, e.g. { conv2d: 20, batchnorm_eval: 0, ... } */
  readonly ops: Record<string, number>;
  readonly foldedBatchNorms: number;
  dispose(): void;
}

const count = (g: Graph, op: string) => g.steps.filter((s) => s.op === op).length;

/**
 * Traces `model` in eval mode (mode restored after) and returns a replayable plan.
 *   const plan = compileInference(new MDMTModel('densenet121'), { inputShape: [8, 3, 256, 256] });
 */
export function compileInference(model: Module, o: CompileOptions = {}): InferencePlan {
  const shape = [...(o.inputShape ?? [1, 3, 224, 224])];
  check(shape.length === 4 && shape.every((d) => Number.isInteger(d) && d > 0), 'EINVAL', 'compileInference', `inputShape must be 4 positive integers, got [${shape}]`);
  let keys: (string | null)[] = [];
  let recordedBn = 0;
  const passes: Pass[] = [...(o.foldBatchNorm ?? true ? [foldBatchNorm] : []), fuseConvAct, dce, memory];
  const step = new CompiledStep(([x]) => {
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
  }, { passes, maxPlans: o.maxPlans ?? 4, device: model.parameters()[0]?.device, onRecord: (g) => (recordedBn = count(g, 'batchnorm_eval')) });
  try {
    tidy(() => step.run([tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, { device: model.parameters()[0]?.device })]));
  } catch (e) {
    step.dispose();
    throw e;
  }
  const g = step.cached[0].graph;
  const ops: Record<string, number> = {};
  for (const s of g.steps) ops[s.op] = (ops[s.op] ?? 0) + 1;
  let disposed = false;
  return {
    ops,
    foldedBatchNorms: recordedBn - count(g, 'batchnorm_eval'),
    run(x: Tensor): Tensor | Record<string, Tensor> {
      check(!disposed, 'EDISPOSED', 'InferencePlan.run', 'the plan has been disposed');
      check(x instanceof Tensor, 'EINVAL', 'InferencePlan.run', 'x must be a Tensor');
      check(x.ndim === 4 && x.shape.slice(1).every((d, i) => d === shape[i + 1]), 'ESHAPE', 'InferencePlan.run',
        `input [${x.shape}] must be N×${shape.slice(1).join('×')} (the traced shape)`);
      // the plan's outputs are its arena's: the caller gets copies
      const outs = step.run([x]).map((t) => copy(t));
      return keys.length === 1 && keys[0] === null ? outs[0] : Object.fromEntries(keys.map((k, i) => [k!, outs[i]]));
    },
    dispose(): void {
      disposed = true;
      step.dispose();
    },
  };
}
