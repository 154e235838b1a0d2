/**
 * `mdmt report RUNS_DIR`: reads every result.json under RUNS_DIR and writes the report
 * (Tables 1 and 2 as Markdown + CSV, per-backbone tables, SVG plots) with ts/report; prints
 * Tables 1 and 2.
 *
 *   mdmt report runs --out runs/report
 */
import * as path from 'path';
import { ensureDir } from '../dirs';
import { MdmtError } from '../errors';
import { writeReport } from '../report';
import { collectResults, walkRunsDir } from '../train/experiment';
import { holdsRunConfig, settingsSpread, storedConfig } from '../train/identity';
import type { TrainConfig } from '../train/config';
import { RUN_FILES } from '../train/train';

/**
 * Run directories under `runsDir` that began (a checkpoint, or a config.json train() wrote) but hold no
 * result.json, relative to it: the jobs an interrupted or failing sweep left out of the tables
 * (the directories collectResults walks).
 */
export function unfinishedRuns(runsDir: string): string[] {
  const out: string[] = [];
  const root = path.resolve(runsDir);
  walkRunsDir(root, (d, files) => {
    // a config.json of the user's own (an experiment's settings kept in the runs folder) is no run
    if (!files.has(RUN_FILES.result) && (files.has(RUN_FILES.checkpoint) || (files.has(RUN_FILES.config) && holdsRunConfig(d)))) out.push(path.relative(root, d) || '.');
  });
  return out.sort();
}

/**
 * The settings in which the finished runs under `runsDir` differ, from their config.json files
 * (settingsSpread lines; empty when they form one sweep): runs of two sweeps, or of `mdmt train`
 * with other flags, under one folder are averaged by the report as one sweep.
 */
export function mixedSettings(runsDir: string): string[] {
  const root = path.resolve(runsDir);
  const runs: { name: string; cfg: TrainConfig }[] = [];
  const unreadable: string[] = [];
  walkRunsDir(root, (d, files) => {
    if (!files.has(RUN_FILES.result) || !files.has(RUN_FILES.config)) return;
    const name = path.relative(root, d) || '.';
    try {
      runs.push({ name, cfg: storedConfig(d) });
    } catch {
      unreadable.push(name);
    }
  });
  const spread = settingsSpread(runs);
  return unreadable.length ? [...spread, `config.json unreadable, settings not compared (${unreadable.join(', ')})`] : spread;
}

/** Writes the report of a runs directory and returns its report.md text and files. */
export function reportRuns(runsDir: string, o: { out?: string; mu?: 'folds' | 'pooled'; ddof?: number; warmupEpochs?: number } = {}) {
  // '' is not "the default": path.resolve('') is the working directory, which received the whole report
  if (o.out !== undefined && !o.out.trim()) throw new MdmtError('ECONFIG', 'report', '--out is empty: name the report directory, or leave --out out for <runs_dir>/report');
  const results = collectResults(runsDir);
  if (!results.length) throw new MdmtError('EDATA', 'report', `no finished runs (result.json) under '${runsDir}'`);
  // a file in the way is a usage error naming --out, not a raw ENOTDIR from deep in the writer
  const out = ensureDir(path.resolve(o.out ?? path.join(runsDir, 'report')), 'report', '--out');
  const rep = writeReport(results, out, { mu: o.mu, ddof: o.ddof, warmupEpochs: o.warmupEpochs, unfinished: unfinishedRuns(runsDir), mixedSettings: mixedSettings(runsDir) });
  return { ...rep, results, out };
}

/** The Table 1 and Table 2 sections of report.md. */
export function tablesOf(markdown: string): string {
  const i = markdown.indexOf('## Table 1');
  const j = markdown.indexOf('## Per backbone');
  return markdown.slice(i < 0 ? 0 : i, j < 0 ? undefined : j).trim();
}
