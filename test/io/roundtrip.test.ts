/**
 * After training, as a user goes: a run's weights → `mdmt export` → ONNX → `export --weights
 * x.onnx` / `predict --weights x.onnx` / `mdmt inspect`. The file carries its backbone and task
 * (no --model to restate, a wrong one named); files that are not weights (a folder, a .pt, an
 * empty or truncated file), an STL head of another width, ImageNet weights and image sizes the
 * backbone cannot take are refused naming the file, key or value.
 */
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runExport } from '../../ts/cli/export';
import { inspectFile } from '../../ts/cli/inspect';
import { loadSafetensors, saveSafetensors } from '../../ts/io/safetensors';
import { readOnnxModel } from '../../ts/io/onnx_import';
import { ONNX_DTYPE, onnxTypes } from '../../ts/io/onnx_proto';
import { loadWeightsFile } from '../../ts/io/weights';
import { STLModel } from '../../ts/models/mdmt';
import { getModel } from '../../ts/models/zoo';
import { predict } from '../../ts/predict/predict';
import { manualSeed } from '../../ts/random';
import { tensor } from '../../ts/tensor';
import { rejects } from '../data/_fixture';
import { throwsNaming } from '../helpers';
import { BACKBONE, tmpDir } from '../train/_fixture';
import { fakeRun, greyPng } from '../predict/_fixture';

test('an exported ONNX file names its backbone and task: export → import → export needs no --model and gives the same bytes', async () => {
  const run = fakeRun('rt-onnx', 'mdmt'), dir = tmpDir('rt-onnx-out');
  const a = path.join(dir, 'a.onnx'), b = path.join(dir, 'b.onnx');
  runExport({ weights: path.join(run, 'best.safetensors'), out: a, size: '32' });
  const meta = Object.fromEntries((readOnnxModel(a).metadata_props ?? []).map((p) => [p.key, p.value]));
  assert.equal(meta, { backbone: BACKBONE, task: 'mdmt' });
  const version = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  assert.is(readOnnxModel(a).producer_version, version, 'the producer version is the package version');
  // the ONNX file is a weights file like best.safetensors: its backbone is read back
  assert.equal(runExport({ weights: a, out: b, size: '32' }), { file: b, task: 'mdmt', params: 481286, model: BACKBONE, size: 32 });
  assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)), 'export → import → export is byte-identical');
  throwsNaming(() => runExport({ weights: a, model: 'resnet18', out: b }), `${a} holds ${BACKBONE} weights (its metadata says so), not resnet18: give --model ${BACKBONE}`);
  // predict takes it without --backbone, and scores as the run does
  const img = await greyPng(dir);
  const viaOnnx = await predict([img], { weights: a, imageSize: 32 });
  const viaRun = await predict([img], { run, calibrate: false });
  assert.is(viaOnnx.model.backbone, BACKBONE);
  assert.ok(Math.abs(viaOnnx.rows[0].pSevere! - viaRun.rows[0].pSevere!) < 1e-6, `${viaOnnx.rows[0].pSevere} vs ${viaRun.rows[0].pSevere}`);
});

test("export --task backbone of a run's full-model weights exports its trained backbone; another task than the file's is named (was: '336 of 336 keys missing … another architecture?')", () => {
  const dir = tmpDir('rt-task-out');
  for (const experiment of ['stl_afc', 'mdmt'] as const) {
    const run = fakeRun(`rt-task-${experiment}`, experiment), w = path.join(run, 'best.safetensors');
    const bb = path.join(dir, `${experiment}-backbone.onnx`);
    const r = runExport({ weights: w, task: 'backbone', out: bb, size: '32' });
    assert.equal([r.task, r.model], ['backbone', BACKBONE]);
    const meta = Object.fromEntries((readOnnxModel(bb).metadata_props ?? []).map((p) => [p.key, p.value]));
    assert.is(meta.task, 'backbone');
    // the trained backbone's values, not the seeded initial ones: the file's backbone.* tensors, prefix dropped
    const inits = new Map((readOnnxModel(bb).graph!.initializer ?? []).map((t) => [t.name!, t]));
    const bare = getModel(BACKBONE, { withClassifier: false });
    assert.is(r.params, bare.numParams());
    bare.dispose();
    assert.ok(inits.size > 0);
    // the same graph as exporting a bare-backbone file holding those tensors
    const { tensors } = loadSafetensors(w);
    const stripped = new Map([...tensors].filter(([k]) => k.startsWith('backbone.')).map(([k, t]) => [k.slice('backbone.'.length), t]));
    const plain = path.join(dir, `${experiment}-plain.safetensors`), ref = path.join(dir, `${experiment}-ref.onnx`);
    saveSafetensors(plain, stripped, { backbone: BACKBONE });
    for (const t of tensors.values()) t.dispose();
    runExport({ weights: plain, task: 'backbone', out: ref, size: '32' });
    assert.equal(readOnnxModel(bb).graph!.initializer!.map((t) => Buffer.from(t.raw_data ?? []).toString('hex')),
      readOnnxModel(ref).graph!.initializer!.map((t) => Buffer.from(t.raw_data ?? []).toString('hex')), 'the backbone tensors of the file');
    // a task the file's heads do not fit is said as such, naming the one that fits
    const other = experiment === 'mdmt' ? 'stl_bx' : 'mdmt';
    for (const task of ['imagenet', other])
      throwsNaming(() => runExport({ weights: w, task, out: path.join(dir, 'x.onnx'), size: '32' }),
        `${w} holds a full ${experiment} model's weights`, `not those of --task ${task}: give --task ${experiment} (or leave --task out), or --task backbone for its backbone alone`);
  }
});

