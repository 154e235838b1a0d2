/**
 * Fixtures of the predict suites that need no training: a run directory (config.json and a
 * best.safetensors of a seeded, untrained ShuffleNet at 32 px, optionally edited) and small
 * grey PNG films. Building one takes well under a second.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { MDMTModel, STLModel } from '../../ts/models/mdmt';
import { manualSeed } from '../../ts/random';
import { tensor, type Tensor } from '../../ts/tensor';
import { saveWeights } from '../../ts/train/checkpoint';
import { BACKBONE, tmpDir } from '../train/_fixture';

/**
 * A run directory of an untrained `experiment` model: config.json and best.safetensors (with its
 * backbone in the metadata, as train() writes it); `edit` may change values of named tensors.
 */
export function fakeRun(tag: string, experiment: 'stl_afc' | 'mdmt' = 'stl_afc', edit: Record<string, (v: Float32Array) => void> = {}): string {
  const dir = tmpDir(tag);
  manualSeed(0);
  const m = experiment === 'mdmt' ? new MDMTModel(BACKBONE) : new STLModel('afc', BACKBONE);
  try {
    const sd = m.stateDict();
    const edited = new Map<string, Tensor>();
    for (const [k, f] of Object.entries(edit)) {
      const t = sd.get(k);
      if (!t) throw new Error(`fakeRun: no tensor '${k}'`);
      const v = Float32Array.from(t.toArray() as Float32Array);
      f(v);
      edited.set(k, tensor(v, t.shape));
    }
    m.loadStateDict(edited, { strict: false });
    for (const t of edited.values()) t.dispose();
    saveWeights(path.join(dir, 'best.safetensors'), m, { backbone: BACKBONE });
  } finally {
    m.dispose();
  }
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ backbone: BACKBONE, experiment, imageSize: 32 }));
  return dir;
}

/** A `w`×`h` 8-bit grey PNG (a left-to-right ramp with a seeded texture) in `dir`. */
export async function greyPng(dir: string, name = 'film.png', w = 64, h = 72): Promise<string> {
  const px = Buffer.alloc(w * h);
  for (let i = 0; i < px.length; i++) px[i] = (((i % w) * 200) / w + ((i * 2654435761) >>> 27)) & 255;
  const file = path.join(dir, name);
  await sharp(px, { raw: { width: w, height: h, channels: 1 } }).png().toFile(file);
  return file;
}
