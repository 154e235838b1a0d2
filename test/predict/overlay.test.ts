// Grad-CAM overlays against references written outside overlay.ts: (1) jet is matplotlib's jet,
// its segment data interpolated (numbers printed by matplotlib 3.6.3, np.interp over
// matplotlib._cm._jet_data); (2) overlayRgb puts the map, normalised to its maximum, on the crop
// rectangle (scaled with the film by maxSide), upsampled bilinearly with half-pixel centres
// (PyTorch's F.interpolate(mode='bilinear', align_corners=False), cv2.resize), and leaves the
// film bare outside the crop. The Grad-CAM maps themselves are checked in gradcam.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { jet, overlayRgb } from '../../ts/predict/overlay';

test('jet is matplotlib\'s jet (its segment data), not an approximation of it', () => {
  const want: [number, [number, number, number]][] = [
    [0, [0, 0, 0.5]], [0.05, [0, 0, 0.727273]], [0.2, [0, 0.3, 1]], [0.3, [0, 0.7, 1]], [0.375, [0.080645, 1, 0.887097]],
    [0.5, [0.483871, 1, 0.483871]], [0.625, [0.887097, 1, 0.080645]], [0.7, [1, 0.777778, 0]], [0.8, [1, 0.407407, 0]],
    [0.875, [1, 0.12963, 0]], [0.95, [0.727273, 0, 0]], [1, [0.5, 0, 0]],
  ];
  for (const [v, rgb] of want) {
    const got = jet(v);
    // the formula 1.5 − |4v − k| that stood here differed from matplotlib's jet by up to 0.13 (v = 0.875: green 0 for 0.13)
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(got[c] - rgb[c]) < 1e-5, `jet(${v})[${c}] = ${got[c]}, matplotlib ${rgb[c]}`);
  }
  assert.equal(jet(-1), jet(0), 'below 0: the colour of 0');
  assert.equal(jet(2), jet(1), 'above 1: the colour of 1');
});

/** F.interpolate(bilinear, align_corners=False) of one output pixel, written from its definition. */
function bilinearAt(src: number[], h: number, w: number, H: number, W: number, x: number, y: number): number {
  const fx = Math.min(Math.max((x + 0.5) * (w / W) - 0.5, 0), w - 1), fy = Math.min(Math.max((y + 0.5) * (h / H) - 0.5, 0), h - 1);
  const x0 = Math.floor(fx), y0 = Math.floor(fy), x1 = Math.min(x0 + 1, w - 1), y1 = Math.min(y0 + 1, h - 1);
  const ax = fx - x0, ay = fy - y0;
  const at = (i: number, j: number) => src[i * w + j];
  return (1 - ay) * ((1 - ax) * at(y0, x0) + ax * at(y0, x1)) + ay * ((1 - ax) * at(y1, x0) + ax * at(y1, x1));
}

test('overlayRgb: the map, normalised to its maximum, upsampled half-pixel onto the crop scaled with the film; bare film elsewhere', () => {
  // 80×60 film, left half 0 and right half 1 (so the 2–98 % clip keeps it as is); maxSide 40
  // halves it: grey 0 for x < 20, 1 from 20 on. Crop [20, 12, 32, 24] → [10, 6, 16, 12] on the PNG.
  const data = new Float32Array(80 * 60).map((_, i) => (i % 80 < 40 ? 0 : 1));
  const cam = [0, 2, 1, 4, 0, 3]; // 2×3, maximum 4
  const alpha = 0.5;
  const o = overlayRgb({ width: 80, height: 60, data }, [20, 12, 32, 24], cam, 2, 3, { maxSide: 40, alpha });
  assert.equal([o.width, o.height], [40, 30]);
  const norm = cam.map((v) => v / 4);
  let inside = 0;
  for (let y = 0; y < 30; y++) {
    for (let x = 0; x < 40; x++) {
      const g = x < 20 ? 0 : 1;
      const isIn = x >= 10 && x < 26 && y >= 6 && y < 18;
      const v = isIn ? bilinearAt(norm, 2, 3, 12, 16, x - 10, y - 6) : 0;
      if (isIn) inside++;
      const a = alpha * v, col = jet(v);
      for (let c = 0; c < 3; c++) {
        const want = Math.round(255 * ((1 - a) * g + a * col[c]));
        const got = o.data[(y * 40 + x) * 3 + c];
        assert.ok(Math.abs(got - want) <= 1, `pixel (${x}, ${y}) channel ${c}: ${got}, want ${want}`);
      }
    }
  }
  assert.is(inside, 16 * 12);
  // the hottest cell's corner: v = 1 at the crop's bottom-left pixel, drawn in jet(1) at opacity alpha
  const bl = (17 * 40 + 10) * 3;
  assert.equal(Array.from(o.data.subarray(bl, bl + 3)), jet(1).map((c) => Math.round(255 * alpha * c)));
  // a zero map leaves the bare film
  const z = overlayRgb({ width: 80, height: 60, data }, [20, 12, 32, 24], [0, 0, 0, 0, 0, 0], 2, 3, { maxSide: 40 });
  for (let i = 0; i < 40 * 30; i++) assert.equal(Array.from(z.data.subarray(3 * i, 3 * i + 3)), Array(3).fill(i % 40 < 20 ? 0 : 255));
});

test.run();
