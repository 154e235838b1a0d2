/**
 * `predict()`: a trained model on new chest X-rays. The model comes from a run directory
 * (config.json for the backbone, experiment, image size and normalisation; best.safetensors;
 * the temperatures of result.json) or from a weights file with its backbone and task. Images
 * (DICOM, PNG, JPEG, TIFF, WebP; a lung mask or box per image when known) go through the run's own
 * preprocessing, the training loader's pipeline itself (percentile clip, lung crop, resize,
 * 3 channels, ImageNet mean/std), in batches through the inference plan (`compileInference`:
 * BN folded, intermediates freed early). One row per image: P(SEVERE) and the τ1 class; the
 * four BRIXIA bin probabilities and the τ2 class; calibrated by the run's temperature. An
 * image that cannot be read gets its row with the error and does not stop the others. With
 * `explain`, a Grad-CAM overlay PNG per image.
 *
 *   const r = await predict(['scans/'], { run: 'runs/cv/resnet18/mdmt/fold0' });
 *   r.rows[0].pSevere;  r.failed
 */
import * as fs from 'fs';
import * as path from 'path';
import { noGrad } from '../autograd/tape';
import { checkDir, ensureDir, fileStem } from '../dirs';
import { MdmtError, show } from '../errors';
import { Loader, toTensors } from '../data/loader';
import { PROGNOSIS, type DataRecord } from '../data/records';
import type { DecodedSample } from '../data/sample';
import { compileInference, type InferencePlan } from '../models/inference';
import { MDMTModel, STLModel } from '../models/mdmt';
import { getDefaultDevice, Tensor, tidy } from '../tensor';
import { softmaxT } from './calibration';
import { defaultCamLayer, gradCam } from './gradcam';
import { checkExplain, checkPredictOptions, PREDICT_CALL_KEYS, PREDICTOR_KEYS, type PredictInput, type PredictOptions } from './options';
import { writeOverlay } from './overlay';
import { buildModel, modelSource, type PredictModelInfo } from './source';

export type { PredictInput, PredictOptions, PredictTask } from './options';
export type { PredictModelInfo } from './source';
export { taskOfWeights } from './source';

export interface PredictionRow {
  file: string;
  ok: boolean;
  /** why the image could not be scored */
  error?: string;
  /** preprocessing note, e.g. no lung mask: the whole image was used */
  note?: string;
  /** τ1: P(SEVERE) and the predicted prognosis */
  pSevere?: number;
  afcClass?: (typeof PROGNOSIS)[number];
  /** τ2: probabilities of the four global-score bins and the predicted bin */
  bxProbs?: number[];
  bxClass?: number;
  /** the Grad-CAM overlay PNG */
  heatmap?: string;
}

export interface PredictResult {
  rows: PredictionRow[];
  failed: number;
  model: PredictModelInfo;
  /** what the caller should know about the whole prediction (also given to `log`): an unfinished run */
  warnings: string[];
}

/**
 * Unique overlay names: the image's base name (+ -2, -3, ... on a clash) with .png. Names are
 * compared case-blind (X.png and x.png are one file on macOS and Windows), and a suffixed
 * name never takes the name of another image (a/x, b/x and c/x-2 gave x, x-2, x-2). The paths
 * are absolute.
 */
export function heatmapNames(files: readonly string[], dir: string): string[] {
  // absolute, as collectImages makes the rows' files: a relative --heatmaps gave relative names beside absolute files
  const abs = path.resolve(dir);
  const used = new Set<string>();
  return files.map((f) => {
    const stem = fileStem(f) || 'image';
    let name = stem;
    for (let k = 2; used.has(name.toLowerCase()); k++) name = `${stem}-${k}`;
    used.add(name.toLowerCase());
    return path.join(abs, `${name}.png`);
  });
}

