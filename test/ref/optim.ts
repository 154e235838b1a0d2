/**
 * float64 references of PyTorch's optimiser update rules, transcribed from the algorithm
 * boxes of the torch.optim.Adam / AdamW / SGD documentation (one parameter, one step).
 */

export interface AdamRefState {
  m: Float64Array;
  v: Float64Array;
  step: number;
}

/** Adam (decoupled = false: g ← g + λθ) or AdamW (decoupled: θ ← θ − γλθ), in place on p. */
export function adamStepRef(p: Float64Array, g: Float64Array, s: AdamRefState,
  o: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; decoupled: boolean }): void {
  s.step += 1;
  const t = s.step;
  for (let i = 0; i < p.length; i++) {
    let gi = g[i];
    if (o.decoupled) p[i] = p[i] - o.lr * o.weightDecay * p[i];
    else gi = gi + o.weightDecay * p[i];
    s.m[i] = o.beta1 * s.m[i] + (1 - o.beta1) * gi;
    s.v[i] = o.beta2 * s.v[i] + (1 - o.beta2) * gi * gi;
    const mHat = s.m[i] / (1 - o.beta1 ** t);
    const vHat = s.v[i] / (1 - o.beta2 ** t);
    p[i] = p[i] - (o.lr * mHat) / (Math.sqrt(vHat) + o.eps);
  }
}

export interface SgdRefState {
  buf: Float64Array | null;
}

/** SGD with momentum μ, dampening τ, Nesterov and weight decay λ, in place on p. */
export function sgdStepRef(p: Float64Array, g: Float64Array, s: SgdRefState,
  o: { lr: number; momentum: number; dampening: number; weightDecay: number; nesterov: boolean }): void {
  const d = g.map((gi, i) => gi + o.weightDecay * p[i]);
  let step: Float64Array = d;
  if (o.momentum !== 0) {
    if (s.buf === null) s.buf = Float64Array.from(d); // first step: b = g
    else for (let i = 0; i < d.length; i++) s.buf[i] = o.momentum * s.buf[i] + (1 - o.dampening) * d[i];
    step = o.nesterov ? d.map((di, i) => di + o.momentum * s.buf![i]) : s.buf;
  }
  for (let i = 0; i < p.length; i++) p[i] -= o.lr * step[i];
}
