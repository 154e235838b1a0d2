/**
 * The paper's models: MDMT head structure, keys and init (xavier-uniform bounds, biases
 * 0.01), STL heads, output shapes, and the weight-average initialisation (parameters only,
 * beta·afc + (1−beta)·bx; BN statistics and heads untouched).
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { noGrad } from '../../ts/autograd/tape';
import { MdmtError } from '../../ts/errors';
import { averageBackbones, MDMTModel, STLModel } from '../../ts/models/mdmt';
import { getModel, modelInfo } from '../../ts/models/zoo';
import { manualSeed } from '../../ts/random';
import { liveTensorCount, tensor, tidy } from '../../ts/tensor';
import { images, randomizeBatchNorm } from './util';

const BB = 'shufflenet_v2_x0_5';
const arr = (m: { stateDict(): Map<string, { toArray(): ArrayLike<number> }> }, k: string) => Array.from(m.stateDict().get(k)!.toArray());

test('MDMT heads: keys, shapes, init and output shapes', () => {
  manualSeed(0);
  const m = new MDMTModel(BB);
  const heads = [...m.stateDict()].filter(([k]) => !k.startsWith('backbone.')).map(([k, t]) => `${k} [${t.shape}]`);
  assert.equal(heads, [
    'afc_head.0.weight [128,1024]', 'afc_head.0.bias [128]', 'afc_head.3.weight [32,128]', 'afc_head.3.bias [32]',
    'afc_head.6.weight [2,32]', 'afc_head.6.bias [2]', 'bx_head.2.weight [4,1024]', 'bx_head.2.bias [4]',
  ]);
  for (const [k, fanIn, fanOut] of [['afc_head.0', 1024, 128], ['afc_head.3', 128, 32], ['afc_head.6', 32, 2]] as const) {
    const w = arr(m, `${k}.weight`), bound = Math.sqrt(6 / (fanIn + fanOut));
    assert.ok(w.every((v) => Math.abs(v) <= bound) && w.reduce((a, v) => Math.max(a, Math.abs(v)), 0) > 0.9 * bound, `${k}: xavier-uniform within ±${bound}`);
    assert.ok(arr(m, `${k}.bias`).every((v) => v === Math.fround(0.01)), `${k}: biases 0.01`);
  }
  const bxw = arr(m, 'bx_head.2.weight');
  assert.ok(bxw.every((v) => Math.abs(v) <= 1 / Math.sqrt(1024)), 'bx head: PyTorch default U(±1/√in)');
  const live = liveTensorCount();
  tidy(() => noGrad(() => {
    const { afc, bx } = m.eval().forward(tensor(images([3, 3, 64, 64]), [3, 3, 64, 64]));
    assert.equal(afc.shape, [3, 2]);
    assert.equal(bx.shape, [3, 4]);
  }));
  assert.is(liveTensorCount(), live);
  m.dispose();
});

test('STL heads: AFC Dropout-Linear(in,2), BX ReLU-Dropout-Linear(in,4)', () => {
  const a = new STLModel('afc', BB), b = new STLModel('bx', BB);
  const heads = (s: STLModel) => [...s.stateDict()].filter(([k]) => !k.startsWith('backbone.')).map(([k, t]) => `${k} [${t.shape}]`);
  assert.equal(heads(a), ['head.1.weight [2,1024]', 'head.1.bias [2]']);
  assert.equal(heads(b), ['head.2.weight [4,1024]', 'head.2.bias [4]']);
  assert.equal([...a.backbone.stateDict().keys()], [...getModelKeys()]);
  a.dispose();
  b.dispose();
  assert.throws(() => new STLModel('cxr' as 'afc', BB), (e: unknown) => e instanceof MdmtError && /task/.test((e as Error).message));
  const withFc = getModel(BB);
  assert.throws(() => new MDMTModel(withFc), (e: unknown) => e instanceof MdmtError && /withClassifier/.test((e as Error).message));
  withFc.dispose();
});

function getModelKeys(): string[] {
  const m = getModel(BB, { withClassifier: false });
  const k = [...m.stateDict().keys()];
  m.dispose();
  return k;
}

test('averageBackbones / initFromSingleTask: parameters averaged, buffers and heads untouched', () => {
  manualSeed(1);
  const afc = new STLModel('afc', BB);
  manualSeed(2);
  const bx = new STLModel('bx', BB);
  randomizeBatchNorm(bx);
  manualSeed(3);
  const m = new MDMTModel(BB);
  const headBefore = arr(m, 'afc_head.0.weight');
  const rmBefore = arr(m, 'backbone.conv1.1.running_mean');

  const avg = averageBackbones(afc, bx, 0.25);
  const params = afc.namedParameters().filter(([k]) => k.startsWith('backbone.')).map(([k]) => k);
  assert.equal([...avg.keys()], params, 'every backbone parameter, no buffer, no head');
  const k = 'backbone.stage3.1.branch2.3.weight';
  const want = arr(afc, k).map((v, i) => Math.fround(Math.fround(0.25 * v) + Math.fround(0.75 * arr(bx, k)[i])));
  assert.equal(Array.from(avg.get(k)!.toArray()), want);
  avg.forEach((t) => t.dispose());

  m.initFromSingleTask(afc.stateDict(), bx, 0.5);
  const mid = arr(afc, k).map((v, i) => Math.fround(Math.fround(0.5 * v) + Math.fround(0.5 * arr(bx, k)[i])));
  assert.equal(arr(m, k), mid, 'backbone parameter = average');
  assert.equal(arr(m, 'afc_head.0.weight'), headBefore, 'AFC head untouched');
  assert.equal(arr(m, 'backbone.conv1.1.running_mean'), rmBefore, 'BN running mean untouched');
  assert.throws(() => averageBackbones(afc, bx, 1.5), /beta/);
  const other = new MDMTModel('shufflenet_v2_x1_0');
  assert.throws(() => other.initFromSingleTask(afc, bx), /branch|mis-shaped|not in both/);
  other.dispose();
  for (const x of [afc, bx, m]) x.dispose();
});

test('registry: unknown names list the registered ones; numClasses sets the classifier; modelInfo', () => {
  assert.throws(() => getModel('resnet9'), (e: unknown) => e instanceof MdmtError && /unknown model 'resnet9'.*resnet18/.test((e as Error).message));
  assert.throws(() => getModel(BB, { numClasses: 0 }), /numClasses/);
  const m = getModel('mobilenet_v2', { numClasses: 3 });
  assert.equal(m.stateDict().get('classifier.1.weight')!.shape, [3, 1280]);
  assert.is(m.classifierKey, 'classifier.1');
  m.dispose();
  assert.equal(modelInfo('efficientnet_b1_pruned'), { name: 'efficientnet_b1_pruned', family: 'efficientnet', source: 'timm', numFeatures: 1280, defaultSize: 240, minSize: 1 });
  assert.is(modelInfo('densenet121').minSize, 29, 'DenseNet states its smallest input');
});

test('model options: typos and wrong types are refused (numclasses built 1000 classes, withClassifier: "no" kept it, afcClass 2 classes)', () => {
  const live = liveTensorCount();
  const refused = (fn: () => unknown, op: string, re: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof MdmtError && e.code === 'EINVAL' && e.op === op && re.test(e.message), `${op}: ${re}`);
  refused(() => getModel(BB, { numclasses: 3 } as never), 'getModel', /unknown option 'numclasses' \(it would be ignored\); did you mean numClasses\?/);
  refused(() => getModel(BB, { withClassifier: 'no' } as never), 'getModel', /'withClassifier' must be a boolean, got "no"/);
  refused(() => getModel(BB, { numClasses: '3' } as never), 'getModel', /'numClasses' must be a positive integer, got "3"/);
  refused(() => getModel(BB, { transformInput: false }), 'getModel', /'transformInput' applies to googlenet only/);
  refused(() => new MDMTModel(BB, { afcClass: 3 } as never), 'MDMTModel', /unknown option 'afcClass'.*did you mean afcClasses\?/);
  refused(() => new STLModel('afc', BB, { dropout: 1 }), 'STLModel', /'dropout' must be a number in \[0, 1\), got 1/);
  refused(() => new MDMTModel(BB, { bxClasses: 0 }), 'MDMTModel', /'bxClasses' must be a positive integer, got 0/);
  refused(() => new MDMTModel(BB, { backbone: { transformInputs: true } } as never), 'MDMTModel', /unknown backbone key 'transformInputs'/);
  refused(() => new MDMTModel({ forward: () => 1 } as never), 'MDMTModel', /must be a model name or a Backbone .*got an Object/);
  assert.is(liveTensorCount(), live, 'a refused model leaves no tensor behind');
});

test('registerModel checks what it is given and getModel that the builder returns a Backbone (it returned 42)', () => {
  // in a child: a registration would stay in this process's zoo, which other suites walk
  const zoo = path.resolve(__dirname, '..', '..', 'ts', 'models', 'zoo.js');
  const registry = path.resolve(__dirname, '..', '..', 'ts', 'models', 'registry.js');
  const script = `const z = require(${JSON.stringify(zoo)}), r = require(${JSON.stringify(registry)});
    const info = { name: 'junk', family: 'resnet', source: 'torchvision', numFeatures: 8, defaultSize: 32 };
    const out = [];
    const t = (f) => { try { f(); out.push('ok'); } catch (e) { out.push(e.code + ' ' + e.message); } };
    t(() => r.registerModel({ name: 'junk0' }, () => 42));
    t(() => r.registerModel({ ...info, name: 'junk1', nFeatures: 8 }, () => 42));
    t(() => r.registerModel({ ...info, name: 'junk2' }, 42));
    t(() => r.registerModel(info, () => 42));
    t(() => z.getModel('junk'));
    console.log(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout) as string[], [
    "EINVAL registerModel: info.numFeatures of 'junk0' must be a positive integer, got undefined",
    "EINVAL registerModel: unknown info key 'nFeatures' (it would be ignored); did you mean numFeatures?; valid: name, family, source, numFeatures, defaultSize, minSize",
    "EINVAL registerModel: the builder of 'junk2' must be a function, got 42",
    'ok',
    "EINVAL getModel: the builder registered as 'junk' returned 42, not a Backbone",
  ]);
});

test.run();
