/**
 * Non-finite checks for training state and weight files. A NaN batch can leave every weight
 * NaN while the loss of later batches still looks finite (an op that maps NaN to 0 hides it),
 * so train() checks the state itself once per epoch. On the CPU the values are read where
 * they are: the addon scans their memory in place (`nonFinite`; copying each tensor into a
 * typed array and scanning it in JavaScript took 6 % of `mdmt demo`). On a GPU the check runs
 * on the device: for each float tensor sum(0·t) — 0·x is NaN exactly when x is NaN or ±inf,
 * so the sum is NaN iff some element is non-finite and never overflows — added into one
 * scalar, one copy to JS per epoch. (On the CPU those three ops per tensor, an allocation
 * each, cost 11 % of `mdmt demo`: many short epochs.)
 * Only when the probe says NaN are the tensors read one by one to name the first bad one.
 *
 *   const bad = firstNonFinite(named);   // undefined, or { name, nan, inf }
 */
import { noGrad } from '../autograd/tape';
import { MdmtError } from '../errors';
import { native } from '../native/binding';
import { add, affine } from '../ops/elementwise';
import { sum } from '../ops/reduce';
import { tidy, type Tensor } from '../tensor';

/**
 * NaN when any element of any float32 tensor in `ts` is NaN or ±inf, else 0. CPU tensors are
 * scanned on the host, others reduced on their device (`where: 'device'` forces the reduction).
 */
export function nonFiniteProbe(ts: readonly Tensor[], where: 'auto' | 'device' = 'auto'): number {
  const floats = ts.filter((t) => t.dtype === 'float32' && t.shape.reduce((a, b) => a * b, 1) > 0);
  if (!floats.length) return 0;
  if (where === 'auto' && floats.every((t) => t.device === 'cpu')) return hostProbe(floats);
  return tidy(() => noGrad(() => {
    let acc: Tensor | undefined;
    for (const t of floats) {
      const s = sum(affine(t, 0, 0));
      acc = acc ? add(acc, s) : s;
    }
    return acc!.item();
  }));
}

/** NaN when some element of the (CPU, float32) tensors is NaN or ±inf, else 0: the addon scans them in place. */
function hostProbe(ts: readonly Tensor[]): number {
  for (const t of ts) t.assertAlive('nonFiniteProbe');
  return native().nonFinite(ts.map((t) => t.id)) < 0 ? 0 : NaN;
}

/** The first named tensor holding a NaN or ±inf, with its counts; undefined when all are finite. */
export function firstNonFinite(named: readonly [string, Tensor][]): { name: string; nan: number; inf: number; size: number } | undefined {
  if (!Number.isNaN(nonFiniteProbe(named.map(([, t]) => t)))) return undefined;
  for (const [name, t] of named) {
    if (t.dtype !== 'float32') continue;
    const v = t.toArray() as Float32Array;
    let nan = 0, inf = 0;
    for (let i = 0; i < v.length; i++) {
      if (Number.isNaN(v[i])) nan++;
      else if (!Number.isFinite(v[i])) inf++;
    }
    if (nan || inf) return { name, nan, inf, size: v.length };
  }
  return undefined;
}

/** '3 NaN and 1 inf of 4096 values' */
/**
 * The EDATA for a weights file whose tensors hold a NaN or ±inf, naming the file (as `what`, the
 * setting or kind of file) and the first bad tensor; undefined when every value is finite.
 */
export function nonFiniteWeights(op: string, what: string, file: string, named: readonly [string, Tensor][]): MdmtError | undefined {
  const bad = firstNonFinite(named);
  return bad && new MdmtError('EDATA', op, `${what} '${file}': tensor '${bad.name}' holds ${describeNonFinite(bad)} (the run that wrote it diverged?)`);
}

export function describeNonFinite(b: { nan: number; inf: number; size: number }): string {
  const parts = [b.nan ? `${b.nan} NaN` : '', b.inf ? `${b.inf} ±inf` : ''].filter(Boolean);
  return `${parts.join(' and ')} of ${b.size} values`;
}
