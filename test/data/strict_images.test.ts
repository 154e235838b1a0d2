/**
 * Issue 16, classes 1 and 6: image values outside their legal ranges are refused with an
 * error naming the file and the attribute (or decoded correctly), and the JPEG syntaxes of
 * hospital archives decode. Every fixture is written by the test: DICOM headers with
 * writeDicom, PNGs with sharp, JPEG Lossless streams with dcmjs-codecs' libjpeg encoder, and
 * 12-bit extended JPEG with the small encoder in _jpeg12.ts (no npm package encodes it).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import sharp from 'sharp';
import { Context, NativeCodecs } from 'dcmjs-codecs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeDicom, readDicom, TRANSFER_SYNTAXES } from '../../ts/data/dicom';
import { writeDicom, type DicomWriteSpec } from '../../ts/data/dicomwrite';
import { readImage, readRaster } from '../../ts/data/image';
import { MdmtError } from '../../ts/errors';
import { encodeJpegExtended } from './_jpeg12';
import { rejects, tmpDir } from './_fixture';

const W = 24, H = 20;
const ramp = (max: number) => Uint16Array.from({ length: W * H }, (_, i) => Math.round((max * ((i * 37) % (W * H))) / (W * H)));
const dir = tmpDir('strict-img');

/** Writes the spec to a file and expects readDicom to refuse it naming the file and matching `re`. */
async function refused(name: string, spec: Partial<DicomWriteSpec> | Uint8Array, re: RegExp): Promise<void> {
  const bytes = spec instanceof Uint8Array ? spec : writeDicom({ width: W, height: H, pixels: ramp(4000), ...spec } as DicomWriteSpec);
  const f = path.join(dir, name);
  fs.writeFileSync(f, bytes);
  const e = await rejects(() => readDicom(f));
  assert.instance(e, MdmtError, name);
  assert.is(e.code, 'EDATA', name);
  assert.ok(e.message.includes(f), `${name}: names the file: ${e.message}`);
  assert.match(e.message, re, `${name}: ${e.message}`);
}
const el = (group: number, elem: number, vr: string, value: string | number) => ({ group, elem, vr, value });

test('bits: BitsStored 0 or above BitsAllocated, HighBit outside the allocated bits, PixelRepresentation 2', async () => {
  await refused('bs0.dcm', { bitsStored: 0 }, /BitsStored \(0028,0101\) is 0: it must be 1\.\.BitsAllocated \(0028,0100\) 16/);
  await refused('bs17.dcm', { bitsStored: 17 }, /BitsStored \(0028,0101\) is 17/);
  await refused('hb16.dcm', { bitsStored: 12, extra: [el(0x28, 0x102, 'US', 16)] }, /HighBit \(0028,0102\) is 16/);
  await refused('pr2.dcm', { extra: [el(0x28, 0x103, 'US', 2)] }, /PixelRepresentation \(0028,0103\) is 2/);
});

test("a photometric interpretation that only starts like a grey one (MONOCHROME3, MONOCHROME) is refused naming it: it was decoded as MONOCHROME2", async () => {
  for (const pi of ['MONOCHROME3', 'MONOCHROME'])
    await refused(`${pi}.dcm`, { photometric: pi as never }, new RegExp(`PhotometricInterpretation \\(0028,0004\\) is '${pi}': not a DICOM photometric interpretation`));
});

