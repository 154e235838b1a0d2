/**
 * Synthetic AIforCOVID-like and BRIXIA-like data sets written in exactly the real layouts
 * (paper.md §2, §3), the default data of the demo and the tests. Each image is a drawn chest
 * (body, two dark lungs, ribs, mediastinum) whose six lung zones A..F carry opacities whose
 * extent and density grow with their Brixia score 0..3; the BRIXIA label is the global sum's
 * bin and the AIforCOVID prognosis is SEVERE with probability sigmoid((global − 8) / 1.5),
 * so both tasks are learnable from the pixels and share what they need to see.
 *
 *   AIforCOVID/AIforCOVID{,_r2,_r3}.xlsx  imgs{,_r2,_r3}/<id>.dcm  processed/masks/<id>.tif  box_data_AXF123.xlsx
 *   BRIXIA/metadata_global_v2.csv  dicom_clean/<Filename>  masks/<id>.tiff
 *
 * Each root also holds a `.mdmt-synth` marker (the options that made it). synth writes only
 * into an empty (or new) folder; `overwrite` replaces the AIforCOVID/ and BRIXIA/ that carry
 * the marker and nothing else, so a real data set is never overwritten or deleted.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { ensureDir, makeDirs } from '../dirs';
import { checkOptions, fewOf, kindOf, MdmtError, show } from '../errors';
import { writeDicom } from './dicomwrite';
import { loadExcel } from './sheets';
import { lungBox } from './preprocess';
import { rng, Rng, seedOf } from './rng';

export interface SynthOptions {
  seed?: number;
  /** AIforCOVID images (default 150) */
  nAfc?: number;
  /** BRIXIA images (default 450) */
  nBx?: number;
  /** image width in pixels (height = 1.125 × width; default 128) */
  size?: number;
  /**
   * replace the AIforCOVID/ and BRIXIA/ an earlier synth wrote in `out` (their `.mdmt-synth`
   * marker says so) and leave the folder's other files alone; default false: `out` must be
   * empty or new
   */
  overwrite?: boolean;
}
export interface SynthResult { afcRoot: string; bxRoot: string; nAfc: number; nBx: number; files: number }

const MANUFACTURERS = ['SIEMENS', 'AGFA', 'CARESTREAM', 'VSM', 'KODAK', 'FUJIFILM', 'DIGITEC'];
const MAN_WEIGHTS = [0.3, 0.25, 0.15, 0.1, 0.1, 0.06, 0.04];

interface Drawn { pixels: Float32Array; mask: Uint8Array; W: number; H: number }

/** Zone scores A..F (A/B/C right lung top→bottom, D/E/F left) from one severity latent. */
function drawScores(r: Rng): number[] {
  const z = r.next() ** 1.2;
  return Array.from({ length: 6 }, () => Math.max(0, Math.min(3, Math.round(3.2 * z + 0.8 * r.normal() - 0.3))));
}

