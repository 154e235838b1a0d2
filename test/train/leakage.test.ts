// No test record of a run is reachable by training (issue 15 §2–§4), end to end: a sweep on a
// data set whose films carry both labels (covid-cxr-like, written by the test) trains STL τ1,
// STL τ2, FT and MDMT on a CV fold and a LOCO fold; then, for every run directory, the films
// and patients of its test sets are in none of the training sets reachable from it — its own
// split/*/train.txt, and recursively those of the STL runs whose best.safetensors its
// config.json names as init. MDMT trains with a fixed τ1 fraction and is still evaluated on
// every test record exactly once. The sweep's τ2 LOCO fold for a centre without τ2 films has
// no τ2 test set, and the report leaves it out of the τ2 table.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readSplitFile } from '../../ts/data/splits';
import { writeReport } from '../../ts/report';
import { readJson } from '../../ts/train/checkpoint';
import { experiment } from '../../ts/train/experiment';
import { loadRecords } from '../../ts/train/data';
import { BACKBONE, tmpDir } from './_fixture';
import { linkedData } from '../data/_linked';
import { deviceAvailable } from '../helpers';

const on = deviceAvailable('train/leakage');

/** The films (ids) and patients trained on by a run and, through config.json init files, by the STL runs it started from. */
function reachable(runDir: string, patientOf: Map<string, string>, out = { films: new Set<string>(), patients: new Set<string>(), runs: [] as string[] }) {
  out.runs.push(runDir);
  for (const task of ['AFC', 'BX']) {
    const f = path.join(runDir, 'split', task, 'train.txt');
    if (!fs.existsSync(f)) continue;
    for (const r of readSplitFile(f)) {
      out.films.add(r.img);
      out.patients.add(patientOf.get(r.img)!);
    }
  }
  const cfg = readJson<{ init?: Record<string, string> }>(path.join(runDir, 'config.json'));
  for (const init of Object.values(cfg.init ?? {})) reachable(path.dirname(init), patientOf, out);
  return out;
}

function runDirs(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory() || e.name === 'splits' || e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (fs.existsSync(path.join(p, 'result.json'))) out.push(p);
      else walk(p);
    }
  };
  walk(root);
  return out.sort();
}

const lines = (f: string) => (fs.existsSync(f) ? readSplitFile(f).length : 0);

test('a sweep on films with both labels: no test film or patient reachable by training, directly or through the inits', async () => {
  if (!on) return;
  const data = await linkedData(tmpDir('leak-data'), 60);
  const runs = path.join(tmpDir('leak'), 'runs');
  const out = await experiment({
    runsDir: runs, backbones: [BACKBONE], folds: { cv: [1], loco: [2] },
    base: {
      data: { covidCxr: data }, imageSize: 32, batchSize: 8, kFolds: 3, workers: 0, progress: false, pretrained: false,
      mixing: { afcFraction: 0.5 }, schedule: { maxEpochs: 1, warmupEpochs: 0, earlyStopping: 5 },
    },
  });
  assert.equal(out.failed, []);
  assert.is(out.trained.length, 8, 'STL τ1, STL τ2, FT, MDMT on CV fold 1 and LOCO fold 2');
  const recs = await loadRecords({ covidCxr: data });
  const patientOf = new Map([...recs.afc, ...recs.bx].map((r) => [r.id, r.group!]));
  const dirs = runDirs(runs);
  assert.is(dirs.length, 8);
  let viaInit = 0;
  for (const d of dirs) {
    const reach = reachable(d, patientOf);
    if (reach.runs.length > 1) viaInit++;
    for (const task of ['AFC', 'BX']) {
      const f = path.join(d, 'split', task, 'test.txt');
      if (!fs.existsSync(f)) continue;
      for (const r of readSplitFile(f)) {
        assert.not.ok(reach.films.has(r.img), `${path.relative(runs, d)}: test film ${r.img} (${task}) is trained on by ${reach.runs.map((x) => path.relative(runs, x)).join(' / ')}`);
        assert.not.ok(reach.patients.has(patientOf.get(r.img)!), `${path.relative(runs, d)}: test ${patientOf.get(r.img)} is trained on`);
      }
    }
  }
  assert.is(viaInit, 4, 'the FT and MDMT runs were checked through their STL inits');
  // the LOCO FT / MDMT runs start from STL τ2 of the same held-out centre, not bxLocoFold's
  const mdmtLoco = readJson<{ init: { stlBx: string } }>(path.join(runs, 'loco', BACKBONE, 'mdmt', 'fold2', 'config.json'));
  assert.is(path.relative(runs, mdmtLoco.init.stlBx), path.join('loco', BACKBONE, 'stl_bx', 'fold2', 'best.safetensors'));

  // evaluation saw every test record once although MDMT trained with a fixed τ1 fraction
  for (const fold of [path.join('cv', BACKBONE, 'mdmt', 'fold1'), path.join('loco', BACKBONE, 'mdmt', 'fold2')]) {
    const r = readJson<{ metrics: { cm: number[][]; bxCm?: number[][] } }>(path.join(runs, fold, 'result.json'));
    const sum = (cm?: number[][]) => (cm ?? []).flat().reduce((a, b) => a + b, 0);
    assert.is(sum(r.metrics.cm), lines(path.join(runs, fold, 'split', 'AFC', 'test.txt')), `${fold}: every τ1 test record once`);
    assert.is(sum(r.metrics.bxCm), lines(path.join(runs, fold, 'split', 'BX', 'test.txt')), `${fold}: every τ2 test record once`);
  }
  // c.example has no τ2 films: its STL τ2 LOCO run has no test metrics and the τ2 table skips it
  const noBx = out.results.find((r) => r.experiment === 'stl_bx' && r.protocol === 'loco')!;
  assert.is(noBx.fold, 'c.example');
  assert.ok(Number.isNaN(noBx.metrics.acc));
  // MDMT's τ2 head on that fold has no test records either: NaN metrics, named once by the report
  const mdmtNoBx = out.results.find((r) => r.experiment === 'mdmt' && r.protocol === 'loco')!;
  assert.ok(mdmtNoBx.bxMetrics && Number.isNaN(mdmtNoBx.bxMetrics.acc), `MDMT LOCO c.example bxMetrics ${JSON.stringify(mdmtNoBx.bxMetrics)}`);
  const rep = writeReport(out.results, path.join(runs, 'report'));
  assert.match(rep.markdown, /## τ2 \(BRIXIA, 4 classes\)/);
  assert.match(rep.markdown, `no τ2 test records in centre c.example: ${BACKBONE} LOCO MDMT (τ2 head), ${BACKBONE} LOCO STL τ2`);
});

test.run();
