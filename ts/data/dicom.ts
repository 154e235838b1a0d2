/**
 * DICOM decoding with dicom-parser: uncompressed implicit/explicit little endian, explicit big
 * endian, deflated, RLE Lossless, JPEG 2000, JPEG-LS and 8-bit JPEG baseline (everything the
 * authors' pydicom + Pillow could read, and more); files with or without the 128-byte preamble and
 * file meta. Pixels come out as float32 modality values (bits stored masked, sign extended,
 * rescale slope/intercept applied) and MONOCHROME1 images are inverted so that bright means
 * dense everywhere (the authors' `np.interp(img, (min, max), (max, min))`).
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import * as dicomParser from 'dicom-parser';
import { MdmtError } from '../errors';
import { decodeJ2k, decodeJls, decodeJpegBaseline, decodeRle, CodecFrame } from './codecs';
import type { GrayImage } from './image';

export const TRANSFER_SYNTAXES: Record<string, string> = {
  '1.2.840.10008.1.2': 'Implicit VR Little Endian',
  '1.2.840.10008.1.2.1': 'Explicit VR Little Endian',
  '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR Little Endian',
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline (8-bit)',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Near-Lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Lossless',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
};

export interface DicomInfo {
  transferSyntax: string;
  transferSyntaxName: string;
  photometric: string;
  bitsAllocated: number;
  bitsStored: number;
  signed: boolean;
  slope: number;
  intercept: number;
  hasPreamble: boolean;
  inverted: boolean;
  manufacturer?: string;
  modality?: string;
}
export interface DicomImage extends GrayImage { info: DicomInfo }
export interface DecodeDicomOptions { /** invert MONOCHROME1 (default true) */ invert?: boolean }

const fail = (file: string, detail: string, code: 'EDATA' | 'EIO' = 'EDATA') => new MdmtError(code, 'decodeDicom', `${file}: ${detail}`);
const msg = (e: unknown) => (e instanceof Error ? e.message : String(e));

function hasDicm(b: Uint8Array): boolean {
  return b.length >= 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d;
}

/** A raw data set (no preamble/meta) is explicit VR when bytes 4..5 spell a VR (two capitals). */
function looksExplicit(b: Uint8Array): boolean {
  const up = (c: number) => c >= 0x41 && c <= 0x5a;
  return b.length > 6 && up(b[4]) && up(b[5]);
}

function parse(bytes: Uint8Array, file: string): { ds: dicomParser.DataSet; hasPreamble: boolean } {
  if (bytes.length === 0) throw fail(file, 'file is empty (0 bytes), not a DICOM file');
  const hasPreamble = hasDicm(bytes);
  const opts: Record<string, unknown> = {
    inflater: (arr: Uint8Array, pos: number) => {
      const inflated = zlib.inflateRawSync(arr.subarray(pos));
      const full = new Uint8Array(pos + inflated.length);
      full.set(arr.subarray(0, pos), 0);
      full.set(inflated, pos);
      return full;
    },
  };
  if (!hasPreamble) opts.TransferSyntaxUID = looksExplicit(bytes) ? '1.2.840.10008.1.2.1' : '1.2.840.10008.1.2';
  try {
    return { ds: dicomParser.parseDicom(bytes, opts as dicomParser.ParseDicomOptions), hasPreamble };
  } catch (e) {
    const detail = (e as { exception?: unknown })?.exception ?? e;
    throw fail(file, `not a readable DICOM file (${msg(detail)}); truncated or corrupt?`);
  }
}

function num(ds: dicomParser.DataSet, tag: string, file: string, name: string, def?: number): number {
  const el = ds.elements[tag];
  if (!el) {
    if (def !== undefined) return def;
    throw fail(file, `missing required attribute ${name} (${tag.slice(1, 5)},${tag.slice(5)})`);
  }
  const v = el.length >= 2 ? ds.uint16(tag) : undefined;
  if (v === undefined || !Number.isFinite(v)) {
    if (def !== undefined) return def;
    throw fail(file, `attribute ${name} has no valid value`);
  }
  return v;
}

