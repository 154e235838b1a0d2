/**
 * The preprocessing a weights file was trained with, and a warning when predict is about to
 * score with another: weights trained at 64 px scored at the default 256 (a run's
 * best.safetensors given as --weights, a best.safetensors copied into another run, an edited
 * config.json) gave confident probabilities that meant nothing, without a word. What the
 * weights were trained with comes from their own metadata (train() writes imageSize and
 * imagenetNormalize into best.safetensors, mdmt export copies them into the ONNX file), else from the config.json of the run they sit in.
 *
 *   const w = preprocessingWarning('runs/x/best.safetensors', { imageSize: 256, imagenetNormalize: true });
 */
import * as fs from 'fs';
import * as path from 'path';
import { MdmtError } from '../errors';
import { onnxMetadata, readOnnxModel } from '../io/onnx_import';
import { readSafetensorsMetadata } from '../io/safetensors';
import { readJson } from '../train/checkpoint';

/** An input side and whether ImageNet mean/std was applied. */
export interface Preprocessing { imageSize: number; imagenetNormalize: boolean }

/**
 * What the file's metadata records (either field may be missing: older runs, other writers).
 * `sizeFor`: the caller takes the recorded imageSize as its input side, so one that is no
 * positive integer ('abc', '0', '32.5') is an EDATA naming it and the flag to give (it counted
 * as not recorded, and the weights were scored or exported at the default 256 px without a word);
 * without it, such a value counts as not recorded (a warning's comparison).
 */
export function fromMetadata(file: string, sizeFor?: { op: string; flag: string }): Partial<Preprocessing> {
  // mdmt export copies the weights' metadata into the ONNX file's metadata_props: an export of
  // a 32 px run scored at the default 256 px went without the warning its best.safetensors gets
  const m = file.endsWith('.safetensors') ? readSafetensorsMetadata(file)
    : file.endsWith('.onnx') ? onnxMetadata(readOnnxModel(file))
    : {};
  const size = /^\d+$/.test(m.imageSize ?? '') ? Number(m.imageSize) : NaN;
  if (sizeFor && m.imageSize !== undefined && !(size > 0))
    throw new MdmtError('EDATA', sizeFor.op, `${file} records imageSize '${m.imageSize}' in its metadata, which is not a positive integer: give the input size (${sizeFor.flag})`);
  return {
    ...(size > 0 ? { imageSize: size } : {}),
    ...(m.imagenetNormalize === 'true' || m.imagenetNormalize === 'false' ? { imagenetNormalize: m.imagenetNormalize === 'true' } : {}),
  };
}

/** What the config.json of the run folder holding `file` says, when there is one. */
function fromRunConfig(file: string): { p: Partial<Preprocessing>; config: string } | undefined {
  const config = path.join(path.dirname(path.resolve(file)), 'config.json');
  if (!fs.existsSync(config)) return undefined;
  try {
    const c = readJson<{ imageSize?: unknown; imagenetNormalize?: unknown }>(config);
    return { config, p: { ...(Number.isInteger(c.imageSize) ? { imageSize: c.imageSize as number } : {}), imagenetNormalize: c.imagenetNormalize !== false } };
  } catch {
    return undefined; // not a run's config.json: nothing known about the weights
  }
}

/** '32 px', '48 px, without ImageNet normalisation', 'with ImageNet normalisation'; `at` puts 'at' before a size. */
const side = (p: Partial<Preprocessing>, at = false) => (at && p.imageSize !== undefined ? 'at ' : '') + [p.imageSize !== undefined ? `${p.imageSize} px` : '', p.imagenetNormalize === undefined ? '' : `${p.imagenetNormalize ? 'with' : 'without'} ImageNet normalisation`].filter(Boolean).join(', ');

/** The settings of `used` that differ from `trained` (only those `trained` records). */
function differing(trained: Partial<Preprocessing>, used: Preprocessing): Partial<Preprocessing> {
  return {
    ...(trained.imageSize !== undefined && trained.imageSize !== used.imageSize ? { imageSize: trained.imageSize } : {}),
    ...(trained.imagenetNormalize !== undefined && trained.imagenetNormalize !== used.imagenetNormalize ? { imagenetNormalize: trained.imagenetNormalize } : {}),
  };
}

/**
 * A warning when the weights file `weights` was trained with another image size or
 * normalisation than `used` (a bare weights file: the size and normalisation given, or their
 * defaults), naming where that is recorded and the options that would match it. `meta`: the
 * file's fromMetadata(), when the caller has read it already (an ONNX file is parsed whole for it).
 */
export function preprocessingWarning(weights: string, used: Preprocessing, meta: Partial<Preprocessing> = fromMetadata(weights)): string | undefined {
  const run = fromRunConfig(weights);
  const [trained, where] = meta.imageSize !== undefined || meta.imagenetNormalize !== undefined ? [meta, 'its metadata'] : run ? [run.p, run.config] : [{}, ''];
  const d = differing(trained, used);
  if (!Object.keys(d).length) return undefined;
  const fix = [d.imageSize !== undefined ? `imageSize (--image-size) ${d.imageSize}` : '', d.imagenetNormalize === false ? 'imagenetNormalize: false (--no-imagenet-normalize)' : d.imagenetNormalize ? 'ImageNet normalisation on (drop imagenetNormalize: false, --no-imagenet-normalize)' : ''].filter(Boolean).join(' and ');
  return `${weights} was trained ${side(d, true)} (${where}) but is scored ${side(pick(used, d), true)}: its probabilities may mean little; give ${fix}${run ? `, or score the run itself (run, --run ${path.dirname(run.config)})` : ''}`;
}

/**
 * A warning when a run's best.safetensors records another image size or normalisation than
 * its config.json, which predict follows (a best.safetensors copied from another run, an
 * edited config.json).
 */
export function runWeightsWarning(weights: string, config: string, used: Preprocessing): string | undefined {
  const d = differing(fromMetadata(weights), used);
  if (!Object.keys(d).length) return undefined;
  return `${weights} was trained ${side(d, true)} (its metadata) but ${config} says ${side(pick(used, d))}, which predict uses: the weights may come from another run, or config.json was edited`;
}

/** The fields of `p` that `like` has. */
const pick = (p: Preprocessing, like: Partial<Preprocessing>): Partial<Preprocessing> =>
  ({ ...(like.imageSize !== undefined ? { imageSize: p.imageSize } : {}), ...(like.imagenetNormalize !== undefined ? { imagenetNormalize: p.imagenetNormalize } : {}) });
