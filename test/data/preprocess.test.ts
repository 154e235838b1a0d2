import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GrayImage } from '../../ts/data/image';
import { MdmtError } from '../../ts/errors';
import {
  boxOnImage, clipScale, crop, IMAGENET_MEAN, IMAGENET_STD, lungBox, percentiles, preprocess, regionBoxes, resizeBilinear, squareCrop, toInput,
} from '../../ts/data/preprocess';
import { rng } from '../../ts/data/rng';

/** numpy.percentile(linear) written from its definition on a sorted copy */
function refPercentile(v: number[], q: number): number {
  const s = [...v].sort((a, b) => a - b);
  const pos = (q / 100) * (s.length - 1);
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return s[lo] + (pos - lo) * (s[hi] - s[lo]);
}
const img = (w: number, h: number, f: (x: number, y: number) => number): GrayImage => {
  const d = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) d[y * w + x] = f(x, y);
  return { width: w, height: h, data: d };
};

test('percentiles equal numpy linear interpolation on a sorted reference (integer and float data)', () => {
  const r = rng(3);
  for (const n of [1, 2, 7, 100, 5001]) {
    const ints = Array.from({ length: n }, () => r.int(0, 4095));
    const floats = Array.from({ length: n }, () => r.normal() * 100);
    for (const q of [0, 2, 37.5, 50, 98, 100]) {
      assert.ok(Math.abs(percentiles(Float32Array.from(ints), [q])[0] - refPercentile(ints, q)) < 1e-9, `ints n=${n} q=${q}`);
      const f32 = Array.from(Float32Array.from(floats));
      assert.ok(Math.abs(percentiles(Float32Array.from(floats), [q])[0] - refPercentile(f32, q)) < 1e-6, `floats n=${n} q=${q}`);
    }
  }
});

test('clipScale: 2–98 % clip then [0,1]', () => {
  const im = img(100, 1, (x) => x); // 0..99: p2 = 1.98, p98 = 97.02
  const out = clipScale(im);
  assert.is(out.data[0], 0);
  assert.is(out.data[99], 1);
  assert.ok(Math.abs(out.data[50] - (50 - 1.98) / (97.02 - 1.98)) < 1e-6);
  assert.ok(clipScale(img(4, 4, () => 7)).data.every((v) => v === 0), 'a flat image gives zeros');
});

test('lung box on a drawn mask: union of the two largest regions, small specks ignored', () => {
  const m = img(120, 100, (x, y) => {
    if (x >= 10 && x < 40 && y >= 20 && y < 80) return 255; // right lung: x 10..39, y 20..79
    if (x >= 60 && x < 95 && y >= 15 && y < 70) return 255; // left lung: x 60..94, y 15..69
    if (x >= 100 && x < 103 && y >= 90 && y < 93) return 255; // a 3×3 speck
    return 0;
  });
  const boxes = regionBoxes(m);
  assert.equal(boxes, [[60, 15, 35, 55], [10, 20, 30, 60], [100, 90, 3, 3]]);
  assert.equal(lungBox(m), [10, 15, 85, 65]);
  // diagonal neighbours join one region (8-connectivity, like cv2 contours)
  const diag = img(4, 4, (x, y) => (x === y ? 1 : 0));
  assert.equal(regionBoxes(diag), [[0, 0, 4, 4]]);
  assert.is(lungBox(img(5, 5, () => 0)), null);
});

test('squareCrop: +5 % split over both sides, then square with real pixels, kept inside the image', () => {
  // box 100×60 at (50,100) in 400×400: +2 px each side in x (100·5/100/2), +1 px in y → 104×62
  // then the height grows by 42 (21 above, 21 below) → square 104×104
  assert.equal(squareCrop([50, 100, 100, 60], 400, 400), [48, 78, 104, 104]);
  // tall box: width grows
  assert.equal(squareCrop([100, 50, 40, 200], 400, 400, 0), [20, 50, 200, 200]);
  // near the left edge the extra columns are taken on the right (real pixels, not padding)
  assert.equal(squareCrop([5, 50, 40, 200], 400, 400, 0), [0, 50, 200, 200]);
  // a box wider than the image is tall: the square is cut at the image (as the authors')
  assert.equal(squareCrop([0, 10, 300, 30], 300, 100, 0), [0, 0, 300, 100]);
  const c = crop(img(10, 10, (x, y) => y * 10 + x), [2, 3, 4, 2]);
  assert.equal(Array.from(c.data), [32, 33, 34, 35, 42, 43, 44, 45]);
});

