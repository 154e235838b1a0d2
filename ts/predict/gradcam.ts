/**
 * Grad-CAM (Selvaraju et al., ICCV 2017): where in the image a class score comes from.
 * For the activations A (N×K×h×w) of a convolutional layer and the class score y^c (the
 * logit of class c, before the softmax),
 *   α_k = (1/hw) Σ_ij ∂y^c/∂A_kij          (global-average-pooled gradients)
 *   L   = ReLU(Σ_k α_k A_k)                (an h×w map per image)
 * The layer defaults to the backbone's last convolutional stage (its last direct child that
 * holds a convolution: ResNet layer4, DenseNet features, ShuffleNet conv5, MobileNet features,
 * EfficientNet conv_head (timm's last 1×1 conv), GoogLeNet inception5b), the usual choice:
 * the deepest layer that still has a spatial layout.
 *
 * How: the layer's forward is wrapped for one call so that its output becomes a fresh leaf
 * tensor with requiresGrad (the parameters are switched off meanwhile, so nothing upstream
 * records and no parameter receives a gradient); the model runs on from the leaf, backward()
 * of Σ_n y^{c_n}_n fills the leaf's gradient, and α and L are computed on the host in float64.
 * The samples of a batch are independent in eval mode, so one backward serves the batch.
 *
 *   const cam = gradCam(model, x, { task: 'afc' });     // SEVERE by default
 *   cam.maps.subarray(0, cam.h * cam.w)                 // image 0, h×w, unnormalised
 */
import { backward } from '../autograd/tape';
import { check, checkOptions, kindOf, MdmtError, show } from '../errors';
import { Module } from '../nn/module';
import { maskedXent } from '../ops/masked_xent';
import { mul } from '../ops/elementwise';
import { sum } from '../ops/reduce';
import { tensor, Tensor, tidy } from '../tensor';
import { softmaxT } from './calibration';

export interface GradCamOptions {
  /** the head to explain: 'afc' (τ1, default when the model has it) or 'bx' (τ2) */
  task?: 'afc' | 'bx';
  /** the class whose score is explained: a number for every image, or 'predicted' (default: SEVERE = 1 for τ1, the predicted class for τ2) */
  classIndex?: number | 'predicted';
  /** module path of the target layer, e.g. 'backbone.layer4' (default: the backbone's last convolutional stage) */
  layer?: string;
  /** the score y^c: the class logit (default, Selvaraju et al.) or its log-probability log softmax(z)_c, which ignores what all logits share */
  score?: 'logit' | 'logprob';
}

export interface GradCamResult {
  /** N×h×w maps ReLU(Σ_k α_k A_k), row-major, unnormalised */
  maps: Float64Array;
  n: number;
  h: number;
  w: number;
  /** the class explained per image */
  classIndex: number[];
  /** its logit y^c per image */
  scores: number[];
  /** the target layer's module path */
  layer: string;
}

const holdsConv = (m: Module) => m.namedParameters().some(([, p]) => p.ndim === 4);

/**
 * The default target: `backbone.<last child holding a convolution>` for MDMT / STL models,
 * or the model's own last such child.
 *
 * @example defaultCamLayer(new STLModel('afc', 'resnet18')) // 'backbone.layer4'
 */
export function defaultCamLayer(model: Module): string {
  const bb = model.children().find(([n]) => n === 'backbone');
  const [prefix, root] = bb ? ['backbone.', bb[1]] : ['', model];
  const convs = root.children().filter(([, m]) => holdsConv(m));
  if (!convs.length) throw new MdmtError('EINVAL', 'gradCam', 'the model has no convolutional layer to explain');
  return prefix + convs[convs.length - 1]![0];
}

function findLayer(model: Module, path: string): Module {
  const m = model.namedModules().find(([n]) => n === path)?.[1];
  if (!m) throw new MdmtError('EINVAL', 'gradCam', `layer '${path}' is not a module of the model (e.g. ${model.namedModules().slice(1, 4).map(([n]) => n).join(', ')})`);
  return m;
}

function headOf(out: unknown, task: 'afc' | 'bx' | undefined, only: unknown): { z: Tensor; task: 'afc' | 'bx' } {
  if (out instanceof Tensor) {
    // a single-head model (STLModel carries its task; any other module counts as τ1)
    const own = only === 'bx' ? 'bx' : 'afc';
    if (task && task !== own) throw new MdmtError('EINVAL', 'gradCam', `the model has only the '${own}' head, not '${task}'`);
    return { z: out, task: own };
  }
  const o = out as { afc?: Tensor; bx?: Tensor };
  const t = task ?? (o.afc ? 'afc' : 'bx');
  const z = o[t];
  if (!(z instanceof Tensor)) throw new MdmtError('EINVAL', 'gradCam', `the model has no '${t}' output (it has ${Object.keys(o).join(', ')})`);
  return { z, task: t };
}

/**
 * Grad-CAM maps of a batch `x` (N×3×H×W) for one head of `model` (eval mode during the call,
 * mode and parameter flags restored after; no parameter gradient is left behind).
 *
 * @example const { maps, h, w } = gradCam(new MDMTModel('resnet18'), x, { task: 'bx', classIndex: 'predicted' });
 */
