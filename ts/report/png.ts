/**
 * Optional PNG copies of the report's SVG figures, through the `sharp` package already in
 * the project's dependencies (librsvg underneath). Kept apart from `writeReport` so that the
 * report itself stays synchronous and dependency-free.
 */

/**
 * Rasterises each SVG file to a PNG beside it (same name, `.png`) and returns the PNG paths.
 * `density` is the rendering DPI (96 = 1 px per SVG unit; default 144 for crisp text).
 *
 * @example await svgToPng(files.filter((f) => f.endsWith('.svg')))
 */
export async function svgToPng(svgFiles: readonly string[], opts: { density?: number } = {}): Promise<string[]> {
  let sharp: typeof import('sharp');
  try {
    sharp = (await import('sharp')).default;
  } catch (e) {
    throw new Error(`svgToPng: PNG output needs the 'sharp' package (${(e as Error).message})`);
  }
  const out: string[] = [];
  for (const f of svgFiles) {
    const png = f.replace(/\.svg$/i, '') + '.png';
    await sharp(f, { density: opts.density ?? 144 }).png().toFile(png);
    out.push(png);
  }
  return out;
}
