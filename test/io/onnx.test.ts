/**
 * ONNX: the MDMT model's two heads exported and run by onnxruntime-node match mdmt
 * (tolerance of test/models/util.ts); the symbolic batch runs at another batch size;
 * importing a graph's initializers into a differently-seeded model reproduces the output
 * exactly; a missing or mis-shaped key fails naming it; `mdmt export` (runExport) picks
 * the MDMT model from trained weights and writes a file onnxruntime runs; a tiny
 * PyTorch-written ONNX file (scripts/golden_models.py) loads by name and reproduces
 * PyTorch's output.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { noGrad } from '../../ts/autograd/tape';
import { runExport } from '../../ts/cli/export';
import { MdmtError } from '../../ts/errors';
import { toOnnx } from '../../ts/io/onnx_export';
import { loadOnnxWeights, readOnnxInitializers, readOnnxModel } from '../../ts/io/onnx_import';
import { ONNX_DTYPE, onnxTypes } from '../../ts/io/onnx_proto';
import { saveSafetensors } from '../../ts/io/safetensors';
import { MDMTModel } from '../../ts/models/mdmt';
import { getModel } from '../../ts/models/zoo';
import { BatchNorm2d, Conv2d, Linear } from '../../ts/nn/layers';
import { affine, expand, mul, sub } from '../../ts/ops/elementwise';
import { avgpool2d, maxpool2d } from '../../ts/ops/pool';
import { channelShuffle, concat, pad2d, split, transpose } from '../../ts/ops/layout';
import { copy } from '../../ts/ops/memory';
import { hardswish, relu6, sigmoid, silu } from '../../ts/ops/activations';
import { matmul } from '../../ts/ops/linear';
import { mean, sum } from '../../ts/ops/reduce';
import { reshape } from '../../ts/ops/reshape';
import { Module } from '../../ts/nn/module';
import { ReLU, Sequential } from '../../ts/nn/simple';
import { packageRoot } from '../../ts/native/binding';
import { manualSeed } from '../../ts/random';
import { tensor, Tensor, tidy } from '../../ts/tensor';
import { mdmtFileLimited, throwsNaming } from '../helpers';
import { assertCloseScaled, images, randomizeBatchNorm, runOrt } from '../models/util';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-onnx-'));
const SHAPE = [2, 3, 64, 64];

function forward(m: Module, x: Float32Array, shape: number[]): Record<string, Float32Array> {
  return tidy(() => noGrad(() => {
    const y = m.forward(tensor(x, shape)) as Tensor | Record<string, Tensor>;
    if (y instanceof Tensor) return { output: y.toArray() as Float32Array };
    return Object.fromEntries(Object.entries(y).map(([k, v]) => [k, v.toArray() as Float32Array]));
  }));
}


test('MDMTModel export: both heads equal onnxruntime-node, at the traced and another batch size', async () => {
  manualSeed(3);
  const m = new MDMTModel('shufflenet_v2_x0_5');
  randomizeBatchNorm(m);
  m.eval();
  const bytes = toOnnx(m, { inputShape: SHAPE });
  const g = readOnnxModel(bytes).graph;
  assert.equal(g.output.map((o) => o.name), ['afc', 'bx']);
  for (const shape of [SHAPE, [3, 3, 64, 64]]) {
    const x = images(shape, shape[0]);
    const ours = forward(m, x, shape);
    const ref = await runOrt(bytes, x, shape);
    assert.is(ref.afc.length, shape[0] * 2);
    assert.is(ref.bx.length, shape[0] * 4);
    assertCloseScaled(ours.afc, ref.afc, `afc, batch ${shape[0]}`);
    assertCloseScaled(ours.bx, ref.bx, `bx, batch ${shape[0]}`);
  }
  m.dispose();
});

test('export restores training mode and names initializers by state_dict keys', () => {
  const m = getModel('resnet18', { withClassifier: false });
  assert.ok(m.training);
  const g = readOnnxModel(toOnnx(m, { inputShape: SHAPE })).graph;
  assert.ok(m.training, 'training mode restored');
  const names = new Set(g.initializer.map((t) => t.name));
  for (const k of m.stateDict().keys()) if (!k.endsWith('num_batches_tracked')) assert.ok(names.has(k), `initializer ${k}`);
  m.dispose();
});

test('ONNX initializer import reproduces the output; missing and mis-shaped keys are named', () => {
  manualSeed(4);
  const a = getModel('efficientnet_b1_pruned', { withClassifier: false });
  randomizeBatchNorm(a);
  a.eval();
  const bytes = toOnnx(a, { inputShape: SHAPE });
  manualSeed(5);
  const b = getModel('efficientnet_b1_pruned', { withClassifier: false }).eval();
  const x = images(SHAPE);
  const ya = forward(a, x, SHAPE).output;
  assert.ok(forward(b, x, SHAPE).output.some((v, i) => v !== ya[i]), 'different seeds differ before the import');
  const { unused } = loadOnnxWeights(b, bytes);
  assert.ok(unused.every((k) => k.startsWith('mdmt_')), `only graph constants unused: ${unused.slice(0, 3)}`);
  assert.equal(Array.from(forward(b, x, SHAPE).output), Array.from(ya), 'identical output after the import');

  const withFc = getModel('efficientnet_b1_pruned');
  throwsNaming(() => loadOnnxWeights(withFc, bytes), 'classifier.weight', 'classifier.bias');
  const bigger = getModel('shufflenet_v2_x1_0', { withClassifier: false });
  const small = getModel('shufflenet_v2_x0_5', { withClassifier: false });
  throwsNaming(() => loadOnnxWeights(bigger, toOnnx(small, { inputShape: SHAPE }), { strict: false }), 'stage2.0.branch1.2.weight');
  // option typos were ignored (strict stayed on, the batch stayed dynamic); an empty input name made an input-less graph
  throwsNaming(() => loadOnnxWeights(bigger, bytes, { strik: false } as never), "unknown option 'strik'", 'did you mean strict?');
  throwsNaming(() => toOnnx(small, { dynamicbatch: false } as never), 'exportOnnx', "unknown option 'dynamicbatch'", 'did you mean dynamicBatch?');
  throwsNaming(() => toOnnx(small, { inputName: '' }), "exportOnnx: 'inputName' must be a non-empty string, got \"\"");
  throwsNaming(() => toOnnx(small, { dynamicBatch: 'no' } as never), "'dynamicBatch' must be a boolean, got \"no\"");
  throwsNaming(() => toOnnx({ forward: (x: Tensor) => x } as never), 'exportOnnx: needs a Module (a layer or model), got an Object');
  throwsNaming(() => a.loadStateDict(new Map(), { stric: false } as never), "loadStateDict: unknown option 'stric'", 'did you mean strict?');
  for (const m of [a, b, withFc, bigger, small]) m.dispose();
});

test("strict ONNX import names a layer's tensors the model lacks (a resnet34 file loaded into a resnet18: its keys are a subset)", () => {
  const three = new Sequential(new Conv2d(3, 4, 3, { padding: 1 }), new BatchNorm2d(4), new Conv2d(4, 2, 1));
  const bytes = toOnnx(three.eval(), { inputShape: [1, 3, 8, 8] });
  const two = new Sequential(new Conv2d(3, 4, 3, { padding: 1 }), new BatchNorm2d(4));
  throwsNaming(() => loadOnnxWeights(two, bytes), 'ONNX bytes holds 2 layer tensors the model lacks (weights of another architecture?): 2.weight, 2.bias');
  const { loaded, unused } = loadOnnxWeights(two, bytes, { strict: false });
  assert.equal(loaded.length, 6);
  assert.ok(unused.includes('2.weight') && unused.includes('2.bias'), 'non-strict loads the rest and returns them');
  const same = new Sequential(new Conv2d(3, 4, 3, { padding: 1 }), new BatchNorm2d(4), new Conv2d(4, 2, 1));
  assert.ok(loadOnnxWeights(same, bytes).unused.every((k) => k.startsWith('mdmt_')), 'graph constants are not layer tensors');
  for (const m of [three, two, same]) m.dispose();
});

test('an eval-mode PyTorch export (BatchNorm folded, weights renamed onnx::Conv_*) is refused saying so, not only as missing keys', () => {
  const { ModelProto } = onnxTypes();
  const w = (name: string, dims: number[]) => ({ name, dims, data_type: ONNX_DTYPE.FLOAT, raw_data: new Uint8Array(4 * dims.reduce((a, b) => a * b, 1)) });
  // what torch.onnx.export(model.eval(), ...) writes for Conv + BN: one folded conv, its weight and bias renamed
  const bytes = ModelProto.encode(ModelProto.fromObject({ ir_version: 8, graph: { name: 'g', initializer: [w('onnx::Conv_5', [4, 3, 3, 3]), w('onnx::Conv_6', [4])] } })).finish();
  const m = new Sequential(new Conv2d(3, 4, 3, { padding: 1 }), new BatchNorm2d(4));
  throwsNaming(() => loadOnnxWeights(m, bytes), 'lacks 6 keys', 'not named by state_dict keys (onnx::Conv_5, ...)', 'folds BatchNorm', 'TrainingMode.TRAINING, do_constant_folding=False');
  // torchvision's resnet18 keeps its classifier's names (fc.weight, fc.bias): still said
  const some = ModelProto.encode(ModelProto.fromObject({ ir_version: 8, graph: { name: 'g', initializer: [w('1.weight', [4]), w('onnx::Conv_5', [4, 3, 3, 3])] } })).finish();
  throwsNaming(() => loadOnnxWeights(m, some), 'lacks 5 keys', 'folds BatchNorm');
  // a file that lacks keys with no renamed initializers: no such hint
  const plain = ModelProto.encode(ModelProto.fromObject({ ir_version: 8, graph: { name: 'g', initializer: [w('0.weight', [4, 3, 3, 3])] } })).finish();
  const e = (() => { try { loadOnnxWeights(m, plain); } catch (err) { return err as Error; } })();
  assert.ok(e && /lacks 5 keys/.test(e.message) && !/folds BatchNorm/.test(e.message), e?.message);
  m.dispose();
});

test('DOUBLE initializers: read as float32, a finite value beyond its range refused (it was read as Infinity)', () => {
  const { ModelProto } = onnxTypes();
  const model = (vals: number[], raw: boolean) => ModelProto.encode(ModelProto.fromObject({
    ir_version: 8,
    graph: { name: 'g', initializer: [{ name: 'w', dims: [vals.length], data_type: ONNX_DTYPE.DOUBLE, ...(raw ? { raw_data: new Uint8Array(Float64Array.from(vals).buffer) } : { double_data: vals }) }] },
  })).finish();
  for (const raw of [false, true]) {
    const ok = readOnnxInitializers(model([0.1, -Infinity], raw)).get('w')!;
    assert.equal(Array.from(ok.toArray()), [Math.fround(0.1), -Infinity], `raw_data ${raw}`);
    ok.dispose();
    throwsNaming(() => readOnnxInitializers(model([2, 1e300], raw)), "initializer 'w'", 'DOUBLE value 1e+300 at index 1', 'float32');
  }
});

test('mdmt export: trained MDMT weights → ONNX that onnxruntime runs like mdmt', async () => {
  manualSeed(6);
  const m = new MDMTModel('mobilenet_v2');
  randomizeBatchNorm(m);
  const w = path.join(dir, 'best.safetensors'), out = path.join(dir, 'm.onnx');
  saveSafetensors(w, m.stateDict());
  const r = runExport({ model: 'mobilenet_v2', weights: w, out, size: '64', batch: '2' });
  assert.is(r.task, 'mdmt');
  m.eval();
  const x = images(SHAPE, 9);
  const ours = forward(m, x, SHAPE);
  const ref = await runOrt(fs.readFileSync(out), x, SHAPE);
  assertCloseScaled(ours.afc, ref.afc, 'afc');
  assertCloseScaled(ours.bx, ref.bx, 'bx');
  throwsNaming(() => runExport({ model: 'resnet9', out }), "unknown model 'resnet9'");
  // --model comes from the weights' metadata when they name a backbone, and is required otherwise
  throwsNaming(() => runExport({ weights: w, out }), `--model is required (${w} names no backbone in its metadata)`);
  const named = path.join(dir, 'named.safetensors');
  saveSafetensors(named, m.stateDict(), { backbone: 'mobilenet_v2' });
  assert.equal([runExport({ weights: named, out, size: '32' }).model], ['mobilenet_v2']);
  // scripts/export_weights.py's files say `model`: read too, when it is a registered model; a file naming two is refused
  const exported = path.join(dir, 'exported.safetensors'), other = path.join(dir, 'other.safetensors'), both = path.join(dir, 'both.safetensors');
  saveSafetensors(exported, m.stateDict(), { format: 'pt', model: 'mobilenet_v2', pretrained: 'False' });
  assert.equal([runExport({ weights: exported, out, size: '32' }).model], ['mobilenet_v2']);
  throwsNaming(() => runExport({ model: 'resnet18', weights: exported, out }), `${exported} holds mobilenet_v2 weights (its metadata says so), not resnet18`);
  saveSafetensors(other, m.stateDict(), { model: 'my_own_net' });
  throwsNaming(() => runExport({ weights: other, out }), `--model is required (${other} names no backbone in its metadata)`);
  saveSafetensors(both, m.stateDict(), { backbone: 'mobilenet_v2', model: 'resnet18' });
  throwsNaming(() => runExport({ weights: both, out }), `${both}: its metadata names two architectures, backbone 'mobilenet_v2' and model 'resnet18'`);
  // --out that is a folder, or under a file: named before the model is built (raw EISDIR / ENOTDIR)
  throwsNaming(() => runExport({ model: 'mobilenet_v2', out: dir }), `--out '${dir}' is a directory, not a file`);
  const json = path.join(dir, 'model.json');
  throwsNaming(() => runExport({ model: 'mobilenet_v2', out: json }), `--out '${json}' must end in .onnx: export writes an ONNX graph; give e.g. ${path.join(dir, 'model.onnx')}`);
  assert.not.ok(fs.existsSync(json), 'nothing written');
  // upper case: written, then refused by predict --weights and misread by inspect as a safetensors file
  const upper = path.join(dir, 'model.ONNX');
  throwsNaming(() => runExport({ model: 'mobilenet_v2', out: upper }), `--out '${upper}' must end in .onnx: export writes an ONNX graph; give e.g. ${path.join(dir, 'model.onnx')}`);
  assert.not.ok(fs.existsSync(upper), 'nothing written');
  throwsNaming(() => runExport({ model: 'mobilenet_v2', out: path.join(w, 'm.onnx') }), `lies under '${w}', which is a file`);
  // a missing folder is made, as predict and report do
  const nested = path.join(dir, 'new', 'sub', 'm.onnx');
  runExport({ model: 'mobilenet_v2', weights: w, out: nested, size: '32' });
  assert.ok(fs.statSync(nested).size > 0);
  // --classes is for the ImageNet classifier only
  throwsNaming(() => runExport({ model: 'mobilenet_v2', task: 'mdmt', classes: '3', out }), '--classes sets the classifier of --task imagenet; task mdmt has fixed heads');
  throwsNaming(() => runExport({ weights: w, model: 'mobilenet_v2', classes: '3', out }), 'task mdmt (read from the weights) has fixed heads');
  // --size down to the backbone's smallest input (modelInfo(...).minSize), not a fixed 32
  runExport({ model: 'mobilenet_v2', weights: w, out: nested, size: '16' });
  throwsNaming(() => runExport({ model: 'densenet121', out, size: '28' }), '--size must be an integer in [29, 2048] for densenet121, got 28');
  throwsNaming(() => runExport({ model: 'mobilenet_v2', out, size: '0' }), '--size must be an integer in [1, 2048], got 0');
  // decimal integers up to train()'s largest input: '1e2' and '0x20' were read by Number() (and
  // printed as "N×3×1e2×1e2"), and --size 100000 failed with a bare "Invalid typed array length"
  for (const size of ['1e2', '0x20', '1.5', '100000'])
    throwsNaming(() => runExport({ model: 'mobilenet_v2', out, size }), `--size must be an integer in [1, 2048], got ${size}`);
  throwsNaming(() => runExport({ model: 'mobilenet_v2', out, size: '32', batch: '100000000' }), '--batch must be an integer in [1, 1024]', 'got 100000000');
  throwsNaming(() => runExport({ model: 'mobilenet_v2', out, size: '32', batch: '2e0' }), '--batch must be an integer in [1, 1024]', 'got 2e0');
  throwsNaming(() => runExport({ model: 'mobilenet_v2', out, classes: '0x3' }), '--classes must be a positive integer, got 0x3');
  assert.is(runExport({ model: 'mobilenet_v2', weights: w, out: nested, size: '32', batch: '2' }).size, 32);
  // another backbone's weights: said in one line, with the first keys of each list and their counts
  throwsNaming(() => runExport({ model: 'resnet18', weights: w, task: 'backbone', out }), 'weights of another architecture?', 'unexpected: backbone.features.0.0.weight', '(320 in all)');
  m.dispose();
});

test('mdmt export refuses an --out that is the --weights file or a .safetensors path (the ONNX graph overwrote the weights)', () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-export-out-'));
  const w = path.join(d, 'best.safetensors'), link = path.join(d, 'link.onnx');
  manualSeed(3);
  const m = new MDMTModel('mobilenet_v2');
  saveSafetensors(w, m.stateDict(), { backbone: 'mobilenet_v2' });
  m.dispose();
  const before = fs.readFileSync(w);
  const onnx = runExport({ weights: w, out: path.join(d, 'm.onnx'), size: '32' }).file;
  fs.symlinkSync(onnx, link);
  const cases: [Parameters<typeof runExport>[0], string][] = [
    [{ weights: w, out: w }, `--out '${w}' is the --weights file: the ONNX graph would overwrite the weights it is made from; give another file, e.g. ${path.join(d, 'best.onnx')}`],
    [{ weights: w, out: path.join(d, '.', 'best.safetensors') }, 'is the --weights file'],
    [{ weights: w, out: path.join(d, 'new.safetensors') }, `--out '${path.join(d, 'new.safetensors')}' is a .safetensors path: export writes an ONNX graph; give a .onnx file, e.g. ${path.join(d, 'new.onnx')}`],
    [{ model: 'mobilenet_v2', out: path.join(d, 'X.SafeTensors') }, 'is a .safetensors path'],
    [{ weights: onnx, out: onnx }, `--out '${onnx}' is the --weights file`],
    [{ weights: onnx, out: link }, `--out '${link}' is the --weights file (${onnx})`],
  ];
  for (const [o, msg] of cases) {
    const e = (() => { try { runExport(o); } catch (x) { return x as MdmtError; } return assert.unreachable(`accepted --out ${o.out}`) as never; })();
    assert.instance(e, MdmtError);
    assert.is(e.code, 'ECONFIG', e.message);
    assert.match(e.message, msg);
  }
  assert.ok(Buffer.compare(before, fs.readFileSync(w)) === 0, 'the weights are untouched');
  assert.not.ok(fs.existsSync(path.join(d, 'new.safetensors')));
});

test('an export whose write fails part-way (a full disk) leaves no partial .onnx at --out; a previous file is kept', () => {
  if (process.platform !== 'linux') return;
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-export-full-'));
  const out = path.join(d, 'm.onnx');
  // ShuffleNet's ImageNet model is ~6 MB of ONNX: the write stops at 64 KiB (EFBIG, as ENOSPC would)
  const args = ['export', '--model', 'shufflenet_v2_x0_5', '--size', '32', '--out', out];
  const fresh = mdmtFileLimited(64, ...args);
  assert.is(fresh.status, 1, fresh.stderr);
  assert.match(fresh.stderr, `cannot write ${out}: EFBIG`);
  assert.equal(fs.readdirSync(d), [], 'no truncated m.onnx (onnxruntime refused it; predict --weights called it "another kind of file"), no temporary file');
  fs.writeFileSync(out, 'the previous export');
  const again = mdmtFileLimited(64, ...args);
  assert.is(again.status, 1, again.stderr);
  assert.is(fs.readFileSync(out, 'utf8'), 'the previous export', 'a failed export leaves the file it would have replaced as it was');
  assert.equal(fs.readdirSync(d), ['m.onnx']);
});

test('initializers of a PyTorch-written ONNX file (torch.onnx, TrainingMode.TRAINING) load by name and reproduce its output', () => {
  const fx = path.join(packageRoot(), 'test', 'io', 'fixtures');
  const want = JSON.parse(fs.readFileSync(path.join(fx, 'torch_small.json'), 'utf8')) as { input_shape: number[]; output: number[] };
  const m = new Sequential(new Conv2d(3, 4, 3, { padding: 1 }), new BatchNorm2d(4), new ReLU(), new Conv2d(4, 2, 1, { bias: false }));
  const { loaded } = loadOnnxWeights(m, path.join(fx, 'torch_small.onnx'));
  assert.equal(loaded.sort(), ['0.bias', '0.weight', '1.bias', '1.running_mean', '1.running_var', '1.weight', '3.weight']);
  const x = Float32Array.from({ length: 75 }, (_, i) => Math.sin(0.1 * i));
  const y = forward(m.eval(), x, want.input_shape).output;
  assertCloseScaled(y, want.output, 'torch eval output');
  m.dispose();
});

/** Uses every op the exporter maps that the zoo does not (or not in these modes). */
class OpMix extends Module {
  constructor() {
    super();
    this.registerModule('conv', new Conv2d(3, 4, 1));
    this.registerParameter('w', tensor(Array.from({ length: 12 }, (_, i) => Math.sin(i) * 0.5), [3, 4]));
    this.registerModule('fc', new Linear(3, 2));
  }
  forward(x: Tensor): Record<string, Tensor> {
    const a = channelShuffle(this.child('conv').forward(x) as Tensor, 2);
    const p = pad2d(a, [1, 2, 0, 3], 0.5);
    const q = avgpool2d(p, { kernel: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false });
    const r = maxpool2d(hardswish(q), { kernel: 2, stride: 2, ceilMode: true });
    const t = relu6(transpose(affine(sub(silu(r), affine(sigmoid(r), 0.5, 0.1)), 3, 1), [0, 1, 3, 2]));
    const k = mul(expand(sum(t, [2, 3], true), t.shape), t);
    const [s1, s2] = split(k, [1, 3], 1);
    const m = mean(copy(concat([s2, s1], 1)), [2, 3]);           // [N, 4]
    const h = matmul(m, this.param('w'), { transB: true });       // [N, 3]
    return { first: h, second: (this.child('fc').forward(reshape(h, [h.shape[0], -1])) as Tensor) };
  }
}

test('every mapped op (pad, avg/max pool ceil modes, hardswish, silu, affine, transpose, sum, expand, split, matmul, ...) equals onnxruntime', async () => {
  manualSeed(8);
  const m = new OpMix();
  const shape = [2, 3, 9, 7];
  const bytes = toOnnx(m, { inputShape: shape });
  for (const s of [shape, [3, 3, 9, 7]]) {
    const x = images(s, 4);
    const ours = forward(m, x, s);
    const ref = await runOrt(bytes, x, s);
    assertCloseScaled(ours.first, ref.first, `first, batch ${s[0]}`);
    assertCloseScaled(ours.second, ref.second, `second, batch ${s[0]}`);
  }
  m.dispose();
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test.run();