test('export --task backbone of ImageNet classifier weights (export_weights.py files, an --task imagenet export) drops the classifier; key errors name the file', () => {
  const dir = tmpDir('rt-imagenet-bb');
  manualSeed(4);
  const net = getModel(BACKBONE, { numClasses: 10 });
  const inet = path.join(dir, 'inet.safetensors'), viaOnnx = path.join(dir, 'inet.onnx');
  saveSafetensors(inet, net.stateDict(), { model: BACKBONE });
  runExport({ weights: inet, out: viaOnnx, size: '32' });
  const prefix = `${net.classifierKey}.`;
  const want = new Map([...net.stateDict()].filter(([k]) => !k.startsWith(prefix) && !k.endsWith('num_batches_tracked'))
    .map(([k, t]) => [k, Buffer.from((t.toArray() as Float32Array).buffer).toString('hex')]));
  net.dispose();
  // the classifier was "2 layer tensors the model lacks (weights of another architecture?)" (ONNX)
  // or "export: unexpected: fc.weight, fc.bias", naming no file (safetensors)
  for (const w of [inet, viaOnnx]) {
    const out = path.join(dir, `${path.basename(w)}-bb.onnx`);
    const r = runExport({ weights: w, task: 'backbone', out, size: '32' });
    assert.equal([r.task, r.model], ['backbone', BACKBONE]);
    const inits = new Map((readOnnxModel(out).graph!.initializer ?? []).map((t) => [t.name!, Buffer.from(t.raw_data ?? []).toString('hex')]));
    for (const [k, v] of want) assert.is(inits.get(k), v, `${w}: ${k}, the file's values`);
    assert.not.ok([...inits.keys()].some((k) => k.startsWith(prefix)), 'no classifier');
  }
  // a safetensors file whose keys do not fit is named with the keys
  throwsNaming(() => runExport({ weights: inet, task: 'stl_afc', out: path.join(dir, 'x.onnx'), size: '32' }), `export: ${inet}: `, 'weights of another architecture?');
  const five = getModel(BACKBONE, { numClasses: 5 });
  throwsNaming(() => loadWeightsFile(five, inet), `loadWeightsFile: ${inet}: mis-shaped: ${prefix}weight: expected [5, `);
  five.dispose();
});

test('a weights path that is a folder, of another kind, empty or truncated is named as such', async () => {
  const run = fakeRun('rt-bad', 'mdmt'), dir = tmpDir('rt-bad-files');
  const w = path.join(run, 'best.safetensors'), out = path.join(dir, 'x.onnx');
  const img = await greyPng(dir);
  const pt = path.join(dir, 'model.pt'), empty = path.join(dir, 'empty.onnx'), cut = path.join(dir, 'cut.safetensors');
  fs.copyFileSync(w, pt);
  fs.writeFileSync(empty, '');
  const bytes = fs.readFileSync(w);
  fs.writeFileSync(cut, bytes.subarray(0, bytes.length >> 1));
  // a run directory given as weights read as "names no backbone in its metadata" (predict) or a raw EISDIR (export)
  throwsNaming(() => runExport({ weights: run, out }), `--weights '${run}' is a folder, not a weights file: it is a run directory, whose weights are ${w}`);
  const e = await rejects(() => predict([img], { weights: run }));
  assert.match(e.message, `weights (--weights) '${run}' is a folder`);
  throwsNaming(() => runExport({ weights: pt, model: BACKBONE, out }), `--weights '${pt}' must be a .safetensors or .onnx file (state_dict keys), got .pt`);
  // an empty file decodes as an empty protobuf message: it was "backbone weights" lacking every key
  throwsNaming(() => runExport({ weights: empty, model: BACKBONE, out }), `${empty} is not an ONNX model: it is empty (0 bytes)`);
  const e2 = await rejects(() => predict([img], { weights: empty, backbone: BACKBONE, imageSize: 32 }));
  assert.match(e2.message, `${empty} is not an ONNX model: it is empty (0 bytes)`);
  throwsNaming(() => runExport({ weights: cut, out, size: '32' }), `${cut}: '`, 'end past the data section', 'the file is truncated');
});

