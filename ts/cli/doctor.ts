/**
 * `mdmt doctor`: what this installation can run on — Node version and platform, the native
 * addon (path, load status, whether the CUDA backend is compiled in), every backend device
 * with its details (CPU ISA and threads; CUDA availability or the reason it is missing,
 * driver and runtime), each GPU library mdmt opens at run time (cuDNN, cuBLAS, cuBLASLt:
 * version and file, or every place looked at), the registered ops per backend, the model
 * count and the DICOM transfer syntaxes the decoder reads (anything else is refused by
 * name). Exit code 1 when the addon cannot load.
 *
 *   mdmt doctor
 */
import * as os from 'os';
import { TRANSFER_SYNTAXES } from '../data/dicom';
import { listModels } from '../models/zoo';
import { addonPath, native } from '../native/binding';
import { devices, type CudaLibraryInfo } from '../devices';

const LIBRARY_PROPS = /^(cudnn|cublas|cublasLt)(_path|_searched)?$/;

function libraryLines(libs: CudaLibraryInfo[]): string[] {
  const lines = ['cuda libs   opened at run time from $MDMT_CUDA_LIB_DIR, $LD_LIBRARY_PATH, the system, then pip (site-packages/nvidia/*/lib)'];
  for (const l of libs) {
    if (l.found) {
      lines.push(`  ${l.name.padEnd(9)} ${l.version}  ${l.path ?? ''}`);
      continue;
    }
    lines.push(`  ${l.name.padEnd(9)} missing; looked in:`);
    for (const s of l.searched) lines.push(`              ${s}`);
  }
  return lines;
}

/** The doctor's report as lines (and whether the engine is usable). */
export function diagnose(): { lines: string[]; ok: boolean } {
  const lines: string[] = [];
  lines.push(`node        ${process.version} (${process.platform}-${process.arch}, N-API ${process.versions.napi})`);
  lines.push(`host        ${os.cpus().length} logical CPUs (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM`);
  lines.push(`addon       ${addonPath()}`);
  let n: ReturnType<typeof native>;
  try {
    n = native();
  } catch (e) {
    lines.push(`            NOT LOADED: ${(e as Error).message}`);
    return { lines, ok: false };
  }
  lines.push(`            loaded; CUDA backend ${n.cudaCompiled ? 'compiled in' : 'not compiled in (CPU-only build)'}`);
  lines.push(`device      MDMT_DEVICE=${process.env.MDMT_DEVICE ?? '(unset: cpu)'}`);
  const devs = devices();
  for (const d of devs) {
    const what = [d.description, d.available || !d.reason ? '' : `— ${d.reason}`].filter(Boolean).join(' ');
    lines.push(`  ${d.name.padEnd(9)} ${d.available ? 'available' : 'unavailable'}  ${what}`);
    for (const [k, v] of Object.entries(d.props)) if (!LIBRARY_PROPS.test(k)) lines.push(`            ${k}: ${v}`);
  }
  const libs = devs.find((d) => d.libraries)?.libraries;
  if (libs) lines.push(...libraryLines(libs));
  const ops = n.ops();
  const per = new Map<string, number>();
  for (const o of ops) per.set(o.device, (per.get(o.device) ?? 0) + 1);
  lines.push(`ops         ${[...per].map(([d, c]) => `${d} ${c}`).join(', ')}`);
  try {
    lines.push(`models      ${listModels().length} registered`);
  } catch (e) {
    lines.push(`models      cannot list: ${(e as Error).message}`);
  }
  lines.push('dicom       transfer syntaxes decoded (others are refused by name):');
  for (const [uid, name] of Object.entries(TRANSFER_SYNTAXES)) lines.push(`            ${uid.padEnd(24)} ${name}`);
  lines.push('images      PNG, JPEG, TIFF, WebP (8- or 16-bit grey or colour; colour is reduced to grey; not BMP or GIF)');
  return { lines, ok: true };
}
