import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { decodeDicom, readDicom } from '../../ts/data/dicom';
import { writeDicom, WriteSyntax } from '../../ts/data/dicomwrite';
import { readImage } from '../../ts/data/image';
import { jpegFrameInfo } from '../../ts/data/codecs';
import { inspectFile } from '../../ts/cli/inspect';
import sharp from 'sharp';
import { rejects, sharedData, tmpDir } from './_fixture';

const samples = sharedData('dicom-samples', 'dicom samples');
const stats = (d: Float32Array) => {
  let lo = Infinity, hi = -Infinity, s = 0;
  for (const v of d) { lo = Math.min(lo, v); hi = Math.max(hi, v); s += v; }
  return { lo, hi, mean: s / d.length };
};
/** mean over a rectangle given in fractions of the image */
function patch(img: { width: number; height: number; data: Float32Array }, x0: number, y0: number, x1: number, y1: number): number {
  let s = 0, n = 0;
  for (let y = Math.floor(y0 * img.height); y < y1 * img.height; y++)
    for (let x = Math.floor(x0 * img.width); x < x1 * img.width; x++) { s += img.data[y * img.width + x]; n++; }
  return s / n;
}
/** chest radiographs displayed correctly: lung fields darker than the mediastinum/spine */
const lungsDark = (img: Parameters<typeof patch>[0]) =>
  (patch(img, 0.22, 0.3, 0.36, 0.55) + patch(img, 0.64, 0.3, 0.78, 0.55)) / 2 < patch(img, 0.46, 0.3, 0.54, 0.55);

const expected: Record<string, { w: number; h: number; photometric: string; bits: number; ts: string; max: number; preamble: boolean }> = {
  'CR-MONO1-10-chest.dcm': { w: 440, h: 440, photometric: 'MONOCHROME1', bits: 10, ts: '1.2.840.10008.1.2', max: 1023, preamble: false },
  'RG1_J2KI.dcm': { w: 1841, h: 1955, photometric: 'MONOCHROME1', bits: 15, ts: '1.2.840.10008.1.2.4.91', max: 32767, preamble: true },
  'RG1_JLSN.dcm': { w: 1841, h: 1955, photometric: 'MONOCHROME1', bits: 15, ts: '1.2.840.10008.1.2.4.81', max: 32767, preamble: true },
  'NIH-CXR14-DX-chest.dcm': { w: 1024, h: 1024, photometric: 'MONOCHROME2', bits: 8, ts: '1.2.840.10008.1.2', max: 255, preamble: true },
};

for (const [file, e] of Object.entries(expected)) {
  test(`shared sample ${file}: size, photometric, bits, range, inversion`, async () => {
    if (!samples) return;
    const f = path.join(samples, file);
    const img = await readDicom(f);
    assert.is(img.width, e.w);
    assert.is(img.height, e.h);
    assert.is(img.info.photometric, e.photometric);
    assert.is(img.info.bitsStored, e.bits);
    assert.is(img.info.transferSyntax, e.ts);
    assert.is(img.info.hasPreamble, e.preamble);
    const s = stats(img.data);
    assert.ok(s.lo >= 0 && s.hi <= e.max && s.hi - s.lo > e.max / 8, `range ${s.lo}..${s.hi} within 0..${e.max} and not flat`);
    assert.ok(lungsDark(img), 'lungs darker than the mediastinum after decoding');
    const raw = await readDicom(f, { invert: false });
    if (e.photometric === 'MONOCHROME1') {
      assert.ok(img.info.inverted);
      assert.not.ok(lungsDark(raw), 'without inversion the MONOCHROME1 image is a negative');
      for (const i of [0, 12345, img.data.length - 1]) assert.is(img.data[i], s.hi + s.lo - raw.data[i]);
    } else assert.equal(raw.data, img.data);
  });
}

test('shared samples: the JPEG 2000 and JPEG-LS encodings of RG1 decode to the same image', async () => {
  if (!samples) return;
  const a = await readDicom(path.join(samples, 'RG1_J2KI.dcm'));
  const b = await readDicom(path.join(samples, 'RG1_JLSN.dcm'));
  let d = 0;
  for (let i = 0; i < a.data.length; i++) d += Math.abs(a.data[i] - b.data[i]);
  const mad = d / a.data.length;
  const s = stats(a.data);
  assert.ok(mad < 0.01 * (s.hi - s.lo), `mean |J2K − JLS| = ${mad.toFixed(1)} is < 1 % of the range (both lossy)`);
});

