/**
 * DICOM decoding with dicom-parser: uncompressed implicit/explicit little endian, explicit big
 * endian, deflated, RLE Lossless, JPEG 2000, JPEG-LS, 8-bit JPEG baseline, 12-bit extended
 * JPEG and JPEG Lossless (everything the authors' pydicom + Pillow could read, and more); files
 * with or without the 128-byte preamble and file meta. Pixels come out as float32 modality
 * values (the BitsStored bits ending at HighBit, sign extended, rescale slope/intercept applied) and MONOCHROME1
 * images are inverted so that bright means dense everywhere (the authors'
 * `np.interp(img, (min, max), (max, min))`).
 *
 * Values outside their legal ranges are refused, naming the file and the attribute, rather
 * than decoded into a plausible-looking wrong image: BitsStored 0 or above BitsAllocated, a
 * HighBit outside the allocated bits, PixelRepresentation other than 0/1, a photometric
 * interpretation other than MONOCHROME1/2, a non-finite or zero
 * RescaleSlope / non-finite RescaleIntercept, more than one frame, an element whose declared
 * length runs past the end of the file, pixel data longer than one frame, codec samples wider
 * than the header says, and an image that is constant after decoding.
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import * as dicomParser from 'dicom-parser';
import { MdmtError } from '../errors';
import { decodeJ2k, decodeJls, decodeJpegBaseline, decodeJpegExtended, decodeJpegLossless, decodeRle, jpegFrameInfo, jpegIsGrey, checkJpegEnd, CodecFrame } from './codecs';
import { checkImageSize, checkNotConstant, type GrayImage } from './gray';

export const TRANSFER_SYNTAXES: Record<string, string> = {
  '1.2.840.10008.1.2': 'Implicit VR Little Endian',
  '1.2.840.10008.1.2.1': 'Explicit VR Little Endian',
  '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR Little Endian',
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline (8-bit)',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended (8 or 12-bit)',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless (process 14)',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless (process 14, first-order prediction)',
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
  /** WindowCenter / WindowWidth (0028,1050/1051) and their explanation (0028,1055) as written
   *  (DS text, `\` between windows), when present. Not applied: preprocessing clips to the
   *  2nd–98th percentile, as the paper's pipeline; `mdmt inspect` shows them. */
  window?: { center: string; width: string; explanation?: string };
  /** a Modality LUT Sequence (0028,3000) is present: not applied (RescaleSlope/Intercept are) */
  modalityLut?: boolean;
  /** a VOI LUT Sequence (0028,3010) is present: not applied */
  voiLut?: boolean;
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

const VRS = new Set('AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV'.split(' '));

/**
 * Whether a file without preamble begins like a DICOM data set: its first element of group 0008
 * or below (every composite IOD has SOP Class / Instance UID, (0008,0016) and (0008,0018); 0002
 * is a file meta group, 0004 a DICOMDIR's), then a VR (explicit) or a length that fits the file
 * (implicit, or undefined). Text, JSON and ZIP (.xlsx) files do not: their first bytes read as
 * an element of hundreds of MB, which is no reason to report a corrupt DICOM. Only an error
 * message depends on it: a file that parses is read whatever it begins with.
 */
export function looksLikeDataSet(b: Uint8Array): boolean {
  if (b.length < 8) return false;
  const low = (g: number) => g === 0 || g === 2 || g === 4 || g === 8;
  if (b[0] === 0 && low(b[1])) return true; // big endian
  if (!low(b[0] | (b[1] << 8))) return false;
  if (VRS.has(String.fromCharCode(b[4], b[5]))) return true;
  const len = (b[4] | (b[5] << 8) | (b[6] << 16)) + b[7] * 2 ** 24;
  return len === 0xffffffff || len <= b.length - 8;
}

/** A file meta group without the preamble before it: the file starts at (0002,xxxx), explicit VR (PS3.10 7.1). */
function bareMeta(b: Uint8Array): boolean {
  return !hasDicm(b) && b.length > 6 && b[0] === 0x02 && b[1] === 0x00 && looksExplicit(b);
}

/**
 * Parses a file with or without preamble and file meta. A meta group without its preamble is
 * given one (`base` = the 132 bytes added, taken off the byte offsets errors name): read as a
 * bare data set, an implicit VR or big endian data set after it was parsed as explicit little
 * endian and failed on a made-up element.
 */
