/**
 * The image codecs DICOM needs beyond raw pixels: JPEG 2000 (OpenJPEG) and JPEG-LS (CharLS),
 * both WASM from @cornerstonejs loaded once per thread from node_modules (no network; each
 * decode copies the code stream into WASM memory and the pixels out), RLE Lossless (PackBits
 * byte planes, DICOM PS3.5 G) and 8-bit JPEG baseline through sharp.
 */
import sharp from 'sharp';
import { MdmtError } from '../errors';

interface FrameInfo { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned?: boolean }
interface WasmDecoder {
  getEncodedBuffer(n: number): Uint8Array;
  decode(): void;
  getFrameInfo(): FrameInfo;
  getDecodedBuffer(): Uint8Array;
  delete(): void;
}
interface CodecModule { J2KDecoder?: new () => WasmDecoder; JpegLSDecoder?: new () => WasmDecoder }

let j2k: Promise<CodecModule> | undefined;
let jls: Promise<CodecModule> | undefined;

function load(spec: string): Promise<CodecModule> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const factory = require(spec) as (o: object) => Promise<CodecModule>;
  return factory({ print: () => {}, printErr: () => {} });
}

export interface CodecFrame { width: number; height: number; bits: number; components: number; signed: boolean; pixels: Uint8Array }

async function run(mod: Promise<CodecModule>, kind: 'J2KDecoder' | 'JpegLSDecoder', stream: Uint8Array, file: string): Promise<CodecFrame> {
  const m = await mod;
  const Ctor = m[kind];
  if (!Ctor) throw new MdmtError('EINTERNAL', 'decodeDicom', `${file}: codec module has no ${kind}`);
  const dec = new Ctor();
  try {
    dec.getEncodedBuffer(stream.length).set(stream);
    dec.decode();
    const fi = dec.getFrameInfo();
    const out = dec.getDecodedBuffer();
    return {
      width: fi.width, height: fi.height, bits: fi.bitsPerSample, components: fi.componentCount,
      signed: !!fi.isSigned, pixels: new Uint8Array(out), // copy out of WASM memory before delete()
    };
  } catch (e) {
    throw new MdmtError('EDATA', 'decodeDicom', `${file}: ${kind === 'J2KDecoder' ? 'JPEG 2000' : 'JPEG-LS'} code stream could not be decoded (${String((e as Error)?.message ?? e)})`);
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

/** Decodes an 8-bit JPEG baseline frame through sharp (libjpeg). */
export async function decodeJpegBaseline(stream: Uint8Array, file: string): Promise<CodecFrame> {
  try {
    const { data, info } = await sharp(stream).grayscale().raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, bits: 8, components: 1, signed: false, pixels: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (e) {
    throw new MdmtError('EDATA', 'decodeDicom', `${file}: JPEG baseline frame could not be decoded (${(e as Error).message})`);
  }
}
