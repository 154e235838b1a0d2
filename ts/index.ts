/**
 * mdmt: a CNN training engine for Node.js (native CPU and CUDA backends, TypeScript
 * autograd) and the multi-dataset multi-task (MDMT) COVID-19 prognosis protocol.
 */
export { MdmtError, type MdmtErrorCode } from './errors';
export {
  Tensor, tensor, zeros, ones, full, empty, zerosLike, tidy, keep, memory, liveTensorCount,
  getDefaultDevice, setDefaultDevice, type Device, type DType, type TensorOptions,
} from './tensor';
export { backward, noGrad, zeroGrad, isGradEnabled } from './autograd/tape';
export { manualSeed, Generator } from './random';
export { native, addonPath, type NativeDeviceInfo } from './native/binding';
export { devices } from './devices';
export * as ops from './ops/all';
export * as nn from './nn';