export function gradCam(model: Module, x: Tensor, o: GradCamOptions = {}): GradCamResult {
  // anything else failed inside the layer search with a bare TypeError ("model.children is not a function")
  check(model instanceof Module, 'EINVAL', 'gradCam', () => `needs a Module (a model such as MDMTModel), got ${kindOf(model)}`);
  // `clas: 0` explained the default class, `score: 'nonsense'` the logit
  checkOptions('gradCam', o, { task: true, classIndex: true, layer: true, score: true });
  check(o.task === undefined || o.task === 'afc' || o.task === 'bx', 'EINVAL', 'gradCam', () => `'task' must be 'afc' or 'bx', got ${show(o.task)}`);
  check(o.score === undefined || o.score === 'logit' || o.score === 'logprob', 'EINVAL', 'gradCam', () => `'score' must be 'logit' or 'logprob', got ${show(o.score)}`);
  check(o.classIndex === undefined || o.classIndex === 'predicted' || (Number.isInteger(o.classIndex) && o.classIndex >= 0), 'EINVAL', 'gradCam',
    () => `'classIndex' must be a class number or 'predicted', got ${show(o.classIndex)}`);
  check(o.layer === undefined || typeof o.layer === 'string', 'EINVAL', 'gradCam', () => `'layer' must be a module path, got ${show(o.layer)}`);
  const layerPath = o.layer ?? defaultCamLayer(model);
  const layer = findLayer(model, layerPath);
  const params = model.parameters();
  const flags = params.map((p) => p.requiresGrad);
  const wasTraining = model.training;
  const own = Object.prototype.hasOwnProperty.call(layer, 'forward');
  // kept to be put back as it was, and always called with .apply(layer)
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const orig = layer.forward;
  let leaf: Tensor | undefined;
  layer.forward = function (this: Module, ...args: unknown[]) {
    const a = (orig as (...a: unknown[]) => unknown).apply(layer, args);
    if (!(a instanceof Tensor) || a.ndim !== 4) throw new MdmtError('EINVAL', 'gradCam', `layer '${layerPath}' does not output an N×K×h×w tensor`);
    leaf = a.to(a.device); // a copy with no history: the leaf the gradient stops at
    leaf.requiresGrad = true;
    return leaf;
  } as Module['forward'];
  for (const p of params) p.requiresGrad = false;
  model.eval();
  try {
    return tidy(() => {
      const { z, task } = headOf(model.forward(x), o.task, (model as { task?: unknown }).task);
      if (!leaf) throw new MdmtError('EINVAL', 'gradCam', `layer '${layerPath}' was not called by the model's forward`);
      const [N, C] = z.shape;
      const zs = z.toArray();
      const cls = Array.from({ length: N }, (_, i) => {
        const want = o.classIndex ?? (task === 'afc' ? 1 : 'predicted');
        if (want !== 'predicted') {
          if (!Number.isInteger(want) || want < 0 || want >= C) throw new MdmtError('EINVAL', 'gradCam', `classIndex ${want} is outside 0..${C - 1}`);
          return want;
        }
        let b = 0;
        for (let j = 1; j < C; j++) if (zs[i * C + j] > zs[i * C + b]) b = j;
        return b;
      });
      if (o.score !== 'logprob') {
        const pick = new Float32Array(N * C);
        cls.forEach((c, i) => (pick[i * C + c] = 1));
        backward(sum(mul(z, tensor(pick, [N, C], { device: z.device }))));
      } else {
        // Σ_n log p_{n,c_n} = −N · maskedXent (mean cross-entropy over the batch)
        const ce = maskedXent(z, tensor(Int32Array.from(cls), [N], { device: z.device }), tensor(new Float32Array(N).fill(1), [N], { device: z.device }));
        backward(ce, { grad: tensor(new Float32Array([-N]), [], { device: z.device }) });
      }
      const A = leaf.toArray(), G = leaf.grad!.toArray();
      leaf.grad!.dispose();
      const [, K, h, w] = leaf.shape;
      const scores = cls.map((c, i) => (o.score !== 'logprob' ? zs[i * C + c] : Math.log(softmaxT(zs.subarray(i * C, (i + 1) * C))[c]!)));
      return { maps: camMaps(A, G, N, K, h * w), n: N, h, w, classIndex: cls, scores, layer: layerPath };
    });
  } finally {
    if (own) layer.forward = orig;
    else delete (layer as unknown as { forward?: unknown }).forward;
    params.forEach((p, i) => (p.requiresGrad = flags[i]!));
    model.train(wasTraining);
  }
}

/** L_n = ReLU(Σ_k α_nk A_nk) with α_nk the spatial mean of G_nk, in float64. */
function camMaps(A: ArrayLike<number>, G: ArrayLike<number>, N: number, K: number, hw: number): Float64Array {
  const maps = new Float64Array(N * hw);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const o = (n * K + k) * hw;
      let alpha = 0;
      for (let i = 0; i < hw; i++) alpha += G[o + i]!;
      alpha /= hw;
      for (let i = 0; i < hw; i++) maps[n * hw + i] += alpha * A[o + i]!;
    }
    for (let i = 0; i < hw; i++) maps[n * hw + i] = Math.max(0, maps[n * hw + i]!);
  }
  return maps;
}
