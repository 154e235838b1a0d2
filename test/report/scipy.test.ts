// The report's numbers against scipy and scikit-learn, computed in Python from the runs'
// per-sample test outputs alone (no mdmt code): per-run ACC, weighted F1 (sklearn
// classification_report 'weighted avg') and weighted G-mean (imblearn's
// sqrt(weighted sensitivity · weighted specificity), from sklearn's per-class counts), the
// per-backbone fold mean and std (ddof 0), Table 1, Table 2 (scipy ttest_rel one-tailed, MDMT
// greater on μ and smaller on σ, paired across backbones; Wilcoxon: scipy's exact test without
// ties or zeros, the exhaustive sign-flip null with them) and the per-centre table; and
// ttestRel / wilcoxon / the metrics on random cases with ties, zeros and 4 classes.
// Skips, saying why, without /usr/bin/python3 (or $MDMT_PYTHON), scipy or scikit-learn.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeReport } from '../../ts/report';
import type { Experiment, Protocol, RunResult } from '../../ts/report/types';
import { evaluate } from '../../ts/train/metrics';
import { ttestRel, wilcoxon, type Alternative } from '../../ts/train/stats';
import { Rng } from '../helpers';

const PY = process.env.MDMT_PYTHON || '/usr/bin/python3';

function pythonReason(): string {
  if (!fs.existsSync(PY)) return `${PY} not found`;
  const p = spawnSync(PY, ['-c', 'import numpy, scipy, sklearn'], { encoding: 'utf8' });
  return p.status === 0 ? '' : `${PY} lacks numpy, scipy or scikit-learn (${(p.stderr || '').trim().split('\n').pop()})`;
}
const why = pythonReason();
const skip = (name: string) => { if (why) console.log(`  [skip] ${name}: ${why}`); return !!why; };

const PYLIB = String.raw`
import json, math, sys, warnings
import numpy as np
from scipy import stats
from sklearn.metrics import accuracy_score, classification_report, multilabel_confusion_matrix
warnings.filterwarnings('ignore')

def metrics(y, p):
    y, p = np.asarray(y), np.asarray(p)
    f1 = classification_report(y, p, output_dict=True, zero_division=0)['weighted avg']['f1-score']
    labels = np.unique(np.concatenate([y, p]))
    m = multilabel_confusion_matrix(y, p, labels=labels)
    tn, fp, fn, tp = m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1]
    sup = tp + fn
    sens = np.where(sup > 0, tp / np.maximum(sup, 1), 0.0)
    spec = np.where(tn + fp > 0, tn / np.maximum(tn + fp, 1), 0.0)
    gm = 0.0 if sup.sum() == 0 else math.sqrt(np.average(sens, weights=sup) * np.average(spec, weights=sup))
    return {'acc': accuracy_score(y, p), 'f1': f1, 'gmean': gm}

def signflip(d, alt):
    d = d[d != 0]
    if len(d) == 0: return 0.0, 1.0
    r = stats.rankdata(np.abs(d)); rp = r[d > 0].sum(); rm = r[d < 0].sum()
    null = ((np.arange(2 ** len(d))[:, None] >> np.arange(len(d))) & 1) @ r   # R+ under every sign assignment
    pl, pg = np.mean(null <= rp + 1e-9), np.mean(null >= rp - 1e-9)
    return (rp, pl) if alt == 'less' else (rp, pg) if alt == 'greater' else (min(rp, rm), min(1.0, 2 * min(pl, pg)))

def wilcox(a, b, alt):
    """scipy's wilcoxon(a, b, alternative=alt) with today's method='auto', on any scipy version"""
    d = np.asarray(a, float) - np.asarray(b, float)
    nz = d[d != 0]
    if len(nz) == 0: return None
    ties = len(np.unique(np.abs(nz))) < len(nz)
    if len(d) <= 50 and not ties and len(nz) == len(d):
        w = stats.wilcoxon(a, b, alternative=alt)
        return float(w.statistic), float(w.pvalue)
    if len(d) <= 13: return signflip(d, alt)
    try: w = stats.wilcoxon(a, b, alternative=alt, method='approx', correction=False)
    except TypeError: w = stats.wilcoxon(a, b, alternative=alt, mode='approx', correction=False)
    return float(w.statistic), float(w.pvalue)

bad, n = [], [0]
def close(a, b, what, tol=1e-9):
    n[0] += 1
    a = math.nan if a is None else float(a); b = math.nan if b is None or b == '' else float(b)
    if (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol * max(1.0, abs(a), abs(b)): return
    bad.append(f'{what}: python {a!r}, mdmt {b!r}')
`;

