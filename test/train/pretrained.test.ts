// ImageNet weights per backbone and init provenance (issue 15 §1, §4):
//  - a weights folder (pretrainedDir, $MDMT_WEIGHTS) resolves to <backbone>.safetensors; a folder
//    without it is an error naming the file; random initialisation is explicit and recorded;
//  - end to end on the smallest backbone with a weights file this test writes: the STL run
//    starts from it (checked with a learning rate too small to move a float32 weight), records
//    it in config.json, result.json and best.safetensors, and FT inherits it through its init;
//  - FT / MDMT refuse init files of the wrong experiment (τ1/τ2 swapped), fold, split,
//    backbone or ImageNet file, or without provenance, naming the file and the field.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadSafetensors, readSafetensorsMetadata, saveSafetensors } from '../../ts/io/safetensors';
import { getModel, listModels } from '../../ts/models/zoo';
import { fill_ } from '../../ts/ops/memory';
import { manualSeed } from '../../ts/random';
import { readJson, saveWeights } from '../../ts/train/checkpoint';
import { resolveTrainConfig } from '../../ts/train/config';
import type { RunFolds } from '../../ts/train/data';
import { checkInits, ownPretraining } from '../../ts/train/provenance';
import { trainBase } from '../../ts/cli/options';
import { train } from '../../ts/train/train';
import { BACKBONE, tinyBase, tmpDir } from './_fixture';
import { deviceAvailable } from '../helpers';
import { rejects, repoRoot } from '../data/_fixture';

const on = deviceAvailable('train/pretrained');
const dir = tmpDir('pretrained');

test('pretrainedDir / $MDMT_WEIGHTS resolve <backbone>.safetensors; a missing file is named; false = random', () => {
  const w = path.join(dir, 'weights-empty');
  fs.mkdirSync(w, { recursive: true });
  const base = { backbone: BACKBONE, experiment: 'stl_afc' as const, outDir: dir, data: { afc: dir } };
  assert.throws(() => resolveTrainConfig({ ...base, pretrainedDir: w }), new RegExp(`config\\.pretrainedDir '${w}' has no ${BACKBONE}\\.safetensors .*${w}/${BACKBONE}\\.safetensors`));
  assert.throws(() => resolveTrainConfig({ ...base, pretrainedDir: path.join(dir, 'nope') }), /config\.pretrainedDir '.*nope' is not a directory/);
  fs.writeFileSync(path.join(w, `${BACKBONE}.safetensors`), '');
  assert.is(resolveTrainConfig({ ...base, pretrainedDir: w }).pretrained, path.join(w, `${BACKBONE}.safetensors`));
  const prev = process.env.MDMT_WEIGHTS;
  try {
    process.env.MDMT_WEIGHTS = w;
    assert.is(resolveTrainConfig(base).pretrained, path.join(w, `${BACKBONE}.safetensors`), '$MDMT_WEIGHTS is the default folder');
    assert.is(resolveTrainConfig({ ...base, pretrained: false }).pretrained, false, 'random initialisation on request');
    assert.throws(() => resolveTrainConfig({ ...base, backbone: 'resnet18' }), /config\.pretrainedDir \(\$MDMT_WEIGHTS\) '.*' has no resnet18\.safetensors/);
    delete process.env.MDMT_WEIGHTS;
    assert.is(resolveTrainConfig(base).pretrained, false, 'no weights anywhere: random initialisation');
  } finally {
    if (prev === undefined) delete process.env.MDMT_WEIGHTS;
    else process.env.MDMT_WEIGHTS = prev;
  }
  assert.throws(() => resolveTrainConfig({ ...base, pretrained: 3 as never }), /config\.pretrained must be a \.safetensors file or false/);
});

test('CLI: --pretrained-dir, --random-init, and --preset code\'s BRIXIA split', () => {
  assert.equal(trainBase({ pretrainedDir: '/w' }).pretrainedDir, '/w');
  assert.is(trainBase({ randomInit: true }).pretrained, false);
  assert.throws(() => trainBase({ randomInit: true, pretrained: '/w/x.safetensors' }), /--random-init.*contradicts --pretrained/);
  assert.equal(trainBase({ preset: 'code' }).data, { bins: 'code', bxGroupBy: 'image', bxCentres: 'raw' });
  assert.equal(trainBase({}).data, {}, 'paper defaults: Subject groups, manufacturer groups (config.ts)');
});

// ---- provenance checks on metadata-only files (no training)

const folds: RunFolds = { name: '0', joint: false, tasks: { afc: { index: 0, name: '0', split: 'aaaa' }, bx: { index: 0, name: '0', split: 'bbbb' } } };
const meta = (o: Record<string, string>) => ({ backbone: BACKBONE, protocol: 'cv', fold: '0', pretrained: 'none', imagenet: 'false', ...o });
function stlFile(name: string, m: Record<string, string>): string {
  const f = path.join(dir, `${name}.safetensors`);
  saveSafetensors(f, new Map(), m);
  return f;
}

