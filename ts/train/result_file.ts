/**
 * Reading a run's result.json back (the report's input, predict's calibration): every field the
 * report, its notes and predict read is checked, so a file edited by hand, or written by
 * something else, is an EDATA naming the file and the field instead of a TypeError deep in the
 * report or a table cell of 118 % (an accuracy of 1.7 averaged in):
 *
 *   readRunResult('runs/cv/resnet18/mdmt/fold0/result.json').metrics.acc   // in [0, 1], or null
 */
import { isPlain, MdmtError } from '../errors';
import type { RunResult } from '../report/types';
import { readJson } from './checkpoint';
import { EXPERIMENTS, PROTOCOLS, type ExperimentName, type Protocol } from './config';

type Bad = (what: string) => MdmtError;

/**
 * The `result` of a result.json, with the fields the report and predict read checked (EDATA
 * naming the file and field, under the caller's `op`: collectResults unless given).
 *
 * @example readRunResult('runs/cv/resnet18/mdmt/fold0/result.json').calibration?.afc?.temperature
 */
export function readRunResult(file: string, op = 'collectResults'): RunResult {
  const json = readJson<unknown>(file, op);
  const r = (json as { result?: unknown } | null)?.result as Record<string, unknown> | undefined;
  // `op` names the caller: predict's error on a run's result.json said 'collectResults', report's function
  const bad: Bad = (what) => new MdmtError('EDATA', op, `${file}: ${what} (not a result.json that train() wrote, or edited by hand)`);
  if (!r || typeof r !== 'object') throw bad("no 'result' object");
  return checkRunResult(r, bad, 'result');
}

/**
 * A run's result (what readRunResult reads, what writeReport takes) with the fields the report,
 * its notes and predict read checked; `bad` makes the error, `at` names the object in it
 * ('result', 'results[3]').
 *
 * @example checkRunResult(r, (what) => new MdmtError('ECONFIG', 'writeReport', what), 'results[0]')
 */
export function checkRunResult(r: Record<string, unknown>, bad: Bad, at: string): RunResult {
  if (typeof r.backbone !== 'string' || !r.backbone) throw bad(`${at}.backbone is ${JSON.stringify(r.backbone)}`);
  if (!EXPERIMENTS.includes(r.experiment as ExperimentName)) throw bad(`${at}.experiment is ${JSON.stringify(r.experiment)} (${EXPERIMENTS.join(', ')})`);
  if (!PROTOCOLS.includes(r.protocol as Protocol)) throw bad(`${at}.protocol is ${JSON.stringify(r.protocol)} (${PROTOCOLS.join(', ')})`);
  // train() writes the fold index as a string ('0'); a number must be an index too
  if (!(typeof r.fold === 'string' && r.fold) && !(typeof r.fold === 'number' && Number.isInteger(r.fold) && r.fold >= 0)) throw bad(`${at}.fold is ${JSON.stringify(r.fold)} (a fold index)`);
  checkMetrics(r.metrics, `${at}.metrics`, bad);
  if (r.bxMetrics !== undefined) checkMetrics(r.bxMetrics, `${at}.bxMetrics`, bad);
  // a fold without test records of its task (a LOCO centre without τ2 films) has NaN metrics and an empty matrix
  const untested = noValue((r.metrics as Record<string, unknown>).acc);
  if (r.cm !== undefined && !(untested && Array.isArray(r.cm) && r.cm.length === 0)) checkConfusion(r.cm, `${at}.cm`, bad);
  if (r.imagenet !== undefined && typeof r.imagenet !== 'boolean') throw bad(`${at}.imagenet is ${JSON.stringify(r.imagenet)} (true, false, or absent)`);
  for (const k of ['warmupEpochs', 'bestEpoch'])
    if (r[k] !== undefined && !(Number.isInteger(r[k]) && (r[k] as number) >= 0)) throw bad(`${at}.${k} is ${JSON.stringify(r[k])} (an epoch count)`);
  if (r.history !== undefined && !(Array.isArray(r.history) && r.history.every(isPlain))) throw bad(`${at}.history is not an array of epoch records`);
  // the learning curve's x: a record without it was drawn at NaN
  const noEpoch = Array.isArray(r.history) ? (r.history as Record<string, unknown>[]).findIndex((h) => !(Number.isInteger(h.epoch) && (h.epoch as number) >= 1)) : -1;
  if (noEpoch >= 0) throw bad(`${at}.history[${noEpoch}].epoch is ${JSON.stringify((r.history as Record<string, unknown>[])[noEpoch]!.epoch)} (an epoch number ≥ 1)`);
  checkSkipped(r.skipped, bad, at);
  checkTrustFields(r, bad, at);
  return r as unknown as RunResult;
}

