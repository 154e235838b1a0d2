/**
 * ONNX export by tracing: the model runs one forward in eval mode under `observeOps`, and
 * every op call (plus 'reshape' views) becomes ONNX nodes (opset 17). Parameters and
 * buffers become initializers named by their state_dict keys, so the file doubles as a
 * weight container (`loadOnnxWeights`); other constant tensors get `mdmt_const_<k>`. The
 * batch dimension is symbolic ('N') unless `dynamicBatch: false`. Outputs are named
 * `output`, or by the keys of an object-returning forward (MDMTModel: `afc`, `bx`).
 *
 *   exportOnnx(getModel('resnet18'), 'resnet18.onnx', { inputShape: [1, 3, 224, 224] });
 */
import { noGrad } from '../autograd/tape';
import { check, checkOptions, checkPath, isList, kindOf, MdmtError, show } from '../errors';
import { packageVersion } from '../native/binding';
import { Module } from '../nn/module';
import { observeOps, OpCall } from '../ops/op';
import { tensor, Tensor, tidy } from '../tensor';
import { atomicWriteFile } from '../train/checkpoint';
import { ATTR_TYPE, onnxTypes, ONNX_DTYPE, OnnxAttribute, OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo } from './onnx_proto';

export interface ExportOptions {
  /** traced input shape, N×C×H×W (default [1, 3, 224, 224]) */
  inputShape?: readonly number[];
  /** symbolic batch dimension (default true) */
  dynamicBatch?: boolean;
  /** name of the graph input (default 'input') */
  inputName?: string;
  /** the model's metadata_props (mdmt export writes backbone and task, which import reads back) */
  metadata?: Record<string, string>;
}

export const ONNX_OPSET = 17;

type Attr = number | number[] | { f: number };
const fl = (f: number) => ({ f });

