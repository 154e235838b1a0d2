/**
 * Images a new user's folders hold that issue 16's suite did not: headers that claim a huge
 * image (a decompression bomb, a corrupt Rows/Columns), X-rays of a few pixels, truncated
 * files. Each is refused as an EDATA MdmtError naming the file, before any large buffer is
 * allocated, so one bad file fails its own row instead of the loader or the process.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inspectFile } from '../../ts/cli/inspect';
import { readDicom } from '../../ts/data/dicom';
import { writeDicom } from '../../ts/data/dicomwrite';
import { MAX_IMAGE_PIXELS, MIN_IMAGE_SIDE } from '../../ts/data/gray';
import { readImage } from '../../ts/data/image';
import { MdmtError } from '../../ts/errors';
import { rejects, sharedData, tmpDir, writeXlsx } from './_fixture';

const dir = tmpDir('hostile-img');

async function refused(file: string, re: RegExp, read: () => Promise<unknown> = () => readImage(file, { role: 'image' })): Promise<void> {
  const e = await rejects(read);
  assert.instance(e, MdmtError, `${file}: ${String(e)}`);
  assert.is(e.code, 'EDATA', file);
  assert.ok(e.message.includes(file), `names the file: ${e.message}`);
  assert.match(e.message, re, e.message);
}

function crc32(b: Uint8Array): number {
  let crc = 0xffffffff;
  for (const x of b) {
    crc ^= x;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A valid 8-bit grey PNG of width × height whose pixels are zeros (compressed ~1000:1). */
