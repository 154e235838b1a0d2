/**
 * GoogLeNet (Szegedy et al., "Going Deeper with Convolutions", 2015) as torchvision 0.14
 * builds it: BasicConv2d = conv (no bias) + BN (eps 1e-3) + ReLU, nine Inception blocks
 * (branch3 uses a 3x3 conv where the paper has 5x5: torchvision's known deviation, kept for
 * weight compatibility), max pools with ceil_mode, avg pool, dropout 0.2, fc. The auxiliary
 * heads are not built: they only exist in training mode and the published weights (and
 * the authors' backbone) drop them.
 *
 * transform_input (default **on**): torchvision turns it on whenever ImageNet weights are
 * loaded, and the authors build googlenet with `pretrained=True`, so their backbone
 * re-maps ImageNet-normalised input to the (x−0.5)/0.5 space the weights were trained in:
 * x_c ← x_c·std_c/0.5 + (mean_c−0.5)/0.5. Pass `transformInput: false` for the class default.
 *
 *   const g = getModel('googlenet', { withClassifier: false, transformInput: true });
 */
import { add, mul } from '../ops/elementwise';
import { concat } from '../ops/layout';
import { globalAvgpool } from '../ops/pool';
import { relu } from '../ops/activations';
import { flatten } from '../ops/reshape';
import { truncNormal } from '../nn/init';
import { BatchNorm2d, Conv2d, Linear } from '../nn/layers';
import { Module } from '../nn/module';
import { Dropout, MaxPool2d, Sequential } from '../nn/simple';
import { tensor, Tensor } from '../tensor';
import { Backbone, ModelOptions, registerModel } from './registry';

export class BasicConv2d extends Module {
  constructor(inCh: number, outCh: number, kernel: number, o: { stride?: number; padding?: number } = {}) {
    super();
    this.registerModule('conv', new Conv2d(inCh, outCh, kernel, { stride: o.stride ?? 1, padding: o.padding ?? 0, bias: false }));
    this.registerModule('bn', new BatchNorm2d(outCh, { eps: 0.001 }));
  }
  forward(x: Tensor): Tensor {
    return relu(this.child('bn').forward(this.child('conv').forward(x) as Tensor) as Tensor);
  }
}

export class Inception extends Module {
  constructor(inCh: number, ch1: number, ch3red: number, ch3: number, ch5red: number, ch5: number, pool: number) {
    super();
    this.registerModule('branch1', new BasicConv2d(inCh, ch1, 1));
    this.registerModule('branch2', new Sequential(new BasicConv2d(inCh, ch3red, 1), new BasicConv2d(ch3red, ch3, 3, { padding: 1 })));
    this.registerModule('branch3', new Sequential(new BasicConv2d(inCh, ch5red, 1), new BasicConv2d(ch5red, ch5, 3, { padding: 1 })));
    this.registerModule('branch4', new Sequential(new MaxPool2d(3, { stride: 1, padding: 1, ceilMode: true }), new BasicConv2d(inCh, pool, 1)));
  }
  forward(x: Tensor): Tensor {
    return concat(this.children().map(([, b]) => b.forward(x) as Tensor), 1);
  }
}

// (in, 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool proj) per block
const INCEPTION: Record<string, [number, number, number, number, number, number, number]> = {
  inception3a: [192, 64, 96, 128, 16, 32, 32],
  inception3b: [256, 128, 128, 192, 32, 96, 64],
  inception4a: [480, 192, 96, 208, 16, 48, 64],
  inception4b: [512, 160, 112, 224, 24, 64, 64],
  inception4c: [512, 128, 128, 256, 24, 64, 64],
  inception4d: [512, 112, 144, 288, 32, 64, 64],
  inception4e: [528, 256, 160, 320, 32, 128, 128],
  inception5a: [832, 256, 160, 320, 32, 128, 128],
  inception5b: [832, 384, 192, 384, 48, 128, 128],
};

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

export class GoogLeNet extends Backbone {
  readonly numFeatures = 1024;
  readonly classifierKey = 'fc';
  readonly transformInput: boolean;
  private readonly order: string[] = [];

  constructor(o: ModelOptions = {}) {
    super(o);
    this.transformInput = o.transformInput ?? true;
    const pool = (k: number) => new MaxPool2d(k, { stride: 2, ceilMode: true });
    const mods: [string, Module][] = [
      ['conv1', new BasicConv2d(3, 64, 7, { stride: 2, padding: 3 })], ['maxpool1', pool(3)],
      ['conv2', new BasicConv2d(64, 64, 1)], ['conv3', new BasicConv2d(64, 192, 3, { padding: 1 })], ['maxpool2', pool(3)],
    ];
    for (const [name, c] of Object.entries(INCEPTION)) {
      mods.push([name, new Inception(...c)]);
      if (name === 'inception3b') mods.push(['maxpool3', pool(3)]);
      if (name === 'inception4e') mods.push(['maxpool4', pool(2)]);
    }
    for (const [n, m] of mods) {
      this.registerModule(n, m);
      this.order.push(n);
    }
    this.registerModule('dropout', new Dropout(0.2));
    if (this.withClassifier) this.registerModule('fc', new Linear(1024, this.numClasses));
    // torchvision init_weights: trunc_normal_(0, 0.01, −2, 2) on Conv and Linear weights, BN 1/0
    for (const [, m] of this.namedModules()) if (m instanceof Conv2d || m instanceof Linear) truncNormal(m.param('weight'), 0, 0.01, -2, 2);
  }

  forward(x: Tensor): Tensor {
    this.checkInput(x);
    let h = x;
    if (this.transformInput) {
      // per-call constants, not buffers: torchvision computes them in forward and stores no keys
      const scale = tensor(STD.map((s) => s / 0.5), [1, 3, 1, 1], { device: x.device });
      const shift = tensor(MEAN.map((m) => (m - 0.5) / 0.5), [1, 3, 1, 1], { device: x.device });
      h = add(mul(x, scale), shift);
    }
    for (const n of this.order) h = this.child(n).forward(h) as Tensor;
    const f = this.child('dropout').forward(flatten(globalAvgpool(h), 1)) as Tensor;
    return this.withClassifier ? (this.child('fc').forward(f) as Tensor) : f;
  }
}

/** GoogLeNet / Inception v1 (torchvision `googlenet`, no aux heads). */
export const googlenet = (o: ModelOptions = {}) => new GoogLeNet(o);

registerModel({ name: 'googlenet', family: 'googlenet', source: 'torchvision', numFeatures: 1024, defaultSize: 224, minSize: 15 }, googlenet);