test('resizeBilinear: shape, constant images stay constant, cv2 pixel-centre alignment', () => {
  const r = resizeBilinear(img(50, 30, () => 0.25), 256, 256);
  assert.is(r.width, 256);
  assert.is(r.height, 256);
  assert.ok(r.data.every((v) => Math.abs(v - 0.25) < 1e-7));
  // 2× downscale of a ramp: dst x reads src 2x + 0.5 → mean of the pair
  const d = resizeBilinear(img(8, 1, (x) => x), 4, 1);
  assert.equal(Array.from(d.data), [0.5, 2.5, 4.5, 6.5]);
  // 2× upscale: src = (x + 0.5)/2 − 0.5, clamped at 0
  const u = resizeBilinear(img(2, 1, (x) => x * 4), 4, 1);
  assert.equal(Array.from(u.data), [0, 1, 3, 4]);
});

test('toInput: three channels with the ImageNet constants (or raw [0,1] when asked)', () => {
  assert.equal([...IMAGENET_MEAN], [0.485, 0.456, 0.406]);
  assert.equal([...IMAGENET_STD], [0.229, 0.224, 0.225]);
  const g = img(2, 1, (x) => x); // pixels 0 and 1
  const out = new Float32Array(6);
  toInput(g, out);
  const want = [0, 1, 2].flatMap((c) => [0, 1].map((v) => (v - IMAGENET_MEAN[c]) / IMAGENET_STD[c]));
  for (let i = 0; i < 6; i++) assert.ok(Math.abs(out[i] - want[i]) < 1e-6);
  toInput(g, out, 0, false);
  assert.equal(Array.from(out), [0, 1, 0, 1, 0, 1]);
});

test('preprocess: crop from the mask, resize to size, whole image with a warning when there is no mask', () => {
  const W = 200, H = 160;
  const im = img(W, H, (x, y) => (x >= 40 && x < 160 && y >= 30 && y < 130 ? 1000 + x : 10));
  const mask = img(W / 2, H / 2, (x, y) => ((x >= 25 && x < 45) || (x >= 55 && x < 75)) && y >= 20 && y < 60 ? 1 : 0); // half size
  const p = preprocess(im, { mask }, { size: 64 });
  assert.is(p.image.width, 64);
  assert.is(p.image.height, 64);
  assert.is(p.warning, undefined);
  assert.ok(p.crop && p.crop[2] === p.crop[3], 'square crop');
  assert.ok(p.crop![0] <= 50 && p.crop![0] + p.crop![2] >= 150, `crop ${p.crop} covers both lungs`);
  assert.ok(p.image.data.every((v) => v >= 0 && v <= 1));
  const q = preprocess(im, {}, { size: 32 });
  assert.is(q.crop, null);
  assert.match(q.warning!, /no lung mask/);
  assert.is(q.image.width, 32);
  const e = preprocess(im, { mask: img(W, H, () => 0) }, { size: 32 });
  assert.match(e.warning!, /empty/);
  const b = preprocess(im, { box: [40, 30, 120, 100] }, { size: 16 });
  assert.ok(b.crop && b.crop[2] === b.crop[3]);
  // a mask of the image's size turned by 90° is stretched as before, and said
  const turned = preprocess(im, { mask: img(H, W, (x, y) => (x > 20 && x < 140 && y > 40 && y < 160 ? 1 : 0)) }, { size: 16 });
  assert.is(turned.warning, 'lung mask is 160×200, the image 200×160 (turned by 90°?): the mask was stretched onto the image');
});

