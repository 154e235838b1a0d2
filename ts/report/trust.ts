/**
 * The report's sections on trust: calibration (table + a reliability diagram per run),
 * 95 % bootstrap intervals (mean over folds, then per run) and per-centre tables. Each
 * section is left out when no run stored what it needs (runs trained before these were
 * recorded).
 *
 *   const md = trustSections(results, write, { bootstrap: { resamples: 1000, seed: 0 } });
 */
import type { BootstrapOptions } from '../train/bootstrap';
import { runFileNamer, runLink } from './plots';
import { calibrationTables, reliabilitySvg } from './reliability';
import { PROTOCOL_LABEL, type RunResult } from './types';
import { uncertaintyTables } from './uncertainty';

/**
 * Writes calibration.{md,csv}, plots/reliability/*.svg, intervals.{md,csv}, per_centre.csv and
 * per_centre_{cv,loco}.md through `write(relativePath, text)`; returns the Markdown sections.
 *
 * @example const sections = trustSections(results, (rel, text) => fs.writeFileSync(path.join(out, rel), text));
 */
export function trustSections(results: readonly RunResult[], write: (rel: string, text: string) => void, o: { bootstrap?: BootstrapOptions } = {}): string {
  const parts: string[] = [];
  const cal = calibrationTables(results);
  if (cal) {
    write('calibration.md', cal.markdown + '\n');
    write('calibration.csv', cal.csv);
    const links: string[] = [];
    const name = runFileNamer();
    for (const r of results) {
      const svg = reliabilitySvg(r);
      if (!svg) continue;
      const rel = `plots/reliability/${name(r)}.svg`;
      write(rel, svg);
      // with the backbone: 'mdmt cv 0' was the link of every backbone's MDMT fold 0
      links.push(runLink(r, rel));
    }
    parts.push('## Calibration (test set; temperature T fitted on validation)', '',
      'Temperature scaling divides the logits by T before the softmax: the classes, hence ACC, F1 and G-mean, do not change. ' +
      'A fitted T is applied only when it beats T = 1 on held-out folds of the validation split (else § and T = 1). ' +
      'ECE: expected calibration error over 15 bins of the top-label confidence; Brier: mean Σ_c (p_c − y_c)²; NLL: mean negative log-likelihood.', '',
      cal.markdown, '', `Reliability diagrams: ${links.join(' · ')}`, '');
  }
  const u = uncertaintyTables(results, o.bootstrap);
  if (u) {
    const B = o.bootstrap?.resamples ?? 1000;
    write('intervals.md', `${u.folds}\n\n${u.runs}\n`);
    write('intervals.csv', u.intervalsCsv);
    write('per_centre.csv', u.centresCsv);
    parts.push('## Uncertainty (95 % percentile-bootstrap intervals, test sets)', '',
      `Estimate [2.5th, 97.5th percentile] of ${B} seeded resamples of the test set(s), in %. ` +
      'Mean of folds: each resample redraws every fold\'s test set and averages the fold metrics (the paper\'s μ).', '',
      u.folds, '', '### Per run', '', u.runs, '');
    for (const [p, md] of Object.entries(u.centres)) {
      write(`per_centre_${p}.md`, md + '\n');
      parts.push(`## Per centre — ${PROTOCOL_LABEL[p as 'cv']} (τ1 test sets pooled over folds; the weakest centre in bold)`, '', md, '');
    }
  }
  return parts.join('\n');
}
