/**
 * Where a run's weights came from, written down and checked:
 *  - pretraining: whether the backbone began from ImageNet. An STL run starts from its
 *    `pretrained` file (or random weights); FT and MDMT inherit through their STL inits, which
 *    must have started from the same file (MDMT also keeps its BN statistics). The file is
 *    identified by its SHA-256, so a renamed copy is the same and an edited one is not.
 *  - best.safetensors metadata: backbone, experiment, protocol, fold (index and name), the
 *    fingerprint of the split it was trained on, and the pretraining identity.
 *  - FT / MDMT refuse an init file whose provenance is not the STL run they need (τ1 and τ2
 *    swapped, another fold — whose training set holds this fold's test records —, another
 *    split, backbone or ImageNet file), naming the file and the field.
 *
 *   const p = runPretraining(cfg, folds);  saveWeights(best, net, { epoch, ...provenanceMeta(cfg, folds, p) });
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { MdmtError } from '../errors';
import { readSafetensorsMetadata } from '../io/safetensors';
import type { TrainConfig } from './config';
import { digest, type RunFolds, type TaskFold } from './data';

/** How a run's backbone was initialised (result.json `pretraining`). */
export interface Pretraining {
  /** the backbone began from ImageNet weights */
  imagenet: boolean;
  /** 'none' (random initialisation) or 'sha256:<16 hex>' of the weights file */
  weights: string;
  /** the weights file this run loaded or checked its inits against (FT / MDMT inherit; their init files are in config.json) */
  file?: string;
}

const shaCache = new Map<string, { stamp: string; sha: string }>();

/** 'sha256:<first 16 hex>' of a file (cached per path, size and mtime: sweeps hash each file once). */
export function fileId(file: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new MdmtError('EIO', 'train', `config.pretrained '${file}' does not exist`);
  }
  const stamp = `${st.size}:${st.mtimeMs}`;
  const hit = shaCache.get(file);
  if (hit?.stamp === stamp) return hit.sha;
  const sha = `sha256:${crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex').slice(0, 16)}`;
  shaCache.set(file, { stamp, sha });
  return sha;
}

/**
 * Refuses (ECONFIG, naming `field`) a weights file that is a folder or not a .safetensors file,
 * before it is read: a run directory failed with a bare EISDIR, an ONNX export or a PNG with
 * "header length 8389472100243606000 does not fit the file".
 */
function checkSafetensorsPath(file: string, field: string): void {
  if (fs.statSync(file, { throwIfNoEntry: false })?.isDirectory()) {
    const best = path.join(file, 'best.safetensors');
    throw new MdmtError('ECONFIG', 'train', `${field} '${file}' is a folder, not a weights file${fs.existsSync(best) ? `: a run directory, whose weights are ${best}` : ''}`);
  }
  if (!file.endsWith('.safetensors')) throw new MdmtError('ECONFIG', 'train', `${field} '${file}' must be a .safetensors file, got ${path.extname(file) || 'no extension'}`);
}

/**
 * The pretraining of an STL run from its config: the weights file's identity, checked against
 * the file's own metadata where present (`model` must be the backbone; `pretrained: False`, a
 * `export_weights.py --random` file, is not ImageNet).
 *
 * @example ownPretraining(cfg).imagenet
 */
export function ownPretraining(cfg: Pick<TrainConfig, 'pretrained' | 'backbone'>): Pretraining {
  if (!cfg.pretrained) return { imagenet: false, weights: 'none' };
  const file = cfg.pretrained;
  checkSafetensorsPath(file, 'config.pretrained');
  const weights = fileId(file);
  const meta = readSafetensorsMetadata(file);
  if (meta.model !== undefined && meta.model !== cfg.backbone)
    throw new MdmtError('ECONFIG', 'train', `config.pretrained '${file}': metadata field 'model' is '${meta.model}', but the backbone is '${cfg.backbone}'`);
  return { imagenet: meta.pretrained !== 'False', weights, file };
}