function attr(name: string, v: Attr): OnnxAttribute {
  if (Array.isArray(v)) return { name, type: ATTR_TYPE.INTS, ints: v };
  if (typeof v === 'object') return { name, type: ATTR_TYPE.FLOAT, f: v.f };
  return { name, type: ATTR_TYPE.INT, i: v };
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

/** Builds the graph from the traced calls. */
class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly inits: OnnxTensor[] = [];
  private readonly names = new Map<Tensor, string>();
  private readonly initDone = new Set<string>();
  private k = 0;

  constructor(private readonly keys: Map<Tensor, string>, private readonly batch: number | null) {}

  bind(t: Tensor, name: string): void {
    this.names.set(t, name);
  }
  fresh(prefix: string): string {
    return `${prefix}_${this.k++}`;
  }
  /** The ONNX value name of a traced tensor: a produced value, an initializer or a constant. */
  value(t: Tensor): string {
    const n = this.names.get(t);
    if (n) return n;
    const key = this.keys.get(t) ?? `mdmt_const_${this.k++}`;
    this.addInit(key, t);
    this.names.set(t, key);
    return key;
  }
  addInit(name: string, t: Tensor): void {
    if (this.initDone.has(name)) return;
    this.initDone.add(name);
    check(t.dtype === 'float32' || t.dtype === 'int32', 'EDTYPE', 'exportOnnx', `initializer '${name}' has dtype ${t.dtype}`);
    this.inits.push({ name, dims: [...t.shape], data_type: t.dtype === 'float32' ? ONNX_DTYPE.FLOAT : ONNX_DTYPE.INT32, raw_data: bytesOf(t.toArray()) });
  }
  int64s(values: readonly number[]): string {
    const name = this.fresh('mdmt_shape');
    this.initDone.add(name);
    this.inits.push({ name, dims: [values.length], data_type: ONNX_DTYPE.INT64, raw_data: bytesOf(BigInt64Array.from(values.map(BigInt))) });
    return name;
  }
  scalar(v: number): string {
    const name = this.fresh('mdmt_scalar');
    this.initDone.add(name);
    this.inits.push({ name, dims: [], data_type: ONNX_DTYPE.FLOAT, raw_data: bytesOf(Float32Array.of(v)) });
    return name;
  }
  node(op: string, inputs: string[], outputs: string[], attrs: Record<string, Attr> = {}): void {
    this.nodes.push({ op_type: op, name: `${op}_${this.nodes.length}`, input: inputs, output: outputs, attribute: Object.entries(attrs).map(([n, v]) => attr(n, v)) });
  }
  /** A target shape whose batch dim copies the input's (ONNX Reshape 0) when the batch is symbolic. */
  dynShape(inShape: readonly number[], outShape: readonly number[], keep: 0 | 1): number[] {
    const s = [...outShape];
    if (this.batch !== null && s.length && inShape[0] === this.batch && s[0] === this.batch) s[0] = keep;
    return s;
  }

  /** Emits the nodes of one traced call. */
  emit(c: OpCall): void {
    const a = c.attrs as Record<string, number | number[] | boolean | undefined>;
    const ins = c.inputs.map((t) => this.value(t));
    const out = c.outputs.map((t) => {
      const n = this.fresh(c.op);
      this.bind(t, n);
      return n;
    });
    const y = out[0];
    switch (c.op) {
      case 'conv2d': {
        const p = pair(a.padding);
        this.node('Conv', ins, [y], { kernel_shape: c.inputs[1].shape.slice(2) as number[], strides: pair(a.stride), pads: [p[0], p[1], p[0], p[1]], dilations: pair(a.dilation), group: a.groups as number });
        break;
      }
      case 'linear': this.node('Gemm', ins, [y], { transB: 1 }); break;
      case 'matmul': this.node('Gemm', ins, [y], { transA: a.transA ? 1 : 0, transB: a.transB ? 1 : 0 }); break;
      case 'batchnorm_eval': this.node('BatchNormalization', ins, [y], { epsilon: fl(a.eps as number) }); break;
      case 'relu': this.node('Relu', ins, [y]); break;
      case 'relu6': this.node('Clip', [ins[0], this.scalar(0), this.scalar(6)], [y]); break;
      case 'sigmoid': this.node('Sigmoid', ins, [y]); break;
      case 'hardswish': this.node('HardSwish', ins, [y]); break;
      case 'silu': {
        const s = this.fresh('sigmoid');
        this.node('Sigmoid', ins, [s]);
        this.node('Mul', [ins[0], s], [y]);
        break;
      }
      case 'add': this.node('Add', ins, [y]); break;
      case 'sub': this.node('Sub', ins, [y]); break;
      case 'mul': this.node('Mul', ins, [y]); break;
      case 'affine': {
        const m = this.fresh('affine_mul');
        this.node('Mul', [ins[0], this.scalar(a.alpha as number)], [m]);
        this.node('Add', [m, this.scalar((a.beta as number) ?? 0)], [y]);
        break;
      }
      case 'copy': this.node('Identity', ins, [y]); break;
      case 'cast': this.node('Cast', ins, [y], { to: c.outputs[0].dtype === 'int32' ? ONNX_DTYPE.INT32 : c.outputs[0].dtype === 'uint8' ? ONNX_DTYPE.UINT8 : ONNX_DTYPE.FLOAT }); break;
      case 'sum': this.node('ReduceSum', [ins[0], this.int64s(a.axes as number[])], [y], { keepdims: a.keepdim ? 1 : 0 }); break;
      case 'mean': this.node('ReduceMean', ins, [y], { axes: a.axes as number[], keepdims: a.keepdim ? 1 : 0 }); break;
      case 'expand': this.node('Expand', [ins[0], this.int64s(this.dynShape(c.inputs[0].shape, c.outputs[0].shape, 1))], [y]); break;
      case 'reshape': this.node('Reshape', [ins[0], this.int64s(this.dynShape(c.inputs[0].shape, c.outputs[0].shape, 0))], [y]); break;
      case 'maxpool2d': {
        const { k, s, p, e } = poolPads(c);
        this.node('MaxPool', ins, [y], { kernel_shape: k, strides: s, pads: [p[0], p[1], p[0] + e[0], p[1] + e[1]], ceil_mode: 0 });
        break;
      }
      case 'avgpool2d': {
        const { k, s, p, e } = poolPads(c);
        if (a.count_include_pad && (e[0] > 0 || e[1] > 0)) {
          // mdmt's divisor counts the padding p but not ceil_mode's overhang e: a Pad node makes
          // p real zeros, which the pool (count_include_pad=0) counts, and its end pads e not
          let padded = ins[0];
          if (p[0] > 0 || p[1] > 0) {
            padded = this.fresh('avgpool_pad');
            this.node('Pad', [ins[0], this.int64s([0, 0, p[0], p[1], 0, 0, p[0], p[1]]), this.scalar(0)], [padded], {});
          }
          this.node('AveragePool', [padded], [y], { kernel_shape: k, strides: s, pads: [0, 0, e[0], e[1]], ceil_mode: 0, count_include_pad: 0 });
        } else {
          this.node('AveragePool', ins, [y], { kernel_shape: k, strides: s, pads: [p[0], p[1], p[0] + e[0], p[1] + e[1]], ceil_mode: 0, count_include_pad: a.count_include_pad ? 1 : 0 });
        }
        break;
      }
      case 'global_avgpool': this.node('GlobalAveragePool', ins, [y]); break;
      case 'concat': this.node('Concat', ins, [y], { axis: a.axis as number }); break;
      case 'split': this.node('Split', [ins[0], this.int64s(c.outputs.map((t) => t.shape[a.axis as number]))], out, { axis: a.axis as number }); break;
      case 'transpose': this.node('Transpose', ins, [y], { perm: a.perm as number[] }); break;
      case 'channel_shuffle': {
        const [, C, H, W] = c.inputs[0].shape, g = a.groups as number;
        const r = this.fresh('shuffle_view'), t = this.fresh('shuffle_t');
        this.node('Reshape', [ins[0], this.int64s(this.dynShape(c.inputs[0].shape, [c.inputs[0].shape[0], g, C / g, H, W], 0))], [r]);
        this.node('Transpose', [r], [t], { perm: [0, 2, 1, 3, 4] });
        this.node('Reshape', [t, this.int64s(this.dynShape(c.inputs[0].shape, c.inputs[0].shape, 0))], [y]);
        break;
      }
      case 'pad2d': {
        const [t, b, l, r] = a.pads as number[];
        this.node('Pad', [ins[0], this.int64s([0, 0, t, l, 0, 0, b, r]), this.scalar((a.value as number) ?? 0)], [y], {});
        break;
      }
      case 'dropout': case 'batchnorm_train':
        throw new MdmtError('EINVAL', 'exportOnnx', `'${c.op}' ran during the trace: export needs eval mode (model.eval())`);
      default:
        throw new MdmtError('ENOTIMPL', 'exportOnnx', `op '${c.op}' has no ONNX mapping`);
    }
  }
}