/** The stored samples of one uncompressed frame, as an unsigned typed array (copied when unaligned or big endian). */
function readNative(ds: dicomParser.DataSet, file: string, n: number, bitsAllocated: number, bigEndian: boolean): Uint8Array | Uint16Array | Uint32Array {
  const el = ds.elements.x7fe00010;
  const bytes = ds.byteArray;
  const need = n * (bitsAllocated / 8);
  if (el.dataOffset + Math.min(el.length, need) > bytes.length || el.length < need)
    throw fail(file, `pixel data is truncated: ${Math.max(0, Math.min(el.length, bytes.length - el.dataOffset))} bytes present, ${need} needed`);
  const off = bytes.byteOffset + el.dataOffset;
  if (bitsAllocated === 8) return bytes.subarray(el.dataOffset, el.dataOffset + n);
  if (bitsAllocated !== 16 && bitsAllocated !== 32) throw fail(file, `bits allocated ${bitsAllocated} is not supported (8, 16 or 32)`);
  const size = bitsAllocated / 8;
  if (!bigEndian && off % size === 0) return bitsAllocated === 16 ? new Uint16Array(bytes.buffer, off, n) : new Uint32Array(bytes.buffer, off, n);
  const dv = new DataView(bytes.buffer, off, need);
  const out = bitsAllocated === 16 ? new Uint16Array(n) : new Uint32Array(n);
  if (bitsAllocated === 16) for (let i = 0; i < n; i++) out[i] = dv.getUint16(2 * i, !bigEndian);
  else for (let i = 0; i < n; i++) out[i] = dv.getUint32(4 * i, !bigEndian);
  return out;
}

function frameSamples(f: CodecFrame, file: string, n: number): Uint8Array | Uint16Array {
  if (f.width * f.height * f.components < n) throw fail(file, `codec frame ${f.width}x${f.height} is smaller than the header says`);
  const bytesPer = f.bits <= 8 ? 1 : 2;
  if (f.pixels.byteLength < n * bytesPer) throw fail(file, 'codec returned fewer pixels than the header says');
  if (bytesPer === 1) return f.pixels.subarray(0, n);
  return f.pixels.byteOffset % 2 === 0 ? new Uint16Array(f.pixels.buffer, f.pixels.byteOffset, n) : new Uint16Array(f.pixels.slice(0, 2 * n).buffer);
}

/**
 * Decodes DICOM bytes into a float32 grey image plus header facts.
 *
 *   const img = await decodeDicom(fs.readFileSync('x.dcm'), 'x.dcm');
 *   console.log(img.width, img.height, img.info.photometric);
 */
