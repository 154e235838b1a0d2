/**
 * ResNet (He et al., "Deep Residual Learning for Image Recognition", 2016) as torchvision
 * 0.14 builds it: BasicBlock / Bottleneck ("v1.5": the stride sits on the 3x3 conv), one
 * generic `ResNet(block, layers)`, and builders for resnet18/34/50/101, wide_resnet50_2
 * (width_per_group 128) and resnext50_32x4d (groups 32, width_per_group 4). Keys equal
 * torchvision's state_dict: conv1, bn1, layer{1..4}.{i}.{conv1,bn1,...,downsample.{0,1}}, fc.
 *
 *   const r50 = getModel('resnet50', { withClassifier: false });   // 23,508,032 parameters
 */
import { add } from '../ops/elementwise';
import { globalAvgpool } from '../ops/pool';
import { relu } from '../ops/activations';
import { flatten } from '../ops/reshape';
import { kaimingNormal } from '../nn/init';
import { BatchNorm2d, Conv2d, Linear } from '../nn/layers';
import { Module } from '../nn/module';
import { MaxPool2d, Sequential } from '../nn/simple';
import { Tensor } from '../tensor';
import { Backbone, ModelOptions, registerModel } from './registry';

interface BlockCtor {
  expansion: number;
  new (inplanes: number, planes: number, stride: number, downsample: Module | null, groups: number, baseWidth: number): Module;
}

const conv3x3 = (i: number, o: number, stride = 1, groups = 1) => new Conv2d(i, o, 3, { stride, padding: 1, groups, bias: false });
const conv1x1 = (i: number, o: number, stride = 1) => new Conv2d(i, o, 1, { stride, bias: false });

export class BasicBlock extends Module {
  static expansion = 1;
  constructor(inplanes: number, planes: number, stride: number, downsample: Module | null) {
    super();
    this.registerModule('conv1', conv3x3(inplanes, planes, stride));
    this.registerModule('bn1', new BatchNorm2d(planes));
    this.registerModule('conv2', conv3x3(planes, planes));
    this.registerModule('bn2', new BatchNorm2d(planes));
    if (downsample) this.registerModule('downsample', downsample);
  }
  forward(x: Tensor): Tensor {
    const c = (n: string, t: Tensor) => this.child(n).forward(t) as Tensor;
    const out = c('bn2', c('conv2', relu(c('bn1', c('conv1', x)))));
    const idn = this.children().some(([n]) => n === 'downsample') ? c('downsample', x) : x;
    return relu(add(out, idn));
  }
}

export class Bottleneck extends Module {
  static expansion = 4;
  constructor(inplanes: number, planes: number, stride: number, downsample: Module | null, groups: number, baseWidth: number) {
    super();
    const width = Math.floor(planes * (baseWidth / 64)) * groups;
    this.registerModule('conv1', conv1x1(inplanes, width));
    this.registerModule('bn1', new BatchNorm2d(width));
    this.registerModule('conv2', conv3x3(width, width, stride, groups));
    this.registerModule('bn2', new BatchNorm2d(width));
    this.registerModule('conv3', conv1x1(width, planes * 4));
    this.registerModule('bn3', new BatchNorm2d(planes * 4));
    if (downsample) this.registerModule('downsample', downsample);
  }
  forward(x: Tensor): Tensor {
    const c = (n: string, t: Tensor) => this.child(n).forward(t) as Tensor;
    const h = relu(c('bn2', c('conv2', relu(c('bn1', c('conv1', x))))));
    const out = c('bn3', c('conv3', h));
    const idn = this.children().some(([n]) => n === 'downsample') ? c('downsample', x) : x;
    return relu(add(out, idn));
  }
}

export interface ResNetConfig {
  groups?: number;
  widthPerGroup?: number;
}

/** torchvision ResNet(block, layers): stem, four stages, global average pool, fc. */
export class ResNet extends Backbone {
  readonly numFeatures: number;
  readonly classifierKey = 'fc';
  private readonly stages: Sequential[] = [];

