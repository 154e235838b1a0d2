/**
 * The authors' preprocessing (paper.md §1.7, `utils_data.loader` / `get_box` / `find_bboxes`):
 * (MONOCHROME1 already inverted by the decoder) → clip the whole image to its 2nd–98th
 * percentile and scale to [0,1] → lung box = union of the bounding rectangles of the mask's
 * two largest regions → grow it by 5 % (split over both sides) → make it square with real
 * pixels on the shorter side → bilinear resize (cv2.resize) to size² → later, 3 channels and
 * ImageNet mean/std (`toInput`). Boxes are [x, y, w, h] in pixels, as cv2.boundingRect.
 */
import { MdmtError, show } from '../errors';
import { GrayImage } from './image';

export type Box = [x: number, y: number, w: number, h: number];
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/**
 * numpy.percentile (linear interpolation) of several q in [0,100], exact. Integer-valued data
 * in a modest range goes through a histogram (O(n)); anything else through a sorted copy.
 *
 *   const [lo, hi] = percentiles(img.data, [2, 98]);
 */
export function percentiles(data: ArrayLike<number>, qs: number[]): number[] {
  const n = data.length;
  if (n === 0) return qs.map(() => NaN);
  let lo = Infinity;
  let hi = -Infinity;
  let ints = true;
  for (let i = 0; i < n; i++) {
    const v = data[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    if (ints && v !== Math.floor(v)) ints = false;
  }
  let kth: (k: number) => number;
  if (ints && hi - lo < 1 << 20) {
    const hist = new Uint32Array(hi - lo + 1);
    for (let i = 0; i < n; i++) hist[data[i] - lo]++;
    const cum = new Float64Array(hist.length);
    let c = 0;
    for (let i = 0; i < hist.length; i++) cum[i] = c += hist[i];
    kth = (k) => {
      let a = 0;
      let b = cum.length - 1; // first bin whose cumulative count exceeds k
      while (a < b) {
        const m = (a + b) >> 1;
        if (cum[m] > k) b = m;
        else a = m + 1;
      }
      return lo + a;
    };
  } else {
    const sorted = Float64Array.from(data as ArrayLike<number>).sort();
    kth = (k) => sorted[k];
  }
  return qs.map((q) => {
    const pos = (q / 100) * (n - 1);
    const k = Math.floor(pos);
    const f = pos - k;
    const a = kth(k);
    return f === 0 || k + 1 >= n ? a : a + f * (kth(k + 1) - a);
  });
}

/**
 * Clips to the [pLo, pHi] percentiles and scales that range to [0,1] (a flat image gives 0).
 *
 *   const unit = clipScale(img);            // 2–98 % as the paper
 */
export function clipScale(img: GrayImage, pLo = 2, pHi = 98): GrayImage {
  const [lo, hi] = percentiles(img.data, [pLo, pHi]);
  const out = img.data.slice();
  clipInPlace(out, lo, hi);
  return { width: img.width, height: img.height, data: out };
}

/**
 * Bounding rectangles [x,y,w,h] of the 8-connected regions of `mask > 0` (what cv2's external
 * contours + boundingRect give for filled masks), largest area first. Works on row runs with
 * union-find: a run joins every run of the previous row that overlaps it or touches a corner.
 */
export function regionBoxes(mask: GrayImage): Box[] {
  const { width: W, height: H, data } = mask;
  const parent: number[] = [];
  const box: number[][] = []; // per run: x0, y0, x1, y1
  const find = (a: number): number => {
    while (parent[a] !== a) a = parent[a] = parent[parent[a]];
    return a;
  };
  let prev: number[] = []; // [start, end, id] triples of the previous row
  for (let y = 0; y < H; y++) {
    const cur: number[] = [];
    const o = y * W;
    let x = 0;
    let p = 0;
    while (x < W) {
      if (!(data[o + x] > 0)) {
        x++;
        continue;
      }
      const s = x;
      while (x < W && data[o + x] > 0) x++;
      const e = x - 1;
      const id = parent.length;
      parent.push(id);
      box.push([s, y, e, y]);
      while (p < prev.length && prev[p + 1] < s - 1) p += 3; // runs ending left of s−1 cannot touch
      for (let q = p; q < prev.length && prev[q] <= e + 1; q += 3) {
        const a = find(prev[q + 2]);
        const b = find(id);
        if (a !== b) parent[b] = a;
      }
      cur.push(s, e, id);
    }
    prev = cur;
  }
  const acc = new Map<number, number[]>();
  for (let i = 0; i < parent.length; i++) {
    const r = find(i);
    const b = box[i];
    const a = acc.get(r);
    if (!a) acc.set(r, b.slice());
    else {
      if (b[0] < a[0]) a[0] = b[0];
      if (b[1] < a[1]) a[1] = b[1];
      if (b[2] > a[2]) a[2] = b[2];
      if (b[3] > a[3]) a[3] = b[3];
    }
  }
  return [...acc.values()].map((b) => [b[0], b[1], b[2] - b[0] + 1, b[3] - b[1] + 1] as Box).sort((a, b) => b[2] * b[3] - a[2] * a[3]);
}

/**
 * The lung box: the union of the two largest regions' rectangles (one region: its own), or
 * null for an empty mask (`find_bboxes` / `find_max_left_right`).
 *
 *   const box = lungBox(mask);   // [x, y, w, h] | null
 */
export function lungBox(mask: GrayImage): Box | null {
  const b = regionBoxes(mask).slice(0, 2);
  if (b.length === 0) return null;
  const x0 = Math.min(...b.map((r) => r[0]));
  const y0 = Math.min(...b.map((r) => r[1]));
  const x1 = Math.max(...b.map((r) => r[0] + r[2]));
  const y1 = Math.max(...b.map((r) => r[1] + r[3]));
  return [x0, y0, x1 - x0, y1 - y0];
}

/** A box is [x, y, w, h]: 4 finite numbers with w, h > 0 (whether it meets the image is boxOnImage's question). */
export function isBox(b: unknown): b is Box {
  return Array.isArray(b) && b.length === 4 && b.every(Number.isFinite) && b[2] > 0 && b[3] > 0;
}

/**
 * A given lung box (a box sheet's, or predict's `box`) on a W×H image: the part inside the
 * image, with a note when some of it lay outside (it is clipped, not refused: a sheet's box a
 * pixel past the edge is common). Refuses (EDATA) a box that is not 4 finite numbers with w, h > 0,
 * or that misses the image: a NaN box gave an all-NaN input and a box past the edge an
 * all-zero one, each scored as if it were a film.
 *
 *   boxOnImage([-4, 10, 40, 30], 64, 72) // { box: [0, 10, 36, 30], note: 'lung box [-4,10,40,30] ...' }
 */
export function boxOnImage(b: Box, W: number, H: number): { box: Box; note?: string } {
  if (!isBox(b))
    throw new MdmtError('EDATA', 'preprocess', `lung box ${show(b)} is not [x, y, w, h] with finite numbers, w > 0 and h > 0`);
  const x0 = Math.max(0, b[0]), y0 = Math.max(0, b[1]), x1 = Math.min(W, b[0] + b[2]), y1 = Math.min(H, b[1] + b[3]);
  if (!(x1 > x0 && y1 > y0)) throw new MdmtError('EDATA', 'preprocess', `lung box ${show(b)} ([x, y, w, h]) lies outside the ${W}x${H} image`);
  // a box inside is kept as given: recomputing its width as (x + w) − x rounds fractional boxes
  // ([10.1, 12.3, 30.7, 40.2] → w 30.699999999999996), which were noted as clipped
  if (b[0] >= 0 && b[1] >= 0 && b[0] + b[2] <= W && b[1] + b[3] <= H) return { box: [...b] as Box };
  const box: Box = [x0, y0, x1 - x0, y1 - y0];
  return { box, note: `lung box ${show(b)} extends past the ${W}x${H} image: clipped to ${show(box)}` };
}

/**
 * `get_box` with masked=False: grow by `borderPct` % of each side (half each way, cut at the
 * image edge), then widen the shorter side to a square with real pixels, shifted inward at
 * an edge and cut where the image ends. Returns the crop rectangle [x, y, w, h].
 */
export function squareCrop(box: Box, W: number, H: number, borderPct = 5): Box {
  let [x, y, w, h] = box.map((v) => Math.trunc(v)) as Box;
  if (borderPct !== 0) {
    let aw = Math.floor(Math.floor((w * borderPct) / 100) / 2);
    let ah = Math.floor(Math.floor((h * borderPct) / 100) / 2);
    if (x - aw < 0) aw -= Math.abs(x - aw);
    if (x + w + aw > W) aw -= Math.abs(x + w + aw - W);
    if (y - ah < 0) ah -= Math.abs(y - ah);
    if (y + h + ah > H) ah -= Math.abs(y + h + ah - H);
    // paper.md §1.7: the 5 % is split over both sides, as the authors' get_box does
    x -= aw;
    y -= ah;
    w += 2 * aw;
    h += 2 * ah;
  }
  const diff = Math.abs(w - h);
  let after = Math.ceil(diff / 2);
  let before = Math.floor(diff / 2);
  // The authors' get_box, widening a box that reaches the right edge, computes the overflow
  // against img_h where it means img_w (a typo: on a non-square image such a crop comes out
  // shifted or cut short); we use the side that is widened.
  const grow = (p: number, len: number, lim: number): [number, number] => {
    if (p < before) {
      const s = before - p;
      before -= s;
      after += s;
    } else if (p + len + after > lim) {
      const s = p + len + after - lim;
      before += s;
      after -= s;
    }
    const a = Math.max(0, p - before);
    const b = Math.min(lim, p + len + after);
    return [a, b - a];
  };
  if (w < h) {
    const [nx, nw] = grow(x, w, W);
    return [nx, y, nw, h];
  }
  if (h < w) {
    const [ny, nh] = grow(y, h, H);
    return [x, ny, w, nh];
  }
  return [x, y, w, h];
}

/** Copies the rectangle [x,y,w,h] (clamped to the image) out of `img`. */
export function crop(img: GrayImage, r: Box): GrayImage {
  const x0 = Math.max(0, r[0]);
  const y0 = Math.max(0, r[1]);
  const w = Math.max(1, Math.min(img.width, r[0] + r[2]) - x0);
  const h = Math.max(1, Math.min(img.height, r[1] + r[3]) - y0);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) out.set(img.data.subarray((y0 + y) * img.width + x0, (y0 + y) * img.width + x0 + w), y * w);
  return { width: w, height: h, data: out };
}