test('a whole image far from square (a 16×400 strip) is stretched to the square input with a warning; a crop from a box is not', () => {
  const strip = img(16, 400, (x, y) => (x + y) % 7);
  const p = preprocess(strip, {}, { size: 32 });
  assert.is(p.warning, 'no lung mask or box: using the whole image; the image is 16×400 (25.0:1), stretched to a square: a chest radiograph is near square');
  assert.is(preprocess(img(90, 30, (x) => x), {}, { size: 8 }).warning, 'no lung mask or box: using the whole image', '3:1 is not warned');
  assert.is(preprocess(strip, { box: [0, 100, 16, 16] }, { size: 8 }).warning, undefined, 'a square crop of it');
});

test('an image that one value fills between its 2nd and 98th percentiles: the blank input is said', () => {
  // 1 % bright specks on black passes the constant-image check, then the 2–98 % clip made the
  // whole input 0 without a word: a model trained or scored on a blank image
  const W = 100, H = 100;
  const specks = img(W, H, (x, y) => (x === 50 && y < 100 ? 4095 : 0));
  const box: [number, number, number, number] = [10, 10, 80, 80];
  const p = preprocess(specks, { box }, { size: 16 });
  assert.ok(p.image.data.every((v) => v === 0), 'the clip leaves nothing');
  assert.is(p.warning, 'the 2–98 % percentile clip leaves it blank (all 0): one value (0) fills that range');
  // joined to another warning; a narrow but real range keeps its contrast and says nothing
  assert.match(preprocess(specks, {}, { size: 16 }).warning!, /^no lung mask or box: using the whole image; the 2–98 % percentile clip leaves it blank/);
  const faint = img(W, H, (x) => 1000 + (x % 2));
  assert.is(preprocess(faint, { box }, { size: 16 }).warning, undefined);
});

test('a given lung box is clipped to the image (noted); one that misses it or is not a box is refused', () => {
  const im = img(64, 72, (x, y) => x + 3 * y);
  const refused = (box: number[], re: RegExp) => assert.throws(() => preprocess(im, { box: box as [number, number, number, number] }, { size: 16 }),
    (e: Error) => e instanceof MdmtError && e.code === 'EDATA' && re.test(e.message));
  // past the edge it cropped outside the image: an all-zero input, scored as a film
  refused([1000, 1000, 10, 10], /lung box \[1000,1000,10,10\] \(\[x, y, w, h\]\) lies outside the 64x72 image/);
  refused([-20, 0, 20, 10], /lies outside the 64x72 image/);
  // NaN gave an all-NaN input
  refused([NaN, 0, 10, 10], /lung box \[NaN,0,10,10\] is not \[x, y, w, h\] with finite numbers, w > 0 and h > 0/);
  refused([0, 0, -10, 10], /is not \[x, y, w, h\]/);
  const big = preprocess(im, { box: [0, 0, 1e9, 1e9] }, { size: 16 });
  assert.equal(big.crop, [0, 0, 64, 72]);
  assert.match(big.warning!, 'lung box [0,0,1000000000,1000000000] extends past the 64x72 image: clipped to [0,0,64,72]');
  assert.ok(big.image.data.some((v) => v > 0) && big.image.data.every(Number.isFinite));
  assert.equal(boxOnImage([-4, 10, 40, 30], 64, 72).box, [0, 10, 36, 30]);
  assert.equal(boxOnImage([4, 10, 40, 30], 64, 72), { box: [4, 10, 40, 30] }, 'a box inside: as given, no note');
  // fractional boxes inside the image (a detector's, in float pixels) were noted as clipped, their
  // width recomputed as (x + w) − x: [10.1, 12.3, 30.7, 40.2] → 30.699999999999996
  for (const b of [[10.1, 12.3, 30.7, 40.2], [0.1, 0.2, 0.3, 0.4], [5.3, 7.7, 20.1, 30.9], [0.2, 0.2, 0.5, 0.5]] as const)
    assert.equal(boxOnImage([...b], 64, 72), { box: [...b] }, `${JSON.stringify(b)} lies inside: as given, no note`);
  assert.equal(boxOnImage([60.1, 0, 10, 10], 64, 72).note, 'lung box [60.1,0,10,10] extends past the 64x72 image: clipped to [60.1,0,3.8999999999999986,10]');
});

test.run();
