/**
 * mdmt: a CNN training engine for Node.js (native CPU and CUDA backends, TypeScript
 * autograd) and the multi-dataset multi-task (MDMT) COVID-19 prognosis protocol.
 *
 *   import { train, synth } from 'mdmt';
 *   const { afcRoot, bxRoot } = await synth('/tmp/data');
 *   const r = await train({ backbone: 'resnet18', experiment: 'mdmt', outDir: 'runs/r18', data: { ... } });
 *
 * Layers (bottom up): tensors + autograd + ops, nn modules, optimisers, the model zoo,
 * weight I/O, data, training/evaluation, reports. Each is also importable on its own
 * namespace: `ops`, `nn`, `optim`, `models`, `io`, `data`, `report`.
 */
export { MdmtError, type MdmtErrorCode } from './errors';
export {
  Tensor, tensor, zeros, ones, full, empty, zerosLike, tidy, keep, memory, emptyCache, liveTensorCount,
  getDefaultDevice, setDefaultDevice, type Device, type DType, type TensorOptions,
} from './tensor';
export { backward, noGrad, zeroGrad, isGradEnabled } from './autograd/tape';
export { manualSeed, Generator } from './random';
export { compileStep, CompiledStep, type StepInput } from './plan/step';
export { compileInference, type InferencePlan } from './models/inference';
export { native, addonPath, type NativeDeviceInfo } from './native/binding';
export { devices, cudaLibraries, type DeviceInfo, type CudaLibraryInfo } from './devices';
export * as ops from './ops/all';
export * as nn from './nn';
export * as optim from './optim';
export * as models from './models';
export * as io from './io';
export * as data from './data';
export * as report from './report';
export { getModel, listModels, registerModel, MDMTModel, STLModel } from './models';
export { Adam, AdamW, SGD } from './optim';
export { loadSafetensors, saveSafetensors, exportOnnx } from './io';
export { synth } from './data';
export { writeReport } from './report';
export * from './train';
export * from './predict';
