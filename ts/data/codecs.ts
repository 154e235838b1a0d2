/**
 * The WASM image codecs DICOM needs beyond raw pixels: JPEG 2000 (OpenJPEG) and JPEG-LS
 * (CharLS), both from @cornerstonejs, loaded once per thread from node_modules (no network).
 * Each decode copies the code stream into WASM memory, decodes, and copies the pixels out.
 */
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