test('predict --weights: a head of another width is named mis-shaped, ImageNet weights are no model to score, the image size fits the backbone', async () => {
  const dir = tmpDir('rt-heads');
  const img = await greyPng(dir);
  manualSeed(0);
  const m = new STLModel('afc', BACKBONE);
  const sd = new Map(m.stateDict());
  const F = sd.get('head.1.weight')!.shape[1];
  const w3 = tensor(new Float32Array(3 * F), [3, F]), b3 = tensor(new Float32Array(3), [3]);
  sd.set('head.1.weight', w3);
  sd.set('head.1.bias', b3);
  const three = path.join(dir, 'three.safetensors');
  saveSafetensors(three, sd, { backbone: BACKBONE });
  for (const t of [w3, b3]) t.dispose();
  m.dispose();
  // three outputs were read as τ2 and reported as head.2.weight missing
  const e = await rejects(() => predict([img], { weights: three, imageSize: 32 }));
  assert.match(e.message, `mis-shaped: head.1.weight: expected [2, ${F}], got [3, ${F}]`);
  const net = getModel('resnet18', { numClasses: 10 });
  const inet = path.join(dir, 'resnet18.safetensors');
  saveSafetensors(inet, net.stateDict(), { model: 'resnet18' });
  net.dispose();
  // no --task fits an ImageNet classifier (the models' keys begin with backbone.): it was asked for
  const e2 = await rejects(() => predict([img], { weights: inet, imageSize: 32 }));
  assert.is(e2.code, 'EDATA');
  assert.match(e2.message, `${inet} holds an ImageNet classifier (fc / classifier keys), not a trained MDMT or single-task model`);
  assert.not.match(e2.message, '--task');
  // DenseNet below 29 px failed inside avgpool2d on a 0×0 map; a huge side failed allocating the batch
  const dense = path.join(dir, 'dense.safetensors');
  const d = new STLModel('afc', 'densenet121');
  saveSafetensors(dense, d.stateDict(), { backbone: 'densenet121' });
  d.dispose();
  const e3 = await rejects(() => predict([img], { weights: dense, imageSize: 28 }));
  assert.is(e3.code, 'ECONFIG');
  assert.match(e3.message, 'imageSize (--image-size) must be an integer in [29, 2048] for densenet121 (smaller inputs shrink to a 0×0 map inside it), got 28');
  const e4 = await rejects(() => predict([img], { weights: three, imageSize: 100000 }));
  assert.match(e4.message, 'imageSize (--image-size) must be an integer in [16, 2048], got 100000');
});

test('mdmt inspect describes weights files (safetensors, ONNX, a resume checkpoint) instead of reading them as DICOM', async () => {
  const run = fakeRun('rt-inspect', 'mdmt'), dir = tmpDir('rt-inspect-out');
  const w = path.join(run, 'best.safetensors'), onnx = path.join(dir, 'm.onnx');
  runExport({ weights: w, out: onnx, size: '32' });
  const st = (await inspectFile(w)).join('\n');
  assert.match(st, 'format:      safetensors (mdmt-weights-1)');
  assert.match(st, `model:       ${BACKBONE}, MDMT (afc_head.*: τ1, bx_head.*: τ2)`);
  assert.match(st, `metadata:    backbone = ${BACKBONE}`);
  assert.not.match(st, 'DICOM');
  const ox = (await inspectFile(onnx)).join('\n');
  assert.match(ox, 'format:      ONNX (opset 17, IR 8, written by mdmt');
  assert.match(ox, 'inputs:      input N×3×32×32');
  assert.match(ox, 'outputs:     afc N×2, bx N×4');
  assert.match(ox, `model:       ${BACKBONE}, MDMT`);
  const ck = path.join(dir, 'checkpoint.safetensors');
  saveSafetensors(ck, new Map(), { format: 'mdmt-checkpoint-1', state: JSON.stringify({ epoch: 2, history: new Array(40).fill(0.5) }, null, 1) });
  const c = (await inspectFile(ck)).join('\n');
  assert.match(c, 'model:       none: a resume checkpoint');
  // an eval-mode torch.onnx.export keeps fc.* and renames the folded convolutions (torchvision's resnet18: 'ImageNet classifier', nothing more)
  const { ModelProto } = onnxTypes();
  const init = (name: string, dims: number[]) => ({ name, dims, data_type: ONNX_DTYPE.FLOAT, raw_data: new Uint8Array(4 * dims.reduce((a, b) => a * b, 1)) });
  const folded = path.join(dir, 'folded.onnx');
  fs.writeFileSync(folded, ModelProto.encode(ModelProto.fromObject({ ir_version: 8, producer_name: 'pytorch', opset_import: [{ version: 17 }],
    graph: { name: 'g', initializer: [init('onnx::Conv_193', [4, 3, 3, 3]), init('onnx::Conv_194', [4]), init('fc.weight', [2, 4]), init('fc.bias', [2])] } })).finish());
  const f = (await inspectFile(folded)).join('\n');
  assert.match(f, 'note:        2 tensors named by the exporter, not by state_dict keys (onnx::Conv_193, ...): BatchNorm folded');
  assert.not.match(ox, 'note:');
  assert.match(c, /metadata: {4}state = \{ "epoch": 2, "history": \[ 0\.5, .*\.\.\. \(\d+ chars\)/);
});

test.run();