function zeroPng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    td.copy(out, 4);
    out.writeUInt32BE(crc32(td), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth; colour type 0 (grey)
  const idat = zlib.deflateSync(Buffer.alloc((width + 1) * height)); // filter byte 0 + a zero row
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

test('a PNG whose header claims more than MAX_IMAGE_PIXELS is refused from its header', async () => {
  // 9000 x 9000 = 81 M pixels > 2^26: a 80 KB file; decoded it would be 324 MB of float32
  const f = path.join(dir, 'bomb.png');
  fs.writeFileSync(f, zeroPng(9000, 9000));
  assert.ok(9000 * 9000 > MAX_IMAGE_PIXELS);
  await refused(f, /image size 9000x9000 \(81000000 pixels\) exceeds the 67108864 pixels/);
  await refused(f, /exceeds/, () => readImage(f)); // a mask is bounded too
  // below the limit the same construction decodes (the check is the size, not the format)
  const ok = path.join(dir, 'zeros-ok.png');
  fs.writeFileSync(ok, zeroPng(40, 30));
  const img = await readImage(ok);
  assert.equal([img.width, img.height], [40, 30]);
});

test('a DICOM whose Rows x Columns exceed the limit is refused before decoding (native and RLE)', async () => {
  const big = [{ group: 0x28, elem: 0x10, vr: 'US', value: 65535 }, { group: 0x28, elem: 0x11, vr: 'US', value: 65535 }];
  for (const syntax of ['explicit', 'rle'] as const) {
    const f = path.join(dir, `huge-${syntax}.dcm`);
    fs.writeFileSync(f, writeDicom({ width: 2, height: 2, pixels: Uint16Array.from([1, 2, 3, 4]), syntax, extra: big }));
    // RLE used to allocate rows x cols x 2 bytes and fail with a raw RangeError that stopped the loader
    await refused(f, /image size 65535x65535 \(4294836225 pixels\) exceeds/, () => readDicom(f));
  }
});

test(`X-rays smaller than ${MIN_IMAGE_SIDE} px on a side are refused as images, accepted as masks; inspect notes them, and constant and two-level images`, async () => {
  const png = path.join(dir, 'tiny.png');
  await sharp(Buffer.from([7, 200]), { raw: { width: 2, height: 1, channels: 1 } }).png().toFile(png);
  await refused(png, /image is 2x1 pixels, smaller than 16 on a side/);
  assert.is((await readImage(png)).width, 2);
  // a 1 × 1 image is constant too: its size is what it is refused for (it was 'constant')
  const dot = path.join(dir, 'dot.png');
  await sharp(Buffer.from([7]), { raw: { width: 1, height: 1, channels: 1 } }).png().toFile(dot);
  await refused(dot, /image is 1x1 pixels, smaller than 16 on a side/);
  const dcm = path.join(dir, 'row.dcm');
  fs.writeFileSync(dcm, writeDicom({ width: 300, height: 1, pixels: Uint16Array.from({ length: 300 }, (_, i) => i) }));
  await refused(dcm, /image is 300x1 pixels, smaller than 16/);
  const edge = path.join(dir, 'edge.dcm');
  fs.writeFileSync(edge, writeDicom({ width: 16, height: 16, pixels: Uint16Array.from({ length: 256 }, (_, i) => i) }));
  assert.is((await readImage(edge, { role: 'image' })).height, 16);
  // inspect decodes it, and says that train and predict refuse it (it printed a clean 2 x 1 before)
  const note = 'note:        train and predict refuse it as an X-ray (it may serve as a lung mask): ';
  assert.ok((await inspectFile(png)).includes(`${note}image is 2x1 pixels, smaller than 16 on a side: a thumbnail or a corrupt header, not an X-ray to train on or score`));
  assert.ok((await inspectFile(dcm)).includes(`${note}image is 300x1 pixels, smaller than 16 on a side: a thumbnail or a corrupt header, not an X-ray to train on or score`));
  const flat = path.join(dir, 'flat.png');
  await sharp(Buffer.alloc(32 * 32, 9), { raw: { width: 32, height: 32, channels: 1 } }).png().toFile(flat);
  assert.ok((await inspectFile(flat)).includes(`${note}image is constant (every one of its 1024 pixels is 9 after decoding)`));
  const mask = path.join(dir, 'mask.png');
  await sharp(Buffer.alloc(32 * 32).map((_, i) => (i % 32 < 16 ? 0 : 255)), { raw: { width: 32, height: 32, channels: 1 } }).png().toFile(mask);
  assert.ok((await inspectFile(mask)).includes(`${note}image has only two grey levels (0 and 255 in its 1024 pixels): a segmentation mask or a drawing, not an X-ray to train on or score`));
  assert.not.ok((await inspectFile(edge)).some((l) => l.startsWith('note:')), 'a 16 px film has no note');
});

test('truncated files: a PNG cut in half or to its signature, a DICOM cut one byte short', async () => {
  const png = await sharp(Buffer.alloc(64 * 64).map((_, i) => i % 256), { raw: { width: 64, height: 64, channels: 1 } }).png().toBuffer();
  const half = path.join(dir, 'half.png'), sig = path.join(dir, 'sig.png');
  fs.writeFileSync(half, png.subarray(0, png.length >> 1));
  fs.writeFileSync(sig, png.subarray(0, 10));
  await refused(half, /not a readable PNG\/JPEG\/TIFF image/);
  await refused(sig, /not a readable PNG\/JPEG\/TIFF image/);
  const full = writeDicom({ width: 64, height: 64, pixels: Uint16Array.from({ length: 4096 }, (_, i) => i), bitsStored: 12 });
  const cut = path.join(dir, 'cut.dcm');
  fs.writeFileSync(cut, full.subarray(0, full.length - 1));
  await refused(cut, /PixelData \(7FE0,0010\) declares 8192 bytes .* truncated/);
});

test('corrupt JPEG 2000 / JPEG-LS code streams: the codec\'s own complaint, not a 0x0 frame or a WASM address', async () => {
  const samples = sharedData('dicom-samples', 'corrupt code streams');
  if (!samples) return;
  const j2k = fs.readFileSync(path.join(samples, 'RG1_J2KI.dcm'));
  // the one tile-part's SOT marker segment (FF90, Lsot 10, Isot 0): its Psot claims 8 bytes
  // more than the code stream holds
  const sot = j2k.indexOf(Buffer.from([0xff, 0x90, 0x00, 0x0a, 0x00, 0x00]));
  assert.ok(sot > 0, 'the sample has an SOT marker');
  const psot = Buffer.from(j2k);
  psot.writeUInt32BE(j2k.readUInt32BE(sot + 6) + 8, sot + 6);
  fs.writeFileSync(path.join(dir, 'j2k_psot.dcm'), psot);
  await refused(path.join(dir, 'j2k_psot.dcm'), /JPEG 2000 code stream could not be decoded \(OpenJPEG: Tile part length size inconsistent with stream length/);
  // 30 bytes of a JPEG-LS scan overwritten (as a bad disk sector would): CharLS's message
  const jls = Buffer.from(fs.readFileSync(path.join(samples, 'RG1_JLSN.dcm')));
  const px = jls.lastIndexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00]));
  let s = 1;
  for (let j = 0; j < 30; j++) jls[px + 100 + ((s = (s * 1103515245 + 12345) % 2147483648) % 3000)] = s & 0xff;
  fs.writeFileSync(path.join(dir, 'jls_garbled.dcm'), jls);
  await refused(path.join(dir, 'jls_garbled.dcm'), /JPEG-LS code stream could not be decoded \(CharLS: Invalid JPEG-LS stream/);
});

