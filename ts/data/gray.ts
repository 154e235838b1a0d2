/**
 * The grey image every decoder returns, and the check that refuses a blank one (shared by
 * the DICOM and raster paths without an import cycle between them).
 */
import { MdmtError } from '../errors';

/** A single-channel image, row-major, float32 values. */
export interface GrayImage { width: number; height: number; data: Float32Array }

/**
 * Throws EDATA naming the file when every value of a decoded image is the same: a blank
 * image carries nothing to learn, and min–max scaling would divide by zero.
 */
export function checkNotConstant(data: Float32Array, file: string, op = 'readImage'): void {
  let i = 1;
  while (i < data.length && data[i] === data[0]) i++;
  if (i >= data.length) throw new MdmtError('EDATA', op, `${file}: image is constant (every one of its ${data.length} pixels is ${data[0]} after decoding)`);
}