/**
 * Bilinear resize with cv2.resize (INTER_LINEAR) pixel-centre alignment:
 * src = (dst + 0.5)·scale − 0.5, clamped at the borders.
 */
export function resizeBilinear(img: GrayImage, W: number, H: number): GrayImage {
  const sx = img.width / W;
  const sy = img.height / H;
  const out = new Float32Array(W * H);
  const x0s = new Int32Array(W);
  const x1s = new Int32Array(W);
  const fxs = new Float32Array(W);
  for (let x = 0; x < W; x++) {
    const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), img.width - 1);
    x0s[x] = Math.floor(fx);
    x1s[x] = Math.min(x0s[x] + 1, img.width - 1);
    fxs[x] = fx - x0s[x];
  }
  const src = img.data;
  for (let y = 0; y < H; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), img.height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, img.height - 1);
    const wy = fy - y0;
    const r0 = y0 * img.width;
    const r1 = y1 * img.width;
    for (let x = 0; x < W; x++) {
      const a = src[r0 + x0s[x]] + fxs[x] * (src[r0 + x1s[x]] - src[r0 + x0s[x]]);
      const b = src[r1 + x0s[x]] + fxs[x] * (src[r1 + x1s[x]] - src[r1 + x0s[x]]);
      out[y * W + x] = a + wy * (b - a);
    }
  }
  return { width: W, height: H, data: out };
}

