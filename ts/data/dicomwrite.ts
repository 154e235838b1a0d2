/**
 * A minimal DICOM writer for synthetic data and decoder tests: one grey frame, 8 or 16 bits
 * allocated, in Explicit VR Little Endian (default), Implicit VR Little Endian, Deflated
 * Explicit VR Little Endian, Explicit VR Big Endian or RLE Lossless (PackBits), or an
 * encapsulated frame the caller encoded (`frame`, e.g. JPEG baseline bytes), with or without
 * the 128-byte preamble and file meta. Values are written as given (the caller encodes
 * MONOCHROME1, bits stored and rescale into `pixels`).
 */
import * as zlib from 'zlib';

export type WriteSyntax = 'explicit' | 'implicit' | 'deflated' | 'big' | 'rle' | 'jpeg';
const TS_UID: Record<WriteSyntax, string> = {
  explicit: '1.2.840.10008.1.2.1',
  implicit: '1.2.840.10008.1.2',
  deflated: '1.2.840.10008.1.2.1.99',
  big: '1.2.840.10008.1.2.2',
  rle: '1.2.840.10008.1.2.5',
  jpeg: '1.2.840.10008.1.2.4.50',
};
const CR_SOP = '1.2.840.10008.5.1.4.1.1.1';

export interface DicomWriteSpec {
  width: number;
  height: number;
  /** stored values, row-major; Uint16Array for 16 bits allocated, Uint8Array for 8 */
  pixels: Uint16Array | Uint8Array;
  bitsStored?: number;
  photometric?: 'MONOCHROME1' | 'MONOCHROME2';
  /** RescaleSlope / RescaleIntercept as numbers, or DS text as written (decoder tests: 'NaN', 'inf') */
  slope?: number | string;
  intercept?: number | string;
  manufacturer?: string;
  modality?: string;
  patientId?: string;
  sopInstanceUid?: string;
  syntax?: WriteSyntax;
  /** write the 128-byte preamble + DICM + group 0002 (default true; false = raw data set) */
  preamble?: boolean;
  /** syntax 'jpeg': the encoded frame (pixels then only give the size) */
  frame?: Uint8Array;
  /** label the file with another transfer syntax UID than the one written (decoder tests) */
  transferSyntaxUid?: string;
  /** data-set elements to add or replace, e.g. NumberOfFrames (decoder tests of bad headers) */
  extra?: { group: number; elem: number; vr: string; value: Uint8Array | string | number | number[] }[];
}

/** PackBits of one byte plane: repeats of ≥ 3 as runs, the rest as literals of ≤ 128. */
function packBits(src: Uint8Array): Uint8Array {
  const out: number[] = [];
  let i = 0;
  while (i < src.length) {
    let r = 1;
    while (i + r < src.length && r < 128 && src[i + r] === src[i]) r++;
    if (r >= 3) {
      out.push(257 - r, src[i]);
      i += r;
      continue;
    }
    const start = i;
    while (i < src.length && i - start < 128 && !(i + 2 < src.length && src[i] === src[i + 1] && src[i] === src[i + 2])) i++;
    out.push(i - start - 1, ...src.subarray(start, i));
  }
  return Uint8Array.from(out);
}

/** RLE Lossless frame: header of 16 uint32 (segment count, offsets), then MSB-first byte planes. */
function rleFrame(pixels: Uint16Array | Uint8Array): Uint8Array {
  const planes = pixels instanceof Uint8Array ? 1 : 2;
  const segs: Uint8Array[] = [];
  for (let s = 0; s < planes; s++) {
    const shift = 8 * (planes - 1 - s);
    const plane = Uint8Array.from(pixels, (v) => (v >> shift) & 0xff);
    const seg = packBits(plane);
    segs.push(seg.length % 2 ? concat([seg, new Uint8Array(1)]) : seg);
  }
  const head = new Uint8Array(64);
  const dv = new DataView(head.buffer);
  dv.setUint32(0, planes, true);
  let off = 64;
  segs.forEach((seg, s) => {
    dv.setUint32(4 + 4 * s, off, true);
    off += seg.length;
  });
  return concat([head, ...segs]);
}

/** Encapsulated pixel data: undefined length, empty offset table item, one fragment, delimiter. */
function encapsulate(frame: Uint8Array): Uint8Array {
  const even = frame.length % 2 ? concat([frame, new Uint8Array(1)]) : frame;
  const b = new Uint8Array(12 + 8 + 8 + even.length + 8);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, 0x7fe0, true);
  dv.setUint16(2, 0x0010, true);
  b[4] = 0x4f; // 'O'
  b[5] = 0x42; // 'B'
  dv.setUint32(8, 0xffffffff, true);
  const item = (at: number, tag: number, len: number) => {
    dv.setUint16(at, 0xfffe, true);
    dv.setUint16(at + 2, tag, true);
    dv.setUint32(at + 4, len, true);
  };
  item(12, 0xe000, 0); // basic offset table, empty
  item(20, 0xe000, even.length);
  b.set(even, 28);
  item(28 + even.length, 0xe0dd, 0);
  return b;
}

type El = { group: number; elem: number; vr: string; value: Uint8Array | string | number | number[] };
const LONG_VR = new Set(['OB', 'OW', 'SQ', 'UN', 'UT', 'OF']);