/**
 * Refuses (ECONFIG, before anything is scored) overlay names that are an input image or mask:
 * `--heatmaps scans/` on images in scans/ wrote each overlay over the X-ray it explains. Files
 * are compared by device and inode, so a link, another spelling of the path or a case-blind
 * file system is caught too.
 */
function refuseOverwritingInputs(names: readonly string[], inputs: readonly PredictInput[]): void {
  const id = (f: string): string | undefined => {
    try {
      const st = fs.statSync(f);
      return st.isFile() ? `${st.dev}:${st.ino}` : undefined;
    } catch {
      return undefined; // not there: nothing to overwrite, or the image's own row says so
    }
  };
  const given = new Map<string, string>();
  for (const x of inputs)
    for (const [f, what] of [[x.image, 'image'], [x.mask, 'lung mask']] as const) {
      const k = f === undefined ? undefined : id(f);
      if (k !== undefined && !given.has(k)) given.set(k, `${what} ${f}`);
    }
  for (const n of names) {
    const k = id(n), hit = k === undefined ? undefined : given.get(k);
    if (hit) throw new MdmtError('ECONFIG', 'predict', `explain.dir (--heatmaps): the overlay ${n} would overwrite the input ${hit}: give a folder that holds no input images or masks`);
  }
}

const asInputs = (images: readonly (string | PredictInput)[]): PredictInput[] => images.map((x) => (typeof x === 'string' ? { image: x } : x));

/**
 * The overlay file of each input (none without `explain`), its folder checked — not a file, no
 * input overwritten — and made unless `make` is false (predict() checks before the model loads,
 * and makes nothing for a call refused then).
 */
function overlayNames(inputs: readonly PredictInput[], explain: PredictOptions['explain'], make = true): string[] {
  if (!explain) return [];
  if (make) ensureDir(explain.dir, 'predict', 'explain.dir'); // a file there was a raw EEXIST
  else checkDir(explain.dir, 'predict', 'explain.dir');
  const names = heatmapNames(inputs.map((x) => x.image), explain.dir);
  refuseOverwritingInputs(names, inputs);
  return names;
}

/** Scores one batch's logits into its rows (calibrated probabilities, classes). */
function fillRows(rows: PredictionRow[], idx: number[], out: { afc?: ArrayLike<number>; bx?: ArrayLike<number> }, T: PredictModelInfo['temperature']): void {
  const row = (z: ArrayLike<number>, i: number, C: number) => Array.prototype.slice.call(z, i * C, (i + 1) * C) as number[];
  idx.forEach((r, i) => {
    const res = rows[r]!;
    const afc = out.afc && softmaxT(row(out.afc, i, 2), T.afc ?? 1);
    const bx = out.bx && softmaxT(row(out.bx, i, out.bx.length / idx.length), T.bx ?? 1);
    // finite weights can still give NaN (a negative BatchNorm variance): no made-up class then
    const bad = ([['afc', afc], ['bx', bx]] as const).filter(([, p]) => p && !p.every(Number.isFinite));
    if (bad.length) {
      res.error = `the model's output is not finite (${bad.map(([h, p]) => `${h} probabilities ${show(p)}`).join(', ')}): its weights overflow float32 or hold a NaN or ±inf`;
      return;
    }
    res.ok = true;
    if (afc) {
      res.pSevere = afc[1];
      res.afcClass = PROGNOSIS[afc[1]! > afc[0]! ? 1 : 0];
    }
    if (bx) {
      res.bxProbs = bx;
      res.bxClass = bx.indexOf(Math.max(...bx));
    }
  });
}

/**
 * A note for a positive map that cannot say where: one cell (a small input's last stage:
 * ShuffleNet at 32 px), or every cell within 10 % of the maximum. Its overlay colours the whole
 * film evenly, which reads as "the whole film matters" unless said.
 */