/** NaN as train() writes it ('NaN', read back as NaN by readJson), or as JSON.stringify writes it (null). */
const noValue = (v: unknown) => v === null || Number.isNaN(v);

/** ACC, F1 and G-mean: fractions in [0, 1], or NaN / null (a fold without test records of the task). */
function checkMetrics(m: unknown, field: string, bad: Bad): void {
  if (!isPlain(m)) throw bad(`${field} is ${JSON.stringify(m)}`);
  for (const k of ['acc', 'f1', 'gmean']) {
    const v = m[k];
    if (noValue(v)) continue;
    if (typeof v !== 'number') throw bad(`${field}.${k} is ${JSON.stringify(v)}`);
    if (!(v >= 0 && v <= 1)) throw bad(`${field}.${k} is ${v}, outside [0, 1] (metrics are fractions)`);
  }
  // train() writes all three or none (no test records): an F1 of NaN beside an accuracy made the
  // backbone's F1 NaN, and Table 1's F1 cell of the experiment '–' for every backbone
  const missing = ['acc', 'f1', 'gmean'].filter((k) => noValue(m[k]));
  const given = ['acc', 'f1', 'gmean'].find((k) => !noValue(m[k]));
  if (missing.length && given) throw bad(`${field}.${missing[0]} is ${String(m[missing[0]!])} but ${field}.${given} is ${String(m[given])} (a fold's metrics are all numbers, or all NaN when it has no test records)`);
}

/** A square matrix of counts (rows: true class, columns: predicted), at least 2 × 2: pooled μ adds them. */
function checkConfusion(cm: unknown, field: string, bad: Bad): void {
  const n = Array.isArray(cm) ? cm.length : 0;
  if (n < 2 || !(cm as unknown[]).every((row) => Array.isArray(row) && row.length === n && row.every((c) => Number.isInteger(c) && (c as number) >= 0)))
    throw bad(`${field} is not a square matrix of counts (integers ≥ 0, one row and one column per class): ${JSON.stringify(cm).slice(0, 80)}`);
}

/** The images a run left out (--skip-bad), which the report counts by part and task. */
function checkSkipped(s: unknown, bad: Bad, at: string): void {
  if (s === undefined) return;
  const ok = Array.isArray(s) && s.every((b) => isPlain(b) && ['train', 'val', 'test'].includes(b.part as string) && ['AFC', 'BX'].includes(b.task as string) && typeof b.id === 'string');
  if (!ok) throw bad(`${at}.skipped is not a list of { part: train|val|test, task: AFC|BX, id, file, error }: ${JSON.stringify(s).slice(0, 80)}`);
}

/**
 * The rest of a head's calibration as the report's calibration table reads it: the fitted T,
 * the check's decision, and per split present the stats before and after (a hand-edited `test: {}`
 * failed with "Cannot read properties of undefined (reading 'ece')").
 */