function parse(bytes: Uint8Array, file: string): { ds: dicomParser.DataSet; hasPreamble: boolean; base: number } {
  if (bytes.length === 0) throw fail(file, 'file is empty (0 bytes), not a DICOM file');
  const hasPreamble = hasDicm(bytes);
  const base = bareMeta(bytes) ? 132 : 0;
  if (base) {
    const full = new Uint8Array(base + bytes.length);
    full.set([0x44, 0x49, 0x43, 0x4d], 128);
    full.set(bytes, base);
    bytes = full;
  }
  const opts: Record<string, unknown> = {
    inflater: (arr: Uint8Array, pos: number) => {
      const inflated = zlib.inflateRawSync(arr.subarray(pos));
      const full = new Uint8Array(pos + inflated.length);
      full.set(arr.subarray(0, pos), 0);
      full.set(inflated, pos);
      return full;
    },
  };
  if (!hasPreamble && !base) opts.TransferSyntaxUID = looksExplicit(bytes) ? '1.2.840.10008.1.2.1' : '1.2.840.10008.1.2';
  try {
    return { ds: dicomParser.parseDicom(bytes, opts as dicomParser.ParseDicomOptions), hasPreamble, base };
  } catch (e) {
    // dicom-parser keeps the element that overran in the partial data set: name it
    const partial = (e as { dataSet?: dicomParser.DataSet })?.dataSet;
    if (partial) checkLengths(partial, file, base);
    const detail = (e as { exception?: unknown })?.exception ?? e;
    throw fail(file, `not a readable DICOM file (${msg(detail)}); truncated or corrupt?`);
  }
}

const TAG_NAMES: Record<string, string> = {
  x00020010: 'TransferSyntaxUID', x00080060: 'Modality', x00080070: 'Manufacturer', x00280002: 'SamplesPerPixel',
  x00280004: 'PhotometricInterpretation', x00280008: 'NumberOfFrames', x00280010: 'Rows', x00280011: 'Columns',
  x00280100: 'BitsAllocated', x00280101: 'BitsStored', x00280102: 'HighBit', x00280103: 'PixelRepresentation',
  x00281052: 'RescaleIntercept', x00281053: 'RescaleSlope', x7fe00010: 'PixelData',
};
/** 'BitsStored (0028,0101)' */
export function tagLabel(tag: string): string {
  return `${TAG_NAMES[tag] ?? 'element'} (${tag.slice(1, 5).toUpperCase()},${tag.slice(5).toUpperCase()})`;
}

/** Refuses an element whose declared length runs past the end of the data (dicom-parser accepts it in implicit VR); `base`: bytes parse() put before the file. */
function checkLengths(ds: dicomParser.DataSet, file: string, base = 0): void {
  const end = ds.byteArray.length;
  for (const [tag, el] of Object.entries(ds.elements)) {
    if (el.hadUndefinedLength || el.length === 0xffffffff) continue;
    if (el.dataOffset + el.length > end)
      throw fail(file, `not a readable DICOM file: ${tagLabel(tag)} declares ${el.length} bytes at byte ${el.dataOffset - base}, but the file ends ${Math.max(0, end - el.dataOffset)} bytes later: truncated, or a corrupt length`);
  }
}