/** Nearest-neighbour resize (masks to the image size). */
export function resizeNearest(img: GrayImage, W: number, H: number): GrayImage {
  const out = new Float32Array(W * H);
  for (let y = 0; y < H; y++) {
    const sy = Math.min(img.height - 1, Math.floor(((y + 0.5) * img.height) / H));
    for (let x = 0; x < W; x++) out[y * W + x] = img.data[sy * img.width + Math.min(img.width - 1, Math.floor(((x + 0.5) * img.width) / W))];
  }
  return { width: W, height: H, data: out };
}

export interface PreprocessOptions {
  /** output side (default 256) */
  size?: number;
  /** percentile clip (default [2, 98]) */
  clip?: [number, number];
  /** lung box margin in percent (default 5) */
  borderPct?: number;
}
export interface Preprocessed {
  image: GrayImage;
  /** the crop rectangle used, or null when the whole image was used */
  crop: Box | null;
  warning?: string;
}

/**
 * Clip + lung crop + resize. `mask` (any size; resized to the image) wins over `box` (an
 * [x,y,w,h] in image pixels, e.g. from a box sheet; clipped to the image with a warning,
 * refused when it misses it: `boxOnImage`); with neither, or an empty mask, the whole image is
 * resized and a warning is returned. An image that one value fills between the clip
 * percentiles comes out blank (all 0), with a warning.
 *
 *   const { image } = preprocess(await readImage(f), { mask: await readImage(m) }, { size: 256 });
 */
