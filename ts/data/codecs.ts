/**
 * The image codecs DICOM needs beyond raw pixels: JPEG 2000 (OpenJPEG) and JPEG-LS (CharLS),
 * both WASM from @cornerstonejs loaded once per thread from node_modules (no network; each
 * decode copies the code stream into WASM memory and the pixels out), RLE Lossless (PackBits
 * byte planes, DICOM PS3.5 G), 8-bit JPEG baseline through sharp, JPEG Lossless (process 14,
 * any predictor: the usual lossless syntax of CR/DX archives) through jpeg-lossless-decoder-js,
 * and 12-bit extended JPEG (process 4) through dcmjs-codecs' WASM libjpeg (libjpeg-turbo as
 * built into sharp and @cornerstonejs/codec-libjpeg-turbo-8bit decodes 8 bits only).
 */
import sharp from 'sharp';
import { Decoder as LosslessDecoder } from 'jpeg-lossless-decoder-js';
import { MdmtError } from '../errors';

interface FrameInfo { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned?: boolean }
interface WasmDecoder {
  getEncodedBuffer(n: number): Uint8Array;
  decode(): void;
  getFrameInfo(): FrameInfo;
  getDecodedBuffer(): Uint8Array;
  delete(): void;
}
interface CodecModule { J2KDecoder?: new () => WasmDecoder; JpegLSDecoder?: new () => WasmDecoder; HEAPU8: Uint8Array; HEAPU32: Uint32Array }
/** A loaded codec and the "[ERROR] ..." lines it printed since the last decode began. */
interface Codec { mod: CodecModule; said: string[] }

let j2k: Promise<Codec> | undefined;
let jls: Promise<Codec> | undefined;

async function load(spec: string): Promise<Codec> {
  // each WebAssembly codec is loaded the first time a DICOM needs it (most data sets never do)
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const factory = require(spec) as (o: object) => Promise<CodecModule>;
  // OpenJPEG reports a corrupt code stream only through its message handlers (printed as
  // "[ERROR] ...") and then returns a 0x0 frame without throwing: keep those lines (its
  // [WARNING]s are left out: a genuine stream may draw one, e.g. for an unknown marker)
  const said: string[] = [];
  const keep = (s: string) => {
    if (s.startsWith('[ERROR]')) said.push(s.replace(/^\[ERROR\]\s*/, '').trim());
  };
  return { mod: await factory({ print: keep, printErr: keep }), said };
}

/**
 * The message of a C++ exception a codec threw. Emscripten throws the address of the exception
 * object; both codecs throw std::runtime_error subclasses (CharLS's jpegls_error, the
 * decoders' own runtime_error), whose libc++ layout on wasm32 is [vtable][what() string]. The
 * string is used only when it reads as one: NUL-terminated printable text inside the heap.
 */
function cppExceptionMessage(mod: Pick<CodecModule, 'HEAPU8' | 'HEAPU32'>, e: unknown): string {
  if (typeof e !== 'number') return String((e as Error)?.message ?? e);
  const heap = mod.HEAPU8;
  const at = e % 4 === 0 && e + 8 <= heap.length ? mod.HEAPU32[e / 4 + 1] : 0;
  let s = '';
  for (let i = at; at > 0 && i < heap.length && i < at + 512; i++) {
    if (heap[i] === 0) return s.length ? s : `a C++ exception at WASM address ${e} with no message`;
    if (heap[i] < 0x20 || heap[i] > 0x7e) break;
    s += String.fromCharCode(heap[i]);
  }
  return `a C++ exception at WASM address ${e} whose message could not be read`;
}

export interface CodecFrame { width: number; height: number; bits: number; components: number; signed: boolean; pixels: Uint8Array }

async function run(codec: Promise<Codec>, kind: 'J2KDecoder' | 'JpegLSDecoder', stream: Uint8Array, file: string): Promise<CodecFrame> {
  const { mod, said } = await codec;
  const Ctor = mod[kind];
  if (!Ctor) throw new MdmtError('EINTERNAL', 'decodeDicom', `${file}: codec module has no ${kind}`);
  const name = kind === 'J2KDecoder' ? 'JPEG 2000' : 'JPEG-LS';
  const lib = kind === 'J2KDecoder' ? 'OpenJPEG' : 'CharLS';
  const bad = (why: string) => new MdmtError('EDATA', 'decodeDicom', `${file}: ${name} code stream could not be decoded (${lib}: ${why})`);
  const dec = new Ctor();
  try {
    // decode() is synchronous: the lines said during it belong to this stream
    said.length = 0;
    dec.getEncodedBuffer(stream.length).set(stream);
    dec.decode();
    if (said.length) throw bad(said.join('; '));
    const fi = dec.getFrameInfo();
    const out = dec.getDecodedBuffer();
    return {
      width: fi.width, height: fi.height, bits: fi.bitsPerSample, components: fi.componentCount,
      signed: !!fi.isSigned, pixels: new Uint8Array(out), // copy out of WASM memory before delete()
    };
  } catch (e) {
    if (e instanceof MdmtError) throw e;
    throw bad([...said, cppExceptionMessage(mod, e)].join('; '));
  } finally {
    dec.delete();
  }
}

