/**
 * Golden outputs from torchvision itself (scripts/golden_models.py, torch 1.13.1 /
 * torchvision 0.14.1): one model per torchvision family with formula-defined weights (no
 * weight files), eval mode, 2×3×64×64 input. mdmt must give the same features within
 * |Δ| ≤ 1e-4·max|y| + 1e-4·|y| — this checks the forward semantics (padding, pooling
 * ceil modes, concat order, channel shuffle, transform_input, BN eps) against PyTorch, not
 * only against our own ONNX export.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { noGrad } from '../../ts/autograd/tape';
import { getModel } from '../../ts/models/registry';
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
      const b = Buffer.from(g.data, 'base64');
      const want = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      assertCloseScaled(y, want, `${name} vs torchvision`);
    } finally {
      m.dispose();
    }
  });
}

test.run();
