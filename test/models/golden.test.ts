/**
 * Golden numbers from torchvision itself (scripts/golden_models.py, torch 1.13.1 /
 * torchvision 0.14.1): one model per torchvision family with formula-defined weights (no
 * weight files), eval mode, 2×3×64×64 input. mdmt must give the same features within
 * |Δ| ≤ 1e-4·max|y| + 1e-4·|y| — this checks the forward semantics (padding, pooling
 * ceil modes, concat order, channel shuffle, transform_input, BN eps) against PyTorch, not
 * only against our own ONNX export. And the whole MDMT backward (llm.c's whole-model
 * check): both heads, the indicator-masked loss over a mixed batch of 4, backward — the
 * loss (1e-5 relative), selected parameter gradients and the input gradient
 * (|Δ| ≤ 1e-3·max|g| + 1e-3·|g|) equal PyTorch's. BN runs on its running statistics: in
 * train mode at batch 4 PyTorch's own float32 and float64 gradients differ by up to 80 %
 * (see scripts/golden_models.py), which no tolerance can turn into a test.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backward, noGrad, zeroGrad } from '../../ts/autograd/tape';
import { MDMTModel } from '../../ts/models/mdmt';
import { add } from '../../ts/ops/elementwise';
import { maskedXent } from '../../ts/ops/masked_xent';
import { getModel } from '../../ts/models/zoo';
import { packageRoot } from '../../ts/native/binding';
import { Module } from '../../ts/nn/module';
import { tensor, Tensor, tidy } from '../../ts/tensor';
import { assertCloseScaled } from './util';

const golden = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(packageRoot(), 'test', 'models', 'expected', 'golden.json.gz'))).toString()) as
  Record<string, { shape: number[]; data: string }>;

/** The weights of scripts/golden_models.py: k-th key, element j, s = sin(0.37·j + k). */
function formulaWeights(m: Module): void {
  const sd = new Map<string, Tensor>();
  [...m.stateDict()].forEach(([name, t], k) => {
    if (name.endsWith('num_batches_tracked')) return;
    const fanIn = t.ndim > 1 ? t.size / t.shape[0] : 1;
    const v = new Float32Array(t.size);
    for (let j = 0; j < v.length; j++) {
      const s = Math.sin(0.37 * j + k);
      v[j] = name.endsWith('running_var') ? 1 + 0.5 * Math.abs(s)
        : name.endsWith('running_mean') || name.endsWith('.bias') ? 0.1 * s
          : t.ndim === 1 ? 1 + 0.2 * s : Math.sqrt(4 / fanIn) * s;
    }
    sd.set(name, tensor(v, t.shape));
  });
  m.loadStateDict(sd, { strict: false });
  sd.forEach((t) => t.dispose());
}

const x = Float32Array.from({ length: 2 * 3 * 64 * 64 }, (_, i) => Math.sin(0.01 * i));

const f32 = (b64: string) => {
  const b = Buffer.from(b64, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

for (const [name, g] of Object.entries(golden)) {
  test(`${name} = torchvision`, () => {
    const m = getModel(name, { withClassifier: false }).eval();
    try {
      formulaWeights(m);
      const y = tidy(() => noGrad(() => {
        const out = m.forward(tensor(x, [2, 3, 64, 64]));
        assert.equal(out.shape, g.shape);
        return out.toArray() as Float32Array;
      }));
      assertCloseScaled(y, f32(g.data), `${name} vs torchvision`);
    } finally {
      m.dispose();
    }
  });
}

const step = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(packageRoot(), 'test', 'models', 'expected', 'golden_step.json.gz'))).toString()) as
  Record<string, { loss: number; grads: Record<string, string>; input_grad: string }>;

for (const [name, g] of Object.entries(step)) {
  test(`MDMT(${name}) loss and backward = PyTorch (loss, parameter and input gradients)`, () => {
    const m = new MDMTModel(name, { dropout: 0 }); // dropout 0: PyTorch's masks cannot be reproduced
    try {
      formulaWeights(m);
      m.eval();
      const xs = Float32Array.from({ length: 4 * 3 * 64 * 64 }, (_, i) => Math.sin(0.01 * i));
      let inputGrad = new Float32Array(0);
      const loss = tidy(() => {
        const xt = tensor(xs, [4, 3, 64, 64]);
        xt.requiresGrad = true;
        const { afc, bx } = m.forward(xt);
        const i32 = (a: number[]) => tensor(Int32Array.from(a), [4], { dtype: 'int32' });
        const l = add(maskedXent(afc, i32([1, 0, 0, 0]), tensor([1, 0, 1, 0], [4])), maskedXent(bx, i32([0, 3, 0, 2]), tensor([0, 1, 0, 1], [4])));
        backward(l);
        inputGrad = (xt.grad!.toArray() as Float32Array).slice(0, 1024);
        xt.grad!.dispose();
        return l.item();
      });
      assert.ok(Math.abs(loss - g.loss) <= 1e-5 * Math.abs(g.loss), `loss ${loss} vs PyTorch ${g.loss}`);
      const params = new Map(m.namedParameters());
      for (const [k, want] of Object.entries(g.grads)) {
        const p = params.get(k);
        assert.ok(p?.grad, `${k} has a gradient`);
        assertCloseScaled(p!.grad!.toArray(), f32(want), `d loss / d ${k}`, 1e-3);
      }
      assertCloseScaled(inputGrad, f32(g.input_grad), 'd loss / d input', 1e-3);
    } finally {
      zeroGrad(m.parameters());
      m.dispose();
    }
  });
}

test.run();
