/**
 * Training augmentation (paper.md §1.7, the authors' `augmentation()`): shift ±10 % (edge
 * pixels repeat, scipy mode 'nearest'), centre zoom 0.9–1.1 (zoom-out pads with 0, as
 * `clipped_zoom`), horizontal flip, rotation ±10° about the centre (0 outside, as
 * imutils.rotate), elastic deformation (α 20–40, σ 7, bilinear, mode 'reflect', Simard 2003),
 * each firing with p = 0.5. The steps compose into one inverse map, so the image is
 * resampled once (bilinear) instead of five times. Random draws come from (seed, sample,
 * epoch), so an epoch is reproducible whatever worker runs it.
 */
import { MdmtError, show } from '../errors';
import { GrayImage } from './image';
import { rng, seedOf } from './rng';

export interface AugmentOptions {
  /** probability of each step (default 0.5) */
  p?: number;
  /** 0 = identity, 1 = the paper's ranges (default 1); ranges scale linearly */
  strength?: number;
  /** turn single steps off */
  disable?: Partial<Record<'shift' | 'zoom' | 'flip' | 'rotate' | 'elastic', boolean>>;
}

/** One sample's drawn augmentation; null = step not applied. */
export interface AugmentParams {
  shift: [dx: number, dy: number] | null;
  zoom: number | null;
  flip: boolean;
  /** degrees, counter-clockwise as cv2.getRotationMatrix2D */
  angle: number | null;
  elastic: { alpha: number; sigma: number; seed: number } | null;
}

export const IDENTITY: AugmentParams = { shift: null, zoom: null, flip: false, angle: null, elastic: null };

/**
 * Draws the augmentation of one sample in one epoch (same inputs → same params).
 *
 *   const p = drawAugment(size, { seed: 0, key: 'P_12', epoch: 3 });
 */
export function drawAugment(size: number, at: { seed: number; key: string | number; epoch: number }, opts: AugmentOptions = {}): AugmentParams {
  const s = opts.strength ?? 1;
  const p = opts.p ?? 0.5;
  // Math.min/max pass NaN through: a NaN strength made every augmented pixel NaN
  if (typeof s !== 'number' || !(s >= 0 && s <= 1)) throw new MdmtError('EINVAL', 'augment', `strength must be a number in [0, 1], got ${show(s)}`);
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new MdmtError('EINVAL', 'augment', `p must be a number in [0, 1], got ${show(p)}`);
  const off = opts.disable ?? {};
  const r = rng(seedOf(at.seed, at.key, at.epoch));
  // every draw happens whether or not the step fires, so disabling one step leaves the others' draws alone
  const fire = () => r.next() < p;
  const doShift = fire();
  const maxShift = Math.floor(0.1 * size * s);
  const shift: [number, number] = [r.int(-maxShift, maxShift), r.int(-maxShift, maxShift)];
  const doZoom = fire();
  const zoom = r.uniform(1 - 0.1 * s, 1 + 0.1 * s);
  const doFlip = fire();
  const doRot = fire();
  const angle = r.uniform(-10 * s, 10 * s);
  const doEl = fire();
  const alpha = r.uniform(20, 40) * s;
  const elSeed = (r.next() * 4294967296) >>> 0;
  if (s === 0) return { ...IDENTITY };
  return {
    shift: doShift && !off.shift ? shift : null,
    zoom: doZoom && !off.zoom ? zoom : null,
    flip: doFlip && !off.flip,
    angle: doRot && !off.rotate ? angle : null,
    elastic: doEl && !off.elastic ? { alpha, sigma: 7, seed: elSeed } : null,
  };
}