test('FT / MDMT refuse an init of the wrong experiment, fold, split, backbone or weights, naming the file and the field', () => {
  const afc = stlFile('afc', meta({ experiment: 'stl_afc', split: 'aaaa' }));
  const bx = stlFile('bx', meta({ experiment: 'stl_bx', split: 'bbbb' }));
  const cfg = (init: { stlAfc?: string; stlBx?: string }, experiment: 'mdmt' | 'ft' = 'mdmt') =>
    resolveTrainConfig({ backbone: BACKBONE, experiment, outDir: dir, data: { afc: dir, bx: dir }, init, pretrained: false });
  const none = { imagenet: false, weights: 'none' };
  assert.equal(checkInits(cfg({ stlAfc: afc, stlBx: bx }), folds, none), { imagenet: false, weights: 'none' });
  const bad = (init: { stlAfc?: string; stlBx?: string }, re: RegExp, experiment: 'mdmt' | 'ft' = 'mdmt', own = none) =>
    assert.throws(() => checkInits(cfg(init, experiment), folds, own), re);
  bad({ stlAfc: bx, stlBx: afc }, /config\.init\.stlAfc '.*bx\.safetensors': provenance field 'experiment' is 'stl_bx', but this run needs 'stl_afc' \(.*swapped/);
  bad({ stlBx: afc }, /config\.init\.stlBx '.*afc\.safetensors': provenance field 'experiment' is 'stl_afc'/, 'ft');
  bad({ stlAfc: stlFile('f1', meta({ experiment: 'stl_afc', split: 'aaaa', fold: '1' })), stlBx: bx }, /f1\.safetensors': provenance field 'fold' is '1', but this run needs '0' \(.*another fold was trained on this fold's test records/);
  bad({ stlAfc: afc, stlBx: stlFile('sp', meta({ experiment: 'stl_bx', split: 'cccc' })) }, /sp\.safetensors': provenance field 'split' is 'cccc', but this run needs 'bbbb'/);
  bad({ stlAfc: stlFile('r18', meta({ experiment: 'stl_afc', split: 'aaaa', backbone: 'resnet18' })), stlBx: bx }, /r18\.safetensors': provenance field 'backbone' is 'resnet18'/);
  bad({ stlAfc: stlFile('lo', meta({ experiment: 'stl_afc', split: 'aaaa', protocol: 'loco' })), stlBx: bx }, /lo\.safetensors': provenance field 'protocol' is 'loco'/);
  bad({ stlAfc: afc, stlBx: bx }, /afc\.safetensors': provenance field 'pretrained' is 'none', but this run needs 'sha256:1234' \(this run starts from \/w\/x/, 'mdmt', { imagenet: true, weights: 'sha256:1234', file: '/w/x' } as never);
  bad({ stlAfc: stlFile('old', { format: 'mdmt-weights-1', epoch: '3' }), stlBx: bx }, /old\.safetensors' has no provenance field 'experiment'/);
  // a run directory, or a file of another kind (an ONNX export): named, not a bare EISDIR or a garbage header length
  const run = path.join(dir, 'a-run');
  fs.mkdirSync(run, { recursive: true });
  fs.copyFileSync(bx, path.join(run, 'best.safetensors'));
  const onnx = path.join(dir, 'm.onnx');
  fs.writeFileSync(onnx, Buffer.alloc(64, 7));
  bad({ stlBx: run }, new RegExp(`^train: config\\.init\\.stlBx '${run}' is a folder, not a weights file: a run directory, whose weights are ${run}/best\\.safetensors$`), 'ft');
  bad({ stlBx: onnx }, new RegExp(`^train: config\\.init\\.stlBx '${onnx}' must be a \\.safetensors file, got \\.onnx$`), 'ft');
  for (const [file, re] of [[run, /config\.pretrained '.*a-run' is a folder, not a weights file/], [onnx, /config\.pretrained '.*m\.onnx' must be a \.safetensors file, got \.onnx/]] as const)
    assert.throws(() => ownPretraining({ backbone: BACKBONE, pretrained: file }), re);
});

// ---- end to end: a weights file written here, an STL run from it, FT inheriting it

test('pretraining end to end: STL starts from <dir>/<backbone>.safetensors and records it; FT inherits it; a mismatch is refused', async () => {
  if (!on) return;
  const w = path.join(dir, 'imagenet');
  fs.mkdirSync(w, { recursive: true });
  const file = path.join(w, `${BACKBONE}.safetensors`);
  manualSeed(31);
  const net = getModel(BACKBONE); // with its classifier: the keys of a torchvision file
  for (const [k, t] of net.namedBuffers()) if (k.endsWith('running_var')) fill_(t, 2.5);
  saveWeights(file, net, { model: BACKBONE, source: 'torchvision' });
  const firstConv = Array.from(net.stateDict().get('conv1.0.weight')!.toArray());
  net.dispose();
  const base = { ...(await tinyBase()), pretrainedDir: w, schedule: { maxEpochs: 2, warmupEpochs: 0, earlyStopping: 5 } };
  const runs = path.join(dir, 'runs');
  const sid = ownPretraining({ pretrained: file, backbone: BACKBONE }).weights;
  assert.match(sid, /^sha256:[0-9a-f]{16}$/);
  // lr 1e-30: Adam moves no float32 weight, so what training leaves is what the file held
  const afc = await train({ ...base, backbone: BACKBONE, experiment: 'stl_afc', outDir: path.join(runs, 'afc'), optim: { lr: 1e-30 } });
  const best = loadSafetensors(afc.bestPath);
  assert.equal(Array.from(best.tensors.get('backbone.conv1.0.weight')!.toArray()), firstConv, 'the STL backbone began from the file');
  for (const t of best.tensors.values()) t.dispose();
  assert.is(best.metadata.pretrained, sid);
  assert.is(best.metadata.imagenet, 'true');
  assert.equal([best.metadata.backbone, best.metadata.experiment, best.metadata.protocol, best.metadata.fold], [BACKBONE, 'stl_afc', 'cv', '0']);
  // the preprocessing the weights expect travels with them (predict warns when it would use another)
  const cfg = readJson<{ imageSize: number; imagenetNormalize: boolean }>(path.join(runs, 'afc', 'config.json'));
  assert.equal([best.metadata.imageSize, best.metadata.imagenetNormalize], [String(cfg.imageSize), String(cfg.imagenetNormalize)]);
  assert.is(readJson<{ pretrained: string }>(path.join(runs, 'afc', 'config.json')).pretrained, file, 'config.json names the file');
  assert.is(afc.result.imagenet, true, 'result.json: began from ImageNet');
  assert.is(afc.result.pretraining.weights, sid);

  const bx = await train({ ...base, backbone: BACKBONE, experiment: 'stl_bx', outDir: path.join(runs, 'bx') });
  const ft = await train({ ...base, backbone: BACKBONE, experiment: 'ft', outDir: path.join(runs, 'ft'), init: { stlBx: bx.bestPath } });
  assert.is(ft.result.imagenet, true, 'FT inherits ImageNet through its STL τ2 init');
  assert.is(readSafetensorsMetadata(ft.bestPath).pretrained, sid);
  // a random-init FT on an ImageNet STL τ2, and MDMT with τ1 and τ2 swapped, are refused before training
  const e1 = await rejects(() => train({ ...base, backbone: BACKBONE, experiment: 'ft', outDir: path.join(runs, 'ft-random'), pretrained: false, init: { stlBx: bx.bestPath } }));
  assert.match(e1.message, new RegExp(`config\\.init\\.stlBx '${bx.bestPath}': provenance field 'pretrained' is '${sid}', but this run needs 'none'`));
  const e2 = await rejects(() => train({ ...base, backbone: BACKBONE, experiment: 'mdmt', outDir: path.join(runs, 'mdmt'), init: { stlAfc: bx.bestPath, stlBx: afc.bestPath } }));
  assert.match(e2.message, new RegExp(`config\\.init\\.stlAfc '${bx.bestPath}': provenance field 'experiment' is 'stl_bx'`));
  assert.not.ok(fs.existsSync(path.join(runs, 'mdmt', 'log.jsonl')), 'refused before training');
  // a file whose metadata names another model is refused
  const other = path.join(dir, 'other');
  fs.mkdirSync(other, { recursive: true });
  saveSafetensors(path.join(other, `${BACKBONE}.safetensors`), new Map(), { model: 'resnet18' });
  const e3 = await rejects(() => train({ ...base, backbone: BACKBONE, experiment: 'stl_afc', outDir: path.join(runs, 'other'), pretrainedDir: other }));
  assert.match(e3.message, /config\.pretrained '.*other\/shufflenet_v2_x0_5\.safetensors': metadata field 'model' is 'resnet18'/);
});

test('scripts/export_weights.py exports exactly the registered backbones', () => {
  const py = fs.readFileSync(path.join(repoRoot(), 'scripts', 'export_weights.py'), 'utf8');
  const names = [...py.match(/^BACKBONES = \[([^\]]*)\]/m)![1].matchAll(/'([\w]+)'/g)].map((m) => m[1]).sort();
  assert.equal(names, [...listModels()].sort());
  assert.is(names.length, 19);
});

test.run();
