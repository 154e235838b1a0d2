/**
 * The paper's models (Ruffini et al., MICCAI 2024; ../shared/paper.md §1.2–1.3), built on
 * any registered backbone with its classifier removed (features H of width `in`):
 * - `MDMTModel`: one backbone, two heads. `afc_head` = Linear(in,128)-ReLU-Dropout(0.5)-
 *   Linear(128,32)-ReLU-Dropout(0.5)-Linear(32,2) (xavier-uniform weights, biases 0.01);
 *   `bx_head` = ReLU-Dropout(0.5)-Linear(in,4) (PyTorch default init). forward → {afc, bx}.
 * - `STLModel` (single task): `head` = Dropout(0.5)-Linear(in,2) for AFC, or
 *   ReLU-Dropout(0.5)-Linear(in,4) for BX. forward → logits.
 * All keep the backbone under `backbone.*`, so the MDMT initialisation from two STL models
 * (parameters averaged, buffers and heads not copied) is key-wise: `averageBackbones`.
 *
 *   const m = new MDMTModel('resnet18'); const { afc, bx } = m.forward(x);   // [N,2], [N,4]
 */
import { noGrad } from '../autograd/tape';
import { check, checkOptions, kindOf, show } from '../errors';
import { add, affine } from '../ops/elementwise';
import { constant, xavierUniform } from '../nn/init';
import { Linear } from '../nn/layers';
import { Module, StateDict } from '../nn/module';
import { Dropout, ReLU, Sequential } from '../nn/simple';
import { Tensor } from '../tensor';
import { Backbone, ModelOptions } from './registry';
import { getModel } from './zoo';

export interface TaskModelOptions {
  /** options for the backbone (the classifier is always removed) */
  backbone?: Omit<ModelOptions, 'withClassifier' | 'numClasses'>;
  /** AFC classes (default 2: MILD, SEVERE) */
  afcClasses?: number;
  /** BX classes (default 4: binned global Brixia score) */
  bxClasses?: number;
  /** head dropout (default 0.5) */
  dropout?: number;
}

const TASK_KEYS = { backbone: true, afcClasses: true, bxClasses: true, dropout: true } as const;

/** The backbone, after the options' check: `afcClass: 3` was ignored (2 classes built). */
function makeBackbone(op: string, b: string | Backbone, o: TaskModelOptions): Backbone {
  checkOptions(op, o, TASK_KEYS);
  for (const k of ['afcClasses', 'bxClasses'] as const)
    check(o[k] === undefined || (Number.isInteger(o[k]) && o[k] >= 1), 'EINVAL', op, () => `'${k}' must be a positive integer, got ${show(o[k])}`);
  check(o.dropout === undefined || (typeof o.dropout === 'number' && o.dropout >= 0 && o.dropout < 1), 'EINVAL', op,
    () => `'dropout' must be a number in [0, 1), got ${show(o.dropout)}`);
  checkOptions(op, o.backbone, { transformInput: true }, 'backbone');
  if (typeof b !== 'string') {
    check(b instanceof Backbone, 'EINVAL', op, () => `the backbone must be a model name or a Backbone (getModel(name, { withClassifier: false })), got ${kindOf(b)}`);
    check(!b.withClassifier, 'EINVAL', op, 'the backbone must be built with withClassifier: false');
    return b;
  }
  return getModel(b, { ...o.backbone, withClassifier: false });
}

/** The AFC head of the MDMT model (authors' Head_Morbidity). */
export function afcHead(inFeatures: number, classes = 2, p = 0.5): Sequential {
  const h = new Sequential(new Linear(inFeatures, 128), new ReLU(), new Dropout(p), new Linear(128, 32), new ReLU(), new Dropout(p), new Linear(32, classes));
  for (const [, m] of h.namedModules()) {
    if (m instanceof Linear) {
      xavierUniform(m.param('weight'));
      constant(m.param('bias'), 0.01);
    }
  }
  return h;
}

/** The BX head (authors' area_Global_output): ReLU-Dropout-Linear(in, classes). */
export function bxHead(inFeatures: number, classes = 4, p = 0.5): Sequential {
  return new Sequential(new ReLU(), new Dropout(p), new Linear(inFeatures, classes));
}

/** Multi-dataset multi-task model: shared backbone, AFC head and BX head. */
export class MDMTModel extends Module {
  readonly backbone: Backbone;
  readonly numFeatures: number;

  constructor(backbone: string | Backbone, o: TaskModelOptions = {}) {
    super();
    this.backbone = this.registerModule('backbone', makeBackbone('MDMTModel', backbone, o));
    this.numFeatures = this.backbone.numFeatures;
    this.registerModule('afc_head', afcHead(this.numFeatures, o.afcClasses ?? 2, o.dropout ?? 0.5));
    this.registerModule('bx_head', bxHead(this.numFeatures, o.bxClasses ?? 4, o.dropout ?? 0.5));
  }

