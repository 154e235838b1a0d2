/**
 * Grad-CAM overlays as PNG: the X-ray (clipped to its 2–98th percentiles, as the model's
 * preprocessing) in grey, the map normalised to its maximum, upsampled bilinearly onto the
 * part of the image the model saw (the lung crop, or the whole image) and blended in with
 * the jet colour map, opacity growing with the map so that cold regions show the film.
 * Encoded with sharp, written atomically.
 *
 *   await writeOverlay('out/P_1.png', raw, crop, cam.maps.subarray(0, cam.h * cam.w), cam.h, cam.w);
 */
import sharp from 'sharp';
import type { GrayImage } from '../data/image';
import { clipScale, resizeBilinear, type Box } from '../data/preprocess';
import { atomicWriteFile } from '../train/checkpoint';

/** matplotlib's jet segment data (matplotlib._cm._jet_data): [v, level] knots per channel. */
const JET: readonly (readonly [number, number])[][] = [
  [[0, 0], [0.35, 0], [0.66, 1], [0.89, 1], [1, 0.5]],
  [[0, 0], [0.125, 0], [0.375, 1], [0.64, 1], [0.91, 0], [1, 0]],
  [[0, 0.5], [0.11, 1], [0.34, 1], [0.65, 0], [1, 0]],
];

/**
 * matplotlib's jet: its segment data interpolated linearly (no colour-map package needed for
 * one map): r, g, b in [0, 1] for v in [0, 1] (clamped). The formula 1.5 − |4v − k| that stood
 * here, MATLAB's jet, differed from matplotlib's by up to 0.13 (green at v = 0.875).
 *
 * @example jet(0) // [0, 0, 0.5]: dark blue;  jet(1) // [0.5, 0, 0]: dark red
 */
export function jet(v: number): [number, number, number] {
  const t = Math.min(1, Math.max(0, v));
  const ramp = (knots: readonly (readonly [number, number])[]) => {
    for (let i = 1; i < knots.length; i++) {
      const [x1, y1] = knots[i]!;
      if (t <= x1) {
        const [x0, y0] = knots[i - 1]!;
        return y0 + ((t - x0) / (x1 - x0)) * (y1 - y0);
      }
    }
    return NaN; // v NaN: as the formula did, a NaN colour
  };
  return [ramp(JET[0]!), ramp(JET[1]!), ramp(JET[2]!)];
}

export interface OverlayOptions {
  /** longest side of the PNG in pixels (default 1024; smaller images keep their size) */
  maxSide?: number;
  /** opacity of the colour where the map is at its maximum (default 0.6) */
  alpha?: number;
}

/**
 * The overlay as RGB bytes (width × height × 3) of `image` with the h×w `cam` placed on `crop`
 * ([x, y, w, h] in image pixels; null = the whole image).
 *
 * @example const { data, width, height } = overlayRgb(raw, null, map, 8, 8);
 */
export function overlayRgb(image: GrayImage, crop: Box | null, cam: ArrayLike<number>, h: number, w: number, o: OverlayOptions = {}): { data: Uint8Array; width: number; height: number } {
  const s = Math.min(1, (o.maxSide ?? 1024) / Math.max(image.width, image.height));
  const W = Math.max(1, Math.round(image.width * s)), H = Math.max(1, Math.round(image.height * s));
  const grey = resizeBilinear(clipScale(image), W, H).data;
  const [cx, cy, cw, ch] = crop ?? [0, 0, image.width, image.height];
  const x0 = Math.round(cx * s), y0 = Math.round(cy * s);
  const rw = Math.max(1, Math.min(W - x0, Math.round(cw * s))), rh = Math.max(1, Math.min(H - y0, Math.round(ch * s)));
  let mx = 0;
  for (let i = 0; i < h * w; i++) mx = Math.max(mx, cam[i]!);
  const norm = Float32Array.from({ length: h * w }, (_, i) => (mx > 0 ? cam[i]! / mx : 0));
  const up = resizeBilinear({ width: w, height: h, data: norm }, rw, rh).data;
  const alpha = o.alpha ?? 0.6;
  const out = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const g = grey[y * W + x]!;
      const inside = x >= x0 && x < x0 + rw && y >= y0 && y < y0 + rh;
      const v = inside ? up[(y - y0) * rw + (x - x0)]! : 0;
      const a = alpha * v;
      const col = jet(v);
      for (let c = 0; c < 3; c++) out[(y * W + x) * 3 + c] = Math.round(255 * ((1 - a) * g + a * col[c]!));
    }
  }
  return { data: out, width: W, height: H };
}

/**
 * Writes the overlay PNG (see overlayRgb).
 *
 * @example await writeOverlay('heatmaps/P_1.png', raw, crop, map, cam.h, cam.w);
 */
export async function writeOverlay(file: string, image: GrayImage, crop: Box | null, cam: ArrayLike<number>, h: number, w: number, o: OverlayOptions = {}): Promise<void> {
  const { data, width, height } = overlayRgb(image, crop, cam, h, w, o);
  const png = await sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { raw: { width, height, channels: 3 } }).png({ compressionLevel: 9 }).toBuffer();
  // through a temporary file and a rename: sharp's toFile cut by a full disk left a truncated or
  // empty PNG under the overlay's name, beside the complete ones
  atomicWriteFile(file, png);
}
