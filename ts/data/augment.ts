/**
 * Training augmentation (paper.md §1.7, the authors' `augmentation()`): shift ±10 % (edge
 * pixels repeat, scipy mode 'nearest'), centre zoom 0.9–1.1 (zoom-out pads with 0, as
 * `clipped_zoom`), horizontal flip, rotation ±10° about the centre (0 outside, as
 * imutils.rotate), elastic deformation (α 20–40, σ 7, bilinear, mode 'reflect', Simard 2003),
 * each firing with p = 0.5. The steps compose into one inverse map, so the image is
 * resampled once (bilinear) instead of five times. Random draws come from (seed, sample,
 * epoch), so an epoch is reproducible whatever worker runs it.
 */
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
  const s = Math.max(0, Math.min(1, opts.strength ?? 1));
  const p = opts.p ?? 0.5;
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
function gaussianBlur(f: Float32Array, W: number, H: number, sigma: number): void {
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
  const tmp = new Float32Array(Math.max(W, H) + 2 * rad);
  for (let y = 0; y < H; y++) {
    for (let i = -rad; i < W + rad; i++) tmp[i + rad] = f[y * W + refl(i, W)];
    for (let x = 0; x < W; x++) {
      let a = 0;
      for (let j = 0; j < k.length; j++) a += k[j] * tmp[x + j];
      f[y * W + x] = a;
    }
  }
  for (let x = 0; x < W; x++) {
    for (let i = -rad; i < H + rad; i++) tmp[i + rad] = f[refl(i, H) * W + x];
    for (let y = 0; y < H; y++) {
      let a = 0;
      for (let j = 0; j < k.length; j++) a += k[j] * tmp[y + j];
      f[y * W + x] = a;
    }
  }
}

/** scipy 'reflect' of a continuous coordinate into [0, n−1] (half-sample symmetric). */
function reflectCoord(c: number, n: number): number {
  if (c >= -0.5 && c <= n - 0.5) return Math.min(Math.max(c, 0), n - 1);
  const period = 2 * n;
  let t = (((c + 0.5) % period) + period) % period;
  if (t >= n) t = period - t;
  return Math.min(Math.max(t - 0.5, 0), n - 1);
}

/**
 * Applies drawn params to a grey image (any size) and returns a new image of the same size.
 * Order as the authors: shift, zoom, flip, rotation, elastic.
 *
 *   const out = applyAugment(img, drawAugment(img.width, { seed, key: id, epoch }));
 */
export function applyAugment(img: GrayImage, a: AugmentParams): GrayImage {
  const { width: W, height: H, data: src } = img;
  const out = new Float32Array(W * H);
  const cx = (W - 1) / 2;
  const cy = (H - 1) / 2;
  let dxf: Float32Array | null = null;
  let dyf: Float32Array | null = null;
  if (a.elastic) {
    const r = rng(a.elastic.seed);
    dxf = new Float32Array(W * H);
    dyf = new Float32Array(W * H);
    for (let i = 0; i < W * H; i++) dxf[i] = r.next() * 2 - 1;
    for (let i = 0; i < W * H; i++) dyf[i] = r.next() * 2 - 1;
    gaussianBlur(dxf, W, H, a.elastic.sigma);
    gaussianBlur(dyf, W, H, a.elastic.sigma);
  }
  const alpha = a.elastic?.alpha ?? 0;
  const th = ((a.angle ?? 0) * Math.PI) / 180;
  const cs = Math.cos(th);
  const sn = Math.sin(th);
  const z = a.zoom ?? 1;
  const [sx, sy] = a.shift ?? [0, 0];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      // elastic: output (x,y) reads the rotated image at (x+dx, y+dy), reflected at the edges
      let u = x;
      let v = y;
      if (dxf && dyf) {
        u = reflectCoord(x + alpha * dxf[i], W);
        v = reflectCoord(y + alpha * dyf[i], H);
      }
      // rotation (inverse of cv2's forward matrix about the centre); outside → 0
      if (a.angle !== null) {
        const ux = u - cx;
        const vy = v - cy;
        u = cs * ux - sn * vy + cx;
        v = sn * ux + cs * vy + cy;
        if (u < -0.5 || u > W - 0.5 || v < -0.5 || v > H - 0.5) continue;
      }
      if (a.flip) u = W - 1 - u;
      // centre zoom: zoomed-out borders are 0
      if (z !== 1) {
        u = (u - cx) / z + cx;
        v = (v - cy) / z + cy;
        if (u < -0.5 || u > W - 0.5 || v < -0.5 || v > H - 0.5) continue;
      }
      // shift with edge replication
      u = Math.min(Math.max(u - sx, 0), W - 1);
      v = Math.min(Math.max(v - sy, 0), H - 1);
      const x0 = Math.floor(u);
      const y0 = Math.floor(v);
      const x1 = x0 + 1 < W ? x0 + 1 : x0;
      const y1 = y0 + 1 < H ? y0 + 1 : y0;
      const fx = u - x0;
      const fy = v - y0;
      const p = src[y0 * W + x0] + fx * (src[y0 * W + x1] - src[y0 * W + x0]);
      const q = src[y1 * W + x0] + fx * (src[y1 * W + x1] - src[y1 * W + x0]);
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
