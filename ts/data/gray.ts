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

/**
 * Throws EDATA naming the file when a decoded image takes exactly two values: a segmentation
 * mask or a line drawing, not a radiograph, which has hundreds of grey levels (`mdmt predict`
 * on a dataset's folder scored its lung masks as films, every row "ok").
 */
export function checkNotBinary(data: Float32Array, file: string, op = 'readImage'): void {
  const a = data[0];
  let b = a;
  for (let i = 1; i < data.length; i++) {
    const v = data[i];
    if (v === a || v === b) continue;
    if (b !== a) return; // a third value
    b = v;
  }
  if (b === a) return; // constant: checkNotConstant's (DICOM: decodeDicom's) to say
  const [lo, hi] = a < b ? [a, b] : [b, a];
  throw new MdmtError('EDATA', op, `${file}: image has only two grey levels (${lo} and ${hi} in its ${data.length} pixels): a segmentation mask or a drawing, not an X-ray to train on or score`);
}

/**
 * What train and predict refuse as an X-ray (readImage's role 'image'), and inspect notes: one
 * under MIN_IMAGE_SIDE on a side, a constant image (decodeDicom refuses a constant DICOM
 * itself), one of two grey levels.
 */
export function checkRadiograph(img: GrayImage, file: string, op: string, dicom: boolean): void {
  checkMinSide(img, file, op); // first: a 1 × 1 image is constant too, but its size says more
  if (!dicom) checkNotConstant(img.data, file, op);
  checkNotBinary(img.data, file, op);
}

/**
 * The most pixels mdmt decodes in one image: 2^26 (8192 × 8192, 256 MiB as float32). The
 * largest radiographs (a 43 cm detector at 100 µm is 4300 × 4300; a mammogram 4096 × 5120)
 * are far below it; a header beyond it is corrupt or a decompression bomb (a 1 MB PNG that
 * claims 30000 × 30000 took 4.5 GB and 25 s before this check), which would take the
 * process down instead of failing one file.
 */
export const MAX_IMAGE_PIXELS = 2 ** 26;

/**
 * The smallest side of an X-ray mdmt trains on or scores (the smallest network input, 16
 * px): a 2 × 1 "radiograph" is a thumbnail, an icon or a corrupt header, and resizing it
 * up to the input size would train on noise.
 */
export const MIN_IMAGE_SIDE = 16;

/** Throws EDATA naming the file when `width × height` exceeds MAX_IMAGE_PIXELS (before any pixel buffer is allocated). */
export function checkImageSize(width: number, height: number, file: string, op: string): void {
  if (width * height > MAX_IMAGE_PIXELS)
    throw new MdmtError('EDATA', op, `${file}: image size ${width}x${height} (${width * height} pixels) exceeds the ${MAX_IMAGE_PIXELS} pixels (8192x8192) mdmt decodes: a corrupt header, or not a radiograph`);
}

/** Throws EDATA naming the file when an X-ray is smaller than MIN_IMAGE_SIDE on a side. */
export function checkMinSide(img: GrayImage, file: string, op = 'readImage'): void {
  if (img.width < MIN_IMAGE_SIDE || img.height < MIN_IMAGE_SIDE)
    throw new MdmtError('EDATA', op, `${file}: image is ${img.width}x${img.height} pixels, smaller than ${MIN_IMAGE_SIDE} on a side: a thumbnail or a corrupt header, not an X-ray to train on or score`);
}