test('HighBit above BitsStored − 1: the sample is read from the bits that end at HighBit', async () => {
  // 12 bits stored in bits 4..15 (HighBit 15) were masked to their low 12 bits: 100, 2000, 4000,
  // 4095 decoded as 1600, 3328, 2560, 4080, a scrambled image accepted without a word
  const hb = (v: number) => [el(0x28, 0x102, 'US', v)];
  const v = [100, 2000, 4000, 4095];
  const top = await decodeDicom(writeDicom({ width: 4, height: 1, pixels: Uint16Array.from(v, (x) => (x << 4) | 0xf), bitsStored: 12, extra: hb(15) }), 'mem');
  assert.equal(Array.from(top.data), v, 'unused low bits ignored');
  // signed, shifted by 2, with garbage in the unused bits on both sides
  const sv = [-100, -2048, 0, 2047];
  const raw = Uint16Array.from(sv, (x) => 0xc000 | (((x + 4096) % 4096) << 2) | 0x3);
  const signed = await decodeDicom(writeDicom({ width: 4, height: 1, pixels: raw, bitsStored: 12, extra: [...hb(13), el(0x28, 0x103, 'US', 1)] }), 'mem');
  assert.equal(Array.from(signed.data), sv);
  // HighBit = BitsStored − 1 (the usual layout) reads the low bits as before
  const low = await decodeDicom(writeDicom({ width: 4, height: 1, pixels: Uint16Array.from(v, (x) => x | 0xf000), bitsStored: 12, extra: hb(11) }), 'mem');
  assert.equal(Array.from(low.data), v);
});

test('RLE Lossless holds whole cells as native pixels do: HighBit above BitsStored − 1 and unused high bits decode as native (both were refused: "decoded sample 65520 does not fit BitsStored 12")', async () => {
  const hb = (v: number) => [el(0x28, 0x102, 'US', v)];
  const v = [100, 2000, 4000, 4095];
  for (const syntax of ['explicit', 'rle'] as const) {
    const top = await decodeDicom(writeDicom({ width: 4, height: 1, pixels: Uint16Array.from(v, (x) => (x << 4) | 0xf), bitsStored: 12, syntax, extra: hb(15) }), 'mem');
    assert.equal(Array.from(top.data), v, `${syntax}: HighBit 15`);
    const garbage = await decodeDicom(writeDicom({ width: 4, height: 1, pixels: Uint16Array.from(v, (x) => x | 0xf000), bitsStored: 12, syntax }), 'mem');
    assert.equal(Array.from(garbage.data), v, `${syntax}: bits above BitsStored ignored`);
    const sv = [-100, -2048, 0, 2047];
    const raw = Uint16Array.from(sv, (x) => 0xc000 | (((x + 4096) % 4096) << 2) | 0x3);
    const signed = await decodeDicom(writeDicom({ width: 4, height: 1, pixels: raw, bitsStored: 12, syntax, extra: [...hb(13), el(0x28, 0x103, 'US', 1)] }), 'mem');
    assert.equal(Array.from(signed.data), sv, `${syntax}: signed, HighBit 13`);
  }
});

test('rescale: NaN, inf, 1e999 and 0 slopes, NaN intercept, a slope that overflows float32', async () => {
  await refused('slope-nan.dcm', { slope: 'NaN' }, /RescaleSlope \(0028,1053\) is 'NaN': not a finite number/);
  await refused('slope-inf.dcm', { slope: 'inf' }, /RescaleSlope \(0028,1053\) is 'inf'/);
  await refused('slope-big.dcm', { slope: '1e999' }, /RescaleSlope \(0028,1053\) is '1e999'/);
  await refused('slope-0.dcm', { slope: 0 }, /RescaleSlope \(0028,1053\) is 0/);
  await refused('icpt-nan.dcm', { intercept: 'NaN' }, /RescaleIntercept \(0028,1052\) is 'NaN'/);
  await refused('slope-f32.dcm', { slope: '1e36' }, /beyond float32/);
  // RescaleSlope has one value (VM 1): of '2\\0.5' the first was used without a word
  await refused('slope-two.dcm', { slope: '2\\0.5' }, /RescaleSlope \(0028,1053\) is '2\\0.5': 2 different values where the standard allows one/);
  await refused('icpt-two.dcm', { intercept: '-1\\x' }, /RescaleIntercept \(0028,1052\) is '-1\\x': not a finite number/);
  const same = await decodeDicom(writeDicom({ width: 2, height: 1, pixels: Uint16Array.from([1, 3]), slope: '2\\2', intercept: '0' }), 'mem');
  assert.equal(Array.from(same.data), [2, 6], 'a value repeated is the value');
  // a legal rescale still decodes (no regression)
  const ok = await decodeDicom(writeDicom({ width: 2, height: 1, pixels: Uint16Array.from([1, 3]), slope: '2.5', intercept: '-1' }), 'mem');
  assert.equal(Array.from(ok.data), [1.5, 6.5]);
});

