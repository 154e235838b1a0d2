/**
 * One sample's work, shared by the worker threads and the in-process path: (cache or decode
 * + preprocess) → augment → 3 channels (+ ImageNet mean/std) written straight into the batch
 * buffer. The preprocessed image is cached as uint16 ([0,1] × 65535, error < 1e-5) in shared
 * memory (and optionally on disk, with a checksum), so later epochs skip decoding.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { makeDirs } from '../dirs';
import { MdmtError } from '../errors';
import { AugmentParams, applyAugment } from './augment';
import { GrayImage, readImage } from './image';
import { Box, preprocess, PreprocessOptions, toInput, type Preprocessed } from './preprocess';

export interface SampleTask {
  id: string;
  image: string;
  mask?: string;
  box?: Box;
  size: number;
  pre: PreprocessOptions;
  /** cached preprocessed pixels (uint16 in a SharedArrayBuffer), if any */
  cached?: SharedArrayBuffer;
  /** return the preprocessed pixels for the memory cache */
  wantCache: boolean;
  cacheDir?: string;
  aug: AugmentParams | null;
  normalize: boolean;
  /** also return the decoded image and its crop (prediction overlays); decodes even when cached */
  keepDecoded?: boolean;
  /** batch image buffer (float32, N×3×S×S) and this sample's element offset */
  out: SharedArrayBuffer;
  offset: number;
}
export interface SampleResult {
  cache?: SharedArrayBuffer;
  warning?: string;
  fromDisk?: boolean;
  /** with keepDecoded: the image as decoded and the crop preprocessing took from it */
  decoded?: DecodedSample;
}
export interface DecodedSample { raw: GrayImage; crop: Box | null }

/**
 * What the decoders make of an unchanged file: bumped when they change (a file cached by an
 * older mdmt must be decoded again, not served stale). 2: raster images follow their EXIF
 * orientation. 3: multi-page TIFF and animated WebP are refused (they were read as page 1).
 * 4: files are decoded by content; a GIF named .png (read before) is refused. 5: a raster's
 * embedded ICC profile is not applied (its stored values, as PIL and cv2 read them). 6: colour
 * rasters are made grey with PIL's and cv2's weights (was sharp's linear-light luminance).
 * 7: a RescaleSlope/RescaleIntercept of several differing values and a colour JPEG baseline
 * frame under a grey header are refused (read before: the first value; sharp's luminance).
 */
export const DECODER_VERSION = 7;

/**
 * Disk-cache file name: a hash of everything that changes the preprocessed pixels, the image
 * and mask files' size, modification time and status-change time included (an edited file is
 * decoded again, also one replaced by `cp -p` or `touch -r`, which keep the size and set the
 * old mtime back: only the ctime shows it), DECODER_VERSION and the file layout (CACHE_LAYOUT).
 */
