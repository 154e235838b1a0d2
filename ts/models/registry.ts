/**
 * The model registry (torchvision's `_api.py`): each family file imports it and registers
 * one-line builders under the torchvision/timm names. The look-ups the trainer, the CLI and
 * the zoo tests walk (`listModels()`, `getModel(name, opts)`) are in zoo.ts, which imports
 * every family first, so they always see the whole zoo. Every model is a `Backbone`: a
 * Module whose forward maps N×3×H×W images to N×numClasses logits, or to the N×numFeatures
 * pooled features when built with `withClassifier: false` (the classifier removed, as the
 * authors' `change_head` replaces it by Identity; it then has no classifier keys).
 *
 *   const net = getModel('resnet18', { withClassifier: false });   // features: 512
 *   backboneFeatures(net) === 512
 */
import { check, checkOptions, kindOf, MdmtError, show } from '../errors';
import { Module } from '../nn/module';
import { checkArg } from '../ops/op';
import { shapeStr, Tensor } from '../tensor';

export interface ModelOptions {
  /** classifier outputs (default 1000, ImageNet) */
  numClasses?: number;
  /** keep the classifier (default true); false gives the backbone with pooled features as output */
  withClassifier?: boolean;
  /** GoogLeNet only: apply torchvision's transform_input (default true, see googlenet.ts) */
  transformInput?: boolean;
}

export interface ModelInfo {
  name: string;
  family: 'resnet' | 'densenet' | 'efficientnet' | 'googlenet' | 'mobilenet' | 'shufflenet';
  /** where names and weights come from */
  source: 'torchvision' | 'timm';
  /** width of the pooled features (the classifier's in_features) */
  numFeatures: number;
  /** the ImageNet input size of the published weights */
  defaultSize: number;
  /**
   * the smallest square input side the network takes (default 1): below it a stride or pool
   * leaves a 0×0 map (DenseNet's third transition pool under 29 px, GoogLeNet's fourth
   * max-pool under 15 px)
   */
  minSize?: number;
}

/** A registered model: a backbone with (or without) its classifier. */
export abstract class Backbone extends Module {
  /** width of the pooled feature vector */
  abstract readonly numFeatures: number;
  /** the classifier's state_dict prefix in the full model ('fc', 'classifier', 'classifier.1') */
  abstract readonly classifierKey: string;
  abstract override forward(x: Tensor): Tensor;
  readonly withClassifier: boolean;
  readonly numClasses: number;
  /** Set by getModel: the registered name and the smallest input side, which forward() checks. */
  registeredAs?: { name: string; minSize: number };
  constructor(o: ModelOptions) {
    super();
    this.withClassifier = o.withClassifier ?? true;
    this.numClasses = o.numClasses ?? 1000;
    // `withClassifier: 'no'` kept the classifier
    check(typeof this.withClassifier === 'boolean', 'EINVAL', 'getModel', () => `'withClassifier' must be a boolean, got ${show(o.withClassifier)}`);
    if (!Number.isInteger(this.numClasses) || this.numClasses < 1)
      throw new MdmtError('EINVAL', 'getModel', `'numClasses' must be a positive integer, got ${show(o.numClasses)}`);
    // numClasses: 5 with withClassifier: false built no classifier, and said nothing
    check(this.withClassifier || o.numClasses === undefined, 'EINVAL', 'getModel',
      () => `'numClasses' (${show(o.numClasses)}) sizes the classifier, which withClassifier: false leaves out (it would be ignored)`);
  }

  /**
   * Refuses an input forward() cannot take, naming the model: not N×3×H×W (a grey film as one
   * channel was refused by the stem as "w [64, 3, 7, 7] must have C/groups = 1"), or a side under
   * the model's smallest input (densenet121 at 28 px failed in an inner layer as "avgpool2d:
   * 'x' [1, 512, 1, 1] is too small for kernel [2,2]", naming neither the model nor the size).
   */
  protected checkInput(x: Tensor): void {
    const name = this.registeredAs?.name ?? this.constructor.name, min = this.registeredAs?.minSize ?? 1;
    checkArg(name, 'x', x, { ndim: 4 });
    check(x.shape[1] === 3, 'ESHAPE', name, () => `takes N×3×H×W images, got x ${shapeStr(x.shape)}${x.shape[1] === 1 ? ' (a grey image: repeat it over 3 channels)' : ''}`);
    check(x.shape[2] >= min && x.shape[3] >= min, 'ESHAPE', name,
      () => `takes images of at least ${min}×${min} px${min > 1 ? ' (smaller ones leave a 0×0 map inside the network)' : ''}, got x ${shapeStr(x.shape)}`);
  }
}

export type ModelBuilder = (opts: ModelOptions) => Backbone;

const builders = new Map<string, { build: ModelBuilder; info: ModelInfo }>();

/** Adds a builder under `info.name` (a duplicate name is an error). */
export function registerModel(info: ModelInfo, build: ModelBuilder): void {
  checkOptions('registerModel', info, { name: true, family: true, source: true, numFeatures: true, defaultSize: true, minSize: true }, 'info');
  check(typeof info.name === 'string' && info.name !== '', 'EINVAL', 'registerModel', () => `info.name must be a non-empty string, got ${show(info.name)}`);
  for (const k of ['numFeatures', 'defaultSize', 'minSize'] as const) {
    const v = info[k];
    check((k === 'minSize' && v === undefined) || (Number.isInteger(v) && v! >= 1), 'EINVAL', 'registerModel',
      () => `info.${k} of '${info.name}' must be a positive integer, got ${show(v)}`);
  }
  check(typeof build === 'function', 'EINVAL', 'registerModel', () => `the builder of '${info.name}' must be a function, got ${kindOf(build)}`);
  if (builders.has(info.name)) throw new MdmtError('EINVAL', 'registerModel', `model '${info.name}' is already registered`);
  builders.set(info.name, { build, info });
}

/** The builder and facts registered under `name` (undefined when none is). */
export function registeredModel(name: string): { build: ModelBuilder; info: ModelInfo } | undefined {
  return builders.get(name);
}

/** Names registered so far, sorted (zoo.ts's listModels() is the complete list). */
export function registeredNames(): string[] {
  return [...builders.keys()].sort();
}

/** The feature width H of a backbone (the in_features of its removed classifier). */
export function backboneFeatures(model: Backbone): number {
  return model.numFeatures;
}