function num(ds: dicomParser.DataSet, tag: string, file: string, def?: number): number {
  const el = ds.elements[tag];
  if (!el) {
    if (def !== undefined) return def;
    throw fail(file, `missing required attribute ${tagLabel(tag)}`);
  }
  const v = el.length >= 2 ? ds.uint16(tag) : undefined;
  if (v === undefined || !Number.isFinite(v)) {
    if (def !== undefined) return def;
    throw fail(file, `attribute ${tagLabel(tag)} has no valid value`);
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
  // one byte of padding makes an odd length even; anything more is a second frame or wrong Rows/Columns/BitsAllocated
  if (el.length > need + (need % 2))
    throw fail(file, `${tagLabel('x7fe00010')} holds ${el.length} bytes but one frame of Rows × Columns × BitsAllocated/8 is ${need}: several frames, or wrong size attributes`);
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
  try {
    return await decodeChecked(bytes, file, opts);
  } catch (e) {
    // a codec or typed-array failure on this file's bytes (a RangeError, a WASM abort) is this
    // file's problem: as an MdmtError it fails the one file, not the loader and its batch
    throw e instanceof MdmtError ? e : fail(file, `cannot be decoded (${msg(e)})`);
  }
}

async function decodeChecked(bytes: Uint8Array, file: string, opts: DecodeDicomOptions): Promise<DicomImage> {
  const { ds, hasPreamble, base } = parse(bytes, file);
  checkLengths(ds, file, base);
  const ts = ds.string('x00020010')?.trim() ?? '1.2.840.10008.1.2';
  const tsName = TRANSFER_SYNTAXES[ts];
  if (!tsName) throw fail(file, `unsupported transfer syntax ${ts} (supported: ${Object.keys(TRANSFER_SYNTAXES).join(', ')})`);
  if (!ds.elements.x7fe00010) throw fail(file, 'no pixel data element (7FE0,0010): not a DICOM image, or truncated before the pixels');
  const h = readHeader(ds, file);
  const n = h.rows * h.cols;
  let raw: Uint8Array | Uint16Array | Uint32Array;
  let codecSigned = false;
  const encapsulated = ts.startsWith('1.2.840.10008.1.2.4.') || ts === '1.2.840.10008.1.2.5';
  // RLE (PS3.5 G.2) encodes the whole cell of BitsAllocated bits, as native data holds it; the JPEG codecs return the samples themselves
  const cells = !encapsulated || ts === '1.2.840.10008.1.2.5';
  if (encapsulated) {
    const frame = await decodeEncapsulated(ds, ts, file, h);
    if (frame.width !== h.cols || frame.height !== h.rows)
      throw fail(file, `codec frame is ${frame.width}x${frame.height} but the header says ${h.cols}x${h.rows}`);
    if (frame.bits > h.bitsAllocated)
      throw fail(file, `the code stream holds ${frame.bits}-bit samples but ${tagLabel('x00280100')} is ${h.bitsAllocated}`);
    raw = frameSamples(frame, file, n);
    codecSigned = frame.signed;
    // samples wider than BitsStored would be cut by the mask below: the header lies, say so
    if (!cells && frame.bits > h.bitsStored && !(h.signed || codecSigned)) {
      let mx = 0;
      for (let i = 0; i < n; i++) if (raw[i] > mx) mx = raw[i];
      if (mx >= 2 ** h.bitsStored) throw fail(file, `decoded sample ${mx} does not fit ${tagLabel('x00280101')} ${h.bitsStored} (the code stream has ${frame.bits}-bit samples)`);
    }
  } else {
    raw = readNative(ds, file, n, h.bitsAllocated, ts === '1.2.840.10008.1.2.2');
  }
  // cells hold the sample at HighBit (12 bits stored in bits 4..15 of 16); a JPEG codec returns the samples themselves
  const shift = cells ? h.highBit - h.bitsStored + 1 : 0;
  const out = toModality(raw, n, h, h.signed || codecSigned, file, shift);
  const invert = (opts.invert ?? true) && h.photometric === 'MONOCHROME1';
  if (invert) {
    // min/max of the float32 values, so the inversion maps them exactly onto each other
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) {
      if (out[i] < lo) lo = out[i];
      if (out[i] > hi) hi = out[i];
    }
    for (let i = 0; i < n; i++) out[i] = hi + lo - out[i];
  }
  const { rows, cols, photometric, bitsAllocated, bitsStored, signed, slope, intercept } = h;
  return {
    width: cols, height: rows, data: out,
    info: {
      transferSyntax: ts, transferSyntaxName: tsName, photometric, bitsAllocated, bitsStored, signed, slope, intercept,
      hasPreamble, inverted: invert, manufacturer: ds.string('x00080070')?.trim(), modality: ds.string('x00080060')?.trim(),
      ...displayTags(ds),
    },
  };
}

/** The display window and LUT sequences a file carries, reported (DicomInfo) but not applied. */
function displayTags(ds: dicomParser.DataSet): Pick<DicomInfo, 'window' | 'modalityLut' | 'voiLut'> {
  const text = (tag: string) => (ds.elements[tag] ? (ds.string(tag) ?? '').trim() : '');
  const center = text('x00281050'), width = text('x00281051'), explanation = text('x00281055');
  return {
    ...(center || width ? { window: { center, width, ...(explanation ? { explanation } : {}) } } : {}),
    ...(ds.elements.x00283000 ? { modalityLut: true } : {}),
    ...(ds.elements.x00283010 ? { voiLut: true } : {}),
  };
}

interface Header {
  rows: number; cols: number; bitsAllocated: number; bitsStored: number; signed: boolean;
  /** the sample's most significant bit in its cell (PS3.5 8.1.1): bits highBit − bitsStored + 1..highBit hold it */
  highBit: number;
  photometric: string; slope: number; intercept: number;
}