export function flatMapNote(map: ArrayLike<number>, h: number, w: number, layer: string): string | undefined {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < map.length; i++) {
    lo = Math.min(lo, map[i]!);
    hi = Math.max(hi, map[i]!);
  }
  if (!(hi > 0)) return undefined;
  const fix = 'a larger image size, or an earlier explain.layer, gives a finer map';
  if (h * w === 1) return `Grad-CAM map is 1×1 at ${layer}: it cannot localise, the overlay colours the whole film (${fix})`;
  if (lo >= 0.9 * hi) return `Grad-CAM map is flat (every cell of the ${h}×${w} map at ${layer} within 10 % of its maximum): the overlay localises nothing (${fix})`;
  return undefined;
}

/**
 * Grad-CAM of one batch and an overlay per image, on the image as the loader decoded it
 * (keepDecoded) and the crop preprocessing took: each image is decoded once per prediction.
 */
async function explainBatch(model: MDMTModel | STLModel, x: Tensor, idx: number[], decoded: readonly DecodedSample[], rows: PredictionRow[], names: string[], ex: NonNullable<PredictOptions['explain']>): Promise<void> {
  // explain also holds the overlay settings and dir: gradCam takes only its own options
  const cam = gradCam(model, x, { task: ex.task, classIndex: ex.classIndex, layer: ex.layer, score: ex.score });
  for (const [i, r] of idx.entries()) {
    const row = rows[r]!;
    if (!row.ok) continue; // its output was not finite: no overlay of it
    const addNote = (n: string) => (row.note = [row.note, n].filter(Boolean).join('; '));
    try {
      const { raw, crop } = decoded[i]!;
      const map = cam.maps.subarray(i * cam.h * cam.w, (i + 1) * cam.h * cam.w);
      await writeOverlay(names[r]!, raw, crop, map, cam.h, cam.w, ex);
      row.heatmap = names[r];
      // ReLU(Σ α_k A_k) = 0 everywhere: the overlay is the bare film, which reads as "nothing found" unless said
      const note = map.some((v) => v > 0) ? flatMapNote(map, cam.h, cam.w, cam.layer)
        : `Grad-CAM map is zero (no positive evidence for class ${cam.classIndex[i]} at ${cam.layer}): the overlay shows the film only`;
      if (note) addNote(note);
    } catch (e) {
      addNote(`heatmap failed: ${e instanceof MdmtError ? e.detail : (e as Error).message}`);
    }
  }
}

/**
 * The overlay folders predict calls are writing into (real paths): two overlapping calls into
 * one folder wrote the same names (film.png of two batches) over each other without a word.
 */
const overlayDirsInUse = new Set<string>();

/** Refuses (EBUSY) an overlay folder another running call writes into; the key to claim while this one does. */
function overlayDirKey(explain: PredictOptions['explain']): string | undefined {
  if (!explain) return undefined;
  const key = fs.realpathSync(explain.dir); // made by overlayNames: a link or another spelling is the same folder
  if (overlayDirsInUse.has(key))
    throw new MdmtError('EBUSY', 'predict', `another predict call is still writing Grad-CAM overlays into ${key}: await it first, or give this call another explain.dir`);
  return key;
}

/**
 * The inference plan of batch size `B`, traced at `traced` images (the call's count when
 * smaller: --batch-size 200000 on one image traced a 200000-image plan for 86 s, then failed);
 * it runs any batch up to B. Memory it cannot find is ENOMEM naming batchSize.
 */
function inferencePlan(net: MDMTModel | STLModel, B: number, traced: number, S: number): InferencePlan {
  try {
    return compileInference(net, { inputShape: [traced, 3, S, S] });
  } catch (e) {
    if (!(e instanceof MdmtError && e.code === 'ENOMEM')) throw e;
    throw new MdmtError('ENOMEM', 'predict', `batchSize (--batch-size) ${B} of ${S} px images does not fit in memory (${e.message}): give a smaller batch size`);
  }
}

