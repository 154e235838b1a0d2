// Distributions and tests against closed forms, t-tables and published worked examples.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  incompleteBeta, normalCdf, normalSf, paperComparisons, rankAverage, stars, studentTCdf, studentTSf, ttestRel, wilcoxon,
  type ExperimentSummary,
} from '../../ts/train/stats';

const close = (a: number, b: number, tol: number, msg = '') => assert.ok(Math.abs(a - b) <= tol, `${msg} ${a} vs ${b} (tol ${tol})`);

test('Student-t CDF equals closed forms for df 1 and 2 to 1e-12', () => {
  for (const t of [-40, -3, -1, -0.25, 0, 0.5, 1.7, 4.2, 30]) {
    close(studentTCdf(t, 1), 0.5 + Math.atan(t) / Math.PI, 1e-12, `df1 t=${t}`); // Cauchy
    close(studentTCdf(t, 2), 0.5 + t / (2 * Math.sqrt(2 + t * t)), 1e-12, `df2 t=${t}`);
  }
});

test('Student-t CDF at t-table critical values (to the 10+ digits given)', () => {
  close(studentTCdf(12.706204736174698, 1), 0.975, 1e-12); // tan(0.475π)
  close(studentTCdf(2.228138851986, 10), 0.975, 1e-10);
  close(studentTCdf(2.749995653567, 30), 0.995, 1e-10);
  close(studentTCdf(2.015048372669157, 5), 0.95, 1e-10);
  close(studentTCdf(-2.015048372669157, 5), 0.05, 1e-10);
  close(studentTSf(1e4, 3) + studentTCdf(1e4, 3), 1, 1e-15);
  // large df: Cornish-Fisher expansion of the quantile (Abramowitz & Stegun 26.7.5),
  // t_p = z + g1/ν + g2/ν² + g3/ν³ + O(ν⁻⁴), so the CDF there is p up to O(ν⁻⁴).
  const z = 1.959963984540054;
  const g1 = (z ** 3 + z) / 4, g2 = (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96;
  const g3 = (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384;
  for (const df of [100, 1e3, 1e5, 1e6]) {
    close(studentTCdf(z + g1 / df + g2 / df ** 2 + g3 / df ** 3, df), 0.975, 1e-11 + 1 / df ** 4, `df ${df}`);
  }
});

test('normal distribution and incomplete beta', () => {
  close(normalSf(1.959963984540054), 0.025, 1e-15);
  close(normalCdf(-2.5758293035489004), 0.005, 1e-15);
  close(normalSf(8), 6.220960574271785e-16, 1e-25); // far tail keeps relative accuracy
  close(incompleteBeta(0.5, 2, 2), 0.5, 1e-15);
  close(incompleteBeta(0.3, 1, 1), 0.3, 1e-15);
  close(incompleteBeta(0.2, 2, 3), 1 - (0.8 ** 4 + 4 * 0.2 * 0.8 ** 3), 1e-14); // binomial identity
});

// R's `sleep` data (Cushny & Peebles 1905; Student 1908), the example of R's ?t.test:
// t.test(extra ~ group, data = sleep, paired = TRUE) → t = -4.0621, df = 9, p-value = 0.002833
const g1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
const g2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];

test('paired t-test: R sleep data', () => {
  const r = ttestRel(g1, g2);
  close(r.statistic, -4.0621, 5e-5);
  assert.equal(r.df, 9);
  close(r.pvalue, 0.002833, 5e-7);
  close(ttestRel(g1, g2, 'less').pvalue, r.pvalue / 2, 1e-15);
  close(ttestRel(g1, g2, 'greater').pvalue, 1 - r.pvalue / 2, 1e-15);
  close(ttestRel(g2, g1, 'greater').pvalue, r.pvalue / 2, 1e-15);
  assert.ok(Number.isNaN(ttestRel([1], [2]).pvalue));
});

test('paired t-test without variance: equal differences give t = ±∞ whatever their rounding, zero ones NaN', () => {
  // 0.8 − 0.7, 0.7 − 0.6, 0.6 − 0.5 differ in the last bit: t was 2.7e15 and p 6.9e-32 from rounding noise
  const eq = ttestRel([0.8, 0.7, 0.6], [0.7, 0.6, 0.5], 'greater');
  assert.equal([eq.statistic, eq.pvalue, eq.df], [Infinity, 0, 2]);
  assert.equal(ttestRel([0.7, 0.6, 0.5], [0.8, 0.7, 0.6], 'greater').pvalue, 1);
  assert.equal(ttestRel([0.7, 0.6, 0.5], [0.8, 0.7, 0.6], 'less').statistic, -Infinity);
  // 0.1 + 0.2 vs 0.3: the same value to the inputs' precision (t was ≈ −1, p ≈ 0.25)
  const zero = ttestRel([0.1 + 0.2, 0.6], [0.3, 0.6], 'less');
  assert.ok(Number.isNaN(zero.statistic) && Number.isNaN(zero.pvalue), JSON.stringify(zero));
  // a real spread, however small against the values, is still tested
  const small = ttestRel([0.6 + 1e-9, 0.7 + 3e-9, 0.8 + 2e-9], [0.6, 0.7, 0.8], 'greater');
  assert.ok(Number.isFinite(small.statistic) && small.pvalue > 0 && small.pvalue < 0.05, JSON.stringify(small));
});

// scipy.stats.wilcoxon docstring (Wilcoxon 1945, Fisher's corn heights, differences):
// wilcoxon(d) → (24.0, 0.041259765625) exact; alternative='greater' → (96.0, 0.0206298828125);
// method='approx' → (24.0, 0.04088813291185591), and 'greater' 0.020444066455927955 (scipy ≤1.8 docs).
const d = [6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75];

test('Wilcoxon exact: scipy docstring example', () => {
  const r = wilcoxon(d);
  assert.equal(r.statistic, 24);
  assert.equal(r.method, 'exact');
  close(r.pvalue, 0.041259765625, 1e-15);
  const g = wilcoxon(d, undefined, { alternative: 'greater' });
  assert.equal(g.statistic, 96);
  close(g.pvalue, 0.0206298828125, 1e-15);
  close(wilcoxon(d.map((v) => -v), undefined, { alternative: 'less' }).pvalue, 0.0206298828125, 1e-15);
  // all five differences positive: P(R+ = 15) = 1/32
  close(wilcoxon([3, 4, 5, 6, 7], [1, 1, 1, 1, 1], { alternative: 'greater' }).pvalue, 1 / 32, 1e-15);
});

test('Wilcoxon normal approximation: scipy docstring values', () => {
  close(wilcoxon(d, undefined, { method: 'asymptotic' }).pvalue, 0.04088813291185591, 1e-12);
  close(wilcoxon(d, undefined, { method: 'asymptotic', alternative: 'greater' }).pvalue, 0.020444066455927955, 1e-12);
});

test('Wilcoxon with a zero and ties: R sleep data', () => {
  // R: wilcox.test(extra ~ group, data = sleep, paired = TRUE, exact = FALSE) → V = 0, p-value = 0.009091
  // (normal approximation, tie-corrected variance, continuity correction; the zero is dropped)
  const a = wilcoxon(g1, g2, { method: 'asymptotic', correction: true });
  assert.equal(a.statistic, 0);
  close(a.pvalue, 0.009091, 5e-7);
  // scipy 'auto' with ties/zeros and n ≤ 13 enumerates all 2^n sign flips: 9 nonzero, all
  // negative → P(R+ ≤ 0) = 2/1024 per side, two-sided 4/1024.
  const p = wilcoxon(g1, g2);
  assert.equal(p.method, 'permutation');
  close(p.pvalue, 4 / 1024, 1e-15);
});

test("Wilcoxon method 'exact' with tied differences: scipy's tie-free null of ranks 1..n, R+ rounded", () => {
  // scipy 1.17.1: wilcoxon(d, method='exact', alternative=alt) uses the null distribution of
  // R+ for ranks 1..n even when |d| has ties (the tie-averaged ranks gave 0.4453125 here).
  const d1 = [1, 2, 2, 3, -4, 5, -6, 7]; // R+ = 24
  close(wilcoxon(d1, undefined, { method: 'exact' }).pvalue, 0.4609375, 1e-15);
  close(wilcoxon(d1, undefined, { method: 'exact', alternative: 'less' }).pvalue, 0.80859375, 1e-15);
  close(wilcoxon(d1, undefined, { method: 'exact', alternative: 'greater' }).pvalue, 0.23046875, 1e-15);
  const d2 = [1, -2, 2, 3, 5, -6, 7]; // R+ = 19.5: ceil for 'less', floor for 'greater'
  assert.equal(wilcoxon(d2, undefined, { method: 'exact' }).statistic, 8.5);
  close(wilcoxon(d2, undefined, { method: 'exact' }).pvalue, 0.46875, 1e-15);
  close(wilcoxon(d2, undefined, { method: 'exact', alternative: 'less' }).pvalue, 0.8515625, 1e-15);
  close(wilcoxon(d2, undefined, { method: 'exact', alternative: 'greater' }).pvalue, 0.234375, 1e-15);
});

test('a NaN difference makes both tests NaN (scipy nan_policy propagate), not a p-value of the other pairs', () => {
  // wilcoxon gave statistic 0, p 0.125 here: the NaN pair neither dropped as a zero nor ranked
  for (const [x, y] of [[[0.6, NaN, 0.5], [0.7, 0.8, 0.9]], [[0.6, Infinity, 0.5], [0.7, Infinity, 0.9]]]) {
    const w = wilcoxon(x!, y!, { alternative: 'less' });
    assert.ok(Number.isNaN(w.statistic) && Number.isNaN(w.pvalue), `wilcoxon ${JSON.stringify(w)}`);
    assert.ok(Number.isNaN(ttestRel(x!, y!, 'less').pvalue), 'ttestRel');
  }
  assert.ok(Number.isNaN(wilcoxon([1, NaN, -2]).pvalue), 'one sample');
});

test('wilcoxon of two identical samples: p 1 where scipy enumerates sign flips, NaN in the normal approximation', () => {
  // scipy's _wilcoxon.py (1.13 and later): zeros are dropped (R+ = R− = 0); 'auto' with zeros and
  // ≤ 13 pairs runs permutation_test, whose every flip gives 0 = the observed value, so p = 1;
  // 'exact' reads the null of 0 pairs (p = 1); 'asymptotic' (and 'auto' beyond 13 pairs) has
  // z = 0 / 0. This returned NaN for all of them.
  const same = [0.7, 0.65, 0.8, 0.72, 0.69];
  for (const alternative of ['two-sided', 'less', 'greater'] as const) {
    assert.equal(wilcoxon(same, same, { alternative }), { statistic: 0, pvalue: 1, method: 'permutation' }, alternative);
    assert.equal(wilcoxon(same, same, { alternative, method: 'exact' }), { statistic: 0, pvalue: 1, method: 'exact' });
  }
  const a = wilcoxon(same, same, { method: 'asymptotic' });
  assert.ok(a.statistic === 0 && Number.isNaN(a.pvalue), JSON.stringify(a));
  const long = Array.from({ length: 14 }, (_, i) => i / 10);
  assert.ok(Number.isNaN(wilcoxon(long, long).pvalue), '14 pairs: auto is asymptotic');
  assert.equal(wilcoxon(long.slice(0, 13), long.slice(0, 13)).pvalue, 1, '13 pairs: auto enumerates');
  assert.ok(Number.isNaN(wilcoxon([], []).pvalue), 'no pairs at all');
});

test('average ranks', () => {
  assert.equal(rankAverage([10, 20, 20, 5]), { ranks: [2, 3.5, 3.5, 1], ties: [1, 1, 2] });
});

test('stars as the paper: * p<.05, ** p<.01, *** p<.001', () => {
  assert.equal([0.2, 0.05, 0.049, 0.0099, 0.00099, NaN].map(stars), ['', '', '*', '**', '***', '']);
});

test('paper comparison set: directions and pairing across backbones', () => {
  const ms = (mean: number, std: number) => ({ mean, std, n: 5 });
  const rows: ExperimentSummary[] = [];
  const bbs = ['a', 'b', 'c', 'd', 'e', 'f'];
  bbs.forEach((backbone, i) => {
    for (const [experiment, dm, ds] of [['stl_afc', 0, 0.03], ['ft', 0.01 * (i % 2), 0.01], ['mdmt', 0.03 + 0.002 * i, 0.011]] as const) {
      const m = ms(0.6 + dm + 0.01 * i, ds);
      rows.push({ backbone, experiment, protocol: 'cv', metrics: { acc: m, f1: m, gmean: m } });
    }
  });
  const c = paperComparisons(rows, { protocols: ['cv'] });
  assert.equal(c.length, 2 * 2 * 3);
  const meanStl = c.find((x) => x.stat === 'mean' && x.baseline === 'stl_afc' && x.metric === 'acc')!;
  assert.equal(meanStl.n, 6);
  // same numbers as ttest_rel(stl, mdmt, alternative='less')
  const stl = bbs.map((_, i) => 0.6 + 0.01 * i), md = bbs.map((_, i) => 0.63 + 0.002 * i + 0.01 * i);
  close(meanStl.t.pvalue, ttestRel(stl, md, 'less').pvalue, 1e-15);
  assert.equal(meanStl.stars, '***');
  const stdStl = c.find((x) => x.stat === 'std' && x.baseline === 'stl_afc' && x.metric === 'f1')!;
  assert.ok(stdStl.t.statistic < 0 || Number.isNaN(stdStl.t.statistic));
  const stdFt = c.find((x) => x.stat === 'std' && x.baseline === 'ft' && x.metric === 'f1')!;
  assert.equal(stdFt.stars, ''); // MDMT's std is larger than FT's
  close(stdFt.target, 0.011, 1e-12);
});

test.run();