/** An attribute given as one number or as a [H, W] pair, as a pair. */
const pair = (v: unknown): number[] => (Array.isArray(v) ? (v as number[]) : [v as number, v as number]);

/**
 * A traced pool's ONNX geometry with ceil_mode=0: kernel k, stride s, symmetric padding p and
 * the extra end padding e per axis (H, W) that gives mdmt's (PyTorch's) output size o.
 * ceil_mode=1 is never written: opset 17 defines its size as ⌈(H + 2p − k)/s⌉ + 1, while
 * mdmt drops a last window that would start inside the end padding (⌈⌉ − 1 when
 * 0 < (H + 2p − k) mod s ≤ s − k + p; e.g. H 5, k 3, s 3, p 1: 3 vs 2). onnxruntime's kernel
 * keeps mdmt's size but its shape inference (and a runtime taking the formula literally) does
 * not. Explicit pads mean one size under any reading:
 * ⌊(H + 2p + e − k)/s⌋ + 1 = o with e = max(0, (o − 1)s + k − H − 2p), and p + e < k since the
 * last window starts before H + p (ONNX runtimes require pads smaller than the kernel).
 */
function poolPads(c: OpCall): { k: number[]; s: number[]; p: number[]; e: number[] } {
  const a = c.attrs as Record<string, unknown>;
  const k = pair(a.kernel), s = pair(a.stride), p = pair(a.padding);
  const e = [0, 1].map((i) => {
    const H = c.inputs[0].shape[2 + i], o = c.outputs[0].shape[2 + i];
    const extra = Math.max(0, (o - 1) * s[i] + k[i] - H - 2 * p[i]);
    check(Math.floor((H + 2 * p[i] + extra - k[i]) / s[i]) + 1 === o && p[i] + extra < k[i], 'EINTERNAL', 'exportOnnx',
      () => `${c.op}: no ONNX padding gives the output size ${o} of input ${H}, kernel ${k[i]}, stride ${s[i]}, padding ${p[i]}`);
    return extra;
  });
  return { k, s, p, e };
}

function collectOutputs(out: unknown): [string, Tensor][] {
  if (out instanceof Tensor) return [['output', out]];
  if (Array.isArray(out)) return out.map((t, i) => [`output_${i}`, t as Tensor]);
  if (out && typeof out === 'object') return Object.entries(out as Record<string, Tensor>);
  throw new MdmtError('EINVAL', 'exportOnnx', 'forward must return a Tensor, an array or an object of Tensors');
}

function valueInfo(name: string, shape: readonly number[], dynamic: boolean): OnnxValueInfo {
  return { name, type: { tensor_type: { elem_type: ONNX_DTYPE.FLOAT, shape: { dim: shape.map((d, i) => (i === 0 && dynamic ? { dim_param: 'N' } : { dim_value: d })) } } } };
}