test('frames: NumberOfFrames > 1, a bad NumberOfFrames, pixel data holding two frames without saying so', async () => {
  const two = new Uint16Array(2 * W * H).map((_, i) => i % 4000);
  await refused('frames3.dcm', { extra: [el(0x28, 0x8, 'IS', '3')] }, /NumberOfFrames \(0028,0008\) is 3: multi-frame images are not supported/);
  await refused('frames0.dcm', { extra: [el(0x28, 0x8, 'IS', '0')] }, /NumberOfFrames \(0028,0008\) is '0'/);
  await refused('twoframes.dcm', writeDicom({ width: W, height: H * 2, pixels: two, extra: [el(0x28, 0x10, 'US', H)] }), /PixelData \(7FE0,0010\) holds 1920 bytes but one frame .* is 960/);
  const one = await decodeDicom(writeDicom({ width: W, height: H, pixels: ramp(4000), extra: [el(0x28, 0x8, 'IS', '1')] }), 'mem');
  assert.is(one.data.length, W * H);
});

test('lengths: an element whose declared length runs past the end of the file is named (implicit and explicit VR)', async () => {
  for (const syntax of ['implicit', 'explicit'] as const) {
    const b = writeDicom({ width: W, height: H, pixels: ramp(4000), syntax });
    const at = Buffer.from(b).lastIndexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00]));
    const dv = new DataView(b.buffer, b.byteOffset);
    dv.setUint32(at + (syntax === 'implicit' ? 4 : 8), 2 * W * H + 1000, true);
    await refused(`overrun-${syntax}.dcm`, b, /PixelData \(7FE0,0010\) declares 1960 bytes at byte \d+, but the file ends 960 bytes later/);
  }
  // an element before the pixels (Manufacturer, explicit VR: 2-byte length) declaring too much
  const b = writeDicom({ width: W, height: H, pixels: ramp(4000), manufacturer: 'ACME' });
  const at = Buffer.from(b).indexOf(Buffer.from([0x08, 0x00, 0x70, 0x00, 0x4c, 0x4f]));
  new DataView(b.buffer, b.byteOffset).setUint16(at + 6, 60000, true);
  await refused('overrun-manufacturer.dcm', b, /Manufacturer \(0008,0070\) declares 60000 bytes/);
});