/** Renders one chest radiograph (values ~0..4095, bright = dense) and its lung mask. */
export function drawChest(r: Rng, W: number, H: number, scores: number[]): Drawn {
  const px = new Float32Array(W * H);
  const mask = new Uint8Array(W * H);
  const cx = W * (0.5 + 0.04 * r.normal());
  const top = H * (0.14 + 0.03 * r.next());
  const bot = H * (0.8 + 0.04 * r.next());
  const sep = W * (0.2 + 0.03 * r.next());
  const lw = W * (0.17 + 0.02 * r.next());
  const lungs = [cx - sep, cx + sep].map((x) => ({ x, y: (top + bot) / 2, rx: lw, ry: (bot - top) / 2 }));
  const tone = 0.85 + 0.3 * r.next();
  const ribPhase = r.next() * Math.PI * 2;
  const blobs: { x: number; y: number; s: number; a: number }[] = [];
  scores.forEach((s, zi) => {
    const L = lungs[zi < 3 ? 0 : 1];
    const band = zi % 3; // upper, middle, lower third
    const nb = s === 0 ? 0 : 2 * s + r.int(0, s);
    for (let b = 0; b < nb; b++) {
      blobs.push({
        x: L.x + L.rx * (r.next() * 1.6 - 0.8),
        y: L.y - L.ry + (2 * L.ry * (band + r.next())) / 3,
        s: W * (0.03 + 0.025 * s * r.next()),
        a: 260 + 110 * s,
      });
    }
  });
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const bx = (x - cx) / (W * 0.46);
      const by = (y - H * 0.55) / (H * 0.52);
      const body = bx * bx + by * by < 1;
      let v = body ? 1900 : 250;
      let inLung = false;
      for (const L of lungs) {
        const dx = (x - L.x) / L.rx;
        const dy = (y - L.y) / L.ry;
        if (dx * dx + dy * dy < 1) inLung = true;
      }
      if (inLung) {
        v = 750 + 180 * Math.max(0, Math.sin((y / H) * 38 + ribPhase)) ** 4; // ribs
        for (const b of blobs) {
          const d2 = ((x - b.x) ** 2 + (y - b.y) ** 2) / (b.s * b.s);
          if (d2 < 9) v += b.a * Math.exp(-0.5 * d2);
        }
        mask[y * W + x] = 255;
      } else if (body && Math.abs(x - cx) < W * 0.08) v = 2300; // mediastinum / spine
      px[y * W + x] = Math.max(0, Math.min(4095, v * tone + 40 * r.normal()));
    }
  }
  return { pixels: px, mask, W, H };
}

function encodeDcm(d: Drawn, r: Rng, id: string, manufacturer: string, mono1: boolean): Uint8Array {
  const stored = new Uint16Array(d.W * d.H);
  for (let i = 0; i < stored.length; i++) stored[i] = Math.round(mono1 ? 4095 - d.pixels[i] : d.pixels[i]);
  return writeDicom({
    width: d.W, height: d.H, pixels: stored, bitsStored: 12, photometric: mono1 ? 'MONOCHROME1' : 'MONOCHROME2',
    manufacturer, patientId: id, sopInstanceUid: `2.25.${seedOf(id) }${r.int(0, 1e6)}`,
    ...(r.next() < 0.3 ? { slope: 1, intercept: -1024 } : {}),
  });
}

async function writeMask(file: string, d: Drawn, scale = 1): Promise<void> {
  let img = sharp(Buffer.from(d.mask), { raw: { width: d.W, height: d.H, channels: 1 } });
  if (scale !== 1) img = img.resize(Math.round(d.W * scale), Math.round(d.H * scale), { kernel: 'nearest' });
  await img.tiff({ compression: 'lzw' }).toFile(file);
}

function regionprops(b: [number, number, number, number]): string {
  return `[${b[1]}, ${b[0]}, ${b[1] + b[3]}, ${b[0] + b[2]}]`;
}