function checkCalibration(c: Record<string, unknown>, field: string, bad: Bad): void {
  if (c.fitted !== undefined && !(typeof c.fitted === 'number' && c.fitted > 0)) throw bad(`${field}.fitted is ${JSON.stringify(c.fitted)} (a positive number)`);
  if (c.check !== undefined && !(isPlain(c.check) && typeof c.check.decision === 'string')) throw bad(`${field}.check is ${JSON.stringify(c.check)} (an object with its decision)`);
  for (const split of ['val', 'test']) {
    const v = c[split];
    if (v === undefined) continue;
    for (const when of ['before', 'after']) {
      const x = isPlain(v) ? v[when] : undefined;
      // NaN: a split without samples ('NaN' as train() writes it, null as JSON.stringify does)
      const key = ['n', 'nll', 'ece', 'brier'].find((k) => !isPlain(x) || !(typeof x[k] === 'number' || x[k] === null));
      if (key) throw bad(`${field}.${split}.${when}${isPlain(x) ? `.${key} is ${JSON.stringify(x[key])}` : ` is ${JSON.stringify(x)}`} (the calibration stats n, nll, ece, brier)`);
    }
  }
}

/**
 * The optional fields the report's calibration, interval and per-centre sections read: a
 * temperature that is a positive number, per-sample test outputs as parallel arrays (an
 * edited file failed with 'T.toFixed is not a function' or a TypeError in a map).
 */
function checkTrustFields(r: Record<string, unknown>, bad: Bad, at: string): void {
  const cal = r.calibration, pred = r.predictions;
  if (cal !== undefined && !isPlain(cal)) throw bad(`${at}.calibration is ${JSON.stringify(cal)}`);
  if (pred !== undefined && !isPlain(pred)) throw bad(`${at}.predictions is ${JSON.stringify(pred)}`);
  for (const head of ['afc', 'bx']) {
    const c = cal?.[head];
    if (c !== undefined && !(isPlain(c) && typeof c.temperature === 'number' && c.temperature > 0))
      throw bad(`${at}.calibration.${head}.temperature is ${JSON.stringify(isPlain(c) ? c.temperature : c)} (a positive number)`);
    if (c !== undefined) checkCalibration(c as Record<string, unknown>, `${at}.calibration.${head}`, bad);
    const p = pred?.[head];
    if (p === undefined) continue;
    const field = `${at}.predictions.${head}`;
    if (!isPlain(p)) throw bad(`${field} is ${JSON.stringify(p)}`);
    const n = Array.isArray(p.yTrue) ? p.yTrue.length : -1;
    for (const k of ['ids', 'centers', 'yTrue', 'logits'])
      if (!Array.isArray(p[k]) || (p[k] as unknown[]).length !== n) throw bad(`${field}.${k} is not an array of ${n < 0 ? 'one entry per test sample' : n}`);
    if (!(p.yTrue as unknown[]).every((y) => Number.isInteger(y) && (y as number) >= 0)) throw bad(`${field}.yTrue holds a value that is not a class index`);
    if (!(p.logits as unknown[]).every((z) => Array.isArray(z) && z.length > 0 && z.every((v) => typeof v === 'number')))
      throw bad(`${field}.logits holds a row that is not an array of numbers`);
    // one logit per class in every row, a class index below it, centres by name: a ragged row or a yTrue of 2
    // beside 2 logits was a plain 'confusionMatrix: label pair … is outside 0..1', a centre 1 a TypeError
    const k = ((p.logits as unknown[][])[0] ?? []).length;
    const ragged = (p.logits as unknown[][]).findIndex((z) => z.length !== k);
    if (ragged >= 0) throw bad(`${field}.logits[${ragged}] has ${(p.logits as unknown[][])[ragged]!.length} entries, row 0 ${k} (one per class)`);
    const big = (p.yTrue as number[]).findIndex((y) => y >= k);
    if (big >= 0) throw bad(`${field}.yTrue[${big}] is ${(p.yTrue as number[])[big]}, not a class of its ${k} logits`);
    for (const key of ['ids', 'centers']) if (!(p[key] as unknown[]).every((x) => typeof x === 'string')) throw bad(`${field}.${key} holds a value that is not a string`);
  }
}
