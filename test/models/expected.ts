/**
 * Expected state_dict keys ("key [shape] dtype", backbone only) and parameter counts for
 * every zoo model, from sources independent of ts/models:
 * - torchvision: test/models/expected/torchvision.json.gz, written by PyTorch itself
 *   (scripts/model_keys.py, torch 1.13.1 / torchvision 0.14.1);
 * - timm (not installable here): efficientnet_b0/es/lite0 spelled out from the expanded
 *   block shapes of ../shared/models.md §1.7 and the per-block key order of §1.4;
 *   efficientnet_b1_pruned from timm's pruning file (every key and shape, in order).
 * Counts: the table (measured with PyTorch/timm).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { EFFICIENTNET_B1_PRUNED } from '../../ts/models/efficientnet_b1_pruned';
import { packageRoot } from '../../ts/native/binding';

export const COUNTS: Record<string, number> = {
  densenet121: 6953856, densenet161: 26472000, densenet169: 12484480, densenet201: 18092928,
  efficientnet_b0: 4007548, efficientnet_b1_pruned: 5050916, efficientnet_es: 4157392, efficientnet_es_pruned: 4157392,
  efficientnet_lite0: 3371008, googlenet: 5599904, mobilenet_v2: 2223872, resnet18: 11176512, resnet34: 21284672,
  resnet50: 23508032, resnet101: 42500160, wide_resnet50_2: 66834240, shufflenet_v2_x0_5: 341792, shufflenet_v2_x1_0: 1253604,
  resnext50_32x4d: 22979904, // models.md §3 (measured; not in the paper's table)
};

export const FEATURES: Record<string, number> = {
  densenet121: 1024, densenet161: 2208, densenet169: 1664, densenet201: 1920, googlenet: 1024, mobilenet_v2: 1280,
  resnet18: 512, resnet34: 512, resnet50: 2048, resnet101: 2048, wide_resnet50_2: 2048, resnext50_32x4d: 2048,
  shufflenet_v2_x0_5: 1024, shufflenet_v2_x1_0: 1024, efficientnet_b0: 1280, efficientnet_b1_pruned: 1280,
  efficientnet_es: 1280, efficientnet_es_pruned: 1280, efficientnet_lite0: 1280,
};

const bn = (p: string, c: number) => [`${p}.weight [${c}] float32`, `${p}.bias [${c}] float32`, `${p}.running_mean [${c}] float32`,
  `${p}.running_var [${c}] float32`, `${p}.num_batches_tracked [] int64`];
const cw = (p: string, o: number, i: number, k: number) => `${p}.weight [${o},${i},${k},${k}] float32`;
const se = (p: string, c: number, rd: number) => rd ? [cw(`${p}.se.conv_reduce`, rd, c, 1), `${p}.se.conv_reduce.bias [${rd}] float32`,
  cw(`${p}.se.conv_expand`, c, rd, 1), `${p}.se.conv_expand.bias [${c}] float32`] : [];

type Blk = [type: 'ds' | 'ir' | 'er', inCh: number, mid: number, rd: number, out: number];

/** Keys of a timm EfficientNet from its expanded blocks (§1.4 order), stem 32, head → 1280. */
function timmKeys(stages: Blk[][], kernels: number[], head: number): string[] {
  const keys = [cw('conv_stem', 32, 3, 3), ...bn('bn1', 32)];
  stages.forEach((blocks, s) => blocks.forEach(([t, i, m, rd, o], b) => {
    const p = `blocks.${s}.${b}`, k = kernels[s];
    if (t === 'ds') keys.push(`${p}.conv_dw.weight [${i},1,${k},${k}] float32`, ...bn(`${p}.bn1`, i), ...se(p, i, rd), cw(`${p}.conv_pw`, o, i, 1), ...bn(`${p}.bn2`, o));
    else if (t === 'ir') keys.push(cw(`${p}.conv_pw`, m, i, 1), ...bn(`${p}.bn1`, m), `${p}.conv_dw.weight [${m},1,${k},${k}] float32`, ...bn(`${p}.bn2`, m),
      ...se(p, m, rd), cw(`${p}.conv_pwl`, o, m, 1), ...bn(`${p}.bn3`, o));
    else keys.push(cw(`${p}.conv_exp`, m, i, k), ...bn(`${p}.bn1`, m), ...se(p, m, rd), cw(`${p}.conv_pwl`, o, m, 1), ...bn(`${p}.bn2`, o));
  }));
  keys.push(cw('conv_head', 1280, head, 1), ...bn('bn2', 1280));
  return keys;
}

const rep = <T>(n: number, v: T): T[] => Array.from({ length: n }, () => v);

// models.md §1.7, "in→mid (se_rd)→out"; `se` false drops the SE widths (lite0)
function b0(se: boolean): string[] {
  const r = (x: number) => (se ? x : 0);
  return timmKeys([
    [['ds', 32, 32, r(8), 16]],
    [['ir', 16, 96, r(4), 24], ['ir', 24, 144, r(6), 24]],
    [['ir', 24, 144, r(6), 40], ['ir', 40, 240, r(10), 40]],
    [['ir', 40, 240, r(10), 80], ...rep<Blk>(2, ['ir', 80, 480, r(20), 80])],
    [['ir', 80, 480, r(20), 112], ...rep<Blk>(2, ['ir', 112, 672, r(28), 112])],
    [['ir', 112, 672, r(28), 192], ...rep<Blk>(3, ['ir', 192, 1152, r(48), 192])],
    [['ir', 192, 1152, r(48), 320]],
  ], [3, 3, 5, 3, 5, 5, 3], 320);
}

function es(): string[] {
  return timmKeys([
    [['er', 32, 96, 0, 24]],
    [['er', 24, 192, 0, 32], ['er', 32, 256, 0, 32]],
    [['er', 32, 256, 0, 48], ...rep<Blk>(3, ['er', 48, 384, 0, 48])],
    [['ir', 48, 384, 0, 96], ...rep<Blk>(4, ['ir', 96, 768, 0, 96])],
    [['ir', 96, 768, 0, 144], ...rep<Blk>(3, ['ir', 144, 1152, 0, 144])],
    [['ir', 144, 1152, 0, 192], ['ir', 192, 1536, 0, 192]],
  ], [3, 3, 3, 5, 5, 5], 192);
}

function prunedKeys(): string[] {
  return EFFICIENTNET_B1_PRUNED.trim().split('***')
    .map((e) => [e.slice(0, e.indexOf(':')), JSON.parse(e.slice(e.indexOf(':') + 1)) as number[]] as const)
    .filter(([k]) => !k.startsWith('classifier.'))
    .map(([k, s]) => `${k} [${s.join(',')}] ${k.endsWith('num_batches_tracked') ? 'int64' : 'float32'}`);
}

let tv: Record<string, { params: number; keys: string[] }> | null = null;

/** The expected backbone-only keys of `name`, or null when no source covers it. */
export function expectedKeys(name: string): string[] | null {
  if (!tv) tv = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(packageRoot(), 'test', 'models', 'expected', 'torchvision.json.gz'))).toString()) as typeof tv;
  if (tv![name]) return tv![name].keys;
  switch (name) {
    case 'efficientnet_b0': return b0(true);
    case 'efficientnet_lite0': return b0(false);
    case 'efficientnet_es': case 'efficientnet_es_pruned': return es();
    case 'efficientnet_b1_pruned': return prunedKeys();
    default: return null;
  }
}
