/**
 * Shared by the plan suites: an MDMT model with Adam on a backbone, seeded batches of both
 * tasks (τ1 rows and τ2 rows mixed, as the loader makes them) and the MDMT training step
 * (forward, Eq. 2 with the two masked cross-entropies, backward, Adam, zero grad) as a
 * function of its input tensors — what train() compiles.
 */
import { backward } from '../../ts/autograd/tape';
import { MDMTModel } from '../../ts/models/mdmt';
import { add } from '../../ts/ops/elementwise';
import { maskedXent } from '../../ts/ops/masked_xent';
import { Adam } from '../../ts/optim/adam';
import { StepInput } from '../../ts/plan/step';
import { manualSeed } from '../../ts/random';
import { Tensor } from '../../ts/tensor';
import { Rng } from '../helpers';

export interface Trainee {
  model: MDMTModel;
  opt: Adam;
  step: (ins: Tensor[]) => Tensor[];
}

/** The same model and optimiser every call (seeded init), on `device` (default the CPU). */
export function trainee(backbone: string, seed = 0, device?: string): Trainee {
  manualSeed(seed);
  const model = new MDMTModel(backbone);
  if (device) model.to(device);
  model.train();
  const opt = new Adam(model.parameters(), { lr: 1e-3, weightDecay: 1e-4 });
  const step = ([x, al, am, bl, bm]: Tensor[]) => {
    const o = model.forward(x);
    const l = add(maskedXent(o.afc, al, am), maskedXent(o.bx, bl, bm));
    backward(l);
    opt.step();
    opt.zeroGrad();
    return [l];
  };
  return { model, opt, step };
}

/** Batch k of n images of side s: random pixels, even rows τ1 (2 classes), odd rows τ2 (4 classes). */
export function batch(k: number, n: number, s: number): StepInput[] {
  const rng = new Rng(1000 + k);
  const images = Float32Array.from({ length: n * 3 * s * s }, () => rng.uniform(-2, 2));
  const afc = Int32Array.from({ length: n }, (_, i) => (i % 2 ? -1 : rng.int(0, 1)));
  const bx = Int32Array.from({ length: n }, (_, i) => (i % 2 ? rng.int(0, 3) : -1));
  const mask = (l: Int32Array) => Float32Array.from(l, (v) => (v >= 0 ? 1 : 0));
  return [
    { data: images, shape: [n, 3, s, s] }, { data: afc, shape: [n] }, { data: mask(afc), shape: [n] },
    { data: bx, shape: [n] }, { data: mask(bx), shape: [n] },
  ];
}

/** Every parameter, buffer and Adam moment of a trainee, by name, on the host. */
export function snapshot(t: Trainee): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>();
  for (const [k, v] of t.model.stateDict()) m.set(k, v.toArray() as Float32Array);
  const st = t.opt.stateDict();
  st.m.forEach((v, i) => m.set(`adam.m.${i}`, v.toArray() as Float32Array));
  st.v.forEach((v, i) => m.set(`adam.v.${i}`, v.toArray() as Float32Array));
  return m;
}