test('a multi-page TIFF or animated WebP is refused naming the page count (sharp read page 1 silently); a TIFF pyramid reads its first page', async () => {
  const two = Buffer.alloc(32 * 80).map((_, i) => (i * 7) % 251); // two 32x40 pages
  for (const [fmt, re] of [['tiff', /TIFF holds 2 pages: multi-page images are not supported/], ['webp', /WebP holds 2 frames: multi-page/]] as const) {
    const f = path.join(dir, `two.${fmt === 'tiff' ? 'tif' : fmt}`);
    await sharp(two, { raw: { width: 32, height: 80, channels: 1, pageHeight: 40 } }).toFormat(fmt, { lossless: true }).toFile(f);
    await refused(f, re);
    await refused(f, re, () => readImage(f)); // a mask too
  }
  const one = path.join(dir, 'one-page.tif'); // one page still reads
  await sharp(two.subarray(0, 32 * 40), { raw: { width: 32, height: 40, channels: 1 } }).tiff().toFile(one);
  assert.equal([(await readImage(one, { role: 'image' })).height], [40]);
  // a pyramid (every later page a reduced copy) is one image: its first, full page is read
  const pyr = path.join(dir, 'pyramid.tif');
  await sharp(Buffer.alloc(512 * 512).map((_, i) => i % 253), { raw: { width: 512, height: 512, channels: 1 } }).tiff({ pyramid: true, tile: true }).toFile(pyr);
  assert.ok(((await sharp(pyr).metadata()).pages ?? 1) > 1, 'the file has reduced pages');
  const p = await readImage(pyr, { role: 'image' });
  assert.equal([p.width, p.height], [512, 512]);
});