function runPython(script: string, input: unknown): { checks: number; bad: string[] } {
  const p = spawnSync(PY, ['-c', PYLIB + script], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.is(p.status, 0, `python failed: ${p.stderr}`);
  return JSON.parse(p.stdout.trim().split('\n').pop()!) as { checks: number; bad: string[] };
}

test('ttestRel, wilcoxon and ACC / F1 / G-mean equal scipy and scikit-learn on random cases (ties, zeros, 4 classes)', () => {
  if (skip('scipy reference: statistics')) return;
  const rng = new Rng(11);
  const tests: unknown[] = [];
  for (let k = 0; k < 150; k++) {
    const n = 2 + Math.floor(rng.next() * (k < 110 ? 12 : 50));
    const q = [0.01, 0.05, 0.001][k % 3]!; // quantised: ties and zero differences, as fold metrics of small test sets
    const a = Array.from({ length: n }, () => Math.round((0.5 + 0.2 * rng.next()) / q) * q);
    const b = a.map((v) => (rng.next() < 0.15 ? v : Math.round((v + 0.05 * (rng.next() - 0.4)) / q) * q));
    for (const alt of ['less', 'greater', 'two-sided'] as Alternative[]) tests.push({ a, b, alt, t: ttestRel(a, b, alt), w: wilcoxon(a, b, { alternative: alt }) });
  }
  const cases: unknown[] = [];
  for (let k = 0; k < 200; k++) {
    const C = k % 2 ? 4 : 2, n = 1 + Math.floor(rng.next() * 40);
    const yt = Array.from({ length: n }, () => Math.floor(rng.next() * (k % 7 === 0 ? 1 : C)));
    const yp = yt.map((y) => (rng.next() < 0.6 ? y : Math.floor(rng.next() * C)));
    cases.push({ yt, yp, m: evaluate(yt, yp, C) });
  }
  const r = runPython(String.raw`
d = json.load(sys.stdin)
for c in d['tests']:
    a, b, alt = np.array(c['a']), np.array(c['b']), c['alt']
    diff = a - b
    if np.ptp(diff) > 1e-12:   # differences that are all equal: mdmt gives t = ±inf where scipy divides rounding noise
        t = stats.ttest_rel(a, b, alternative=alt)
        close(t.statistic, c['t']['statistic'], f"t {alt} {c['a']} {c['b']}", 1e-8)
        close(t.pvalue, c['t']['pvalue'], f"p_t {alt} {c['a']} {c['b']}", 1e-8)
    w = wilcox(a, b, alt)
    if w:
        close(w[0], c['w']['statistic'], f"W {alt} {c['a']} {c['b']}")
        close(w[1], c['w']['pvalue'], f"p_W {alt} {c['a']} {c['b']}", 1e-7)
for c in d['cases']:
    m = metrics(c['yt'], c['yp'])
    for k in ['acc', 'f1', 'gmean']: close(m[k], c['m'][k], f"{k} {c['yt']} {c['yp']}", 1e-12)
print(json.dumps({'checks': n[0], 'bad': bad}))
`, { tests, cases });
  assert.equal(r.bad.slice(0, 5), [], `${r.bad.length} of ${r.checks} differ`);
  assert.ok(r.checks > 1500, `${r.checks} checks`);
});

test('Tables 1 and 2, per-backbone and per-centre tables equal scipy / scikit-learn recomputed from the test outputs', () => {
  if (skip('scipy reference: report')) return;
  const rng = new Rng(5);
  const backbones = ['resnet18', 'densenet121', 'mobilenet_v2', 'googlenet', 'resnet50', 'shufflenet_v2_x1_0'];
  const strength: Record<string, number> = { stl_afc: 0.5, ft: 0.7, mdmt: 0.9 };
  const centres = ['A', 'B', 'C', 'D'];
  const sets = new Map<string, { y: number[]; c: string[] }>();
  const testSet = (p: Protocol, f: string) => {
    const k = `${p}/${f}`;
    if (!sets.has(k)) {
      const n = 20 + Math.floor(rng.next() * 30);
      // LOCO centre D: every test film MILD (G-mean 0 for every model, imblearn's convention)
      const y = Array.from({ length: n }, () => (p === 'loco' && f === 'D' ? 0 : rng.next() < 0.45 ? 1 : 0));
      sets.set(k, { y, c: y.map(() => (p === 'loco' ? f : centres[Math.floor(rng.next() * 4)]!)) });
    }
    return sets.get(k)!;
  };
  const results: RunResult[] = [];
  for (const b of backbones) {
    const shift = rng.normal() * 0.3;
    for (const protocol of ['cv', 'loco'] as Protocol[]) {
      for (const fold of protocol === 'cv' ? ['0', '1', '2'] : centres) {
        for (const experiment of ['stl_afc', 'ft', 'mdmt'] as Experiment[]) {
          const { y, c } = testSet(protocol, fold);
          const logits = y.map((t) => { const z = [rng.normal(), rng.normal()]; z[t]! += (strength[experiment]! + shift) * (0.3 + 1.7 * rng.next()); return z; });
          const ev = evaluate(y, logits.map((z) => (z[1]! > z[0]! ? 1 : 0)), 2);
          results.push({
            backbone: b, experiment, protocol, fold, imagenet: true, metrics: { acc: ev.acc, f1: ev.f1, gmean: ev.gmean }, cm: ev.cm,
            predictions: { afc: { ids: y.map((_, i) => `P_${i}`), centers: c, yTrue: y, logits } },
          });
        }
      }
    }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-scipy-'));
  try {
    writeReport(results, dir, { curves: false, bootstrap: { resamples: 20 } });
    const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8');
    const r = runPython(String.raw`
import csv, io
d = json.load(sys.stdin)
rows = lambda name: list(csv.DictReader(io.StringIO(d['files'][name])))
runs = d['runs']
S = {}
for r in runs:
    P = r['predictions']['afc']
    m = metrics(P['yTrue'], [int(np.argmax(z)) for z in P['logits']])
    for k in ['acc', 'f1', 'gmean']: close(m[k], r['metrics'][k], f"{r['backbone']} {r['experiment']} {r['protocol']} {r['fold']} {k}")
    S.setdefault((r['backbone'], r['experiment'], r['protocol']), []).append(m)
summ = {k: {m: (float(np.mean([f[m] for f in v])), float(np.std([f[m] for f in v]))) for m in ['acc', 'f1', 'gmean']} for k, v in S.items()}
for row in rows('per_backbone.csv'):
    s = summ[(row['backbone'], row['experiment'], row['protocol'])][row['metric']]
    close(s[0], row['mean'], f"per_backbone {row}"); close(s[1], row['std'], f"per_backbone std {row}")
for row in rows('table1.csv'):
    v = [s[row['metric']] for (b, e, p), s in summ.items() if e == row['experiment'] and p == row['protocol']]
    close(np.mean([x[0] for x in v]), row['mean'], f"table1 {row}")
    close(np.mean([x[1] for x in v]), row['mean_fold_std'], f"table1 σ̄ {row}")
for row in rows('table2.csv'):
    i = 0 if row['stat'] == 'mean' else 1
    bbs = sorted({b for (b, e, p) in summ})
    t = [summ[(b, 'mdmt', row['protocol'])][row['metric']][i] for b in bbs]
    base = [summ[(b, row['baseline'], row['protocol'])][row['metric']][i] for b in bbs]
    lhs, rhs = (base, t) if row['stat'] == 'mean' else (t, base)     # H1: μ greater, σ smaller
    n[0] += 1
    if int(row['backbones']) != len(bbs): bad.append(f"table2 pairs {row}")
    if np.ptp(np.subtract(lhs, rhs)) > 1e-12:
        tt = stats.ttest_rel(lhs, rhs, alternative='less')
        close(tt.statistic, row['t'], f"table2 t {row}", 1e-8); close(tt.pvalue, row['p_ttest'], f"table2 p {row}", 1e-8)
        p = tt.pvalue
        n[0] += 1
        if ('***' if p < .001 else '**' if p < .01 else '*' if p < .05 else '') != row['stars']: bad.append(f"table2 stars {row}")
    w = wilcox(lhs, rhs, 'less')
    if w: close(w[0], row['wilcoxon_stat'], f"table2 W {row}"); close(w[1], row['p_wilcoxon'], f"table2 p_W {row}", 1e-7)
pool = {}
for r in runs:
    P = r['predictions']['afc']
    for c, y, z in zip(P['centers'], P['yTrue'], P['logits']):
        a = pool.setdefault((r['protocol'], r['backbone'], r['experiment'], c), ([], []))
        a[0].append(y); a[1].append(int(np.argmax(z)))
got = {(r['protocol'], r['backbone'], r['experiment'], r['centre']): r for r in rows('per_centre.csv')}
for k, (y, p) in pool.items():
    m = metrics(y, p)
    for met in ['acc', 'f1', 'gmean']: close(m[met], got[k][met], f"per_centre {k} {met}")
for row in rows('intervals.csv'):
    n[0] += 1
    if not float(row['lo']) <= float(row['estimate']) <= float(row['hi']): bad.append(f"interval without its estimate {row}")
print(json.dumps({'checks': n[0], 'bad': bad}))
`, { runs: results, files: Object.fromEntries(['per_backbone.csv', 'table1.csv', 'table2.csv', 'per_centre.csv', 'intervals.csv'].map((f) => [f, read(f)])) });
    assert.equal(r.bad.slice(0, 5), [], `${r.bad.length} of ${r.checks} differ`);
    assert.ok(r.checks > 1000, `${r.checks} checks`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
