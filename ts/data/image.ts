/**
 * Grey images in memory and the one entry point that reads any image file mdmt meets:
 * DICOM through `decodeDicom`, PNG/JPEG/TIFF/WebP (lung masks, covid-cxr) through sharp,
 * reduced to one channel.
 *
 * The decoder is chosen by the file's content wherever its first bytes say what it is ('DICM'
 * at byte 128, the PNG, JPEG, TIFF and WebP signatures), and by its extension only where they
 * do not: a DICOM data set without preamble has no signature, so a file without one is read
 * as DICOM unless its extension is a raster one. A PNG saved as x.dcm is thus read as the
 * PNG it is, and a DICOM saved as x.png as DICOM, as pydicom, PIL and cv2 go by content and as
 * sharp already read a JPEG named .png: a signature is certain, a name is not, and either
 * decoder refusing the other's bytes only said "corrupt". Files are still *found* by their
 * names (predict's folder walk, the readers' sheets); only the decoding follows the bytes.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { MdmtError } from '../errors';
import { decodeDicom, looksLikeDataSet, type DicomImage } from './dicom';
import { checkImageSize, checkRadiograph, MAX_IMAGE_PIXELS, type GrayImage } from './gray';

export type { GrayImage } from './gray';

const RASTER = new Set(['.png', '.jpg', '.jpeg', '.tif', '.tiff', '.webp']);

/** What a file's first bytes say it is (BMP, GIF, AVIF, HEIF, JPEG 2000 and PDF only to say they are not read). */
export type ImageSignature = 'DICOM' | 'PNG' | 'JPEG' | 'TIFF' | 'WebP' | 'BMP' | 'GIF' | 'AVIF' | 'HEIF' | 'JPEG 2000' | 'PDF';

/** Formats a file's signature names that mdmt does not read: refused by name, not parsed as a DICOM without preamble. */
const UNREAD = new Set<ImageSignature>(['BMP', 'GIF', 'AVIF', 'HEIF', 'JPEG 2000', 'PDF']);

/** The format `bytes` announce by their signature, or undefined (a DICOM without preamble, text, garbage). */
export function sniffImage(bytes: Uint8Array): ImageSignature | undefined {
  const at = (off: number, sig: string) => bytes.length >= off + sig.length && [...sig].every((c, i) => bytes[off + i] === c.charCodeAt(0));
  if (at(128, 'DICM')) return 'DICOM'; // first: a dual-personality file keeps a TIFF header in its preamble
  if (at(0, '\x89PNG\r\n\x1a\n')) return 'PNG';
  if (at(0, '\xff\xd8\xff')) return 'JPEG';
  if (['II*\0', 'MM\0*', 'II+\0', 'MM\0+'].some((sig) => at(0, sig))) return 'TIFF'; // classic and BigTIFF
  if (at(0, 'RIFF') && at(8, 'WEBP')) return 'WebP';
  if (at(0, 'GIF87a') || at(0, 'GIF89a')) return 'GIF';
  // ISO base media files (a phone's HEIC photo of a film, an AVIF export): 'ftyp' and the major brand
  if (at(4, 'ftyp')) {
    const brand = String.fromCharCode(...bytes.subarray(8, 12));
    if (brand === 'avif' || brand === 'avis') return 'AVIF';
    if (['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1'].includes(brand)) return 'HEIF';
  }
  // a JP2 file, or a bare JPEG 2000 codestream (SOC then SIZ): DICOM keeps such streams inside its own files
  if (at(0, '\0\0\0\x0cjP  \r\n\x87\n') || at(0, '\xff\x4f\xff\x51')) return 'JPEG 2000';
  if (at(0, '%PDF-')) return 'PDF';
  // 'BM' is two bytes any file may begin with: also one of the BMP info header sizes at byte 14
  if (at(0, 'BM') && bytes.length >= 18 && [12, 40, 52, 56, 64, 108, 124].includes(bytes[14] | (bytes[15] << 8) | (bytes[16] << 16) | (bytes[17] << 24))) return 'BMP';
  return undefined;
}