/** The image attributes, each checked against its legal range (PS3.3 C.7.6.3, C.11.1). */
function readHeader(ds: dicomParser.DataSet, file: string): Header {
  const rows = num(ds, 'x00280010', file);
  const cols = num(ds, 'x00280011', file);
  if (!(rows > 0 && cols > 0)) throw fail(file, `image size ${cols}x${rows} is empty (${tagLabel('x00280010')}, ${tagLabel('x00280011')})`);
  checkImageSize(cols, rows, file, 'decodeDicom');
  const bitsAllocated = num(ds, 'x00280100', file);
  if (bitsAllocated < 1 || bitsAllocated > 32) throw fail(file, `${tagLabel('x00280100')} is ${bitsAllocated} (1..32)`);
  const bitsStored = num(ds, 'x00280101', file, bitsAllocated);
  if (bitsStored < 1 || bitsStored > bitsAllocated)
    throw fail(file, `${tagLabel('x00280101')} is ${bitsStored}: it must be 1..${tagLabel('x00280100')} ${bitsAllocated}`);
  const highBit = ds.elements.x00280102 ? num(ds, 'x00280102', file) : bitsStored - 1;
  if (highBit >= bitsAllocated || highBit < bitsStored - 1)
    throw fail(file, `${tagLabel('x00280102')} is ${highBit}: with BitsStored ${bitsStored} and BitsAllocated ${bitsAllocated} it must be ${bitsStored - 1}..${bitsAllocated - 1}`);
  const pr = num(ds, 'x00280103', file, 0);
  if (pr !== 0 && pr !== 1) throw fail(file, `${tagLabel('x00280103')} is ${pr} (0 unsigned, 1 two's complement)`);
  const spp = num(ds, 'x00280002', file, 1);
  const photometric = (ds.string('x00280004') ?? 'MONOCHROME2').trim().toUpperCase();
  if (spp !== 1 || !photometric.startsWith('MONOCHROME'))
    throw fail(file, `only grey images are supported (SamplesPerPixel ${spp}, ${photometric})`);
  // 'MONOCHROME3' or 'MONOCHROME' decoded as MONOCHROME2: whether it is a negative is not ours to guess
  if (photometric !== 'MONOCHROME1' && photometric !== 'MONOCHROME2')
    throw fail(file, `${tagLabel('x00280004')} is '${photometric}': not a DICOM photometric interpretation (grey images are MONOCHROME1 or MONOCHROME2)`);
  if (ds.elements.x00280008) {
    const frames = Number((ds.string('x00280008') ?? '').trim());
    if (!Number.isInteger(frames) || frames < 1) throw fail(file, `${tagLabel('x00280008')} is '${ds.string('x00280008')}' (a positive integer)`);
    if (frames > 1) throw fail(file, `${tagLabel('x00280008')} is ${frames}: multi-frame images are not supported (a chest film is one frame; which one to train on is not ours to guess)`);
  }
  const ds0 = (tag: string, def: number) => {
    if (!ds.elements[tag]) return def;
    const text = (ds.string(tag) ?? '').trim();
    if (text === '') return def;
    // the standard gives both one value (VM 1); of several, using the first was a guess that
    // scaled every pixel by a number the file may not mean: differing values are refused
    const vals = text.split('\\').map((t) => t.trim());
    const v = Number(vals[0]);
    if (!vals.every((t) => t !== '' && Number.isFinite(Number(t)))) throw fail(file, `${tagLabel(tag)} is '${text}': not a finite number`);
    if (vals.some((t) => Number(t) !== v)) throw fail(file, `${tagLabel(tag)} is '${text}': ${new Set(vals.map(Number)).size} different values where the standard allows one; which applies is not known`);
    return v;
  };
  const slope = ds0('x00281053', 1);
  const intercept = ds0('x00281052', 0);
  if (slope === 0) throw fail(file, `${tagLabel('x00281053')} is 0: every pixel would become the intercept`);
  return { rows, cols, bitsAllocated, bitsStored, highBit, signed: pr === 1, photometric, slope, intercept };
}

