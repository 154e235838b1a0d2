/**
 * Grey images in memory and the one entry point that reads any image file mdmt meets:
 * DICOM (by the DICM magic or a .dcm/.dicom extension, else a raw data set) through
 * `decodeDicom`, PNG/JPEG/TIFF (lung masks, covid-cxr) through sharp, reduced to one channel.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { MdmtError } from '../errors';
import { readDicom } from './dicom';

/** A single-channel image, row-major, float32 values. */
export interface GrayImage { width: number; height: number; data: Float32Array }

const RASTER = new Set(['.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp', '.webp']);

/**
 * Reads PNG, JPEG or TIFF through sharp as grey float32 (RGB averaged by luminance, alpha dropped).
 *
 *   const mask = await readRaster('masks/P_1.tif');   // values 0..255
 */
export async function readRaster(file: string): Promise<GrayImage> {
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(file);
  } catch (e) {
    throw new MdmtError('EIO', 'readImage', `${file}: cannot read image file (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  if (bytes.length === 0) throw new MdmtError('EDATA', 'readImage', `${file}: file is empty (0 bytes)`);
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: false }).removeAlpha().grayscale()
      .raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    const n = info.width * info.height;
    const src = new Uint16Array(data.buffer, data.byteOffset, n);
    // 8-bit files come out of sharp's 16-bit raw path unscaled (0..255), 16-bit ones as stored
    const out = Float32Array.from(src);
    return { width: info.width, height: info.height, data: out };
  } catch (e) {
    throw new MdmtError('EDATA', 'readImage', `${file}: not a readable PNG/JPEG/TIFF image (${(e as Error).message})`);
  }
}

/**
 * Reads any supported image file as a grey float32 image; DICOM gets MONOCHROME1 inverted and
 * modality values, rasters keep their stored values.
 *
 *   const img = await readImage('dicom_clean/1234.dcm');
 */
export async function readImage(file: string): Promise<GrayImage> {
  const ext = path.extname(file).toLowerCase();
  if (RASTER.has(ext)) return readRaster(file);
  return readDicom(file);
}
