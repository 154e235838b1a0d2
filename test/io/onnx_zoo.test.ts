/**
 * Every registered backbone exports to ONNX that onnxruntime-node runs like mdmt's eval
 * forward, at image sizes that are no multiple of 32 (odd maps inside: ceil_mode pools,
 * padding, DenseNet's transition pools) and at batch sizes other than the traced one.
 * test/models/zoo.test.ts checks the bare backbones at 64 px, at the traced batch only.
 * For each backbone (random weights, random BN affine and running statistics, so that a
 * dropped BatchNorm or a wrong epsilon shows):
 * - MDMTModel (both heads) traced at 2×3×50×50, run at batch 1 and 3;
 * - the bare backbone traced at batch 1 (`mdmt export`'s default --batch), 40 px, run at batch 2.
 * Tolerance: |Δ| ≤ 1e-4·max|y| + 1e-4·|y| (ORT_TOL, fp32; the observed error is ~1e-6 of the
 * scale). Cost: about 1–10 s per backbone on 2 shared cores (wide_resnet50_2 the slowest).
 * MDMT_ZOO=resnet18,googlenet runs a subset (debugging).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { noGrad } from '../../ts/autograd/tape';
import { toOnnx } from '../../ts/io/onnx_export';
import { readOnnxModel } from '../../ts/io/onnx_import';
import { MDMTModel } from '../../ts/models/mdmt';
import { listModels, modelInfo } from '../../ts/models/zoo';
import { Module } from '../../ts/nn/module';
import { manualSeed } from '../../ts/random';
import { liveTensorCount, tensor, Tensor, tidy } from '../../ts/tensor';
import { assertCloseScaled, images, randomizeBatchNorm, runOrt } from '../models/util';

const MDMT_SIZE = 50, BARE_SIZE = 40;

function forward(m: Module, x: Float32Array, shape: number[]): Record<string, Float32Array> {
  return tidy(() => noGrad(() => {
    const y = m.forward(tensor(x, shape)) as Tensor | Record<string, Tensor>;
    if (y instanceof Tensor) return { output: y.toArray() as Float32Array };
    return Object.fromEntries(Object.entries(y).map(([k, v]) => [k, v.toArray() as Float32Array]));
  }));
}

/** Exports `m` traced at `traced`, checks the batch dim is symbolic, and compares onnxruntime with mdmt at each batch. */
async function check(label: string, m: Module, traced: number[], batches: number[]): Promise<void> {
  const bytes = toOnnx(m, { inputShape: traced });
  const dims = readOnnxModel(bytes).graph.input[0].type!.tensor_type!.shape!.dim!;
  assert.is((dims[0] as { dim_param?: string }).dim_param, 'N', `${label}: symbolic batch`);
  for (const n of batches) {
    const shape = [n, ...traced.slice(1)];
    const x = images(shape, 10 + n);
    const ours = forward(m, x, shape);
    const ref = await runOrt(bytes, x, shape);
    assert.equal(Object.keys(ref).sort(), Object.keys(ours).sort(), `${label}: outputs`);
    for (const k of Object.keys(ours)) {
      assert.ok(ours[k].every(Number.isFinite), `${label}: finite ${k}`);
      assertCloseScaled(ours[k], ref[k], `${label} ${k}, batch ${n} (traced at ${traced[0]})`);
    }
  }
}

const only = process.env.MDMT_ZOO ? process.env.MDMT_ZOO.split(',') : null;
for (const name of listModels().filter((n) => !only || only.includes(n))) {
  test(`${name}: ONNX of the MDMT model (${MDMT_SIZE} px) and of the bare backbone (${BARE_SIZE} px) equals onnxruntime at other batch sizes`, async () => {
    assert.ok(modelInfo(name).minSize <= BARE_SIZE, `${name} takes ${BARE_SIZE} px`);
    const live = liveTensorCount();
    manualSeed(11);
    const m = new MDMTModel(name);
    try {
      randomizeBatchNorm(m);
      m.eval();
      await check(`${name} MDMT`, m, [2, 3, MDMT_SIZE, MDMT_SIZE], [1, 3]);
      await check(`${name} backbone`, m.backbone, [1, 3, BARE_SIZE, BARE_SIZE], [2]);
    } finally {
      m.dispose();
    }
    assert.is(liveTensorCount(), live, 'live tensors after the test');
  });
}

test.run();
