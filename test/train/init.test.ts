// MDMT and FT initialisation (paper.md §1.3): MDMT backbone parameters are exactly
// 0.5·STLτ1 + 0.5·STLτ2, its buffers keep their initial values and both heads are fresh;
// FT starts from the whole STL τ2 backbone with a fresh AFC head; with ImageNet weights
// (torchvision keys) STL starts from them and MDMT keeps their BN buffers.
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MDMTModel, STLModel } from '../../ts/models/mdmt';
import { getModel } from '../../ts/models/zoo';
import type { Module } from '../../ts/nn/module';
import { manualSeed } from '../../ts/random';
import { fill_ } from '../../ts/ops/memory';
import { saveWeights } from '../../ts/train/checkpoint';
import { resolveTrainConfig } from '../../ts/train/config';
import { buildTaskNet } from '../../ts/train/models';
import { liveTensorCount } from '../../ts/tensor';
import { BACKBONE, tmpDir } from './_fixture';
import { deviceAvailable } from '../helpers';

/** the engine-using tests skip (with the reason printed) when $MDMT_DEVICE is unavailable */
const on = deviceAvailable('train/init');

const arr = (m: Module, k: string) => Array.from(m.stateDict().get(k)!.toArray());
const dir = tmpDir('init');
const stlAfcFile = path.join(dir, 'afc.safetensors');
const stlBxFile = path.join(dir, 'bx.safetensors');
let afc: STLModel, bx: STLModel;

test.before(() => {
  if (!on) return;
  manualSeed(11);
  afc = new STLModel('afc', BACKBONE);
  manualSeed(12);
  bx = new STLModel('bx', BACKBONE);
  // give the STL buffers values no fresh model has, so copying them would show
  for (const [k, t] of [...afc.namedBuffers(), ...bx.namedBuffers()]) if (k.endsWith('running_mean')) fill_(t, k.length % 7 / 10 + 0.3);
  saveWeights(stlAfcFile, afc);
  saveWeights(stlBxFile, bx);
});
test.after(() => {
  if (!on) return;
  afc.dispose();
  bx.dispose();
});

const cfg = (experiment: 'mdmt' | 'ft') => resolveTrainConfig({
  // FT starts from STL τ2 alone (an unused init is refused)
  backbone: BACKBONE, experiment, outDir: dir, data: { afc: dir, bx: dir }, init: experiment === 'ft' ? { stlBx: stlBxFile } : { stlAfc: stlAfcFile, stlBx: stlBxFile },
});

test('MDMT: backbone parameters are exactly the average, buffers and heads are fresh', () => {
  if (!on) return;
  const live = liveTensorCount();
  manualSeed(5);
  const net = buildTaskNet(cfg('mdmt'));
  manualSeed(5);
  const fresh = new MDMTModel(BACKBONE);
  const m = net.module as MDMTModel;
  let params = 0, buffers = 0, heads = 0;
  for (const [k] of m.namedParameters()) {
    if (k.startsWith('backbone.')) {
      const a = arr(afc, k), b = arr(bx, k), got = arr(m, k);
      // float32 arithmetic: 0.5·a and 0.5·b are exact, their sum is rounded once
      const want = a.map((x, i) => Math.fround(0.5 * x + 0.5 * b[i]));
      assert.equal(got, want, k);
      if (a.some((x, i) => x !== b[i])) {
        assert.not.equal(got, a, `${k} differs from STL τ1`);
        params++;
      }
    } else {
      assert.equal(arr(m, k), arr(fresh, k), `${k}: head is the fresh initialisation`);
      heads++;
    }
  }
  for (const [k] of m.namedBuffers()) {
    assert.equal(arr(m, k), arr(fresh, k), `${k}: buffer keeps its initial value`);
    buffers++;
  }
  assert.ok(params > 20 && buffers > 50 && heads === 8, `${params} distinct params, ${buffers} buffers, ${heads} head tensors`);
  net.module.dispose();
  fresh.dispose();
  assert.is(liveTensorCount(), live, 'no tensor leaks');
});

test('FT: the whole STL τ2 backbone (parameters and BN statistics), a fresh AFC head', () => {
  if (!on) return;
  manualSeed(6);
  const net = buildTaskNet(cfg('ft'));
  manualSeed(6);
  const fresh = new STLModel('afc', BACKBONE);
  const m = net.module as STLModel;
  for (const [k] of m.stateDict()) {
    if (k.startsWith('backbone.')) assert.equal(arr(m, k), arr(bx, k), `${k} comes from STL τ2`);
    else assert.equal(arr(m, k), arr(fresh, k), `${k}: fresh head`);
  }
  net.module.dispose();
  fresh.dispose();
});

test('pretrained (ImageNet, torchvision keys): STL starts from it; MDMT keeps its buffers and averages the parameters', () => {
  if (!on) return;
  manualSeed(21);
  const imagenet = getModel(BACKBONE); // with its classifier: the keys of a torchvision file
  for (const [k, t] of imagenet.namedBuffers()) if (k.endsWith('running_var')) fill_(t, 1.7);
  const file = path.join(dir, 'imagenet.safetensors');
  saveWeights(file, imagenet);
  const own = (m: Module, k: string) => arr(m, `backbone.${k}`);
  manualSeed(22);
  const stl = buildTaskNet(resolveTrainConfig({ backbone: BACKBONE, experiment: 'stl_afc', outDir: dir, data: { afc: dir }, pretrained: file })).module;
  for (const [k] of imagenet.stateDict()) if (!k.startsWith('fc.')) assert.equal(own(stl, k), arr(imagenet, k), `STL ${k} from the ImageNet file`);
  const mdmt = buildTaskNet(resolveTrainConfig({ ...cfg('mdmt'), pretrained: file })).module;
  for (const [k] of imagenet.namedBuffers()) assert.equal(own(mdmt, k), arr(imagenet, k), `MDMT buffer ${k} keeps the ImageNet value`);
  const k0 = mdmt.namedParameters().find(([k]) => k.startsWith('backbone.'))![0];
  assert.equal(arr(mdmt, k0), arr(afc, k0).map((x, i) => Math.fround(0.5 * x + 0.5 * arr(bx, k0)[i])), 'parameters: the STL average');
  for (const m of [imagenet, stl, mdmt]) m.dispose();
});

test('MDMT / FT need their STL files; a missing file is named', () => {
  if (!on) return;
  assert.throws(() => resolveTrainConfig({ backbone: BACKBONE, experiment: 'mdmt', outDir: dir, data: { afc: dir, bx: dir }, init: { stlBx: stlBxFile } }), /config\.init\.stlAfc/);
  assert.throws(() => resolveTrainConfig({ backbone: BACKBONE, experiment: 'ft', outDir: dir, data: { afc: dir } }), /config\.init\.stlBx/);
  const c = resolveTrainConfig({ backbone: BACKBONE, experiment: 'ft', outDir: dir, data: { afc: dir }, init: { stlBx: path.join(dir, 'nope.safetensors') } });
  assert.throws(() => buildTaskNet(c), /nope\.safetensors/);
});

test.run();