test('mdmt inspect prints size, photometric, bits, transfer syntax and min/max', async () => {
  if (!samples) return;
  const out = (await inspectFile(path.join(samples, 'CR-MONO1-10-chest.dcm'))).join('\n');
  for (const s of ['440 x 440', 'MONOCHROME1', '10 stored / 16 allocated', '1.2.840.10008.1.2 (Implicit VR Little Endian)', 'min/max:']) assert.ok(out.includes(s), s);
});

// ---- our own writer through every uncompressed syntax --------------------------------------
const W = 37, H = 23;
const ramp = Uint16Array.from({ length: W * H }, (_, i) => (i * 13) % 4096);
for (const syntax of ['explicit', 'implicit', 'deflated', 'big'] as WriteSyntax[]) {
  for (const preamble of [true, false]) {
    if (!preamble && (syntax === 'deflated' || syntax === 'big')) continue; // raw data sets are little endian
    test(`writer → decoder round trip: ${syntax}${preamble ? '' : ', no preamble'}`, async () => {
      const img = await decodeDicom(writeDicom({ width: W, height: H, pixels: ramp, bitsStored: 12, syntax, preamble }), 'mem');
      assert.is(img.width, W);
      assert.is(img.height, H);
      assert.is(img.info.hasPreamble, preamble);
      assert.equal(Array.from(img.data), Array.from(ramp));
    });
  }
}

test('RLE Lossless round trip (runs and literals, 16 and 8 bits); a truncated RLE frame is named', async () => {
  const px16 = Uint16Array.from({ length: W * H }, (_, i) => (i % 11 < 5 ? 0x0abc : (i * 7919) % 4096));
  const a = await decodeDicom(writeDicom({ width: W, height: H, pixels: px16, bitsStored: 12, syntax: 'rle' }), 'mem');
  assert.is(a.info.transferSyntaxName, 'RLE Lossless');
  assert.equal(Array.from(a.data), Array.from(px16));
  const px8 = Uint8Array.from({ length: W * H }, (_, i) => (i < 300 ? 17 : (i * 31) % 256));
  const b = await decodeDicom(writeDicom({ width: W, height: H, pixels: px8, syntax: 'rle' }), 'mem');
  assert.equal(Array.from(b.data), Array.from(px8));
  const bytes = writeDicom({ width: W, height: H, pixels: px16, bitsStored: 12, syntax: 'rle' });
  // cut the fragment short but keep the delimiters: rewrite the item length and drop bytes
  const at = Buffer.from(bytes).lastIndexOf(Buffer.from([0xfe, 0xff, 0x00, 0xe0]));
  const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(at + 4, true);
  const cut = new Uint8Array([...bytes.subarray(0, at + 4), 100, 0, 0, 0, ...bytes.subarray(at + 8, at + 108), ...bytes.subarray(at + 8 + len)]);
  const e = await rejects(() => decodeDicom(cut, 'short.dcm'));
  assert.match(e.message, /short\.dcm: RLE frame/);
});

test('JPEG baseline (8-bit) frames decode through sharp', async () => {
  const grad = Buffer.from(Uint8Array.from({ length: 64 * 48 }, (_, i) => (i % 64) * 4));
  const jpg = await sharp(grad, { raw: { width: 64, height: 48, channels: 1 } }).jpeg({ quality: 100 }).toBuffer();
  const img = await decodeDicom(writeDicom({ width: 64, height: 48, pixels: new Uint8Array(64 * 48), syntax: 'jpeg', frame: jpg }), 'mem');
  assert.is(img.info.transferSyntax, '1.2.840.10008.1.2.4.50');
  let m = 0;
  for (let i = 0; i < img.data.length; i++) m = Math.max(m, Math.abs(img.data[i] - grad[i]));
  assert.ok(m <= 4, `max |decoded − source| = ${m} (lossy, quality 100)`);
});