test('constant images: a DICOM and a PNG image that are one value are refused; a blank PNG mask is not', async () => {
  await refused('flat.dcm', { pixels: new Uint16Array(W * H).fill(700) }, /image is constant \(every one of its 480 pixels is 700/);
  // constant after decoding: 12 stored bits of 0x1000 + x, whose high bits are overlay garbage
  await refused('flat-masked.dcm', { bitsStored: 12, pixels: Uint16Array.from({ length: W * H }, (_, i) => 0x1000 * (i % 2) + 5) }, /image is constant/);
  const png = path.join(dir, 'flat.png');
  await sharp(Buffer.alloc(W * H, 9), { raw: { width: W, height: H, channels: 1 } }).png().toFile(png);
  const e = await rejects(() => readImage(png, { role: 'image' }));
  assert.match(e.message, new RegExp(`${png}: image is constant`));
  assert.is((await readImage(png)).data[0], 9); // a mask may be blank (preprocess falls back to the whole image)
});

test('two grey levels: a binary PNG mask and a two-valued DICOM are refused as X-rays; as masks, and with a third level, they are read', async () => {
  const png = path.join(dir, 'lung-mask.png');
  const lung = Uint8Array.from({ length: W * H }, (_, i) => ((i % W) > 4 && (i % W) < 19 ? 255 : 0));
  await sharp(Buffer.from(lung), { raw: { width: W, height: H, channels: 1 } }).png().toFile(png);
  const e = await rejects(() => readImage(png, { role: 'image' }));
  assert.instance(e, MdmtError);
  assert.is(e.code, 'EDATA');
  assert.match(e.message, new RegExp(`${png}: image has only two grey levels \\(0 and 255 in its 480 pixels\\): a segmentation mask`));
  assert.equal(Array.from((await readImage(png)).data), Array.from(lung)); // the lung mask it is
  const dcm = path.join(dir, 'two-level.dcm');
  fs.writeFileSync(dcm, writeDicom({ width: W, height: H, pixels: Uint16Array.from({ length: W * H }, (_, i) => (i < 100 ? 40 : 3000)) }));
  assert.match((await rejects(() => readImage(dcm, { role: 'image' }))).message, new RegExp(`${dcm}: image has only two grey levels \\(40 and 3000 in its 480 pixels\\)`));
  // one pixel of a third value is an image (the check refuses only exactly two values)
  const three = Uint8Array.from(lung, (v, i) => (i === 7 ? 128 : v));
  const png3 = path.join(dir, 'three-levels.png');
  await sharp(Buffer.from(three), { raw: { width: W, height: H, channels: 1 } }).png().toFile(png3);
  assert.is((await readImage(png3, { role: 'image' })).data[7], 128);
});

test('16-bit PNGs keep their 0..65535 range (grey and RGB); 8-bit PNGs stay 0..255', async () => {
  const px = Uint16Array.from({ length: W * H }, (_, i) => (i * 137) % 65536);
  const grey = path.join(dir, 'g16.png');
  await sharp(px, { raw: { width: W, height: H, channels: 1 } }).toColourspace('grey16').png().toFile(grey);
  assert.equal(Array.from((await readRaster(grey)).data), Array.from(px));
  const rgb = new Uint16Array(3 * W * H).map((_, i) => px[Math.floor(i / 3)]);
  const colour = path.join(dir, 'rgb16.png');
  await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).toColourspace('rgb16').png().toFile(colour);
  const c = (await readRaster(colour)).data;
  let m = 0;
  for (let i = 0; i < px.length; i++) m = Math.max(m, Math.abs(c[i] - px[i]));
  assert.ok(m <= 1, `grey of equal RGB channels = the channel (max diff ${m})`);
  const p8 = path.join(dir, 'g8.png');
  const v8 = Uint8Array.from({ length: W * H }, (_, i) => i % 256);
  await sharp(Buffer.from(v8), { raw: { width: W, height: H, channels: 1 } }).png().toFile(p8);
  assert.equal(Array.from((await readRaster(p8)).data), Array.from(v8));
});

test('colour rasters are made grey as PIL and cv2 make them (0.299 R + 0.587 G + 0.114 B on the stored values; sharp\'s linear-light luminance was up to 60 levels apart)', async () => {
  // PIL 12: Image.new('RGB', (5, 1)).putdata([...]).convert('L') gives [76, 150, 29, 124, 255]
  const rgb8 = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 200, 30, 255, 255, 255];
  for (const [name, alpha] of [['rgb8.png', false], ['rgba8.png', true]] as const) {
    const f = path.join(dir, name);
    const px = alpha ? rgb8.flatMap((v, i) => (i % 3 === 2 ? [v, 77] : [v])) : rgb8;
    await sharp(Buffer.from(px), { raw: { width: 5, height: 1, channels: alpha ? 4 : 3 } }).png().toFile(f);
    assert.equal(Array.from((await readRaster(f)).data), [76, 150, 29, 124, 255], name);
  }
  // 16 bits: the same weights, rounded (cv2's RGB2GRAY on CV_16U)
  const rgb16 = [65535, 0, 0, 0, 65535, 0, 0, 0, 65535, 1000, 40000, 20000];
  const f16 = path.join(dir, 'rgb16-colour.png');
  await sharp(Uint16Array.from(rgb16), { raw: { width: 4, height: 1, channels: 3 } }).toColourspace('rgb16').png().toFile(f16);
  const got = Array.from((await readRaster(f16)).data);
  const want = [0, 1, 2, 3].map((i) => 0.299 * rgb16[3 * i] + 0.587 * rgb16[3 * i + 1] + 0.114 * rgb16[3 * i + 2]);
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) <= 0.5 && Number.isInteger(g), `pixel ${i}: ${g} vs ${want[i]}`));
});