  constructor(block: BlockCtor, layers: readonly number[], o: ModelOptions & ResNetConfig = {}) {
    super(o);
    const groups = o.groups ?? 1;
    const baseWidth = o.widthPerGroup ?? 64;
    let inplanes = 64;
    this.registerModule('conv1', new Conv2d(3, 64, 7, { stride: 2, padding: 3, bias: false }));
    this.registerModule('bn1', new BatchNorm2d(64));
    this.registerModule('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }));
    [64, 128, 256, 512].forEach((planes, li) => {
      const stride = li === 0 ? 1 : 2;
      const out = planes * block.expansion;
      const ds = stride !== 1 || inplanes !== out ? new Sequential(conv1x1(inplanes, out, stride), new BatchNorm2d(out)) : null;
      const stage = new Sequential(new block(inplanes, planes, stride, ds, groups, baseWidth));
      inplanes = out;
      for (let i = 1; i < layers[li]; i++) stage.append(new block(inplanes, planes, 1, null, groups, baseWidth));
      this.stages.push(this.registerModule(`layer${li + 1}`, stage));
    });
    this.numFeatures = 512 * block.expansion;
    if (this.withClassifier) this.registerModule('fc', new Linear(this.numFeatures, this.numClasses));
    // torchvision: kaiming_normal_(fan_out, relu) on convs, BN 1/0 (the constructor's), fc default
    for (const [, m] of this.namedModules()) if (m instanceof Conv2d) kaimingNormal(m.param('weight'), { mode: 'fan_out', nonlinearity: 'relu' });
  }

  forward(x: Tensor): Tensor {
    this.checkInput(x);
    let h = relu(this.child('bn1').forward(this.child('conv1').forward(x) as Tensor) as Tensor);
    h = this.child('maxpool').forward(h) as Tensor;
    for (const s of this.stages) h = s.forward(h);
    const f = flatten(globalAvgpool(h), 1);
    return this.withClassifier ? (this.child('fc').forward(f) as Tensor) : f;
  }
}

const tv = (name: string, numFeatures: number) => ({ name, family: 'resnet' as const, source: 'torchvision' as const, numFeatures, defaultSize: 224 });
const B = BasicBlock as unknown as BlockCtor;
const K = Bottleneck as unknown as BlockCtor;

/** ResNet-18 (torchvision `resnet18`). */
export const resnet18 = (o: ModelOptions = {}) => new ResNet(B, [2, 2, 2, 2], o);
/** ResNet-34 (torchvision `resnet34`). */
export const resnet34 = (o: ModelOptions = {}) => new ResNet(B, [3, 4, 6, 3], o);
/** ResNet-50 (torchvision `resnet50`, v1.5). */
export const resnet50 = (o: ModelOptions = {}) => new ResNet(K, [3, 4, 6, 3], o);
/** ResNet-101 (torchvision `resnet101`, v1.5). */
export const resnet101 = (o: ModelOptions = {}) => new ResNet(K, [3, 4, 23, 3], o);
/** Wide ResNet-50-2 (Zagoruyko & Komodakis, 2016): bottleneck width doubled. */
export const wideResnet50_2 = (o: ModelOptions = {}) => new ResNet(K, [3, 4, 6, 3], { ...o, widthPerGroup: 128 });
/** ResNeXt-50 32x4d (Xie et al., 2017): grouped 3x3 convs, 32 groups of width 4. */
export const resnext50_32x4d = (o: ModelOptions = {}) => new ResNet(K, [3, 4, 6, 3], { ...o, groups: 32, widthPerGroup: 4 });

registerModel(tv('resnet18', 512), resnet18);
registerModel(tv('resnet34', 512), resnet34);
registerModel(tv('resnet50', 2048), resnet50);
registerModel(tv('resnet101', 2048), resnet101);
registerModel(tv('wide_resnet50_2', 2048), wideResnet50_2);
registerModel(tv('resnext50_32x4d', 2048), resnext50_32x4d);