/** Decodes one JPEG 2000 code stream (J2K or JP2) with OpenJPEG. */
export function decodeJ2k(stream: Uint8Array, file: string): Promise<CodecFrame> {
  j2k ??= load('@cornerstonejs/codec-openjpeg/decodewasmjs');
  return run(j2k, 'J2KDecoder', stream, file);
}

/** Decodes one JPEG-LS code stream (lossless or near-lossless) with CharLS. */
export function decodeJls(stream: Uint8Array, file: string): Promise<CodecFrame> {
  jls ??= load('@cornerstonejs/codec-charls/decodewasmjs');
  return run(jls, 'JpegLSDecoder', stream, file);
}

/**
 * Decodes one RLE Lossless frame (PS3.5 annex G): a 64-byte header (segment count + 15
 * offsets), then one PackBits segment per byte plane, most significant plane first.
 */
export function decodeRle(frame: Uint8Array, file: string, width: number, height: number, bitsAllocated: number): CodecFrame {
  const bad = (d: string) => new MdmtError('EDATA', 'decodeDicom', `${file}: RLE frame ${d}`);
  if (bitsAllocated !== 8 && bitsAllocated !== 16) throw bad(`with ${bitsAllocated} bits allocated is not supported (8 or 16)`);
  if (frame.length < 64) throw bad(`is ${frame.length} bytes, shorter than its 64-byte header`);
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const nseg = dv.getUint32(0, true);
  const planes = bitsAllocated / 8;
  if (nseg !== planes) throw bad(`has ${nseg} segments, ${planes} expected for ${bitsAllocated}-bit grey pixels`);
  const n = width * height;
  const out = new Uint8Array(n * planes);
  for (let s = 0; s < nseg; s++) {
    const start = dv.getUint32(4 + 4 * s, true);
    const end = s + 1 < nseg ? dv.getUint32(8 + 4 * s, true) : frame.length;
    if (start < 64 || end > frame.length || end < start) throw bad(`segment ${s + 1} offsets ${start}..${end} are outside the frame`);
    // plane s holds byte (planes − 1 − s) of each little-endian sample
    const byte = planes - 1 - s;
    let i = start;
    let k = 0;
    while (i < end && k < n) {
      const c = (frame[i++] << 24) >> 24;
      if (c >= 0) {
        for (let j = 0; j <= c && k < n; j++) out[k++ * planes + byte] = frame[i++];
      } else if (c !== -128) {
        const v = frame[i++];
        for (let j = 0; j < 1 - c && k < n; j++) out[k++ * planes + byte] = v;
      }
    }
    if (k < n) throw bad(`segment ${s + 1} is truncated: ${k} of ${n} samples`);
  }
  return { width, height, bits: bitsAllocated, components: 1, signed: false, pixels: out };
}

/**
 * Whether a JPEG baseline frame of several components is grey: every pixel's channels within 2
 * levels of each other once decoded to RGB (neutral chroma, as libjpeg and libvips store a grey
 * image in YCbCr; chroma quantisation leaves a level or so). A colour frame has larger spreads.
 */
export async function jpegIsGrey(stream: Uint8Array, file: string): Promise<boolean> {
  let raw: { data: Buffer; info: { channels: number } };
  try {
    raw = await sharp(stream).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new MdmtError('EDATA', 'decodeDicom', `${file}: JPEG baseline frame could not be decoded (${(e as Error).message})`);
  }
  const { data, info } = raw;
  if (info.channels < 3) return true;
  for (let i = 0; i + 2 < data.length; i += info.channels) {
    const r = data[i]!, g = data[i + 1]!, b = data[i + 2]!;
    if (Math.max(r, g, b) - Math.min(r, g, b) > 2) return false;
  }
  return true;
}