  /** Both heads' logits on the shared features. */
  forward(x: Tensor): { afc: Tensor; bx: Tensor } {
    const h = this.backbone.forward(x);
    return { afc: this.child('afc_head').forward(h) as Tensor, bx: this.child('bx_head').forward(h) as Tensor };
  }

  /**
   * The paper's initialisation: backbone parameters ← beta·afc + (1−beta)·bx from the two
   * single-task models of the same fold; buffers (BN statistics) and heads stay as they are.
   */
  initFromSingleTask(afc: Module | StateDict, bx: Module | StateDict, beta = 0.5): void {
    const avg = averageBackbones(afc, bx, beta);
    try {
      const lacking = this.namedParameters().map(([k]) => k).filter((k) => k.startsWith('backbone.') && !avg.has(k));
      check(lacking.length === 0, 'ESHAPE', 'initFromSingleTask',
        () => `${lacking.length} backbone parameters are not in both single-task models (another backbone?): ${lacking.slice(0, 5).join(', ')}${lacking.length > 5 ? ', ...' : ''}`);
      this.loadStateDict(avg, { strict: false });
    } finally {
      for (const t of avg.values()) t.dispose();
    }
  }
}

export type Task = 'afc' | 'bx';

/** Single-task model (paper §1.2): backbone + one head. */
export class STLModel extends Module {
  readonly backbone: Backbone;
  readonly numFeatures: number;

  constructor(readonly task: Task, backbone: string | Backbone, o: TaskModelOptions = {}) {
    super();
    check(task === 'afc' || task === 'bx', 'EINVAL', 'STLModel', `task must be 'afc' or 'bx', got '${task}'`);
    this.backbone = this.registerModule('backbone', makeBackbone('STLModel', backbone, o));
    this.numFeatures = this.backbone.numFeatures;
    const p = o.dropout ?? 0.5;
    const head = task === 'afc'
      ? new Sequential(new Dropout(p), new Linear(this.numFeatures, o.afcClasses ?? 2))
      : bxHead(this.numFeatures, o.bxClasses ?? 4, p);
    this.registerModule('head', head);
  }

  forward(x: Tensor): Tensor {
    return this.child('head').forward(this.backbone.forward(x)) as Tensor;
  }
}

/** STL AFC model: Dropout(0.5)-Linear(in, 2) on the backbone. `stlAfcModel('resnet18')` */
export const stlAfcModel = (backbone: string | Backbone, o: TaskModelOptions = {}) => new STLModel('afc', backbone, o);
/** STL BX model: ReLU-Dropout(0.5)-Linear(in, 4) on the backbone. `stlBxModel('resnet18')` */
export const stlBxModel = (backbone: string | Backbone, o: TaskModelOptions = {}) => new STLModel('bx', backbone, o);

const BUFFER_SUFFIXES = ['.running_mean', '.running_var', '.num_batches_tracked'];

function backboneParams(m: Module | StateDict): Map<string, Tensor> {
  if (m instanceof Module) return new Map(m.namedParameters().filter(([k]) => k.startsWith('backbone.')));
  return new Map([...m].filter(([k]) => k.startsWith('backbone.') && !BUFFER_SUFFIXES.some((s) => k.endsWith(s))));
}

/**
 * beta·a + (1−beta)·b for every `backbone.*` parameter present in both (the authors'
 * load_backbone_average_weights: parameters only, BN running statistics excluded), as new
 * tensors; load them with `model.loadStateDict(avg, { strict: false })`.
 *   const avg = averageBackbones(stlAfc, stlBx);   // Map 'backbone.conv1.weight' → Tensor
 */
export function averageBackbones(a: Module | StateDict, b: Module | StateDict, beta = 0.5): StateDict {
  check(Number.isFinite(beta) && beta >= 0 && beta <= 1, 'EINVAL', 'averageBackbones', `beta must be in [0, 1], got ${beta}`);
  const pa = backboneParams(a), pb = backboneParams(b);
  const out: StateDict = new Map();
  noGrad(() => {
    for (const [k, ta] of pa) {
      const tb = pb.get(k);
      if (!tb) continue;
      check(ta.shape.join() === tb.shape.join(), 'ESHAPE', 'averageBackbones', `'${k}': [${ta.shape}] vs [${tb.shape}]`);
      const x = affine(ta, beta), y = affine(tb, 1 - beta);
      out.set(k, add(x, y));
      x.dispose();
      y.dispose();
    }
  });
  check(out.size > 0, 'EINVAL', 'averageBackbones', 'no backbone.* parameter is common to both models');
  return out;
}