/** What a Predictor holds: the model's source and device (and where its warnings go). */
export type PredictorOptions = Pick<PredictOptions, 'run' | 'weights' | 'backbone' | 'task' | 'imageSize' | 'imagenetNormalize' | 'calibrate' | 'device' | 'log'>;
/** What each Predictor.predict call takes. */
export type PredictCallOptions = Pick<PredictOptions, 'batchSize' | 'workers' | 'explain' | 'onProgress'>;

/**
 * A trained model loaded once for many predict calls: a server, or a folder scored in parts,
 * no longer rebuilds the model, reloads its weights and compiles its inference plan per call
 * (predict() does all three, then frees them). One compiled plan per batch size is kept until
 * dispose(). Calls may overlap, but not two writing overlays into one explain.dir (EBUSY);
 * dispose() waits for none and is refused while one runs.
 *
 *   const p = openPredictor({ run: 'runs/cv/resnet18/mdmt/fold0' });
 *   try { for (const part of parts) rows.push(...(await p.predict(part)).rows); } finally { p.dispose(); }
 */
export class Predictor {
  private live: MDMTModel | STLModel | null;
  private readonly plans = new Map<number, InferencePlan>();
  private running = 0;
  /** @internal use openPredictor() */
  constructor(readonly model: PredictModelInfo, net: MDMTModel | STLModel, readonly device: string, readonly warnings: readonly string[]) {
    this.live = net;
  }

  /**
   * Scores every image; rows come back in input order. Throws only for bad options (MdmtError
   * naming them), a disposed predictor or an explain.dir another running call writes into
   * (EBUSY); a bad image is reported in its row.
   */
  async predict(images: readonly (string | PredictInput)[], o: PredictCallOptions = {}): Promise<PredictResult> {
    checkPredictOptions(images, o, PREDICT_CALL_KEYS);
    const net = this.net('predict');
    const info = this.model;
    if (o.explain) checkExplain(o.explain, info.task);
    const inputs = asInputs(images);
    const rows: PredictionRow[] = inputs.map((x) => ({ file: x.image, ok: false }));
    const B = o.batchSize ?? 16;
    const names = overlayNames(inputs, o.explain);
    const overlayKey = overlayDirKey(o.explain);
    const layer = o.explain?.layer;
    // found at the first batch's explanation, after it had been scored
    if (layer !== undefined && !net.namedModules().some(([n]) => n === layer))
      throw new MdmtError('ECONFIG', 'predict', `explain.layer '${layer}' is not a module of the ${info.backbone} model (its default: '${defaultCamLayer(net)}')`);
    const S = info.imageSize;
    let plan = this.plans.get(B);
    if (!plan) this.plans.set(B, (plan = inferencePlan(net, B, Math.min(B, Math.max(1, inputs.length)), S)));
    const records: DataRecord[] = inputs.map((x, i) => ({
      id: String(i), task: 'AFC', source: 'predict', image: x.image, mask: x.mask, box: x.box, center: '', label: 0, labelName: '', where: x.image,
    }));
    const loader = new Loader(records, {
      size: S, batchSize: B, train: false, normalize: info.imagenetNormalize, workers: o.workers ?? 0, cache: 'none', onBadRecord: 'skip', log: () => {},
      keepDecoded: o.explain !== undefined,
    });
    let done = 0;
    this.running++;
    if (overlayKey) overlayDirsInUse.add(overlayKey); // no await since the check: no other call came between
    try {
      for await (const b of loader.epoch(0)) {
        const idx = b.ids.map(Number);
        await tidy(async () => {
          const x = toTensors(b, this.device).images;
          const y = noGrad(() => plan!.run(x));
          const z = y instanceof Tensor ? { [info.task === 'stl_bx' ? 'bx' : 'afc']: y.toArray() } : { afc: y.afc?.toArray(), bx: y.bx?.toArray() };
          fillRows(rows, idx, z, info.temperature);
          if (o.explain) await explainBatch(net, x, idx, b.decoded!, rows, names, o.explain);
        });
        done = loader.report().skipped.length + rows.filter((r) => r.ok || r.error).length;
        o.onProgress?.(done, rows.length);
      }
    } finally {
      this.running--;
      if (overlayKey) overlayDirsInUse.delete(overlayKey);
      await loader.close();
    }
    const rep = loader.report();
    for (const s of rep.skipped) rows[Number(s.id)]!.error = s.error;
    for (const w of rep.warnings) {
      // warnings are keyed 'source:task:id'
      const row = rows[Number(w.id.slice(w.id.lastIndexOf(':') + 1))]!;
      row.note = [w.warning.replace(`${row.file}: `, ''), row.note].filter(Boolean).join('; ');
    }
    for (const r of rows) if (!r.ok && !r.error) r.error = 'not scored';
    if (rows.length && done < rows.length) o.onProgress?.(rows.length, rows.length);
    return { rows, failed: rows.filter((r) => !r.ok).length, model: info, warnings: [...this.warnings] };
  }