test('EXIF orientation is applied (PNG and JPEG stored sideways with orientation 6 read upright, 40x32)', async () => {
  // stored 32 wide, 40 tall; orientation 6 = turn 90° clockwise to display
  const sw = 32, sh = 40;
  const stored = Uint8Array.from({ length: sw * sh }, (_, i) => (Math.floor(i / sw) < 10 ? 250 : i % sw < 5 ? 128 : 0));
  for (const fmt of ['png', 'jpeg'] as const) {
    const f = path.join(dir, `exif6.${fmt}`);
    await sharp(Buffer.from(stored), { raw: { width: sw, height: sh, channels: 1 } }).toFormat(fmt, { quality: 100 }).withMetadata({ orientation: 6 }).toFile(f);
    assert.is((await sharp(f).metadata()).orientation, 6, `${fmt} carries the tag`);
    const img = await readImage(f, { role: 'image' });
    assert.equal([img.width, img.height], [sh, sw], `${fmt}: displayed size`);
    let m = 0; // displayed (x, y) = stored (y, sh − 1 − x)
    for (let y = 0; y < sw; y++) for (let x = 0; x < sh; x++) m = Math.max(m, Math.abs(img.data[y * sh + x] - stored[(sh - 1 - x) * sw + y]));
    assert.ok(m <= (fmt === 'png' ? 0 : 40), `${fmt}: max |read − rotated| = ${m}`);
  }
});

/** A grey ICC profile (v2, class mntr) whose only curve is a gamma: enough for lcms, which sharp applies. */
function grayIcc(gamma: number): Buffer {
  const sig = (b: Buffer, at: number, s: string) => b.write(s, at, 'latin1');
  const xyz = Buffer.alloc(20);
  sig(xyz, 0, 'XYZ ');
  [0.9642, 1, 0.8249].forEach((v, i) => xyz.writeInt32BE(Math.round(v * 65536), 8 + 4 * i));
  const curv = Buffer.alloc(16);
  sig(curv, 0, 'curv');
  curv.writeUInt32BE(1, 8);
  curv.writeUInt16BE(Math.round(gamma * 256), 12);
  const desc = Buffer.alloc(100);
  sig(desc, 0, 'desc');
  desc.writeUInt32BE(5, 8);
  sig(desc, 12, 'test');
  const tags: [string, Buffer][] = [['desc', desc], ['wtpt', xyz], ['kTRC', curv], ['cprt', Buffer.from('text\0\0\0\0none\0\0\0\0', 'latin1')]];
  const table = Buffer.alloc(4 + 12 * tags.length);
  table.writeUInt32BE(tags.length, 0);
  let off = 128 + table.length;
  tags.forEach(([name, body], i) => {
    sig(table, 4 + 12 * i, name);
    table.writeUInt32BE(off, 8 + 12 * i);
    table.writeUInt32BE(body.length, 12 + 12 * i);
    off += body.length;
  });
  const head = Buffer.alloc(128);
  head.writeUInt32BE(off, 0);
  head.writeUInt32BE(0x02100000, 8);
  sig(head, 12, 'mntrGRAYXYZ ');
  sig(head, 36, 'acsp');
  xyz.copy(head, 68, 8, 20);
  return Buffer.concat([head, table, ...tags.map(([, body]) => body)]);
}

