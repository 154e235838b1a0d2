/**
 * The parameterised layers: Conv2d, Linear, BatchNorm2d — PyTorch's constructors,
 * parameter names (weight, bias, running_mean, running_var, num_batches_tracked) and
 * default initialisation.
 *
 *   const conv = new Conv2d(3, 64, 7, { stride: 2, padding: 3, bias: false });
 */
import { check, checkOptions, show } from '../errors';
import { batchnorm2d, bnMomentum } from '../ops/batchnorm';
import { conv2d, conv2dParams } from '../ops/conv2d';
import { linear } from '../ops/linear';
import { native } from '../native/binding';
import { checkNumber, pair, stepEffect } from '../ops/op';
import { empty, full, ones, Tensor, zeros } from '../tensor';
import { defaultLayerInit } from './init';
import { Module } from './module';

type Pair = number | [number, number];

const CONV_KEYS = { stride: true, padding: true, dilation: true, groups: true, bias: true, device: true } as const;
const LINEAR_KEYS = { bias: true, device: true } as const;
const BN_KEYS = { eps: true, momentum: true, device: true } as const;

/** 'bias' is a boolean: `bias: 'no'` kept the bias. */
function checkBias(op: string, bias: unknown): void {
  check(bias === undefined || typeof bias === 'boolean', 'EINVAL', op, () => `'bias' must be a boolean, got ${show(bias)}`);
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
  device?: string;
}

export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(inChannels: number, outChannels: number, kernel: Pair, o: Conv2dOptions = {}) {
    super();
    checkOptions('Conv2d', o, CONV_KEYS);
    check(Number.isInteger(inChannels) && inChannels > 0 && Number.isInteger(outChannels) && outChannels > 0, 'EINVAL', 'Conv2d',
      () => `channels must be positive integers, got in=${show(inChannels)} out=${show(outChannels)}`);
    // the geometry is checked here, not at the first forward(): stride 'two' or a NaN kernel
    const p = conv2dParams('Conv2d', { stride: o.stride, padding: o.padding, dilation: o.dilation, groups: o.groups });
    check(inChannels % p.groups === 0 && outChannels % p.groups === 0, 'EINVAL', 'Conv2d',
      `in (${inChannels}) and out (${outChannels}) channels must be divisible by groups (${p.groups})`);
    checkBias('Conv2d', o.bias);
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernel = pair('Conv2d', 'kernel', kernel, 0, 1);
    this.stride = p.stride;
    this.padding = p.padding;
    this.dilation = p.dilation;
    this.groups = p.groups;
    const w = this.registerParameter('weight', empty([outChannels, inChannels / p.groups, ...this.kernel], 'float32', o.device))!;
    const b = this.registerParameter('bias', o.bias === false ? null : empty([outChannels], 'float32', o.device));
    defaultLayerInit(w, b);
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.param('weight'), this.paramOrNull('bias'), {
      stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups,
    });
  }
  protected override extraRepr(): string {
    return `${this.inChannels}, ${this.outChannels}, k=${this.kernel}, s=${this.stride}, p=${this.padding}${this.groups > 1 ? `, g=${this.groups}` : ''}${this.paramOrNull('bias') ? '' : ', bias=false'}`;
  }
}

export class Linear extends Module {
  constructor(readonly inFeatures: number, readonly outFeatures: number, o: { bias?: boolean; device?: string } = {}) {
    super();
    checkOptions('Linear', o, LINEAR_KEYS);
    check(Number.isInteger(inFeatures) && inFeatures > 0 && Number.isInteger(outFeatures) && outFeatures > 0, 'EINVAL', 'Linear',
      () => `features must be positive integers, got in=${show(inFeatures)} out=${show(outFeatures)}`);
    checkBias('Linear', o.bias);
    const w = this.registerParameter('weight', empty([outFeatures, inFeatures], 'float32', o.device))!;
    const b = this.registerParameter('bias', o.bias === false ? null : empty([outFeatures], 'float32', o.device));
    defaultLayerInit(w, b);
  }
  forward(x: Tensor): Tensor {
    return linear(x, this.param('weight'), this.paramOrNull('bias'));
  }
  protected override extraRepr(): string {
    return `${this.inFeatures}, ${this.outFeatures}`;
  }
}

export interface BatchNormOptions {
  eps?: number;
  momentum?: number;
  device?: string;
}

/** BatchNorm2d (also accepts [N, C] input). num_batches_tracked counts training steps. */
export class BatchNorm2d extends Module {
  readonly eps: number;
  readonly momentum: number;
  private batches = 0;

  constructor(readonly numFeatures: number, o: BatchNormOptions = {}) {
    super();
    const op = this.constructor.name;
    checkOptions(op, o, BN_KEYS);
    check(Number.isInteger(numFeatures) && numFeatures > 0, 'EINVAL', op, () => `numFeatures must be a positive integer, got ${show(numFeatures)}`);
    // the ranges batchnorm2d() checks, here at construction rather than at the first forward()
    this.eps = checkNumber(op, 'eps', o.eps ?? 1e-5, 0);
    check(this.eps > 0, 'EINVAL', op, `'eps' must be > 0, got ${this.eps}`);
    this.momentum = bnMomentum(op, o.momentum);
    this.registerParameter('weight', ones([numFeatures], { device: o.device }));
    this.registerParameter('bias', zeros([numFeatures], { device: o.device }));
    this.registerBuffer('running_mean', zeros([numFeatures], { device: o.device }));
    this.registerBuffer('running_var', ones([numFeatures], { device: o.device }));
    this.registerBuffer('num_batches_tracked', full([], 0, { dtype: 'int32', device: o.device }));
  }

  forward(x: Tensor): Tensor {
    if (this.training) {
      this.batches++;
      stepEffect(() => this.batches++); // a recorded training step counts its replays too
    }
    return batchnorm2d(x, this.param('weight'), this.param('bias'), this.buffer('running_mean'), this.buffer('running_var'), {
      training: this.training, momentum: this.momentum, eps: this.eps,
    });
  }
  protected override syncBuffers(): void {
    const t = this.buffer('num_batches_tracked');
    native().upload(t.id, Int32Array.of(this.batches));
  }
  protected override afterLoad(): void {
    this.batches = this.buffer('num_batches_tracked').item();
  }
  protected override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}`;
  }
}
