/**
 * The backends this build of mdmt has and why a missing one is missing. CUDA entries also
 * list the GPU libraries mdmt opens at run time (cuDNN 9, cuBLAS, cuBLASLt): each found, with
 * its version and file, or missing, with every place mdmt looked
 * ($MDMT_CUDA_LIB_DIR, $LD_LIBRARY_PATH, the system, pip's site-packages/nvidia/*\/lib).
 *
 *   for (const d of devices()) console.log(d.name, d.available ? 'ok' : d.reason);
 *   const cudnn = devices().find((d) => d.type === 'cuda')?.libraries?.find((l) => l.name === 'cudnn');
 */
import { native, NativeDeviceInfo } from './native/binding';

/** One run-time GPU library as the CUDA backend found it (or did not). */
export interface CudaLibraryInfo {
  name: 'cudnn' | 'cublas' | 'cublasLt';
  found: boolean;
  /** e.g. "9.14.0" when found */
  version?: string;
  /** the file loaded, when found */
  path?: string;
  /** when missing: every place looked at and what happened there */
  searched: string[];
}

export interface DeviceInfo extends NativeDeviceInfo {
  /** CUDA entries of a build with the CUDA backend compiled in */
  libraries?: CudaLibraryInfo[];
}

const LIBRARIES = ['cudnn', 'cublas', 'cublasLt'] as const;

/** The libraries recorded in a CUDA device's props (the native report's `<lib>`, `<lib>_path`, `<lib>_searched`). */
export function cudaLibraries(props: Record<string, string>): CudaLibraryInfo[] {
  const out: CudaLibraryInfo[] = [];
  for (const name of LIBRARIES) {
    const v = props[name];
    if (v === undefined) continue;
    const found = v !== 'missing';
    out.push({
      name, found,
      ...(found ? { version: v, path: props[`${name}_path`] } : {}),
      searched: found ? [] : (props[`${name}_searched`] ?? '').split('; ').filter(Boolean),
    });
  }
  return out;
}

export function devices(): DeviceInfo[] {
  return native().devices().map((d) => {
    const libs = d.type === 'cuda' ? cudaLibraries(d.props) : [];
    return libs.length ? { ...d, libraries: libs } : d;
  });
}