/** The one frame of encapsulated pixel data, decoded by the syntax's codec. */
async function decodeEncapsulated(ds: dicomParser.DataSet, ts: string, file: string, h: Header): Promise<CodecFrame> {
  const pixel = ds.elements.x7fe00010;
  if (!pixel.encapsulatedPixelData) throw fail(file, `transfer syntax ${ts} needs encapsulated pixel data`);
  if (pixel.basicOffsetTable && pixel.basicOffsetTable.length > 1)
    throw fail(file, `${tagLabel('x7fe00010')} holds ${pixel.basicOffsetTable.length} frames: multi-frame images are not supported`);
  let stream: Uint8Array;
  try {
    stream = pixel.basicOffsetTable && pixel.basicOffsetTable.length > 0
      ? dicomParser.readEncapsulatedImageFrame(ds, pixel, 0)
      : dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixel, 0, pixel.fragments?.length ?? 0);
  } catch (e) {
    throw fail(file, `encapsulated pixel data is unreadable (${msg(e)})`);
  }
  if (ts === '1.2.840.10008.1.2.5') return decodeRle(stream, file, h.cols, h.rows, h.bitsAllocated);
  if (ts.endsWith('.90') || ts.endsWith('.91')) return decodeJ2k(stream, file);
  if (ts.endsWith('.80') || ts.endsWith('.81')) return decodeJls(stream, file);
  // the JPEG family: check the frame header (process, precision) before decoding
  const fi = jpegFrameInfo(stream, file);
  checkJpegEnd(stream, file);
  const sofName = `SOF${(fi.sof - 0xc0).toString()}`;
  if (ts.endsWith('.57') || ts.endsWith('.70')) {
    if (fi.sof !== 0xc3) throw fail(file, `transfer syntax ${ts} (JPEG Lossless) holds a ${sofName} stream, not SOF3 (lossless)`);
    return decodeJpegLossless(stream, file);
  }
  if (fi.sof !== 0xc0 && fi.sof !== 0xc1) throw fail(file, `transfer syntax ${ts} holds a ${sofName} JPEG stream (baseline SOF0 or extended SOF1 expected)`);
  if (ts.endsWith('.50')) {
    // the frame may be stored as YCbCr with neutral chroma (libjpeg and libvips write grey that
    // way): that is grey; a colour frame under a grey header was made grey by sharp's luminance,
    // unsaid — the header and the stream disagree, and which one is wrong is not known
    if (fi.components !== 1 && !(await jpegIsGrey(stream, file)))
      throw fail(file, `JPEG stream holds a colour image (${fi.components} components) where the header says SamplesPerPixel 1 (grey images only)`);
    if (fi.precision !== 8) throw fail(file, `transfer syntax ${ts} (JPEG Baseline) holds ${fi.precision}-bit samples (8 expected; 12-bit JPEG is ${'1.2.840.10008.1.2.4.51'})`);
    return decodeJpegBaseline(stream, file);
  }
  if (fi.precision !== 8 && fi.precision !== 12) throw fail(file, `JPEG Extended stream has ${fi.precision}-bit samples (8 or 12)`);
  if (fi.components !== 1) throw fail(file, `JPEG stream has ${fi.components} components (grey images only)`);
  return fi.precision === 8 ? decodeJpegBaseline(stream, file) : decodeJpegExtended(stream, file, fi);
}

/**
 * Stored samples → float32 modality values: keep the BitsStored bits that end at HighBit (the low
 * ones after a right shift by `shift` = HighBit − BitsStored + 1), sign-extend when signed, apply
 * rescale slope/intercept. Refuses non-finite results (a slope that overflows float32) and a
 * constant image.
 */
function toModality(raw: Uint8Array | Uint16Array | Uint32Array, n: number, h: Header, sgn: boolean, file: string, shift = 0): Float32Array {
  const out = new Float32Array(n);
  const { slope, intercept, bitsStored: bits } = h;
  if (bits <= 30) {
    const mask = (1 << bits) - 1;
    const half = 1 << (bits - 1);
    for (let i = 0; i < n; i++) {
      let v = (raw[i] >>> shift) & mask;
      if (sgn && v >= half) v -= 2 * half;
      out[i] = v * slope + intercept;
    }
  } else {
    const cell = 2 ** bits, div = 2 ** shift;
    for (let i = 0; i < n; i++) {
      let v = Math.floor(raw[i] / div) % cell;
      if (sgn && v >= cell / 2) v -= cell;
      out[i] = v * slope + intercept;
    }
  }
  for (let i = 0; i < n; i++)
    if (!Number.isFinite(out[i])) throw fail(file, `pixel ${i} is ${out[i]} after ${tagLabel('x00281053')} ${slope} and ${tagLabel('x00281052')} ${intercept} (beyond float32)`);
  checkNotConstant(out, file, 'decodeDicom');
  return out;
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