function valueBytes(el: El, big: boolean): Uint8Array {
  const v = el.value;
  if (v instanceof Uint8Array) return v.length % 2 ? concat([v, new Uint8Array(1)]) : v;
  if (el.vr === 'US' || el.vr === 'UL') {
    const vals = Array.isArray(v) ? v : [v as number];
    const size = el.vr === 'US' ? 2 : 4;
    const b = new Uint8Array(vals.length * size);
    const dv = new DataView(b.buffer);
    vals.forEach((x, i) => (size === 2 ? dv.setUint16(i * 2, x, !big) : dv.setUint32(i * 4, x, !big)));
    return b;
  }
  let s = String(v);
  if (s.length % 2) s += el.vr === 'UI' ? '\0' : ' ';
  return Uint8Array.from(Buffer.from(s, 'latin1'));
}

function encode(els: El[], explicit: boolean, big: boolean): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const el of els) {
    const val = valueBytes(el, big);
    const head = new Uint8Array(explicit && !LONG_VR.has(el.vr) ? 8 : explicit ? 12 : 8);
    const dv = new DataView(head.buffer);
    dv.setUint16(0, el.group, !big);
    dv.setUint16(2, el.elem, !big);
    if (!explicit) dv.setUint32(4, val.length, !big);
    else {
      head[4] = el.vr.charCodeAt(0);
      head[5] = el.vr.charCodeAt(1);
      if (LONG_VR.has(el.vr)) dv.setUint32(8, val.length, !big);
      else dv.setUint16(6, val.length, !big);
    }
    parts.push(head, val);
  }
  return concat(parts);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Encodes one image as DICOM bytes.
 *
 *   fs.writeFileSync('x.dcm', writeDicom({ width: 64, height: 64, pixels: new Uint16Array(4096) }));
 */
export function writeDicom(spec: DicomWriteSpec): Uint8Array {
  const syntax = spec.syntax ?? 'explicit';
  const bits = spec.pixels instanceof Uint8Array ? 8 : 16;
  const stored = spec.bitsStored ?? bits;
  const uid = spec.sopInstanceUid ?? `2.25.${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  const big = syntax === 'big';
  let pix: Uint8Array;
  if (bits === 8) pix = spec.pixels as Uint8Array;
  else {
    pix = new Uint8Array(spec.pixels.length * 2);
    const dv = new DataView(pix.buffer);
    spec.pixels.forEach((v, i) => dv.setUint16(i * 2, v, !big));
  }
  const data: El[] = [
    { group: 0x0008, elem: 0x0016, vr: 'UI', value: CR_SOP },
    { group: 0x0008, elem: 0x0018, vr: 'UI', value: uid },
    { group: 0x0008, elem: 0x0060, vr: 'CS', value: spec.modality ?? 'CR' },
    { group: 0x0008, elem: 0x0070, vr: 'LO', value: spec.manufacturer ?? 'MDMT SYNTH' },
    { group: 0x0010, elem: 0x0020, vr: 'LO', value: spec.patientId ?? 'SYNTH' },
    { group: 0x0028, elem: 0x0002, vr: 'US', value: 1 },
    { group: 0x0028, elem: 0x0004, vr: 'CS', value: spec.photometric ?? 'MONOCHROME2' },
    { group: 0x0028, elem: 0x0010, vr: 'US', value: spec.height },
    { group: 0x0028, elem: 0x0011, vr: 'US', value: spec.width },
    { group: 0x0028, elem: 0x0100, vr: 'US', value: bits },
    { group: 0x0028, elem: 0x0101, vr: 'US', value: stored },
    { group: 0x0028, elem: 0x0102, vr: 'US', value: stored - 1 },
    { group: 0x0028, elem: 0x0103, vr: 'US', value: 0 },
    ...(spec.intercept !== undefined || spec.slope !== undefined
      ? [
        { group: 0x0028, elem: 0x1052, vr: 'DS', value: String(spec.intercept ?? 0) },
        { group: 0x0028, elem: 0x1053, vr: 'DS', value: String(spec.slope ?? 1) },
      ]
      : []),
  ];
  for (const x of spec.extra ?? []) {
    const at = data.findIndex((d) => d.group === x.group && d.elem === x.elem);
    if (at >= 0) data[at] = x;
    else data.push(x);
  }
  data.sort((a, b) => a.group - b.group || a.elem - b.elem);
  const encapsulated = syntax === 'rle' || syntax === 'jpeg';
  if (syntax === 'jpeg' && !spec.frame) throw new Error("writeDicom: syntax 'jpeg' needs the encoded frame in spec.frame");
  if (!encapsulated) data.push({ group: 0x7fe0, elem: 0x0010, vr: bits === 8 ? 'OB' : 'OW', value: pix });
  let body = encode(data, syntax !== 'implicit', big);
  if (encapsulated) body = concat([body, encapsulate(syntax === 'rle' ? rleFrame(spec.pixels) : spec.frame!)]);
  if (syntax === 'deflated') body = new Uint8Array(zlib.deflateRawSync(body));
  if (spec.preamble === false) return body;
  const metaEls: El[] = [
    { group: 0x0002, elem: 0x0001, vr: 'OB', value: new Uint8Array([0, 1]) },
    { group: 0x0002, elem: 0x0002, vr: 'UI', value: CR_SOP },
    { group: 0x0002, elem: 0x0003, vr: 'UI', value: uid },
    { group: 0x0002, elem: 0x0010, vr: 'UI', value: spec.transferSyntaxUid ?? TS_UID[syntax] },
    { group: 0x0002, elem: 0x0012, vr: 'UI', value: '2.25.1234567' },
  ];
  const meta = encode(metaEls, true, false);
  const len = encode([{ group: 0x0002, elem: 0x0000, vr: 'UL', value: meta.length }], true, false);
  const pre = new Uint8Array(132);
  pre.set([0x44, 0x49, 0x43, 0x4d], 128);
  return concat([pre, len, meta, body]);
}