/** Decodes an 8-bit JPEG baseline frame through sharp (libjpeg). */
export async function decodeJpegBaseline(stream: Uint8Array, file: string): Promise<CodecFrame> {
  try {
    const { data, info } = await sharp(stream).grayscale().raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, bits: 8, components: 1, signed: false, pixels: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (e) {
    throw new MdmtError('EDATA', 'decodeDicom', `${file}: JPEG baseline frame could not be decoded (${(e as Error).message})`);
  }
}

/** What a JPEG stream's frame header (SOFn) says: process, sample precision, size, components. */
export interface JpegFrameInfo { sof: number; precision: number; width: number; height: number; components: number }

/**
 * Reads the first SOFn segment of a JPEG stream (0xC0 baseline, 0xC1 extended, 0xC3
 * lossless, ...), so the decoder can be checked against the DICOM header before decoding.
 */
export function jpegFrameInfo(stream: Uint8Array, file: string): JpegFrameInfo {
  const bad = (d: string) => new MdmtError('EDATA', 'decodeDicom', `${file}: JPEG stream ${d}`);
  if (stream.length < 4 || stream[0] !== 0xff || stream[1] !== 0xd8) throw bad('does not start with an SOI marker (FFD8)');
  let i = 2;
  while (i + 4 <= stream.length) {
    if (stream[i] !== 0xff) throw bad(`has no marker at byte ${i} before its frame header`);
    const m = stream[i + 1];
    if (m === 0xff) { i++; continue; } // fill byte
    const len = (stream[i + 2] << 8) | stream[i + 3];
    const isSof = m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
    if (isSof) {
      if (i + 10 > stream.length) break;
      return { sof: m, precision: stream[i + 4], height: (stream[i + 5] << 8) | stream[i + 6], width: (stream[i + 7] << 8) | stream[i + 8], components: stream[i + 9] };
    }
    if (m === 0xd9 || m === 0xda) break;
    i += 2 + len;
  }
  throw bad('has no frame header (SOFn) before its scan: truncated or not JPEG');
}

/**
 * Throws unless a JPEG stream ends with its EOI marker (FFD9; DICOM may pad the fragment, so
 * the last 64 bytes are searched). JPEG has no checksum and the lossless decoder reads past
 * the end without a word, so a cut stream would decode into garbage rows otherwise.
 */
export function checkJpegEnd(stream: Uint8Array, file: string): void {
  for (let i = stream.length - 2; i >= Math.max(2, stream.length - 64); i--) if (stream[i] === 0xff && stream[i + 1] === 0xd9) return;
  throw new MdmtError('EDATA', 'decodeDicom', `${file}: JPEG stream has no end-of-image marker (FFD9): truncated`);
}

/**
 * Decodes one JPEG Lossless frame (process 14, predictors 1..7: DICOM .57 and .70) with
 * jpeg-lossless-decoder-js (the caller checks the EOI marker first: checkJpegEnd).
 */
export function decodeJpegLossless(stream: Uint8Array, file: string): CodecFrame {
  const dec = new LosslessDecoder();
  let out: Uint8Array | Uint16Array;
  try {
    // the decoder reads the whole ArrayBuffer from 0: a copy of its own (Buffer#slice is a view
    // into the file's buffer, whose first bytes are the preamble: 'Not a JPEG file')
    const copy = new Uint8Array(stream);
    out = dec.decode(copy.buffer, 0, copy.length);
  } catch (e) {
    throw new MdmtError('EDATA', 'decodeDicom', `${file}: JPEG Lossless code stream could not be decoded (${(e as Error)?.message ?? e})`);
  }
  return {
    width: dec.xDim, height: dec.yDim, bits: dec.precision ?? 16, components: dec.numComp, signed: false,
    pixels: new Uint8Array(out.buffer, out.byteOffset, out.byteLength),
  };
}

// loaded on the first .51 frame only: dcmjs-codecs pulls in dcmjs (~90 ms per worker thread)
let libjpeg: Promise<typeof import('dcmjs-codecs')> | undefined;

/**
 * Decodes one extended (process 2/4) JPEG frame of 8 or 12 bits (DICOM .51) with the IJG
 * libjpeg inside dcmjs-codecs' WASM (12-bit samples come out in 16-bit words).
 */
export async function decodeJpegExtended(stream: Uint8Array, file: string, info: JpegFrameInfo): Promise<CodecFrame> {
  libjpeg ??= import('dcmjs-codecs').then(async (m) => {
    await m.NativeCodecs.initializeAsync();
    return m;
  });
  const bitsAllocated = info.precision > 8 ? 16 : 8;
  try {
    const { Context: JpegContext, NativeCodecs } = await libjpeg;
    const ctx = new JpegContext({
      width: info.width, height: info.height, bitsAllocated, bitsStored: info.precision, samplesPerPixel: 1,
      pixelRepresentation: 0, planarConfiguration: 0, photometricInterpretation: 'MONOCHROME2', encodedBuffer: stream,
    });
    const out = NativeCodecs.decodeJpeg(ctx).getDecodedBuffer();
    if (!out || out.length < info.width * info.height * (bitsAllocated / 8)) throw new Error('the codec returned too few pixels');
    return { width: info.width, height: info.height, bits: info.precision, components: 1, signed: false, pixels: new Uint8Array(out) };
  } catch (e) {
    throw new MdmtError('EDATA', 'decodeDicom', `${file}: ${info.precision}-bit JPEG (extended) code stream could not be decoded (${(e as Error)?.message ?? e})`);
  }
}