test('a file of another extension that is not DICOM either says which formats mdmt reads', async () => {
  const txt = path.join(dir, 'notes.txt');
  fs.writeFileSync(txt, 'not an image\n'.repeat(20));
  await refused(txt, /: not a DICOM or image file: .*; its extension \.txt is none of the image formats mdmt reads \(DICOM: .*\.png/);
  const e = await rejects(() => inspectFile(txt));
  assert.match(e.message, /extension \.txt is none of/);
  const dcm = path.join(dir, 'bad.dcm'); // a .dcm is not told about its extension
  fs.writeFileSync(dcm, 'not an image\n'.repeat(20));
  assert.not.match((await rejects(() => readImage(dcm))).message, /extension/);
});

test("a JSON, text or .xlsx file is 'not a DICOM or image file', not a DICOM element-length error", async () => {
  const json = path.join(dir, 'x.json'), txt = path.join(dir, 'x.txt');
  fs.writeFileSync(json, '{"a": 1, "b": [1, 2, 3]}\n');
  fs.writeFileSync(txt, 'hello world this is text\n');
  const xlsx = await writeXlsx(path.join(dir, 'x.xlsx'), [['a', 'b'], [1, 2]]);
  for (const f of [json, txt, xlsx]) {
    const ext = path.extname(f);
    for (const read of [() => readImage(f, { role: 'image' }), () => inspectFile(f)]) {
      const e = await rejects(read);
      assert.instance(e, MdmtError, String(e));
      assert.is(e.code, 'EDATA');
      // was: "decodeDicom: x.json: not a readable DICOM file: element (227B,2261) declares 741417018 bytes at byte 8 …"
      assert.ok(e.message.startsWith(`readImage: ${f}: not a DICOM or image file: it has no 'DICM' at byte 128 nor a PNG/JPEG/TIFF/WebP signature, and does not begin like a DICOM data set`), e.message);
      assert.not.match(e.message, /declares \d+ bytes|element \(/);
      assert.match(e.message, `its extension ${ext} is none of the image formats mdmt reads`);
    }
  }
  assert.match((await rejects(() => readImage(json))).message, `it begins like text: '{"a": 1, "b": [1, 2, 3]}'`);
  // a preamble-less DICOM cut short still gets the DICOM message: it begins like one
  const spec = { width: 24, height: 20, pixels: Uint16Array.from({ length: 480 }, (_, i) => (i * 13) % 4000), bitsStored: 12 };
  const raw = writeDicom({ ...spec, preamble: false });
  const cut = path.join(dir, 'cut-raw.dcm');
  fs.writeFileSync(cut, raw.subarray(0, raw.length - 100));
  const c = await rejects(() => readImage(cut));
  assert.not.match(c.message, 'not a DICOM or image file');
  assert.match(c.message, /^decodeDicom: /);
});

test('a file whose extension lies is decoded by its content: PNG/JPEG as .dcm, DICOM as .png; inspect says so', async () => {
  const px = Uint8Array.from({ length: 24 * 20 }, (_, i) => (i * 13) % 251);
  const raw = { raw: { width: 24, height: 20, channels: 1 as const } };
  for (const fmt of ['png', 'jpeg'] as const) {
    const right = path.join(dir, `right.${fmt}`), lied = path.join(dir, `${fmt}-named.dcm`);
    await sharp(Buffer.from(px), raw).toFormat(fmt, { quality: 100 }).toFile(right);
    fs.copyFileSync(right, lied);
    // was: "element (5089,474E) declares 169478669 bytes ... truncated, or a corrupt length"
    assert.equal(Array.from((await readImage(lied, { role: 'image' })).data), Array.from((await readImage(right)).data), fmt);
    assert.ok((await inspectFile(lied)).includes(`format:      ${fmt.toUpperCase()} (by its content; the file is named .dcm)`));
  }
  const spec = { width: 24, height: 20, pixels: Uint16Array.from(px, (v) => v * 16), bitsStored: 12 };
  const dcm = path.join(dir, 'real.dcm'), asPng = path.join(dir, 'dicom-named.png');
  fs.writeFileSync(dcm, writeDicom(spec));
  fs.copyFileSync(dcm, asPng); // was: "not a readable PNG/JPEG/TIFF image (unsupported image format)"
  assert.equal(Array.from((await readImage(asPng, { role: 'image' })).data), Array.from((await readDicom(dcm)).data));
  assert.ok((await inspectFile(asPng)).includes('format:      DICOM (by its content; the file is named .png)'));
  // a DICOM without preamble has no signature: read by its name (.dcm, none) as before
  for (const name of ['raw.dcm', 'raw']) {
    fs.writeFileSync(path.join(dir, name), writeDicom({ ...spec, preamble: false }));
    assert.is((await readImage(path.join(dir, name), { role: 'image' })).width, 24, name);
  }
  // a .dcm that is neither DICOM nor an image says so, and that it is text
  const txt = path.join(dir, 'text.dcm');
  fs.writeFileSync(txt, 'hello world, this is not DICOM\n'.repeat(10));
  await refused(txt, /: not a DICOM or image file: it has no 'DICM' at byte 128 nor a PNG\/JPEG\/TIFF\/WebP signature, and does not begin like a DICOM data set; it begins like text: 'hello world, this is not DICOM h…'/);
});

/** A valid 24-bit BMP (BITMAPINFOHEADER, bottom-up rows padded to 4 bytes) of a grey ramp. */
function bmp(width: number, height: number): Buffer {
  const row = (3 * width + 3) & ~3, b = Buffer.alloc(54 + row * height);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(width, 18);
  b.writeInt32LE(height, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  b.writeUInt32LE(row * height, 34);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) b.fill((x * 9 + y * 5) % 256, 54 + y * row + 3 * x, 57 + y * row + 3 * x);
  return b;
}

test('BMP and GIF are named as formats mdmt does not read (BMP was "unsupported image format", as of a corrupt file)', async () => {
  for (const name of ['film.bmp', 'bmp-named.png']) {
    fs.writeFileSync(path.join(dir, name), bmp(24, 20));
    await refused(path.join(dir, name), /BMP images are not supported; convert it to PNG \(mdmt reads DICOM, PNG, JPEG, TIFF and WebP\)/);
  }
  const gif = await sharp(Buffer.alloc(24 * 20).map((_, i) => i % 200), { raw: { width: 24, height: 20, channels: 1 } }).gif().toBuffer();
  for (const name of ['film.gif', 'gif-named.png']) {
    fs.writeFileSync(path.join(dir, name), gif);
    await refused(path.join(dir, name), /GIF images are not supported; convert it to PNG/);
  }
  // 'BM' alone does not make a BMP: a .dcm beginning with it is still parsed as DICOM
  fs.writeFileSync(path.join(dir, 'bm.dcm'), Buffer.concat([Buffer.from('BM'), Buffer.alloc(60)]));
  await refused(path.join(dir, 'bm.dcm'), /DICOM/);
});

test('AVIF, HEIF, JPEG 2000 and PDF are named by their signature, whatever the name (an AVIF was parsed as a DICOM without preamble: "element (0000,1C00) declares 1887007846 bytes")', async () => {
  const grey = sharp(Buffer.alloc(24 * 20 * 3).map((_, i) => (i * 7) % 200), { raw: { width: 24, height: 20, channels: 3 } });
  const avif = await grey.clone().avif().toBuffer();
  const files: [string, Buffer, string][] = [
    ['film.avif', avif, 'AVIF'], ['avif.dcm', avif, 'AVIF'], ['avif', avif, 'AVIF'],
    // a HEIC photo's first box ('ftyp', major brand heic), a JP2 signature box, a bare codestream, a PDF
    ['photo.heic', Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic\0\0\0\0mif1heic', 'latin1'), Buffer.alloc(40)]), 'HEIF'],
    ['film.jp2', Buffer.concat([Buffer.from([0, 0, 0, 12]), Buffer.from('jP  \r\n\x87\n', 'latin1'), Buffer.alloc(40)]), 'JPEG 2000'],
    ['film.j2k.dcm', Buffer.concat([Buffer.from([0xff, 0x4f, 0xff, 0x51]), Buffer.alloc(40)]), 'JPEG 2000'],
    ['report.dcm', Buffer.from('%PDF-1.7\n%\xe2\xe3\n1 0 obj\n', 'latin1'), 'PDF'],
  ];
  for (const [name, bytes, format] of files) {
    fs.writeFileSync(path.join(dir, name), bytes);
    await refused(path.join(dir, name), new RegExp(`${name}: ${format} (images|files) are not supported; convert it to PNG \\(mdmt reads DICOM, PNG, JPEG, TIFF and WebP\\)`));
  }
});

test.run();