/** scipy.ndimage.gaussian_filter (truncate 4, mode 'reflect') of a W×H field, in place. */
export function gaussianBlur(f: Float32Array, W: number, H: number, sigma: number): void {
  const rad = Math.floor(4 * sigma + 0.5);
  const k = new Float32Array(2 * rad + 1);
  let sum = 0;
  for (let i = -rad; i <= rad; i++) sum += k[i + rad] = Math.exp((-0.5 * i * i) / (sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  const refl = (i: number, n: number) => {
    const period = 2 * n;
    i = ((i % period) + period) % period;
    return i < n ? i : period - 1 - i;
  };
  // rows: pad each row by reflection, then a plain dot product per output pixel
  const tmp = new Float32Array(W + 2 * rad);
  for (let y = 0; y < H; y++) {
    const o = y * W;
    for (let i = -rad; i < W + rad; i++) tmp[i + rad] = f[o + refl(i, W)];
    for (let x = 0; x < W; x++) {
      let a = 0;
      for (let j = 0; j < k.length; j++) a += k[j] * tmp[x + j];
      f[o + x] = a;
    }
  }
  // columns: whole rows at a time (axpy of reflected source rows), cache-friendly
  const src = f.slice();
  f.fill(0);
  for (let y = 0; y < H; y++) {
    const o = y * W;
    for (let j = 0; j < k.length; j++) {
      const s = refl(y + j - rad, H) * W;
      const kj = k[j];
      for (let x = 0; x < W; x++) f[o + x] += kj * src[s + x];
    }
  }
}

/**
 * Smoothed displacement fields: gaussian_filter(uniform(−1, 1), σ) exactly as the authors',
 * but drawn from a per-size bank of BANK fields (made once per thread, deterministic), then
 * one of 4 mirrorings and a sign, so each sample still gets an exact Simard field without
 * paying the σ = 7 blur (≈ 20 ms at 256²) every time.
 */
const BANK = 32;
const bank = new Map<string, Float32Array>();
interface Field { f: Float32Array; sign: number; mx: boolean; my: boolean }
function field(W: number, H: number, sigma: number, pick: number): Field {
  const k = pick % BANK;
  const key = `${W}x${H}:${sigma}:${k}`;
  let f = bank.get(key);
  if (!f) {
    const r = rng(seedOf('elastic-bank', W, H, sigma, k));
    f = Float32Array.from({ length: W * H }, () => r.next() * 2 - 1);
    gaussianBlur(f, W, H, sigma);
    bank.set(key, f);
  }
  // read through a mirroring and a sign instead of copying (no per-sample allocation)
  return { f, mx: ((pick >>> 5) & 1) === 1, my: ((pick >>> 6) & 1) === 1, sign: (pick >>> 7) & 1 ? -1 : 1 };
}

/** scipy 'reflect' of a continuous coordinate into [0, n−1] (half-sample symmetric). */
function reflectCoord(c: number, n: number): number {
  if (c >= -0.5 && c <= n - 0.5) return c < 0 ? 0 : c > n - 1 ? n - 1 : c;
  const period = 2 * n;
  let t = (((c + 0.5) % period) + period) % period;
  if (t >= n) t = period - t;
  return Math.min(Math.max(t - 0.5, 0), n - 1);
}

/**
 * Applies drawn params to a grey image (any size) and returns a new image of the same size.
 * Order as the authors: shift, zoom, flip, rotation, elastic. Inverse mapping from an output
 * pixel q (after the elastic offset): r = R⁻¹q (rotation; outside → 0), then the flip and
 * z = Z⁻¹(flip r) (zoom; outside → 0), then the shift with edge clamping; both r and z are
 * affine in q, so they are two small matrix products per pixel.
 *
 *   const out = applyAugment(img, drawAugment(img.width, { seed, key: id, epoch }));
 */
export function applyAugment(img: GrayImage, a: AugmentParams, into?: Float32Array): GrayImage {
  const { width: W, height: H, data: src } = img;
  const out = into ?? new Float32Array(W * H);
  if (into) out.fill(0);
  const cx = (W - 1) / 2;
  const cy = (H - 1) / 2;
  let dxf: Field | null = null;
  let dyf: Field | null = null;
  if (a.elastic) {
    const r = rng(a.elastic.seed);
    dxf = field(W, H, a.elastic.sigma, (r.next() * 256) | 0);
    dyf = field(W, H, a.elastic.sigma, (r.next() * 256) | 0);
  }
  const alpha = a.elastic?.alpha ?? 0;
  const rot = a.angle !== null;
  const th = ((a.angle ?? 0) * Math.PI) / 180;
  const cs = Math.cos(th);
  const sn = Math.sin(th);
  // r = [[cs, −sn], [sn, cs]] (q − c) + c
  const r00 = cs, r01 = -sn, r10 = sn, r11 = cs;
  const r0 = cx - cs * cx + sn * cy;
  const r1 = cy - sn * cx - cs * cy;
  // z = (flip(r) − c) / zoom + c, flip(r).x = W − 1 − r.x
  const iz = 1 / (a.zoom ?? 1);
  const fl = a.flip ? -1 : 1;
  const z00 = fl * r00 * iz, z01 = fl * r01 * iz, z10 = r10 * iz, z11 = r11 * iz;
  const z0 = ((a.flip ? W - 1 - r0 : r0) - cx) * iz + cx;
  const z1 = (r1 - cy) * iz + cy;
  const zoomed = a.zoom !== null && a.zoom !== 1;
  const [sx, sy] = a.shift ?? [0, 0];
  const lo = -0.5, hx = W - 0.5, hy = H - 0.5;
  const ax = dxf ? alpha * dxf.sign : 0;
  const ay = dyf ? alpha * dyf.sign : 0;
  for (let y = 0; y < H; y++) {
    const rowX = dxf ? (dxf.my ? H - 1 - y : y) * W : 0;
    const rowY = dyf ? (dyf.my ? H - 1 - y : y) * W : 0;
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      let u = x;
      let v = y;
      if (dxf !== null && dyf !== null) {
        u = reflectCoord(x + ax * dxf.f[rowX + (dxf.mx ? W - 1 - x : x)], W);
        v = reflectCoord(y + ay * dyf.f[rowY + (dyf.mx ? W - 1 - x : x)], H);
      }
      if (rot) {
        const ru = r00 * u + r01 * v + r0;
        const rv = r10 * u + r11 * v + r1;
        if (ru < lo || ru > hx || rv < lo || rv > hy) continue;
      }
      let zu = z00 * u + z01 * v + z0;
      let zv = z10 * u + z11 * v + z1;
      if (zoomed && (zu < lo || zu > hx || zv < lo || zv > hy)) continue;
      zu -= sx;
      zv -= sy;
      zu = zu < 0 ? 0 : zu > W - 1 ? W - 1 : zu;
      zv = zv < 0 ? 0 : zv > H - 1 ? H - 1 : zv;
      const x0 = zu | 0;
      const y0 = zv | 0;
      const x1 = x0 + 1 < W ? x0 + 1 : x0;
      const y1 = y0 + 1 < H ? y0 + 1 : y0;
      const fx = zu - x0;
      const fy = zv - y0;
      const o0 = y0 * W;
      const o1 = y1 * W;
      const p = src[o0 + x0] + fx * (src[o0 + x1] - src[o0 + x0]);
      const q = src[o1 + x0] + fx * (src[o1 + x1] - src[o1 + x0]);
      out[i] = p + fy * (q - p);
    }
  }
  return { width: W, height: H, data: out };
}

/** Mirrors left-right (exact). */
export function hflip(img: GrayImage): GrayImage {
  return applyAugment(img, { ...IDENTITY, flip: true });
}

/** Rotates by `deg` degrees counter-clockwise about the centre, 0 outside. */
export function rotate(img: GrayImage, deg: number): GrayImage {
  return applyAugment(img, { ...IDENTITY, angle: deg });
}

/**
 * Draws and applies in one call.
 *
 *   const aug = augment(img, { seed: 0, key: 'P_12', epoch: 3 }, { strength: 1 });
 */
export function augment(img: GrayImage, at: { seed: number; key: string | number; epoch: number }, opts: AugmentOptions = {}): GrayImage {
  const p = drawAugment(img.width, at, opts);
  if (!p.shift && !p.zoom && !p.flip && p.angle === null && !p.elastic) return { width: img.width, height: img.height, data: img.data.slice() };
  return applyAugment(img, p);
}
