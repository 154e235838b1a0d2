/**
 * Weight initialisers with PyTorch's definitions (torch.nn.init), drawing from the seeded
 * host generator (ts/random.ts) and uploading into the tensor in place.
 *
 *   kaimingNormal(conv.param('weight'), { mode: 'fan_out', nonlinearity: 'relu' });
 */
import { check, checkOptions, show } from '../errors';
import { native } from '../native/binding';
import { markHostWritten } from '../ops/op';
import { Generator, globalGenerator } from '../random';
import { Tensor } from '../tensor';

/** fan_in = shape[1]·receptive field, fan_out = shape[0]·receptive field (PyTorch). */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  check(shape.length >= 2, 'ESHAPE', 'init', `fan in/out needs at least 2 dims, got [${shape}]`);
  const rf = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1] * rf, fanOut: shape[0] * rf };
}

export function gain(nonlinearity: 'relu' | 'linear' | 'leaky_relu' | 'sigmoid' | 'tanh', a = 0): number {
  switch (nonlinearity) {
    case 'relu': return Math.SQRT2;
    case 'leaky_relu': return Math.sqrt(2 / (1 + a * a));
    case 'tanh': return 5 / 3;
    default: return 1;
  }
}

/** Uploads `fill`'s values into `t` (float32, alive): fill gets a zeroed array of t's size. */
function write(t: Tensor, fill: (a: Float32Array) => void): Tensor {
  t.assertAlive('init');
  check(t.dtype === 'float32', 'EDTYPE', 'init', `initialisers fill float32 tensors, got ${t.dtype}`);
  const a = new Float32Array(t.size);
  fill(a);
  markHostWritten([t], 'an nn.init initialiser');
  native().upload(t.id, a);
  return t;
}

// the generators' bulk fills: the same values as a draw per element, in half the time
export function uniform(t: Tensor, lo: number, hi: number, g: Generator = globalGenerator): Tensor {
  return write(t, (a) => g.fillUniform(a, lo, hi));
}
export function normal(t: Tensor, mean = 0, std = 1, g: Generator = globalGenerator): Tensor {
  return write(t, (a) => g.fillNormal(a, mean, std));
}
/** PyTorch trunc_normal_: redraw outside [a, b] (absolute bounds). */
export function truncNormal(t: Tensor, mean = 0, std = 1, a = -2, b = 2, g: Generator = globalGenerator): Tensor {
  const draw = () => {
    for (let k = 0; k < 1000; k++) {
      const v = g.normal(mean, std);
      if (v >= a && v <= b) return v;
    }
    return Math.min(Math.max(mean, a), b);
  };
  return write(t, (out) => {
    for (let i = 0; i < out.length; i++) out[i] = draw();
  });
}
export function constant(t: Tensor, v: number): Tensor {
  return write(t, (out) => out.fill(v));
}

export interface KaimingOptions {
  a?: number;
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: 'relu' | 'leaky_relu' | 'linear';
  generator?: Generator;
}
/** The checked options' std: gain / √fan (`mode: 'fanin'` silently used fan_out before). */
function kaimingStd(op: string, t: Tensor, o: KaimingOptions): number {
  checkOptions(op, o, { a: true, mode: true, nonlinearity: true, generator: true });
  const mode = o.mode ?? 'fan_in', nl = o.nonlinearity ?? 'leaky_relu', a = o.a ?? 0;
  check(mode === 'fan_in' || mode === 'fan_out', 'EINVAL', op, () => `'mode' must be 'fan_in' or 'fan_out', got ${show(mode)}`);
  check(nl === 'relu' || nl === 'leaky_relu' || nl === 'linear', 'EINVAL', op, () => `'nonlinearity' must be 'relu', 'leaky_relu' or 'linear', got ${show(nl)}`);
  check(typeof a === 'number' && Number.isFinite(a), 'EINVAL', op, () => `'a' must be a finite number, got ${show(a)}`);
  check(o.generator === undefined || o.generator instanceof Generator, 'EINVAL', op, `'generator' must be a Generator`);
  const { fanIn, fanOut } = fans(t.shape);
  return gain(nl, a) / Math.sqrt(mode === 'fan_in' ? fanIn : fanOut);
}
export function kaimingNormal(t: Tensor, o: KaimingOptions = {}): Tensor {
  return normal(t, 0, kaimingStd('kaimingNormal', t, o), o.generator);
}
export function kaimingUniform(t: Tensor, o: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd('kaimingUniform', t, o);
  return uniform(t, -bound, bound, o.generator);
}
export function xavierUniform(t: Tensor, gainValue = 1, g: Generator = globalGenerator): Tensor {
  const { fanIn, fanOut } = fans(t.shape);
  const bound = gainValue * Math.sqrt(6 / (fanIn + fanOut));
  return uniform(t, -bound, bound, g);
}

/** PyTorch's default for Conv/Linear: weight kaiming_uniform(a=√5) = U(±1/√fan_in), bias U(±1/√fan_in). */
export function defaultLayerInit(weight: Tensor, bias: Tensor | null, g: Generator = globalGenerator): void {
  kaimingUniform(weight, { a: Math.sqrt(5), generator: g });
  if (bias) {
    const { fanIn } = fans(weight.shape);
    const b = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform(bias, -b, b, g);
  }
}