export async function decodeDicom(bytes: Uint8Array, file = '<buffer>', opts: DecodeDicomOptions = {}): Promise<DicomImage> {
  const { ds, hasPreamble } = parse(bytes, file);
  const ts = ds.string('x00020010')?.trim() ?? '1.2.840.10008.1.2';
  const tsName = TRANSFER_SYNTAXES[ts];
  if (!tsName) throw fail(file, `unsupported transfer syntax ${ts} (supported: ${Object.keys(TRANSFER_SYNTAXES).join(', ')})`);
  const pixel = ds.elements.x7fe00010;
  if (!pixel) throw fail(file, 'no pixel data element (7FE0,0010): not a DICOM image, or truncated before the pixels');
  const rows = num(ds, 'x00280010', file, 'Rows');
  const cols = num(ds, 'x00280011', file, 'Columns');
  if (!(rows > 0 && cols > 0)) throw fail(file, `image size ${cols}x${rows} is empty`);
  const bitsAllocated = num(ds, 'x00280100', file, 'BitsAllocated');
  const bitsStored = num(ds, 'x00280101', file, 'BitsStored', bitsAllocated);
  const signed = num(ds, 'x00280103', file, 'PixelRepresentation', 0) === 1;
  const spp = num(ds, 'x00280002', file, 'SamplesPerPixel', 1);
  const photometric = (ds.string('x00280004') ?? 'MONOCHROME2').trim().toUpperCase();
  if (spp !== 1 || !photometric.startsWith('MONOCHROME'))
    throw fail(file, `only grey images are supported (SamplesPerPixel ${spp}, ${photometric})`);
  const slope = ds.elements.x00281053 ? ds.floatString('x00281053') ?? 1 : 1;
  const intercept = ds.elements.x00281052 ? ds.floatString('x00281052') ?? 0 : 0;
  const n = rows * cols;

  let raw: Uint8Array | Uint16Array | Uint32Array;
  let codecSigned = false;
  if (ts.startsWith('1.2.840.10008.1.2.4.') || ts === '1.2.840.10008.1.2.5') {
    if (!pixel.encapsulatedPixelData) throw fail(file, `transfer syntax ${ts} needs encapsulated pixel data`);
    let stream: Uint8Array;
    try {
      stream = pixel.basicOffsetTable && pixel.basicOffsetTable.length > 0
        ? dicomParser.readEncapsulatedImageFrame(ds, pixel, 0)
        : dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixel, 0, pixel.fragments?.length ?? 0);
    } catch (e) {
      throw fail(file, `encapsulated pixel data is unreadable (${msg(e)})`);
    }
    const frame = ts === '1.2.840.10008.1.2.5' ? decodeRle(stream, file, cols, rows, bitsAllocated)
      : ts.endsWith('.50') ? await decodeJpegBaseline(stream, file)
      : ts.endsWith('.90') || ts.endsWith('.91') ? await decodeJ2k(stream, file) : await decodeJls(stream, file);
    if (frame.width !== cols || frame.height !== rows)
      throw fail(file, `codec frame is ${frame.width}x${frame.height} but the header says ${cols}x${rows}`);
    raw = frameSamples(frame, file, n);
    codecSigned = frame.signed;
  } else {
    raw = readNative(ds, file, n, bitsAllocated, ts === '1.2.840.10008.1.2.2');
  }

  // bits stored: keep the low bits, sign-extend when PixelRepresentation = 1
  const bits = Math.min(bitsStored, 32);
  const sgn = signed || codecSigned;
  const out = new Float32Array(n);
  let lo = Infinity;
  let hi = -Infinity;
  if (bits <= 30) {
    const mask = (1 << bits) - 1;
    const half = 1 << (bits - 1);
    const plain = slope === 1 && intercept === 0;
    for (let i = 0; i < n; i++) {
      let v = raw[i] & mask;
      if (sgn && v >= half) v -= 2 * half;
      const w = plain ? v : v * slope + intercept;
      out[i] = w;
      if (w < lo) lo = w;
      if (w > hi) hi = w;
    }
  } else {
    for (let i = 0; i < n; i++) {
      let v = raw[i] >>> 0;
      if (sgn && v >= 2 ** 31) v -= 2 ** 32;
      const w = v * slope + intercept;
      out[i] = w;
      if (w < lo) lo = w;
      if (w > hi) hi = w;
    }
  }
  // min/max of the float32 values, so the inversion maps them exactly onto each other
  lo = Math.fround(lo);
  hi = Math.fround(hi);
  const invert = (opts.invert ?? true) && photometric === 'MONOCHROME1';
  if (invert) for (let i = 0; i < n; i++) out[i] = hi + lo - out[i];
  return {
    width: cols, height: rows, data: out,
    info: {
      transferSyntax: ts, transferSyntaxName: tsName, photometric, bitsAllocated, bitsStored, signed, slope, intercept,
      hasPreamble, inverted: invert, manufacturer: ds.string('x00080070')?.trim(), modality: ds.string('x00080060')?.trim(),
    },
  };
}

/** Reads and decodes a DICOM file; a missing or unreadable file is an EIO MdmtError naming it. */
export async function readDicom(file: string, opts: DecodeDicomOptions = {}): Promise<DicomImage> {
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(file);
  } catch (e) {
    throw fail(file, `cannot read image file (${(e as NodeJS.ErrnoException).code ?? msg(e)})`, 'EIO');
  }
  return decodeDicom(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), file, opts);
}
