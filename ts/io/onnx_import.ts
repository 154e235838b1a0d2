/**
 * Weights from ONNX files: the graph's initializers read by name (raw_data or the typed
 * *_data fields; FLOAT, DOUBLE (range-checked), FLOAT16, BFLOAT16 → float32; INT64/INT32/… → int32) and
 * loaded into a module whose state_dict keys they carry — mdmt's own exports, or
 * `torch.onnx.export(model, x, f, training=torch.onnx.TrainingMode.TRAINING,
 * do_constant_folding=False)` of the torchvision/timm model (scripts/export_weights.py
 * --out x.onnx). An EVAL-mode torch export fuses BN into the convs and renames the weights
 * (`onnx::Conv_193`), which no key matches.
 *
 *   loadOnnxWeights(getModel('resnet18'), 'resnet18.onnx');
 */
import * as fs from 'fs';
import type { Long } from 'protobufjs';
import { check, checkOptions, kindOf, MdmtError, show } from '../errors';
import { Module, someOf } from '../nn/module';
import { DType } from '../native/binding';
import { getDefaultDevice, halfToFloat, narrowToFloat32, tensor, Tensor, TypedArray } from '../tensor';
import { onnxTypes, ONNX_DTYPE, OnnxModel, OnnxTensor } from './onnx_proto';

const num = (v: number | Long) => Number(v); // toObject uses longs: Number; Long.valueOf covers raw messages

function decodeTensor(t: OnnxTensor, file: string): { data: TypedArray; dtype: DType; shape: number[] } {
  const shape = (t.dims ?? []).map(num);
  const n = shape.reduce((a, b) => a * b, 1);
  const bad = (m: string) => new MdmtError('EDATA', 'loadOnnxWeights', `${file}: initializer '${t.name}': ${m}`);
  if (t.data_location === 1) throw bad('external data is not supported (save the model with its weights inside)');
  const raw = t.raw_data?.length ? Uint8Array.from(t.raw_data) : null;
  const view = <T>(C: new (b: ArrayBuffer, o: number, n: number) => T, size: number): T => {
    if (raw!.length !== n * size) throw bad(`raw_data has ${raw!.length} bytes, expected ${n * size}`);
    return new C(raw!.buffer, 0, n);
  };
  const toInt32 = (vals: ArrayLike<number | bigint>) => {
    const o = new Int32Array(vals.length);
    for (let i = 0; i < vals.length; i++) {
      const v = Number(vals[i]);
      if (v > 2147483647 || v < -2147483648) throw bad(`value ${v} does not fit int32`);
      o[i] = v;
    }
    return o;
  };
  let data: TypedArray, dtype: DType = 'float32';
  switch (t.data_type) {
    case ONNX_DTYPE.FLOAT: data = raw ? view(Float32Array, 4) : Float32Array.from(t.float_data ?? []); break;
    case ONNX_DTYPE.DOUBLE: data = narrowToFloat32(raw ? view(Float64Array, 8) : t.double_data ?? [], (v, i) => bad(`DOUBLE value ${v} at index ${i} does not fit float32`)); break;
    case ONNX_DTYPE.FLOAT16: data = Float32Array.from(raw ? view(Uint16Array, 2) : t.int32_data ?? [], halfToFloat); break;
    case ONNX_DTYPE.BFLOAT16: {
      const u = raw ? view(Uint16Array, 2) : Uint16Array.from(t.int32_data ?? []);
      data = new Float32Array(Uint32Array.from(u, (v) => v << 16).buffer);
      break;
    }
    case ONNX_DTYPE.INT64: dtype = 'int32'; data = toInt32(raw ? view(BigInt64Array, 8) : (t.int64_data ?? []).map(num)); break;
    case ONNX_DTYPE.INT32: case ONNX_DTYPE.INT16: case ONNX_DTYPE.INT8:
      dtype = 'int32';
      data = raw ? toInt32(t.data_type === ONNX_DTYPE.INT32 ? view(Int32Array, 4) : t.data_type === ONNX_DTYPE.INT16 ? view(Int16Array, 2) : view(Int8Array, 1)) : Int32Array.from(t.int32_data ?? []);
      break;
    case ONNX_DTYPE.UINT8: case ONNX_DTYPE.BOOL: dtype = 'uint8'; data = raw ? view(Uint8Array, 1) : Uint8Array.from(t.int32_data ?? []); break;
    default: throw bad(`unsupported data_type ${t.data_type}`);
  }
  if (data.length !== n) throw bad(`${data.length} values for shape [${shape}]`);
  return { data, dtype, shape };
}

/** An ONNX model's metadata_props as one object (mdmt export writes backbone, task and the preprocessing there). */
export function onnxMetadata(m: OnnxModel): Record<string, string> {
  return Object.fromEntries((m.metadata_props ?? []).map((p) => [p.key, p.value]));
}