/** A grey PNG of 8 or 16 bits holding `px` as stored, with an iCCP chunk when `icc` is given. */
function greyPng(px: Uint8Array | Uint16Array, icc?: Buffer): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const chunk = (type: string, data: Buffer) => {
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    let c = 0xffffffff;
    for (const b of td) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    td.copy(out, 4);
    out.writeUInt32BE((c ^ 0xffffffff) >>> 0, 8 + data.length);
    return out;
  };
  const bytes = px instanceof Uint16Array ? 2 : 1;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(W, 0);
  ihdr.writeUInt32BE(H, 4);
  ihdr[8] = 8 * bytes; // grey (colour type 0)
  const raw = Buffer.alloc(H * (1 + W * bytes)); // filter 0 on every row
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const at = y * (1 + W * bytes) + 1 + x * bytes;
      if (bytes === 2) raw.writeUInt16BE(px[y * W + x], at);
      else raw[at] = px[y * W + x];
    }
  const iccp = icc ? [chunk('iCCP', Buffer.concat([Buffer.from('grey\0\0', 'latin1'), zlib.deflateSync(icc)]))] : [];
  return Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), chunk('IHDR', ihdr), ...iccp, chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

test('a grey PNG with an embedded ICC profile keeps its stored values, 8 and 16 bits (a covid-cxr film with a "Dot Gain 15%" profile read 29 grey levels brighter than PIL/cv2 read it)', async () => {
  const v8 = Uint8Array.from({ length: W * H }, (_, i) => (i * 7) % 256);
  const v16 = Uint16Array.from({ length: W * H }, (_, i) => (i * 997) % 65536);
  for (const [name, px] of [['icc8.png', v8], ['icc16.png', v16]] as const) {
    const f = path.join(dir, name);
    fs.writeFileSync(f, greyPng(px, grayIcc(1)));
    assert.ok((await sharp(f).metadata()).hasProfile, `${name} carries the profile`);
    assert.equal(Array.from((await readImage(f, { role: 'image' })).data), Array.from(px), `${name}: the stored values`);
  }
});

/** A JPEG Lossless stream (process 14, predictor `pred`) from dcmjs-codecs' libjpeg encoder. */
async function losslessStream(px: Uint16Array | Uint8Array, bits: number, pred: number): Promise<Uint8Array> {
  await NativeCodecs.initializeAsync();
  const bytes = px instanceof Uint8Array ? px : new Uint8Array(px.buffer, px.byteOffset, px.byteLength);
  const ctx = new Context({
    width: W, height: H, bitsAllocated: bits > 8 ? 16 : 8, bitsStored: bits, samplesPerPixel: 1, pixelRepresentation: 0,
    planarConfiguration: 0, photometricInterpretation: 'MONOCHROME2', decodedBuffer: bytes,
  });
  return NativeCodecs.encodeJpeg(ctx, { lossy: false, predictor: pred }).getEncodedBuffer()!;
}

test('JPEG Lossless (.70 predictor 1, .57 predictors 2..7) at 8, 12 and 16 bits decodes exactly', async () => {
  for (const [bits, pred] of [[16, 1], [12, 1], [8, 1], [12, 2], [16, 3], [12, 4], [8, 5], [16, 6], [12, 7]]) {
    const px = bits > 8 ? Uint16Array.from({ length: W * H }, (_, i) => (i * 7919 + 13) % (2 ** bits)) : Uint8Array.from({ length: W * H }, (_, i) => (i * 31) % 256);
    const uid = pred === 1 ? '1.2.840.10008.1.2.4.70' : '1.2.840.10008.1.2.4.57';
    const frame = await losslessStream(px, bits, pred);
    const img = await decodeDicom(writeDicom({ width: W, height: H, pixels: bits > 8 ? new Uint16Array(W * H) : new Uint8Array(W * H), bitsStored: bits, syntax: 'jpeg', frame, transferSyntaxUid: uid }), 'mem');
    assert.equal(Array.from(img.data), Array.from(px), `${bits} bits, predictor ${pred}`);
    assert.is(img.info.transferSyntax, uid);
  }
});

