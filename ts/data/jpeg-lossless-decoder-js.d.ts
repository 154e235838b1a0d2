// Types of the part of jpeg-lossless-decoder-js mdmt uses (its package points at a .d.ts it does not ship).
declare module 'jpeg-lossless-decoder-js' {
  export class Decoder {
    xDim: number;
    yDim: number;
    xLoc: number;
    yLoc: number;
    numComp: number;
    precision: number | undefined;
    decode(buffer?: ArrayBuffer, offset?: number, length?: number, numBytes?: number): Uint8Array | Uint16Array;
  }
}
