/**
 * DenseNet (Huang et al., "Densely Connected Convolutional Networks", 2017) as torchvision
 * 0.14 builds it: `features` = conv0/norm0/relu0/pool0, denseblock{1..4} of
 * denselayer{i} (BN-ReLU-conv1x1 to bn_size·growth, BN-ReLU-conv3x3 to growth, output
 * concatenated onto the features), transition{1..3} (BN-ReLU-conv1x1 halving the
 * channels, avg pool 2/2), norm5; then ReLU, global average pool and `classifier`.
 *
 *   const d = getModel('densenet121', { withClassifier: false });   // features: 1024
 */
import { concat } from '../ops/layout';
import { globalAvgpool } from '../ops/pool';
import { relu } from '../ops/activations';
import { flatten } from '../ops/reshape';
import { constant, kaimingNormal } from '../nn/init';
import { BatchNorm2d, Conv2d, Linear } from '../nn/layers';
import { Module } from '../nn/module';
import { AvgPool2d, MaxPool2d, ReLU, Sequential } from '../nn/simple';
import { Tensor } from '../tensor';
import { Backbone, ModelOptions, registerModel } from './registry';

export class DenseLayer extends Sequential {
  constructor(inFeatures: number, growth: number, bnSize: number) {
    super(
      ['norm1', new BatchNorm2d(inFeatures)],
      ['relu1', new ReLU()],
      ['conv1', new Conv2d(inFeatures, bnSize * growth, 1, { bias: false })],
      ['norm2', new BatchNorm2d(bnSize * growth)],
      ['relu2', new ReLU()],
      ['conv2', new Conv2d(bnSize * growth, growth, 3, { padding: 1, bias: false })],
    );
  }
}

/** Each layer sees the concatenation of the block input and every earlier layer's output. */
export class DenseBlock extends Module {
  constructor(numLayers: number, inFeatures: number, growth: number, bnSize: number) {
    super();
    for (let i = 0; i < numLayers; i++) this.registerModule(`denselayer${i + 1}`, new DenseLayer(inFeatures + i * growth, growth, bnSize));
  }
  forward(x: Tensor): Tensor {
    const feats = [x];
    for (const [, layer] of this.children()) {
      const inp = feats.length === 1 ? x : concat([...feats], 1); // a copy: observers keep the array
      feats.push(layer.forward(inp) as Tensor);
    }
    return concat([...feats], 1);
  }
}

export class Transition extends Sequential {
  constructor(inFeatures: number, outFeatures: number) {
    super(
      ['norm', new BatchNorm2d(inFeatures)],
      ['relu', new ReLU()],
      ['conv', new Conv2d(inFeatures, outFeatures, 1, { bias: false })],
      ['pool', new AvgPool2d(2, { stride: 2 })],
    );
  }
}

export interface DenseNetConfig {
  growth: number;
  blocks: readonly number[];
  initFeatures: number;
  bnSize?: number;
}

/** torchvision DenseNet(growth_rate, block_config, num_init_features). */
export class DenseNet extends Backbone {
  readonly numFeatures: number;
  readonly classifierKey = 'classifier';

  constructor(cfg: DenseNetConfig, o: ModelOptions = {}) {
    super(o);
    const bnSize = cfg.bnSize ?? 4;
    const features = new Sequential(
      ['conv0', new Conv2d(3, cfg.initFeatures, 7, { stride: 2, padding: 3, bias: false })],
      ['norm0', new BatchNorm2d(cfg.initFeatures)],
      ['relu0', new ReLU()],
      ['pool0', new MaxPool2d(3, { stride: 2, padding: 1 })],
    );
    let nf = cfg.initFeatures;
    cfg.blocks.forEach((n, i) => {
      features.append(new DenseBlock(n, nf, cfg.growth, bnSize), `denseblock${i + 1}`);
      nf += n * cfg.growth;
      if (i !== cfg.blocks.length - 1) {
        features.append(new Transition(nf, Math.floor(nf / 2)), `transition${i + 1}`);
        nf = Math.floor(nf / 2);
      }
    });
    features.append(new BatchNorm2d(nf), 'norm5');
    this.registerModule('features', features);
    this.numFeatures = nf;
    if (this.withClassifier) this.registerModule('classifier', new Linear(nf, this.numClasses));
    // torchvision: kaiming_normal_ (fan_in, gain √2) on convs, BN 1/0, Linear bias 0
    for (const [, m] of this.namedModules()) {
      if (m instanceof Conv2d) kaimingNormal(m.param('weight'));
      else if (m instanceof Linear) constant(m.param('bias'), 0);
    }
  }

  forward(x: Tensor): Tensor {
    this.checkInput(x);
    const f = flatten(globalAvgpool(relu(this.child('features').forward(x) as Tensor)), 1);
    return this.withClassifier ? (this.child('classifier').forward(f) as Tensor) : f;
  }
}

const tv = (name: string, numFeatures: number) => ({ name, family: 'densenet' as const, source: 'torchvision' as const, numFeatures, defaultSize: 224, minSize: 29 });

/** DenseNet-121 (torchvision `densenet121`). */
export const densenet121 = (o: ModelOptions = {}) => new DenseNet({ growth: 32, blocks: [6, 12, 24, 16], initFeatures: 64 }, o);
/** DenseNet-161 (torchvision `densenet161`). */
export const densenet161 = (o: ModelOptions = {}) => new DenseNet({ growth: 48, blocks: [6, 12, 36, 24], initFeatures: 96 }, o);
/** DenseNet-169 (torchvision `densenet169`). */
export const densenet169 = (o: ModelOptions = {}) => new DenseNet({ growth: 32, blocks: [6, 12, 32, 32], initFeatures: 64 }, o);
/** DenseNet-201 (torchvision `densenet201`). */
export const densenet201 = (o: ModelOptions = {}) => new DenseNet({ growth: 32, blocks: [6, 12, 48, 32], initFeatures: 64 }, o);

registerModel(tv('densenet121', 1024), densenet121);
registerModel(tv('densenet161', 2208), densenet161);
registerModel(tv('densenet169', 1664), densenet169);
registerModel(tv('densenet201', 1920), densenet201);