test('JPEG Lossless given as a Node Buffer (decodeDicom(fs.readFileSync(f)), as its doc shows) decodes: it was "Not a JPEG file"', async () => {
  const px = Uint16Array.from({ length: W * H }, (_, i) => (i * 7919 + 13) % 4096);
  const frame = await losslessStream(px, 12, 1);
  const bytes = writeDicom({ width: W, height: H, pixels: new Uint16Array(W * H), bitsStored: 12, syntax: 'jpeg', frame, transferSyntaxUid: '1.2.840.10008.1.2.4.70' });
  const f = path.join(dir, 'lossless-buffer.dcm');
  fs.writeFileSync(f, bytes);
  const img = await decodeDicom(fs.readFileSync(f), f);
  assert.equal(Array.from(img.data), Array.from(px));
});

test('12-bit (and 8-bit) extended JPEG (.51) decodes within the rounding of a unit quantiser', async () => {
  for (const bits of [12, 8] as const) {
    const max = 2 ** bits - 1;
    const px = Uint16Array.from({ length: W * H }, (_, i) => Math.round(max * (0.5 + 0.45 * Math.sin((i % W) / 3) * Math.cos(Math.floor(i / W) / 4))));
    const frame = encodeJpegExtended(px, W, H, bits);
    const img = await decodeDicom(writeDicom({ width: W, height: H, pixels: bits > 8 ? new Uint16Array(W * H) : new Uint8Array(W * H), bitsStored: bits, syntax: 'jpeg', frame, transferSyntaxUid: '1.2.840.10008.1.2.4.51' }), 'mem');
    let m = 0;
    for (let i = 0; i < px.length; i++) m = Math.max(m, Math.abs(img.data[i] - px[i]));
    assert.ok(m <= 2, `${bits} bits: max |decoded − source| = ${m}`);
    if (bits === 12) assert.ok(Math.max(...img.data) > 3500, 'the 12-bit range is kept');
  }
});

test('JPEG streams that lie about themselves are refused by name: truncated, wrong process, wider than the header', async () => {
  const px = ramp(4095);
  const frame = await losslessStream(px, 12, 1);
  const spec = { width: W, height: H, pixels: new Uint16Array(W * H), bitsStored: 12, syntax: 'jpeg' as const };
  await refused('cut-lossless.dcm', writeDicom({ ...spec, frame: frame.subarray(0, frame.length >> 1), transferSyntaxUid: '1.2.840.10008.1.2.4.70' }), /no end-of-image marker \(FFD9\): truncated/);
  const j12 = encodeJpegExtended(px, W, H, 12);
  await refused('cut-12bit.dcm', writeDicom({ ...spec, frame: j12.subarray(0, j12.length - 40), transferSyntaxUid: '1.2.840.10008.1.2.4.51' }), /truncated/);
  await refused('lossless-is-dct.dcm', writeDicom({ ...spec, frame: j12, transferSyntaxUid: '1.2.840.10008.1.2.4.70' }), /holds a SOF1 stream, not SOF3/);
  await refused('baseline-12.dcm', writeDicom({ ...spec, frame: j12, transferSyntaxUid: '1.2.840.10008.1.2.4.50' }), /JPEG Baseline\) holds 12-bit samples/);
  await refused('12-in-8.dcm', writeDicom({ ...spec, pixels: new Uint8Array(W * H), bitsStored: 8, frame: j12, transferSyntaxUid: '1.2.840.10008.1.2.4.51' }), /12-bit samples but BitsAllocated \(0028,0100\) is 8/);
  const wide = await losslessStream(Uint16Array.from(px, (v) => v * 16), 16, 1);
  await refused('16-in-12.dcm', writeDicom({ ...spec, frame: wide, transferSyntaxUid: '1.2.840.10008.1.2.4.70' }), /does not fit BitsStored \(0028,0101\) 12/);
  assert.ok(TRANSFER_SYNTAXES['1.2.840.10008.1.2.4.57'] && TRANSFER_SYNTAXES['1.2.840.10008.1.2.4.70'] && TRANSFER_SYNTAXES['1.2.840.10008.1.2.4.51']);
});

test.run();