async function writeXlsx(file: string, header: string[], rows: (string | number)[][]): Promise<void> {
  const wb = new (await loadExcel()).Workbook();
  const ws = wb.addWorksheet('Sheet1');
  ws.addRow(header);
  for (const r of rows) ws.addRow(r);
  await wb.xlsx.writeFile(file);
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** The file in each root that says synth wrote it. */
export const SYNTH_MARKER = '.mdmt-synth';

/**
 * Makes `out` ready for synth: refuses one that holds anything unless `overwrite`, and then
 * removes only the roots synth wrote (both checked before either is removed).
 */
function clearOut(out: string, roots: string[], overwrite: boolean): void {
  ensureDir(out, 'synth', 'out');
  const there = fs.readdirSync(out);
  if (!there.length) return;
  if (!overwrite)
    throw new MdmtError('ECONFIG', 'synth', `out '${out}' is not empty (it holds ${fewOf([...there].sort().map((n) => `'${n}'`), 5)}): synth writes only into an empty or new folder ` +
      `(--force / { overwrite: true } replaces the AIforCOVID/ and BRIXIA/ an earlier mdmt synth wrote there)`);
  const old = roots.filter((r) => fs.existsSync(r));
  for (const r of old)
    if (!fs.existsSync(path.join(r, SYNTH_MARKER)))
      throw new MdmtError('ECONFIG', 'synth', `'${r}' was not written by mdmt synth (it has no ${SYNTH_MARKER} marker) and may be real data: ` +
        'synth does not overwrite it even with --force; move it away or choose another out');
  for (const r of old) fs.rmSync(r, { recursive: true, force: true });
}

/**
 * Writes both synthetic data sets under `out` (an empty or new folder, unless `overwrite`) and
 * returns their roots.
 *
 *   const { afcRoot, bxRoot } = await synth('/tmp/mdmt-data', { seed: 0, nAfc: 60, nBx: 120, size: 64 });
 *   await synth('/tmp/mdmt-data', { size: 32, overwrite: true }); // replaces the data set above
 */
export async function synth(out: string, opts: SynthOptions = {}): Promise<SynthResult> {
  // a number was a raw TypeError from path.join, rejected after the call returned
  if (typeof out !== 'string' || !out.trim()) throw new MdmtError('ECONFIG', 'synth', `out must be the path of a folder, got ${typeof out === 'string' ? JSON.stringify(out) : kindOf(out)}`);
  // `nAFC: 3` wrote the default 150 images
  checkOptions('synth', opts, { seed: true, nAfc: true, nBx: true, size: true, overwrite: true }, 'options', 'ECONFIG');
  if (opts.overwrite !== undefined && typeof opts.overwrite !== 'boolean') throw new MdmtError('ECONFIG', 'synth', `overwrite ${show(opts.overwrite)} must be a boolean`);
  const seed = opts.seed ?? 0;
  const nAfc = opts.nAfc ?? 150;
  const nBx = opts.nBx ?? 450;
  const W = opts.size ?? 128;
  // bad options are usage errors (ECONFIG: the CLI exits 2), named as the flags name them
  if (!Number.isInteger(W) || W < 32 || W > 2048) throw new MdmtError('ECONFIG', 'synth', `size ${show(W)} must be an integer in 32..2048`);
  if (!Number.isInteger(nAfc) || nAfc < 0 || !Number.isInteger(nBx) || nBx < 0)
    throw new MdmtError('ECONFIG', 'synth', `n-afc ${show(nAfc)} and n-bx ${show(nBx)} must be non-negative integers`);
  // both 0 wrote two empty data sets and exited 0: nothing any command can train on
  if (nAfc === 0 && nBx === 0) throw new MdmtError('ECONFIG', 'synth', 'n-afc and n-bx are both 0: there would be no images to write; give at least one of them a count');
  if (!Number.isSafeInteger(seed) || seed < 0) throw new MdmtError('ECONFIG', 'synth', `seed ${show(seed)} must be a non-negative integer`);
  const H = Math.round(W * 1.125);
  const afcRoot = path.join(out, 'AIforCOVID');
  const bxRoot = path.join(out, 'BRIXIA');
  clearOut(out, [afcRoot, bxRoot], opts.overwrite ?? false);
  // the markers come first, so a run cut short still leaves roots that --force may replace
  const marker = `${JSON.stringify({ seed, nAfc, nBx, size: W })}\n`;
  for (const d of ['imgs', 'imgs_r2', 'imgs_r3', 'processed/masks']) makeDirs(path.join(afcRoot, d));
  for (const d of ['dicom_clean', 'masks']) makeDirs(path.join(bxRoot, d));
  for (const r of [afcRoot, bxRoot]) fs.writeFileSync(path.join(r, SYNTH_MARKER), marker);
  let files = 2;

  // AIforCOVID: releases 52 % / 18 % / 30 %, ids and centres as the real sets
  const r = rng(seedOf(seed, 'afc'));
  const n1 = Math.round(nAfc * 0.52);
  const n2 = Math.round(nAfc * 0.18);
  const sheets: Record<string, (string | number)[][]> = { 'AIforCOVID.xlsx': [], 'AIforCOVID_r2.xlsx': [], 'AIforCOVID_r3.xlsx': [] };
  const boxRows: (string | number)[][] = [];
  let c1 = 0, c21 = 0, c22 = 0, c3 = 0;
  for (let i = 0; i < nAfc; i++) {
    let id: string, dir: string, sheet: string, hosp: string;
    if (i < n1) {
      id = `P_${++c1}`; dir = 'imgs'; sheet = 'AIforCOVID.xlsx'; hosp = 'ABCDEF'[r.int(0, 5)];
    } else if (i < n1 + n2) {
      const p1 = r.next() < 0.55;
      id = p1 ? `P_1_${++c21}` : `P_2_${++c22}`; dir = 'imgs_r2'; sheet = 'AIforCOVID_r2.xlsx'; hosp = p1 ? 'F' : 'C';
    } else {
      id = `P_3_${++c3}`; dir = 'imgs_r3'; sheet = 'AIforCOVID_r3.xlsx'; hosp = 'F';
    }
    const ir = rng(seedOf(seed, 'afc-img', id));
    const scores = drawScores(ir);
    const g = scores.reduce((a, b) => a + b, 0);
    const severe = ir.next() < sigmoid((g - 8) / 1.5);
    const d = drawChest(ir, W, H, scores);
    fs.writeFileSync(path.join(afcRoot, dir, `${id}.dcm`), encodeDcm(d, ir, id, 'SYNTH AFC', ir.next() < 0.3));
    await writeMask(path.join(afcRoot, 'processed/masks', `${id}.tif`), d);
    files += 2;
    const age = 40 + Math.round(g * 2 + 10 * ir.normal());
    sheets[sheet].push([sheets[sheet].length + 1, id, hosp, age, ir.next() < 0.6 ? 'M' : 'F', severe ? 'SEVERE' : 'MILD', severe && ir.next() < 0.3 ? 1 : 0]);
    const box = lungBox({ width: W, height: H, data: Float32Array.from(d.mask) });
    if (box) boxRows.push([id, '', '', regionprops(box), severe ? 'SEVERE' : 'MILD', path.join(afcRoot, dir, `${id}.dcm`)]);
  }
  const afcHeader = ['Row_number', 'ImageFile', 'Hospital', 'Age', 'Sex', 'Prognosis', 'Death'];
  for (const [f, rows] of Object.entries(sheets)) await writeXlsx(path.join(afcRoot, f), afcHeader, rows);
  await writeXlsx(path.join(afcRoot, 'box_data_AXF123.xlsx'), ['img', 'dx', 'sx', 'all', 'label', 'img_path'], boxRows);
  files += 4;

  // BRIXIA: numeric file names, manufacturers as the real centres, BrixiaScore written as an int
  const rb = rng(seedOf(seed, 'bx'));
  const lines = ['Filename;StudyDate;StudyId;Subject;Sex;AgeAtStudyDateFiveYear;Modality;Manufacturer;PhotometricInterpretation;ConsensusTestset;BrixiaScore;BrixiaScoreGlobal'];
  for (let i = 0; i < nBx; i++) {
    const fname = `${1000000000000000 + Math.floor(rb.next() * 8e15) + i}.dcm`;
    const id = fname.slice(0, -4);
    const ir = rng(seedOf(seed, 'bx-img', id));
    let u = ir.next();
    let m = 0;
    while (m < MANUFACTURERS.length - 1 && u > MAN_WEIGHTS[m]) u -= MAN_WEIGHTS[m++];
    const scores = drawScores(ir);
    const g = scores.reduce((a, b) => a + b, 0);
    const d = drawChest(ir, W, H, scores);
    const mono1 = ir.next() < 0.35;
    fs.writeFileSync(path.join(bxRoot, 'dicom_clean', fname), encodeDcm(d, ir, id, MANUFACTURERS[m], mono1));
    await writeMask(path.join(bxRoot, 'masks', `${id}.tiff`), d, 0.5);
    files += 2;
    const date = `202003${String(4 + (i % 28)).padStart(2, '0')}`;
    lines.push([fname, date, 1000 + i, 5000 + i, ir.next() < 0.65 ? 'M' : 'F', 8 + ir.int(0, 10), ir.next() < 0.5 ? 'CR' : 'DX',
      MANUFACTURERS[m], mono1 ? 'MONOCHROME1' : 'MONOCHROME2', 0, String(parseInt(scores.join(''), 10)), g].join(';'));
  }
  fs.writeFileSync(path.join(bxRoot, 'metadata_global_v2.csv'), lines.join('\n') + '\n');
  files++;
  return { afcRoot, bxRoot, nAfc, nBx, files };
}
