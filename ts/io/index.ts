/** Weights in and out: safetensors, ONNX initializers, ONNX export. */
export * from './safetensors';
export { exportOnnx, toOnnx, ONNX_OPSET, type ExportOptions } from './onnx_export';
export { loadOnnxWeights, readOnnxInitializers, readOnnxModel, type OnnxLoadOptions } from './onnx_import';
export { checkWeightsBackbone, loadWeightsFile, weightsBackbone } from './weights';
