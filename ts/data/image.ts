/**
 * Grey images in memory and the one entry point that reads any image file mdmt meets:
 * DICOM (by the DICM magic or a .dcm/.dicom extension, else a raw data set) through
 * `decodeDicom`, PNG/JPEG/TIFF (lung masks, covid-cxr) through sharp, reduced to one channel.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { MdmtError } from '../errors';
import { readDicom, type DicomImage } from './dicom';
import { checkImageSize, checkMinSide, checkNotConstant, MAX_IMAGE_PIXELS, type GrayImage } from './gray';

export type { GrayImage } from './gray';

const RASTER = new Set(['.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp', '.webp']);

/**
 * Reads PNG, JPEG or TIFF through sharp as grey float32 (RGB averaged by luminance, alpha dropped),
 * turned upright by its EXIF orientation as viewers and cv2.imread show it (a phone photo of a
 * film is stored sideways with orientation 6; read as stored it trains on a rotated chest).
 *
 *   const mask = await readRaster('masks/P_1.tif');   // values 0..255
 */
export async function readRaster(file: string): Promise<GrayImage> {
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(file);
  } catch (e) {
    throw new MdmtError('EIO', 'readImage', `${file}: cannot read image file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (bytes.length === 0) throw new MdmtError('EDATA', 'readImage', `${file}: file is empty (0 bytes)`);
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new MdmtError('EDATA', 'readImage', `${file}: not a readable PNG/JPEG/TIFF image (${(e as Error).message})`);
  }
  // the header's size, before sharp allocates the pixels (limitInputPixels below is the backstop)
  checkImageSize(meta.width ?? 0, meta.height ?? 0, file, 'readImage');
  // sharp decodes page 1 of a multi-page TIFF or animated WebP unasked; DICOM refuses several frames too
  if ((meta.pages ?? 1) > 1) {
    const [kind, unit] = meta.format === 'tiff' ? ['TIFF', 'pages'] : [meta.format === 'webp' ? 'WebP' : meta.format.toUpperCase(), 'frames'];
    throw new MdmtError('EDATA', 'readImage', `${file}: ${kind} holds ${meta.pages} ${unit}: multi-page images are not supported (a chest film is one image; which one to train on is not ours to guess)`);
  }
  const depth = meta.depth;
  // sharp's grayscale() works in 8 bits: a 16-bit file goes through the grey16 colourspace instead,
  // so it keeps its 0..65535 range (a 16-bit CXR cut to 8 bits loses 8 bits of contrast silently)
  if (depth !== 'uchar' && depth !== 'ushort')
    throw new MdmtError('EDATA', 'readImage', `${file}: ${depth ?? 'unknown'} samples are not supported (8- or 16-bit unsigned PNG/JPEG/TIFF)`);
  const wide = depth === 'ushort';
  try {
    const grey = sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS }).rotate().removeAlpha(); // rotate(): by EXIF orientation
    const { data, info } = await (wide ? grey.toColourspace('grey16') : grey.grayscale())
      .raw({ depth: wide ? 'ushort' : 'uchar' }).toBuffer({ resolveWithObject: true });
    const n = info.width * info.height;
    if (info.channels !== 1 || data.length !== n * (wide ? 2 : 1)) throw new Error(`sharp returned ${info.channels} channels, ${data.length} bytes`);
    const src = wide ? new Uint16Array(data.buffer.slice(data.byteOffset, data.byteOffset + 2 * n)) : data;
    return { width: info.width, height: info.height, data: Float32Array.from(src) };
  } catch (e) {
    throw new MdmtError('EDATA', 'readImage', `${file}: not a readable PNG/JPEG/TIFF image (${(e as Error).message})`);
  }
}

/** True for the extensions sharp decodes (PNG, JPEG, TIFF, BMP, WebP); anything else is read as DICOM. */
export const isRasterFile = (file: string): boolean => RASTER.has(path.extname(file).toLowerCase());

/**
 * readDicom for a file that is not a raster image; when it fails on a file of another
 * extension (notes.txt, a .md), the error also says which formats mdmt reads, not only how
 * DICOM parsing failed.
 */
export async function readDicomFile(file: string): Promise<DicomImage> {
  const ext = path.extname(file).toLowerCase();
  return readDicom(file).catch((e: unknown) => {
    if (!(e instanceof MdmtError) || e.code !== 'EDATA' || ext === '' || ext === '.dcm' || ext === '.dicom') throw e;
    throw new MdmtError('EDATA', e.op, `${e.detail}; its extension ${ext} is none of the image formats mdmt reads (DICOM: .dcm, .dicom, another or none; ${[...RASTER].join(' ')})`);
  });
}

/**
 * Reads any supported image file as a grey float32 image; DICOM gets MONOCHROME1 inverted and
 * modality values, rasters keep their stored values (8-bit 0..255, 16-bit 0..65535).
 * `role: 'image'` (an X-ray, not a lung mask) also refuses a constant image and one smaller
 * than MIN_IMAGE_SIDE (16 px) on a side. Any image over MAX_IMAGE_PIXELS is refused before
 * its pixels are allocated.
 *
 *   const img = await readImage('dicom_clean/1234.dcm');
 */
export async function readImage(file: string, o: { role?: 'image' | 'mask' } = {}): Promise<GrayImage> {
  const dicom = !isRasterFile(file);
  const img = dicom ? await readDicomFile(file) : await readRaster(file);
  if (o.role === 'image') {
    if (!dicom) checkNotConstant(img.data, file); // decodeDicom refuses a constant image itself
    checkMinSide(img, file);
  }
  return img;
}