/** Width:height (or height:width) beyond which a whole image stretched to the square input is warned about. */
export const MAX_ASPECT = 3;

export function preprocess(img: GrayImage, src: { mask?: GrayImage; box?: Box }, opts: PreprocessOptions = {}): Preprocessed {
  const size = opts.size ?? 256;
  const [pl, ph] = opts.clip ?? [2, 98];
  let box: Box | null = null;
  let warning: string | undefined;
  if (src.mask) {
    const m = src.mask.width === img.width && src.mask.height === img.height ? src.mask : resizeNearest(src.mask, img.width, img.height);
    box = lungBox(m);
    if (!box) warning = 'lung mask is empty: using the whole image';
    // masks of another resolution are stretched onto the image (segmentation outputs often are);
    // the image's size turned by 90° is a mix-up (or an EXIF-rotated image), said not hidden
    else if (src.mask.width !== src.mask.height && src.mask.width === img.height && src.mask.height === img.width)
      warning = `lung mask is ${src.mask.width}×${src.mask.height}, the image ${img.width}×${img.height} (turned by 90°?): the mask was stretched onto the image`;
  } else if (src.box) {
    ({ box, note: warning } = boxOnImage(src.box, img.width, img.height));
  } else {
    warning = 'no lung mask or box: using the whole image';
  }
  if (box && (box[2] < 2 || box[3] < 2)) {
    warning = [warning, `lung box ${JSON.stringify(box)} is degenerate: using the whole image`].filter(Boolean).join('; ');
    box = null;
  }
  const rect = box ? squareCrop(box, img.width, img.height, opts.borderPct ?? 5) : null;
  // the whole image goes to a square: a 16×20000 strip was scored as a film without a word
  const aspect = Math.max(img.width, img.height) / Math.min(img.width, img.height);
  if (!rect && aspect > MAX_ASPECT) warning = [warning, `the image is ${img.width}×${img.height} (${aspect.toFixed(1)}:1), stretched to a square: a chest radiograph is near square`].filter(Boolean).join('; ');
  // percentiles of the whole image; the clip is pointwise, so applying it after the crop is the same
  const [lo, hi] = percentiles(img.data, [pl, ph]);
  // not a constant image (refused when read), but one value fills the percentile range: the clip makes it blank
  if (!(hi > lo)) warning = [warning, `the ${pl}–${ph} % percentile clip leaves it blank (all 0): one value (${lo}) fills that range`].filter(Boolean).join('; ');
  const cut = rect ? crop(img, rect) : { ...img, data: img.data.slice() };
  clipInPlace(cut.data, lo, hi);
  return { image: resizeBilinear(cut, size, size), crop: rect, warning };
}

function clipInPlace(d: Float32Array, lo: number, hi: number): void {
  const r = hi - lo;
  if (!(r > 0)) return void d.fill(0);
  const s = 1 / r;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    d[i] = v <= lo ? 0 : v >= hi ? 1 : (v - lo) * s;
  }
}

/**
 * Stacks a [0,1] grey image into 3 channels (C×H×W) at `out[offset..]`, with ImageNet
 * mean/std unless `normalize` is false.
 */
export function toInput(img: GrayImage, out: Float32Array, offset = 0, normalize = true): void {
  const n = img.width * img.height;
  for (let c = 0; c < 3; c++) {
    const m = normalize ? IMAGENET_MEAN[c] : 0;
    const s = normalize ? 1 / IMAGENET_STD[c] : 1;
    const o = offset + c * n;
    for (let i = 0; i < n; i++) out[o + i] = (img.data[i] - m) * s;
  }
}