/** Parses an ONNX file (path or bytes) into its ModelProto as a plain object. */
export function readOnnxModel(src: string | Uint8Array): OnnxModel {
  const what = typeof src === 'string' ? src : 'ONNX bytes';
  let bytes: Uint8Array;
  try {
    bytes = typeof src === 'string' ? fs.readFileSync(src) : src;
  } catch (e) {
    throw new MdmtError('EIO', 'readOnnx', `cannot read ${what}: ${(e as Error).message}`);
  }
  const { ModelProto } = onnxTypes();
  let m: OnnxModel;
  try {
    m = ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, arrays: true, defaults: false }) as unknown as OnnxModel;
  } catch (e) {
    throw new MdmtError('EDATA', 'readOnnx', `${what} is not an ONNX model (truncated or another kind of file?): ${(e as Error).message}`);
  }
  // protobuf decodes an empty file (and some other bytes) as an empty message: such a "model"
  // holds no weights, which read as every key missing or as "bare backbone weights"
  if (!m.graph) throw new MdmtError('EDATA', 'readOnnx', `${what} is not an ONNX model: ${bytes.length ? `its ${bytes.length} bytes hold no graph` : 'it is empty (0 bytes)'}`);
  return m;
}

/**
 * Every initializer of an ONNX graph as a tensor, by name (the caller disposes them).
 *   const w = readOnnxInitializers('m.onnx');  w.get('conv1.weight')
 */
export function readOnnxInitializers(src: string | Uint8Array, device: string = getDefaultDevice()): Map<string, Tensor> {
  const what = typeof src === 'string' ? src : 'ONNX bytes';
  const m = readOnnxModel(src);
  const out = new Map<string, Tensor>();
  try {
    for (const t of m.graph?.initializer ?? []) {
      const { data, dtype, shape } = decodeTensor(t, what);
      out.set(t.name, tensor(data, shape, { dtype, device }));
    }
  } catch (e) {
    for (const t of out.values()) t.dispose();
    throw e;
  }
  return out;
}

/**
 * Why a file lacks a model's keys, when its initializers carry exporter-made names:
 * an eval-mode torch.onnx.export folds BatchNorm into the convolutions and renames the weights
 * (`onnx::Conv_193`), which read as "lacks 100 keys: conv1.weight, ..." and nothing more.
 */
function renamedHint(inits: Map<string, Tensor>): string {
  const made = [...inits.keys()].find((k) => /^onnx::/.test(k));
  return made === undefined ? '' : `; its initializers are not named by state_dict keys (${made}, ...): an eval-mode torch.onnx.export folds BatchNorm into the convolutions and renames the weights; export with training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False (scripts/export_weights.py --out x.onnx does), or give a .safetensors file`;
}

/** An initializer named as a layer's state_dict entry ('layer1.2.conv1.weight'), not a graph constant (mdmt_*, onnx::*). */
const STATE_KEY = /^\w+(\.\w+)*\.(weight|bias|running_mean|running_var|num_batches_tracked)$/;

export interface OnnxLoadOptions {
  /** every state_dict key (num_batches_tracked aside, which ONNX graphs do not use) must be present (default true) */
  strict?: boolean;
  /** the caller named in errors (default 'loadOnnxWeights'; loadWeightsFile passes predict's or export's name) */
  op?: string;
}

/**
 * Loads the initializers whose names are `model`'s state_dict keys. Initializers that
 * are not keys (graph constants) are ignored and returned; with `strict`, a missing key, or
 * an initializer named as a layer's tensor that the model lacks, fails naming them (the
 * first six and the count); a mis-shaped key always fails naming it.
 *   const { unused } = loadOnnxWeights(model, 'model.onnx');
 */
export function loadOnnxWeights(model: Module, src: string | Uint8Array, opts: OnnxLoadOptions = {}): { loaded: string[]; unused: string[] } {
  checkOptions('loadOnnxWeights', opts, { strict: true, op: true });
  const op = opts.op ?? 'loadOnnxWeights';
  check(model instanceof Module, 'EINVAL', op, () => `needs a Module to load into, got ${kindOf(model)}`);
  check(opts.strict === undefined || typeof opts.strict === 'boolean', 'EINVAL', op, () => `'strict' must be a boolean, got ${show(opts.strict)}`);
  const inits = readOnnxInitializers(src);
  try {
    const own = model.stateDict();
    const use = new Map([...inits].filter(([k]) => own.has(k)));
    const missing = [...own.keys()].filter((k) => !use.has(k) && !k.endsWith('num_batches_tracked'));
    const what = typeof src === 'string' ? src : 'ONNX bytes';
    if ((opts.strict ?? true) && missing.length)
      throw new MdmtError('ESHAPE', op, `${what} lacks ${missing.length} keys: ${someOf(missing)}${renamedHint(inits)}`);
    // a layer's tensors the model lacks (not graph constants): a resnet34 file loaded into a
    // resnet18 silently (its keys are a subset), though strict loading names unexpected keys
    const unexpected = [...inits.keys()].filter((k) => !own.has(k) && STATE_KEY.test(k));
    if ((opts.strict ?? true) && unexpected.length)
      throw new MdmtError('ESHAPE', op, `${what} holds ${unexpected.length} layer tensors the model lacks (weights of another architecture?): ${someOf(unexpected)}`);
    model.loadStateDict(use, { strict: false, op });
    return { loaded: [...use.keys()], unused: [...inits.keys()].filter((k) => !own.has(k)) };
  } finally {
    for (const t of inits.values()) t.dispose();
  }
}