test('a colour JPEG baseline frame under a grey (MONOCHROME2, one sample) header is refused, not made grey', async () => {
  const rgb = Buffer.from(Uint8Array.from({ length: 32 * 16 * 3 }, (_, i) => (i % 3 === 0 ? 250 : (i * 7) % 256)));
  const jpg = await sharp(rgb, { raw: { width: 32, height: 16, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
  const e = await rejects(() => decodeDicom(writeDicom({ width: 32, height: 16, pixels: new Uint8Array(32 * 16), syntax: 'jpeg', frame: jpg }), 'rgb.dcm'));
  assert.match(e.message, /rgb\.dcm: JPEG stream holds a colour image \(3 components\) where the header says SamplesPerPixel 1/);
  // grey stored as YCbCr (libvips writes a one-channel image so) is grey, and still decodes
  const ramp = Buffer.from(Uint8Array.from({ length: 32 * 16 }, (_, i) => 60 + (i % 32) * 4));
  const grey = await sharp(ramp, { raw: { width: 32, height: 16, channels: 1 } }).jpeg({ quality: 100 }).toBuffer();
  assert.is(jpegFrameInfo(grey, 'grey.jpg').components, 3, 'the grey fixture is a 3-component stream');
  const img = await decodeDicom(writeDicom({ width: 32, height: 16, pixels: new Uint8Array(32 * 16), syntax: 'jpeg', frame: grey }), 'grey.dcm');
  assert.ok(img.data.every((v, i) => Math.abs(v - ramp[i]!) <= 4), 'a grey ramp reads as its levels (lossy, quality 100)');
});

test('MONOCHROME1, bits stored and rescale slope/intercept are applied', async () => {
  const px = Uint16Array.from([0, 100, 4095, 0xf000 | 7]); // high bits above bits stored are garbage
  const img = await decodeDicom(writeDicom({ width: 2, height: 2, pixels: px, bitsStored: 12, slope: 2, intercept: -10 }), 'mem');
  assert.equal(Array.from(img.data), [-10, 190, 8180, 4]);
  const inv = await decodeDicom(writeDicom({ width: 2, height: 2, pixels: px, bitsStored: 12, photometric: 'MONOCHROME1' }), 'mem');
  assert.equal(Array.from(inv.data), [4095, 3995, 0, 4088]);
  const u8 = await decodeDicom(writeDicom({ width: 3, height: 1, pixels: Uint8Array.from([0, 128, 255]) }), 'mem');
  assert.equal(Array.from(u8.data), [0, 128, 255]);
});

test('a file meta group without the 128-byte preamble (file starts at (0002,0000)) is read with the syntax it names (implicit VR was "element (2E31,2E32) declares 11824 bytes")', async () => {
  const px = Uint16Array.from({ length: W * H }, (_, i) => (i * 7919) % 4096);
  for (const syntax of ['explicit', 'implicit', 'big', 'deflated', 'rle'] as const) {
    const full = writeDicom({ width: W, height: H, pixels: px, bitsStored: 12, syntax });
    assert.is(Buffer.from(full.subarray(128, 132)).toString('latin1'), 'DICM');
    const img = await decodeDicom(full.subarray(132), `${syntax}.dcm`);
    assert.equal(Array.from(img.data), Array.from(px), syntax);
    assert.is(img.info.transferSyntaxName, (await decodeDicom(full, 'with-preamble.dcm')).info.transferSyntaxName, syntax);
    assert.is(img.info.hasPreamble, false);
  }
});

test('bad DICOM input: named MdmtErrors', async () => {
  const dir = tmpDir('baddcm');
  const good = writeDicom({ width: 64, height: 64, pixels: new Uint16Array(4096), syntax: 'explicit' });
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty.dcm', new Uint8Array(0), /empty \(0 bytes\)/],
    ['truncated.dcm', good.subarray(0, good.length - 3000), /truncated/],
    ['corrupt.dcm', Uint8Array.from(good.map((v, i) => (i > 132 && i < 400 ? 0xff : v))), /not a readable DICOM|truncated|corrupt/],
    ['text.dcm', Uint8Array.from(Buffer.from('hello, this is not an image at all '.repeat(10))), /not a readable DICOM|no pixel data|missing/],
  ];
  // an unsupported transfer syntax (JPEG XL, which neither mdmt nor the authors' pydicom + Pillow decode)
  const jxl = writeDicom({ width: 8, height: 8, pixels: new Uint16Array(64), transferSyntaxUid: '1.2.840.10008.1.2.4.110' });
  cases.push(['jpegxl.dcm', jxl, /unsupported transfer syntax 1\.2\.840\.10008\.1\.2\.4\.110/]);
  for (const [name, bytes, re] of cases) {
    const f = path.join(dir, name);
    fs.writeFileSync(f, bytes);
    const e = await rejects(() => readDicom(f));
    assert.instance(e, MdmtError, name);
    assert.ok(e.message.includes(f), `${name}: message names the file: ${e.message}`);
    assert.match(e.message, re, `${name}: ${e.message}`);
  }
  const missing = path.join(dir, 'nope.dcm');
  const e = await rejects(() => readImage(missing));
  assert.is(e.code, 'EIO');
  assert.ok(e.message.includes(missing));
  const png = path.join(dir, 'broken.png');
  fs.writeFileSync(png, Buffer.from('\x89PNG\r\n\x1a\n broken'));
  const e2 = await rejects(() => readImage(png));
  assert.is(e2.code, 'EDATA');
  assert.ok(e2.message.includes(png));
});

test.run();