async function readBytes(file: string): Promise<Buffer> {
  try {
    return await fs.promises.readFile(file);
  } catch (e) {
    throw new MdmtError('EIO', 'readImage', `${file}: cannot read image file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

/**
 * Reads PNG, JPEG, TIFF or WebP through sharp as grey float32 (colour made grey with PIL's and
 * cv2's weights, 0.299 R + 0.587 G + 0.114 B on the stored values; alpha dropped,
 * an embedded ICC profile not applied: the stored values),
 * turned upright by its EXIF orientation as viewers and cv2.imread show it (a phone photo of a
 * film is stored sideways with orientation 6; read as stored it trains on a rotated chest).
 *
 *   const mask = await readRaster('masks/P_1.tif');   // values 0..255
 */
export async function readRaster(file: string): Promise<GrayImage> {
  return (await decodeRaster(await readBytes(file), file)).image;
}

/** Sharp's format names of the rasters mdmt reads, as mdmt names them. */
type RasterFormat = 'PNG' | 'JPEG' | 'TIFF' | 'WebP';
const RASTER_FORMATS: Record<string, RasterFormat> = { png: 'PNG', jpeg: 'JPEG', tiff: 'TIFF', webp: 'WebP' };

/** A format sharp reads but mdmt does not (GIF), or sharp cannot decode (BMP: it said "unsupported image format", as of a corrupt file). */
const unsupported = (file: string, format: string) =>
  new MdmtError('EDATA', 'readImage', `${file}: ${format} ${format === 'PDF' ? 'files' : 'images'} are not supported; convert it to PNG (mdmt reads DICOM, PNG, JPEG, TIFF and WebP)`);

/** Whether pages 2.. of a TIFF are all smaller than page 1 (a pyramid, or a thumbnail): at most 16 are looked at. */
async function reducedPages(bytes: Buffer, pages: number, width: number, height: number): Promise<boolean> {
  if (pages > 16) return false;
  for (let page = 1; page < pages; page++) {
    const m = await sharp(bytes, { page, limitInputPixels: false }).metadata().catch(() => undefined);
    if (!m || !((m.width ?? width) < width && (m.height ?? height) < height)) return false;
  }
  return true;
}

async function decodeRaster(bytes: Buffer, file: string): Promise<{ format: RasterFormat; image: GrayImage }> {
  if (bytes.length === 0) throw new MdmtError('EDATA', 'readImage', `${file}: file is empty (0 bytes)`);
  const sig = sniffImage(bytes);
  if (sig && UNREAD.has(sig)) throw unsupported(file, sig);
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new MdmtError('EDATA', 'readImage', `${file}: not a readable PNG/JPEG/TIFF image (${(e as Error).message})`);
  }
  // sharp reads more (GIF, SVG, HEIF...) by content, whatever the name: only what mdmt says it reads
  const format = RASTER_FORMATS[meta.format];
  if (!format) throw unsupported(file, meta.format.toUpperCase());
  // the header's size, before sharp allocates the pixels (limitInputPixels below is the backstop)
  checkImageSize(meta.width ?? 0, meta.height ?? 0, file, 'readImage');
  // sharp decodes page 1 of a multi-page TIFF or animated WebP unasked; DICOM refuses several frames too.
  // A pyramid or a thumbnail (every later page smaller) is one image: its first page is it.
  if ((meta.pages ?? 1) > 1 && !(format === 'TIFF' && await reducedPages(bytes, meta.pages!, meta.width ?? 0, meta.height ?? 0)))
    throw new MdmtError('EDATA', 'readImage', `${file}: ${format} holds ${meta.pages} ${format === 'TIFF' ? 'pages' : 'frames'}: multi-page images are not supported (a chest film is one image; which one to train on is not ours to guess)`);
  const depth = meta.depth;
  // sharp's grayscale() works in 8 bits: a 16-bit file goes through the grey16 colourspace instead,
  // so it keeps its 0..65535 range (a 16-bit CXR cut to 8 bits loses 8 bits of contrast silently)
  if (depth !== 'uchar' && depth !== 'ushort')
    throw new MdmtError('EDATA', 'readImage', `${file}: ${depth ?? 'unknown'} samples are not supported (8- or 16-bit unsigned PNG/JPEG/TIFF)`);
  const wide = depth === 'ushort';
  try {
    // ignoreIcc: the stored values, as PIL and cv2 read them; an embedded profile (a grey
    // PNG's "Dot Gain 15%") made sharp convert them, 29 grey levels brighter on average
    const img = sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS, ignoreIcc: true }).rotate().removeAlpha(); // rotate(): by EXIF orientation
    // a colour file is read as RGB and made grey here with PIL's and cv2's weights on the stored
    // values (sharp's grayscale() takes linear-light Rec. 709 luminance: up to 60 levels apart)
    const colour = (meta.channels ?? 1) - (meta.hasAlpha ? 1 : 0) > 1;
    const { data, info } = await img.toColourspace(colour ? (wide ? 'rgb16' : 'srgb') : (wide ? 'grey16' : 'b-w'))
      .raw({ depth: wide ? 'ushort' : 'uchar' }).toBuffer({ resolveWithObject: true });
    const n = info.width * info.height, c = colour ? 3 : 1;
    if (info.channels !== c || data.length !== n * c * (wide ? 2 : 1)) throw new Error(`sharp returned ${info.channels} channels, ${data.length} bytes`);
    const src = wide ? new Uint16Array(data.buffer.slice(data.byteOffset, data.byteOffset + 2 * n * c)) : data;
    return { format, image: { width: info.width, height: info.height, data: colour ? lumaOf(src, n) : Float32Array.from(src) } };
  } catch (e) {
    throw new MdmtError('EDATA', 'readImage', `${file}: not a readable PNG/JPEG/TIFF image (${(e as Error).message})`);
  }
}

/**
 * Grey of interleaved RGB as PIL's convert('L') and cv2's RGB2GRAY make it: ITU-R 601
 * 0.299 R + 0.587 G + 0.114 B on the stored values, rounded (PIL's 16-bit fixed point, exact
 * for 8 bits; the same weights for 16-bit samples). Equal channels give the channel.
 */
function lumaOf(rgb: ArrayLike<number>, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 3) out[i] = Math.floor((rgb[j] * 19595 + rgb[j + 1] * 38470 + rgb[j + 2] * 7471 + 32768) / 65536);
  return out;
}

/** True for the extensions of the rasters mdmt reads (PNG, JPEG, TIFF, WebP); a file of any other without a signature is read as DICOM. */
export const isRasterFile = (file: string): boolean => RASTER.has(path.extname(file).toLowerCase());

/**
 * decodeDicom for a file without a raster signature; when it fails to parse a file that is no
 * DICOM at all, the error also says so: for another extension (notes.txt, a .md) which formats
 * mdmt reads, for a .dcm that it has no DICOM preamble nor an image signature (and that it
 * begins like text, when it does), not only how DICOM parsing failed.
 */
async function decodeDicomFile(bytes: Buffer, file: string, sig: ImageSignature | undefined): Promise<DicomImage> {
  const ext = path.extname(file).toLowerCase();
  const u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  return decodeDicom(u8, file).catch((e: unknown) => {
    if (!(e instanceof MdmtError) || e.code !== 'EDATA' || sig === 'DICOM' || bytes.length === 0) throw e;
    const other = ext !== '' && ext !== '.dcm' && ext !== '.dicom';
    const formats = `its extension ${ext} is none of the image formats mdmt reads (DICOM: .dcm, .dicom, another or none; ${[...RASTER].join(' ')})`;
    const head = bytes.subarray(0, 32).toString('latin1');
    const text = /^[\x20-\x7e\t\r\n]+$/.test(head) ? `; it begins like text: '${head.replace(/\s+/g, ' ').trim()}${bytes.length > 32 ? '…' : ''}'` : '';
    // neither signature nor a DICOM element at its start (notes.txt, x.json, an .xlsx): what the
    // file is not comes first, not how DICOM parsing of its first bytes failed (an element of 741 MB)
    if (!looksLikeDataSet(u8))
      throw new MdmtError('EDATA', 'readImage', `${file}: not a DICOM or image file: it has no 'DICM' at byte 128 nor a PNG/JPEG/TIFF/WebP signature, and does not begin like a DICOM data set${text}${other ? `; ${formats}` : ''}`);
    if (other) throw new MdmtError('EDATA', e.op, `${e.detail}; ${formats}`);
    if (!/not a readable DICOM file|no pixel data element|missing required attribute/.test(e.detail)) throw e;
    throw new MdmtError('EDATA', e.op, `${e.detail}; it has no 'DICM' at byte 128 nor a PNG/JPEG/TIFF/WebP signature: it may not be an image file at all${text}`);
  });
}

/** A decoded file and what its content is: DICOM (with its header facts) or the raster format sharp read. */
export type DecodedFile = { format: 'DICOM'; image: DicomImage } | { format: RasterFormat; image: GrayImage };

/**
 * Decodes a file by its content (see the top of this file): a DICOM by 'DICM' at byte 128, a
 * raster by its signature, a file without one by its extension (a raster extension through
 * sharp, any other as a DICOM data set without preamble).
 */
export async function decodeImageFile(file: string): Promise<DecodedFile> {
  const bytes = await readBytes(file);
  const sig = sniffImage(bytes);
  if (sig && UNREAD.has(sig)) throw unsupported(file, sig);
  if (sig === 'DICOM' || (!sig && !isRasterFile(file))) return { format: 'DICOM', image: await decodeDicomFile(bytes, file, sig) };
  return decodeRaster(bytes, file);
}

/**
 * Reads any supported image file as a grey float32 image, decoded by its content
 * (decodeImageFile); DICOM gets MONOCHROME1 inverted and modality values, rasters keep their
 * stored values (8-bit 0..255, 16-bit 0..65535).
 * `role: 'image'` (an X-ray, not a lung mask) also refuses a constant image, one smaller than
 * MIN_IMAGE_SIDE (16 px) on a side and one of two grey levels (checkRadiograph). Any image over MAX_IMAGE_PIXELS is refused before
 * its pixels are allocated.
 *
 *   const img = await readImage('dicom_clean/1234.dcm');
 */
export async function readImage(file: string, o: { role?: 'image' | 'mask' } = {}): Promise<GrayImage> {
  const { format, image } = await decodeImageFile(file);
  if (o.role === 'image') checkRadiograph(image, file, 'readImage', format === 'DICOM');
  return image;
}