/**
 * Traces `model` (switched to eval mode for the trace, its mode restored after) and returns
 * the serialised ONNX ModelProto.
 *   const bytes = toOnnx(new MDMTModel('resnet18'), { inputShape: [2, 3, 64, 64] });
 */
export function toOnnx(model: Module, opts: ExportOptions = {}): Uint8Array {
  // an object with a forward() is no model: its parameters, state and eval() are what is traced
  check(model instanceof Module, 'EINVAL', 'exportOnnx', () => `needs a Module (a layer or model), got ${kindOf(model)}`);
  checkOptions('exportOnnx', opts, { inputShape: true, dynamicBatch: true, inputName: true, metadata: true });
  const meta = opts.metadata ?? {};
  check(meta !== null && typeof meta === 'object' && Object.values(meta).every((v) => typeof v === 'string'), 'EINVAL', 'exportOnnx', () => `'metadata' must map names to strings, got ${show(opts.metadata)}`);
  check(opts.inputShape === undefined || isList(opts.inputShape), 'EINVAL', 'exportOnnx', () => `inputShape must be 4 positive integers, got ${show(opts.inputShape)}`);
  const shape = [...(opts.inputShape ?? [1, 3, 224, 224])];
  check(shape.length === 4 && shape.every((d) => Number.isInteger(d) && d > 0), 'EINVAL', 'exportOnnx', () => `inputShape must be 4 positive integers, got ${show(shape)}`);
  const dynamic = opts.dynamicBatch ?? true;
  check(typeof dynamic === 'boolean', 'EINVAL', 'exportOnnx', () => `'dynamicBatch' must be a boolean, got ${show(dynamic)}`);
  const inputName = opts.inputName ?? 'input';
  // an empty name is an optional input's "absent" in ONNX: the graph would have no input
  check(typeof inputName === 'string' && inputName !== '', 'EINVAL', 'exportOnnx', () => `'inputName' must be a non-empty string, got ${show(inputName)}`);
  const wasTraining = model.training;
  model.eval();
  const keys = new Map<Tensor, string>();
  for (const [k, t] of model.stateDict()) keys.set(t, k);
  try {
    return tidy(() => {
      const n = shape.reduce((p, d) => p * d, 1);
      const x = tensor(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37)), shape, { device: model.parameters()[0]?.device });
      const g = new GraphBuilder(keys, dynamic ? shape[0] : null);
      g.bind(x, inputName);
      const calls: OpCall[] = [];
      // copies: a caller may reuse the arrays it passed to an op (DenseNet's feature list)
      const stop = observeOps((c) => calls.push({ ...c, inputs: [...c.inputs], outputs: [...c.outputs] }));
      let out: unknown;
      try {
        out = noGrad(() => model.forward(x));
      } finally {
        stop();
      }
      for (const c of calls) if (c.op !== 'fill') g.emit(c);
      const outputs = collectOutputs(out);
      const outInfo: OnnxValueInfo[] = [];
      for (const [name, t] of outputs) {
        g.node('Identity', [g.value(t)], [name]);
        outInfo.push(valueInfo(name, t.shape, dynamic));
      }
      const m: OnnxModel = {
        ir_version: 8,
        opset_import: [{ domain: '', version: ONNX_OPSET }],
        producer_name: 'mdmt',
        producer_version: packageVersion(),
        graph: { name: model.constructor.name, node: g.nodes, initializer: g.inits, input: [valueInfo(inputName, shape, dynamic)], output: outInfo },
        metadata_props: Object.entries(meta).map(([key, value]) => ({ key, value })),
      };
      const { ModelProto } = onnxTypes();
      return ModelProto.encode(ModelProto.fromObject(m)).finish();
    });
  } finally {
    model.train(wasTraining);
  }
}

/**
 * Writes `model` as an ONNX file (opset 17) loadable by onnxruntime; see toOnnx.
 *   exportOnnx(new MDMTModel('densenet121'), 'mdmt.onnx', { inputShape: [1, 3, 256, 256] });
 */
export function exportOnnx(model: Module, file: string, opts: ExportOptions = {}): void {
  // a number was taken by fs.writeFileSync as an open file descriptor, and the model overwrote that file
  checkPath('exportOnnx', file);
  const bytes = toOnnx(model, opts);
  try {
    // through a temporary file and a rename: a write cut by a full disk left a truncated model
    // under the final name (over the previous export), which onnxruntime then refused
    atomicWriteFile(file, bytes);
  } catch (e) {
    throw new MdmtError('EIO', 'exportOnnx', (e as MdmtError).detail ?? (e as Error).message);
  }
}
