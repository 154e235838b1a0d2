/**
 * A small extended-process JPEG encoder (ITU T.81: sequential DCT, Huffman, one grey
 * component, SOF1) for decoder tests of DICOM transfer syntax 1.2.840.10008.1.2.4.51. No npm
 * package encodes 12-bit JPEG (dcmjs-codecs' libjpeg refuses 12-bit lossy encoding, sharp and
 * the cornerstone codecs are 8-bit), so the tests carry this one, written for clarity, not size:
 *
 *   - level shift by 2^(P−1), forward DCT of each 8×8 block by its definition (T.81 A.3.3):
 *       F(u,v) = ¼ C(u) C(v) Σx Σy f(x,y) cos((2x+1)uπ/16) cos((2y+1)vπ/16),  C(0) = 1/√2, else 1;
 *   - quantisation by one table `q` (all 1 by default: only rounding is lost);
 *   - Huffman tables where every symbol has a code of one length (DC: the 16 size categories
 *     0..15 as 5-bit codes; AC: EOB, ZRL and run/size pairs for sizes 1..15 as 8-bit codes),
 *     valid canonical tables that need no statistics;
 *   - DC differences and AC run-lengths in zig-zag order (T.81 F.1.2), 0xFF bytes stuffed,
 *     the last byte padded with 1-bits.
 * Image sides need not be multiples of 8: edge blocks repeat the last row and column.
 *
 *   const jpg = encodeJpegExtended(pixels, 64, 48, 12);   // Uint16Array of 0..4095
 */

const ZIGZAG = [
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
  35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

class BitWriter {
  readonly bytes: number[] = [];
  private acc = 0;
  private n = 0;
  put(code: number, len: number): void {
    for (let i = len - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((code >> i) & 1);
      if (++this.n === 8) this.flushByte();
    }
  }
  private flushByte(): void {
    this.bytes.push(this.acc);
    if (this.acc === 0xff) this.bytes.push(0); // byte stuffing
    this.acc = 0;
    this.n = 0;
  }
  end(): number[] {
    while (this.n !== 0) this.put(1, 1);
    return this.bytes;
  }
}

/** Size category of a value and its additional bits (T.81 F.1.2.1: negatives as v − 1 in `size` bits). */
function category(v: number): { size: number; bits: number } {
  const a = Math.abs(v);
  const size = a === 0 ? 0 : Math.floor(Math.log2(a)) + 1;
  return { size, bits: v >= 0 ? v : (v - 1) & ((1 << size) - 1) };
}

const DC_SYMBOLS = Array.from({ length: 16 }, (_, i) => i);
// EOB, ZRL, then (run << 4) | size for run 0..15, size 1..15
const AC_SYMBOLS = [0x00, 0xf0, ...Array.from({ length: 16 * 15 }, (_, i) => ((Math.floor(i / 15)) << 4) | ((i % 15) + 1))];

function segment(marker: number, body: number[]): number[] {
  const len = body.length + 2;
  return [0xff, marker, len >> 8, len & 0xff, ...body];
}

function dht(cls: number, id: number, symbols: number[], len: number): number[] {
  const counts = new Array<number>(16).fill(0);
  counts[len - 1] = symbols.length;
  return segment(0xc4, [(cls << 4) | id, ...counts, ...symbols]);
}

/** Encodes a grey image of `precision` (8 or 12) bits as an SOF1 JPEG stream. */
export function encodeJpegExtended(pixels: ArrayLike<number>, width: number, height: number, precision: 8 | 12, q: number[] = new Array<number>(64).fill(1)): Uint8Array {
  const dcCode = new Map(DC_SYMBOLS.map((s, i) => [s, i]));
  const acCode = new Map(AC_SYMBOLS.map((s, i) => [s, i]));
  const bw = new BitWriter();
  const shift = 1 << (precision - 1);
  const cos = Array.from({ length: 64 }, (_, k) => Math.cos(((2 * (k >> 3) + 1) * (k & 7) * Math.PI) / 16)); // cos[x*8+u]
  const C = (u: number) => (u === 0 ? Math.SQRT1_2 : 1);
  let prevDc = 0;
  const f = new Float64Array(64);
  for (let by = 0; by < height; by += 8) {
    for (let bx = 0; bx < width; bx += 8) {
      for (let y = 0; y < 8; y++)
        for (let x = 0; x < 8; x++) f[y * 8 + x] = pixels[Math.min(by + y, height - 1) * width + Math.min(bx + x, width - 1)] - shift;
      const coef = new Array<number>(64);
      for (let v = 0; v < 8; v++)
        for (let u = 0; u < 8; u++) {
          let s = 0;
          for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) s += f[y * 8 + x] * cos[x * 8 + u] * cos[y * 8 + v];
          coef[v * 8 + u] = Math.round((0.25 * C(u) * C(v) * s) / q[v * 8 + u]);
        }
      const dc = category(coef[0] - prevDc);
      prevDc = coef[0];
      bw.put(dcCode.get(dc.size)!, 5);
      if (dc.size) bw.put(dc.bits, dc.size);
      let run = 0;
      for (let k = 1; k < 64; k++) {
        const c = coef[ZIGZAG[k]];
        if (c === 0) {
          run++;
          continue;
        }
        for (; run >= 16; run -= 16) bw.put(acCode.get(0xf0)!, 8);
        const ac = category(c);
        bw.put(acCode.get((run << 4) | ac.size)!, 8);
        bw.put(ac.bits, ac.size);
        run = 0;
      }
      if (run > 0) bw.put(acCode.get(0x00)!, 8);
    }
  }
  const dqt = segment(0xdb, [0x00, ...ZIGZAG.map((z) => q[z])]);
  const sof = segment(0xc1, [precision, height >> 8, height & 0xff, width >> 8, width & 0xff, 1, 1, 0x11, 0]);
  const sos = segment(0xda, [1, 1, 0x00, 0, 63, 0]);
  return Uint8Array.from([0xff, 0xd8, ...dqt, ...sof, ...dht(0, 0, DC_SYMBOLS, 5), ...dht(1, 0, AC_SYMBOLS, 8), ...sos, ...bw.end(), 0xff, 0xd9]);
}