  /** Frees the model and its plans; refused (EBUSY) while a predict call runs. Idempotent. */
  dispose(): void {
    if (!this.live) return;
    if (this.running) throw new MdmtError('EBUSY', 'Predictor.dispose', `${this.running} predict call${this.running > 1 ? 's are' : ' is'} still running: await ${this.running > 1 ? 'them' : 'it'} first`);
    for (const p of this.plans.values()) p.dispose();
    this.plans.clear();
    this.live.dispose();
    this.live = null;
  }

  get disposed(): boolean {
    return this.live === null;
  }

  private net(op: string): MDMTModel | STLModel {
    if (!this.live) throw new MdmtError('EDISPOSED', op, `this Predictor (${this.model.source}) was disposed: open another with openPredictor()`);
    return this.live;
  }
}

/**
 * Loads a model for predict calls (see Predictor): from a run directory, or a weights file with
 * its backbone and task. Throws for a bad source or options, naming them.
 *
 * @example const p = openPredictor({ run: 'runs/cv/resnet18/mdmt/fold0' }); await p.predict(['a.png']); p.dispose();
 */
export function openPredictor(o: PredictorOptions): Predictor {
  checkPredictOptions([], o, PREDICTOR_KEYS);
  const { info, weights, warnings } = modelSource(o);
  for (const w of warnings) o.log?.(w);
  const device = o.device ?? getDefaultDevice();
  const net = buildModel(info, weights);
  try {
    net.to(device);
  } catch (e) {
    net.dispose(); // an unavailable device kept all its weights alive
    throw e;
  }
  return new Predictor(info, net, device, warnings);
}

/**
 * Scores every image; rows come back in input order. Throws only for a bad model source or
 * options (MdmtError naming it); a bad image is reported in its row. Loads the model for this
 * call and frees it after: for many calls, openPredictor() keeps it.
 *
 * @example
 * const r = await predict([{ image: 'a.dcm', mask: 'a_mask.png' }, 'b.png'], { run: 'runs/x', explain: { dir: 'heatmaps' } });
 */
export async function predict(images: readonly (string | PredictInput)[], o: PredictOptions): Promise<PredictResult> {
  checkPredictOptions(images, o);
  const { batchSize, workers, explain, onProgress, ...source } = o;
  // the call's own checks that need the model's task come before it is built
  const info = modelSource(source).info;
  if (explain) checkExplain(explain, info.task);
  // and its output paths, made only by the call below once the model has loaded (weights that
  // fail to load leave no folder behind)
  overlayNames(asInputs(images), explain, false);
  if (explain && fs.existsSync(explain.dir)) overlayDirKey(explain); // a folder another call writes into: EBUSY now
  const p = openPredictor(source);
  try {
    return await p.predict(images, { batchSize, workers, explain, onProgress });
  } finally {
    p.dispose();
  }
}