export function cacheKey(t: Pick<SampleTask, 'image' | 'mask' | 'box' | 'size' | 'pre'>): string {
  const stamp = (f?: string) => {
    if (!f) return '';
    try {
      const st = fs.statSync(f);
      return `${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    } catch {
      return 'missing';
    }
  };
  const h = crypto.createHash('sha1')
    .update(JSON.stringify([DECODER_VERSION, CACHE_LAYOUT, path.resolve(t.image), stamp(t.image), t.mask ?? '', stamp(t.mask), t.box ?? '', t.size, t.pre]))
    .digest('hex');
  return `${h.slice(0, 20)}.u16`;
}

/**
 * A disk-cache file: the preprocessed pixels as uint16 (S·S·2 bytes), then the first
 * CHECKSUM_BYTES of the SHA-1 of the pixels and the warning, then the preprocessing's warning
 * (UTF-8, empty for none: an image read from the cache says what its decoding said, so every
 * run of a sweep names the images without a lung mask, not only the first). A file whose bytes
 * are not the ones written (a machine that crashed before the disk had them: zeros, or another
 * file's blocks) fails the checksum and is decoded again instead of training on a black or
 * foreign image.
 */
const CACHE_LAYOUT = 'u16+sha1/8+warning';
const CHECKSUM_BYTES = 8;
const checksum = (pixels: Uint8Array, warning: Uint8Array): Buffer =>
  crypto.createHash('sha1').update(pixels).update(warning).digest().subarray(0, CHECKSUM_BYTES);

/** The bytes of a cache file: pixels, checksum, warning. */
function cacheFileBytes(pixels: Uint8Array, warning: string | undefined): Buffer {
  const w = Buffer.from(warning ?? '', 'utf8');
  return Buffer.concat([pixels, checksum(pixels, w), w]);
}

/** The pixels and warning of a cache file's bytes, or undefined when the file is not whole (too short, wrong checksum). */
function readCacheFile(b: Buffer, n: number): { sab: SharedArrayBuffer; warning?: string } | undefined {
  if (b.length < n * 2 + CHECKSUM_BYTES) return undefined;
  const pixels = b.subarray(0, n * 2), w = b.subarray(n * 2 + CHECKSUM_BYTES);
  if (!checksum(pixels, w).equals(b.subarray(n * 2, n * 2 + CHECKSUM_BYTES))) return undefined;
  const sab = new SharedArrayBuffer(n * 2);
  new Uint8Array(sab).set(pixels);
  return w.length ? { sab, warning: w.toString('utf8') } : { sab };
}

function quantize(img: GrayImage): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(img.data.length * 2);
  const q = new Uint16Array(sab);
  for (let i = 0; i < q.length; i++) q[i] = Math.round(Math.min(1, Math.max(0, img.data[i])) * 65535);
  return sab;
}

// per-thread scratch images, reused by every sample of one size (large typed arrays are
// mmapped one by one; allocating them per sample costs page faults and TLB shootdowns that
// stop the worker pool from scaling)
const scratch = new Map<number, { deq: Float32Array; aug: Float32Array }>();
function scratchFor(size: number): { deq: Float32Array; aug: Float32Array } {
  let s = scratch.get(size);
  if (!s) scratch.set(size, (s = { deq: new Float32Array(size * size), aug: new Float32Array(size * size) }));
  return s;
}

function dequantize(sab: SharedArrayBuffer, size: number): GrayImage {
  const q = new Uint16Array(sab);
  const d = scratchFor(size).deq;
  for (let i = 0; i < q.length; i++) d[i] = q[i] / 65535;
  return { width: size, height: size, data: d };
}

/**
 * Runs one sample; throws MdmtError (naming the file) on bad input.
 *
 *   await runSample({ id, image, size: 256, pre: {}, wantCache: true, aug: null, normalize: true, out, offset: 0 });
 */
export async function runSample(t: SampleTask): Promise<SampleResult> {
  const res: SampleResult = {};
  let img: GrayImage | undefined;
  const n = t.size * t.size;
  if (t.cached && !t.keepDecoded) img = dequantize(t.cached, t.size);
  const diskFile = t.cacheDir ? path.join(t.cacheDir, cacheKey(t)) : undefined;
  if (!img && !t.keepDecoded && diskFile && fs.existsSync(diskFile)) {
    const hit = readCacheFile(fs.readFileSync(diskFile), n); // not whole: decoded again and rewritten below
    if (hit) {
      img = dequantize(hit.sab, t.size);
      res.cache = hit.sab;
      res.fromDisk = true;
      if (hit.warning) res.warning = `${t.image}: ${hit.warning}`;
    }
  }
  if (!img) {
    const raw = await readImage(t.image, { role: 'image' });
    let mask: GrayImage | undefined;
    if (t.mask) {
      mask = await readImage(t.mask).catch((e) => {
        throw e instanceof MdmtError ? new MdmtError(e.code, 'loadSample', `lung mask of ${t.image}: ${e.detail}`) : e;
      });
    }
    let p: Preprocessed;
    try {
      p = preprocess(raw, { mask, box: t.box }, { ...t.pre, size: t.size });
    } catch (e) {
      // a box that misses the image: name the image it was given for
      throw e instanceof MdmtError ? new MdmtError(e.code, 'loadSample', `${t.image}: ${e.detail}`) : e;
    }
    if (p.warning) res.warning = `${t.image}: ${p.warning}`;
    if (t.keepDecoded) res.decoded = { raw, crop: p.crop };
    // always through the uint16 form, so cached, uncached and disk-cached epochs see the same pixels
    const sab = quantize(p.image);
    if (t.wantCache) res.cache = sab;
    if (diskFile) {
      makeDirs(path.dirname(diskFile));
      const tmp = `${diskFile}.${process.pid}.${Math.random().toString(36).slice(2)}`;
      try {
        const pixels = new Uint8Array(sab);
        fs.writeFileSync(tmp, cacheFileBytes(pixels, p.warning));
        fs.renameSync(tmp, diskFile);
      } catch (e) {
        // a full disk: the temporary file would stay behind, holding what space was left
        fs.rmSync(tmp, { force: true });
        throw new MdmtError('EIO', 'loadSample', `cannot write the image cache file ${diskFile} (of ${t.image}): ${(e as Error).message}; free space there or give another cache directory`);
      }
    }
    img = dequantize(sab, t.size);
  }
  const final = t.aug ? applyAugment(img, t.aug, scratchFor(t.size).aug) : img;
  toInput(final, new Float32Array(t.out), t.offset, t.normalize);
  return res;
}
