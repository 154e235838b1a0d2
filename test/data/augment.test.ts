import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyAugment, augment, drawAugment, hflip, IDENTITY, rotate } from '../../ts/data/augment';
import { GrayImage } from '../../ts/data/image';
import { rng } from '../../ts/data/rng';

const S = 48;
const noise = (seed: number): GrayImage => {
  const r = rng(seed);
  return { width: S, height: S, data: Float32Array.from({ length: S * S }, () => r.next()) };
};
const marked = (x: number, y: number, n = S): GrayImage => {
  const d = new Float32Array(n * n);
  d[y * n + x] = 1;
  return { width: n, height: n, data: d };
};
const argmax = (im: GrayImage) => {
  let b = 0;
  for (let i = 1; i < im.data.length; i++) if (im.data[i] > im.data[b]) b = i;
  return [b % im.width, Math.floor(b / im.width)];
};

test('same (seed, sample, epoch) → same augmentation; another epoch or sample → another', () => {
  const im = noise(1);
  const a = augment(im, { seed: 0, key: 'P_12', epoch: 3 });
  const b = augment(im, { seed: 0, key: 'P_12', epoch: 3 });
  assert.equal(a.data, b.data);
  assert.equal(drawAugment(S, { seed: 0, key: 'P_12', epoch: 3 }), drawAugment(S, { seed: 0, key: 'P_12', epoch: 3 }));
  const draws = Array.from({ length: 20 }, (_, e) => JSON.stringify(drawAugment(S, { seed: 0, key: 'P_12', epoch: e })));
  assert.ok(new Set(draws).size > 15, 'epochs differ');
  assert.not.equal(drawAugment(S, { seed: 0, key: 'P_13', epoch: 3 }), drawAugment(S, { seed: 0, key: 'P_12', epoch: 3 }));
});

test('zero strength and all-disabled are the identity', () => {
  const im = noise(2);
  for (let e = 0; e < 10; e++) {
    assert.equal(augment(im, { seed: 1, key: e, epoch: e }, { strength: 0 }).data, im.data);
    const off = { shift: true, zoom: true, flip: true, rotate: true, elastic: true };
    assert.equal(augment(im, { seed: 1, key: e, epoch: e }, { disable: off }).data, im.data);
  }
  assert.equal(applyAugment(im, IDENTITY).data, im.data);
});

test('each step fires with p = 0.5 and draws within the paper ranges', () => {
  const n = 2000;
  const fired = { shift: 0, zoom: 0, flip: 0, angle: 0, elastic: 0 };
  for (let i = 0; i < n; i++) {
    const p = drawAugment(256, { seed: 5, key: i, epoch: 0 });
    if (p.shift) { fired.shift++; assert.ok(Math.abs(p.shift[0]) <= 25 && Math.abs(p.shift[1]) <= 25); }
    if (p.zoom !== null) { fired.zoom++; assert.ok(p.zoom >= 0.9 && p.zoom <= 1.1); }
    if (p.flip) fired.flip++;
    if (p.angle !== null) { fired.angle++; assert.ok(Math.abs(p.angle) <= 10); }
    if (p.elastic) { fired.elastic++; assert.ok(p.elastic.alpha >= 20 && p.elastic.alpha <= 40 && p.elastic.sigma === 7); }
  }
  for (const [k, c] of Object.entries(fired)) assert.ok(Math.abs(c / n - 0.5) < 0.05, `${k} fired ${c}/${n}`);
});

test('geometry: flip twice is the identity, flip mirrors a marked pixel', () => {
  const im = noise(3);
  assert.equal(hflip(hflip(im)).data, im.data);
  assert.equal(argmax(hflip(marked(5, 9))), [S - 1 - 5, 9]);
});

test('geometry: rotation moves a marked pixel counter-clockwise about the centre', () => {
  const c = (S - 1) / 2; // 23.5
  // 90° CCW (cv2 convention, y down): a point right of centre goes above it
  assert.equal(argmax(rotate(marked(40, 23.5 + 0.5, S), 90)), [24, 7]);
  // 10°: (x, y) → (c + cos·dx + sin·dy, c − sin·dx + cos·dy); bilinear spreads the mark, its peak is the nearest pixel
  const th = (10 * Math.PI) / 180;
  const [x, y] = [44, 24];
  const want = [Math.round(c + Math.cos(th) * (x - c) + Math.sin(th) * (y - c)), Math.round(c - Math.sin(th) * (x - c) + Math.cos(th) * (y - c))];
  assert.equal(argmax(rotate(marked(x, y), 10)), want);
  const ones: GrayImage = { width: S, height: S, data: new Float32Array(S * S).fill(1) };
  const r = rotate(ones, 10);
  assert.is(r.data[0], 0, 'corners rotate in from outside: 0');
  assert.is(r.data[24 * S + 24], 1);
});

test('geometry: shift repeats edge pixels, zoom-out pads with 0', () => {
  const ramp: GrayImage = { width: S, height: S, data: Float32Array.from({ length: S * S }, (_, i) => i % S) };
  const s = applyAugment(ramp, { ...IDENTITY, shift: [3, 0] });
  assert.equal(Array.from(s.data.subarray(0, 6)), [0, 0, 0, 0, 1, 2]);
  const ones: GrayImage = { width: S, height: S, data: new Float32Array(S * S).fill(1) };
  const z = applyAugment(ones, { ...IDENTITY, zoom: 0.9 });
  assert.is(z.data[0], 0);
  assert.is(z.data[24 * S + 24], 1);
  const zi = applyAugment(ones, { ...IDENTITY, zoom: 1.1 });
  assert.ok(zi.data.every((v) => v === 1), 'zoom-in keeps the frame filled');
});

test('elastic deformation is smooth and bounded', () => {
  const ramp: GrayImage = { width: 64, height: 64, data: Float32Array.from({ length: 64 * 64 }, (_, i) => i % 64) };
  const e = applyAugment(ramp, { ...IDENTITY, elastic: { alpha: 40, sigma: 7, seed: 9 } });
  let maxd = 0, sum = 0;
  for (let i = 0; i < e.data.length; i++) {
    const d = Math.abs(e.data[i] - ramp.data[i]);
    maxd = Math.max(maxd, d);
    sum += d;
  }
  // uniform(−1,1) blurred with σ = 7 has std ≈ 0.58/(2√π·7) ≈ 0.023; × α = 40 → ~1 px
  assert.ok(sum / e.data.length > 0.1 && maxd < 8, `mean |Δ| ${sum / e.data.length}, max ${maxd}`);
});

test.run();
