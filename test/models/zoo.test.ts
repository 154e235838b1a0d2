/**
 * Walks the registry (as torchvision's test_models.py does). For every model:
 * - backbone-only state_dict keys, shapes, order and dtypes equal the expectations
 *   (PyTorch-generated for torchvision, models.md / the pruning file for timm) and the
 *   parameter count equals the table;
 * - a 2×3×64×64 input gives [2, features] (64 is accepted by every architecture);
 * - its ONNX export, run by onnxruntime-node, gives the same features within
 *   |Δ| ≤ 1e-4·max|y| + 1e-4·|y| (eval mode, random BN statistics), and so does its
 *   inference plan (compileInference: BatchNorm folded into the convs);
 * - it takes a 1×3×minSize×minSize input (modelInfo), and refuses one pixel less, naming itself and minSize;
 * - MDMTModel on it trains one step (mixed-mask loss on both heads, Adam): the input gets a
 *   gradient, every gradient is finite, every parameter changes; the two single-task
 *   models (sharing that backbone) do the same.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { noGrad } from '../../ts/autograd/tape';
import { toOnnx } from '../../ts/io/onnx_export';
import { compileInference } from '../../ts/models/inference';
import { MDMTModel, STLModel } from '../../ts/models/mdmt';
import { backboneFeatures } from '../../ts/models/registry';
import { getModel, listModels, modelInfo } from '../../ts/models/zoo';
import { manualSeed } from '../../ts/random';
import { liveTensorCount, tensor, Tensor, tidy } from '../../ts/tensor';
import { expectError } from '../helpers';
import { COUNTS, expectedKeys, FEATURES } from './expected';
import { assertCloseScaled, images, randomizeBatchNorm, runOrt, trainStep } from './util';

const SHAPE = [2, 3, 64, 64];

test('the registry holds the 18 paper backbones and resnext50_32x4d', () => {
  assert.equal(listModels(), Object.keys(COUNTS).sort());
});

test("forward refuses an input that is not N×3×H×W, or narrower than minSize on either side, naming the model", () => {
  const m = getModel('densenet121', { withClassifier: false });
  const x = (...s: number[]) => tensor(new Float32Array(s.reduce((a, b) => a * b, 1)), s);
  tidy(() => noGrad(() => {
    expectError(() => m.forward(x(1, 1, 32, 32)), 'ESHAPE', 'densenet121', /takes N×3×H×W images, got x \[1, 1, 32, 32\] \(a grey image: repeat it over 3 channels\)/, 'one channel');
    expectError(() => m.forward(x(3, 32, 32)), 'ESHAPE', 'densenet121', /'x' must have 4 dims/, 'no batch dim');
    expectError(() => m.forward(x(2, 3, 64, 28)), 'ESHAPE', 'densenet121', /at least 29×29 px .*got x \[2, 3, 64, 28\]/, 'one side under minSize');
    assert.equal(m.forward(x(2, 3, 29, 64)).shape, [2, 1024]);
    expectError(() => getModel('resnet18').forward(x(1, 3, 0, 8)), 'ESHAPE', 'resnet18', /at least 1×1 px, got x \[1, 3, 0, 8\]$/, 'an empty image');
  }));
  m.dispose();
});

// MDMT_ZOO=resnet18,googlenet runs a subset (debugging)
const only = process.env.MDMT_ZOO ? process.env.MDMT_ZOO.split(',') : null;
for (const name of Object.keys(COUNTS).sort().filter((n) => !only || only.includes(n))) {
  test(name, async () => {
    const live = liveTensorCount();
    manualSeed(0);
    const m = new MDMTModel(name);
    try {
      const bb = m.backbone;
      // names, shapes, order, dtypes (our int32 num_batches_tracked is PyTorch's int64 on disk)
      const keys = [...bb.stateDict()].map(([k, t]) => `${k} [${t.shape.join(',')}] ${k.endsWith('num_batches_tracked') ? 'int64' : t.dtype}`);
      const exp = expectedKeys(name);
      assert.ok(exp, `no expectation for ${name}`);
      const first = exp!.findIndex((k, i) => k !== keys[i]);
      assert.ok(first < 0 && keys.length === exp!.length,
        `state_dict differs at #${first}: expected '${exp![first]}', got '${keys[first]}' (${keys.length} vs ${exp!.length} keys)`);
      assert.is(bb.numParams(), COUNTS[name], 'parameter count');
      assert.is(backboneFeatures(bb), FEATURES[name], 'feature width');

      // eval forward and the onnxruntime oracle
      const x = images(SHAPE);
      randomizeBatchNorm(bb);
      bb.eval();
      const ours = tidy(() => noGrad(() => {
        const y = bb.forward(tensor(x, SHAPE));
        assert.equal(y.shape, [2, FEATURES[name]], 'output shape');
        return y.toArray() as Float32Array;
      }));
      assert.ok(ours.every(Number.isFinite), 'finite features');
      const ref = await runOrt(toOnnx(bb, { inputShape: SHAPE }), x, SHAPE);
      assertCloseScaled(ours, ref.output, `${name} vs onnxruntime`);
      // the inference plan (BN folded into convs) computes the same features
      const plan = compileInference(bb, { inputShape: SHAPE });
      try {
        assert.ok(plan.foldedBatchNorms > 0, 'some BatchNorm folded');
        // every backbone has a conv whose (folded) output only an activation reads: fused, and checked by the comparison below
        assert.ok((plan.ops.conv2d_act ?? 0) > 0, 'some conv + activation fused into conv2d_act');
        const viaPlan = tidy(() => (plan.run(tensor(x, SHAPE)) as Tensor).toArray() as Float32Array);
        assertCloseScaled(viaPlan, ours, `${name} plan vs forward`);
      } finally {
        plan.dispose();
      }
      // the smallest input the registry promises works, and one pixel less does not (train() and export refuse it)
      const min = modelInfo(name).minSize;
      tidy(() => noGrad(() => assert.equal(bb.forward(tensor(images([1, 3, min, min]), [1, 3, min, min])).shape, [1, FEATURES[name]], `${name} at its minSize ${min}`)));
      // named by the model and its smallest side (an inner pool's 0×0 map named neither)
      if (min > 1) assert.throws(() => tidy(() => noGrad(() => bb.forward(tensor(images([1, 3, min - 1, min - 1]), [1, 3, min - 1, min - 1])))),
        (e: Error) => e.message.startsWith(`${name}: takes images of at least ${min}×${min} px`), `${name} below its minSize`);

      // one MDMT step, then the single-task models on the same backbone
      const r = trainStep(m, x, SHAPE);
      assert.ok(r.inputGrad, 'the input receives a finite, non-zero gradient');
      assert.equal(r.badGrads, [], 'parameters without a finite gradient');
      assert.equal(r.unchanged, [], 'parameters unchanged by the step');
      for (const task of ['afc', 'bx'] as const) {
        const s = new STLModel(task, bb);
        try {
          const rs = trainStep(s, x, SHAPE);
          assert.equal(rs.badGrads, [], `STL ${task}: parameters without a finite gradient`);
          assert.equal(rs.unchanged, [], `STL ${task}: parameters unchanged by the step`);
        } finally {
          s.child('head').dispose(); // the backbone is m's
        }
      }
    } finally {
      m.dispose();
    }
    assert.is(liveTensorCount(), live, 'live tensors after the test');
  });
}

test.run();