/** The split fingerprint a run records: its task's fold, or both for MDMT. */
function runSplit(folds: RunFolds, experiment: TrainConfig['experiment']): string {
  const { afc, bx } = folds.tasks;
  if (experiment === 'stl_bx') return bx!.split;
  if (experiment === 'mdmt') return digest([`afc ${afc!.split}`, `bx ${bx!.split}`]);
  return afc!.split;
}

/**
 * The provenance metadata of a run's best.safetensors.
 *
 * @example provenanceMeta(cfg, folds, p) // { backbone, experiment, protocol, fold, foldName, split, pretrained, imagenet, imageSize, imagenetNormalize }
 */
export function provenanceMeta(cfg: TrainConfig, folds: RunFolds, p: Pretraining): Record<string, string> {
  const fold = cfg.experiment === 'stl_bx' ? folds.tasks.bx! : folds.tasks.afc!;
  return {
    backbone: cfg.backbone, experiment: cfg.experiment, protocol: cfg.protocol, fold: String(fold.index), foldName: fold.name,
    split: runSplit(folds, cfg.experiment), pretrained: p.weights, imagenet: String(p.imagenet),
    // the preprocessing the weights expect: predict warns when it would score them with another
    imageSize: String(cfg.imageSize), imagenetNormalize: String(cfg.imagenetNormalize),
  };
}

/** Throws naming the init file and the first provenance field that is not what the run needs. */
function checkInit(file: string, field: string, want: Record<string, string>, why: Record<string, string>): Record<string, string> {
  checkSafetensorsPath(file, field);
  const meta = readSafetensorsMetadata(file);
  for (const [k, v] of Object.entries(want)) {
    if (meta[k] === undefined)
      throw new MdmtError('ECONFIG', 'train', `${field} '${file}' has no provenance field '${k}' (not a best.safetensors of mdmt train, or one written before provenance was recorded): train the STL run again`);
    if (meta[k] !== v)
      throw new MdmtError('ECONFIG', 'train', `${field} '${file}': provenance field '${k}' is '${meta[k]}', but this run needs '${v}' (${why[k]})`);
  }
  return meta;
}

/**
 * Checks the STL files an FT / MDMT run starts from against the folds it was given and
 * returns the pretraining it inherits: ImageNet when every init began from ImageNet, with
 * the run's own weights file (the one MDMT takes its BN statistics from) equal to theirs.
 *
 * @example const p = checkInits(cfg, prepareFold(cfg, recs), ownPretraining(cfg));
 */
export function checkInits(cfg: TrainConfig, folds: RunFolds, own: Pretraining): Pretraining {
  const inits: [string, string, 'stl_afc' | 'stl_bx', TaskFold][] = [];
  if (cfg.experiment === 'mdmt') inits.push(['config.init.stlAfc', cfg.init.stlAfc!, 'stl_afc', folds.tasks.afc!]);
  if (cfg.experiment === 'mdmt' || cfg.experiment === 'ft') inits.push(['config.init.stlBx', cfg.init.stlBx!, 'stl_bx', folds.tasks.bx!]);
  let imagenet = true;
  for (const [field, file, experiment, fold] of inits) {
    const task = experiment === 'stl_afc' ? 'τ1' : 'τ2';
    const meta = checkInit(file, field, {
      experiment, backbone: cfg.backbone, protocol: cfg.protocol, fold: String(fold.index), split: fold.split, pretrained: own.weights,
    }, {
      experiment: `the STL ${task} model of the same fold; the τ1 and τ2 files swapped?`,
      backbone: 'the same backbone',
      protocol: `a ${cfg.protocol.toUpperCase()} fold`,
      fold: `${task} fold ${fold.name}: an STL model of another fold was trained on this fold's test records`,
      split: `the split files of ${task} fold ${fold.name} in ${cfg.splitsDir}: it was trained on another split (data set, seed or k)`,
      pretrained: own.file ? `this run starts from ${own.file}: the STL inits must start from the same ImageNet weights` : 'this run starts from random weights (no pretrained file), as its STL inits must',
    });
    imagenet &&= meta.imagenet === 'true';
  }
  return { imagenet, weights: own.weights, ...(own.file ? { file: own.file } : {}) };
}
