import * as fs from 'fs';
import * as path from 'path';
import { Command } from 'commander';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { register } from '../../ts/cli/commands/synth';
import { readDicom } from '../../ts/data/dicom';
import { readImage } from '../../ts/data/image';
import { preprocess } from '../../ts/data/preprocess';
import { readAIforCOVID, readBrixia } from '../../ts/data/readers';
import { DataRecord } from '../../ts/data/records';
import { synth, SYNTH_MARKER } from '../../ts/data/synth';
import { MdmtError } from '../../ts/errors';
import { rejects, synthFixture, tmpDir } from './_fixture';

test('synth writes the real layouts: sheets, release folders, dicom_clean, masks; some MONOCHROME1', async () => {
  const { afcRoot, bxRoot } = await synthFixture();
  for (const f of ['AIforCOVID.xlsx', 'AIforCOVID_r2.xlsx', 'AIforCOVID_r3.xlsx', 'box_data_AXF123.xlsx', 'imgs', 'imgs_r2', 'imgs_r3', 'processed/masks'])
    assert.ok(fs.existsSync(path.join(afcRoot, f)), f);
  for (const f of ['metadata_global_v2.csv', 'dicom_clean', 'masks']) assert.ok(fs.existsSync(path.join(bxRoot, f)), f);
  const dcms = fs.readdirSync(path.join(bxRoot, 'dicom_clean')).slice(0, 40);
  const photometric = await Promise.all(dcms.map(async (f) => (await readDicom(path.join(bxRoot, 'dicom_clean', f))).info.photometric));
  assert.ok(photometric.includes('MONOCHROME1') && photometric.includes('MONOCHROME2'));
  const info = (await readDicom(path.join(bxRoot, 'dicom_clean', dcms[0]))).info;
  assert.is(info.transferSyntax, '1.2.840.10008.1.2.1');
  assert.is(info.bitsStored, 12);
});

test('synth is seeded: same seed → same pixels and labels, another seed → others', async () => {
  const o = { nAfc: 12, nBx: 12, size: 48 };
  const a = await synth(tmpDir('sa'), { seed: 1, ...o });
  const b = await synth(tmpDir('sb'), { seed: 1, ...o });
  const c = await synth(tmpDir('sc'), { seed: 2, ...o });
  const csv = (r: { bxRoot: string }) => fs.readFileSync(path.join(r.bxRoot, 'metadata_global_v2.csv'), 'utf8');
  assert.is(csv(a), csv(b));
  assert.is.not(csv(a), csv(c));
  const la = (await readAIforCOVID(a.afcRoot, { exclude: [] })).records.map((r) => `${r.id} ${r.labelName} ${r.center}`);
  const lb = (await readAIforCOVID(b.afcRoot, { exclude: [] })).records.map((r) => `${r.id} ${r.labelName} ${r.center}`);
  assert.equal(la, lb);
  const f = path.join('imgs', 'P_3.dcm');
  assert.equal(fs.readFileSync(path.join(a.afcRoot, f)), fs.readFileSync(path.join(b.afcRoot, f)));
});

test('synth refuses a folder that holds files; overwrite replaces only the AIforCOVID/ and BRIXIA/ it wrote', async () => {
  const out = tmpDir('sx');
  await synth(out, { nAfc: 8, nBx: 10, size: 48 });
  fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
  const csv = () => fs.readFileSync(path.join(out, 'BRIXIA', 'metadata_global_v2.csv'), 'utf8');
  const dcms = () => fs.readdirSync(path.join(out, 'BRIXIA', 'dicom_clean')).length;
  const first = csv();
  // a misspelt count wrote the default 150 + 450 images
  const typo = await rejects(() => synth(out, { nAFC: 3, size: 32 } as never));
  assert.is(typo.code, 'ECONFIG');
  assert.match(typo.message, "synth: unknown option 'nAFC' (it would be ignored); did you mean nAfc?");
  assert.match((await rejects(() => synth(out, { overwrite: 'yes' } as never))).message, 'synth: overwrite "yes" must be a boolean');
  assert.is(csv(), first, 'refused options touch nothing');
  const e = await rejects(() => synth(out, { nAfc: 5, nBx: 5, size: 32 }));
  assert.instance(e, MdmtError);
  assert.is(e.code, 'ECONFIG');
  assert.match(e.message, `out '${out}' is not empty (it holds 'AIforCOVID', 'BRIXIA', 'notes.txt')`);
  assert.is(csv(), first, 'the first data set is untouched');
  assert.is(dcms(), 10);
  // overwrite: a whole new data set, nothing of the first left, other files kept
  const r = await synth(out, { nAfc: 5, nBx: 5, size: 32, overwrite: true });
  assert.is(r.files, 2 * 5 + 4 + 2 * 5 + 1 + 2);
  assert.is(dcms(), 5);
  assert.is((await readBrixia(r.bxRoot)).records.length, 5);
  assert.is((await readAIforCOVID(r.afcRoot, { exclude: [] })).records.length, 5);
  assert.equal(fs.readdirSync(path.join(r.afcRoot, 'imgs')).sort(), ['P_1.dcm', 'P_2.dcm', 'P_3.dcm']);
  assert.is(fs.readFileSync(path.join(out, 'notes.txt'), 'utf8'), 'mine');
  // roots synth did not write (a real data set: no marker) are refused even with overwrite
  const real = tmpDir('sreal');
  fs.mkdirSync(path.join(real, 'AIforCOVID'));
  fs.writeFileSync(path.join(real, 'AIforCOVID', 'AIforCOVID.xlsx'), 'clinical');
  fs.mkdirSync(path.join(real, 'BRIXIA'));
  fs.writeFileSync(path.join(real, 'BRIXIA', SYNTH_MARKER), '{}\n');
  const e2 = await rejects(() => synth(real, { nAfc: 1, nBx: 1, size: 32, overwrite: true }));
  assert.is(e2.code, 'ECONFIG');
  assert.match(e2.message, `'${path.join(real, 'AIforCOVID')}' was not written by mdmt synth`);
  assert.is(fs.readFileSync(path.join(real, 'AIforCOVID', 'AIforCOVID.xlsx'), 'utf8'), 'clinical');
  assert.ok(fs.existsSync(path.join(real, 'BRIXIA', SYNTH_MARKER)), 'neither root is removed when one is refused');
});

/** mean preprocessed intensity over the crop: the opacity extent the labels follow */
async function opacity(r: DataRecord): Promise<number> {
  const p = preprocess(await readImage(r.image), { mask: await readImage(r.mask!) }, { size: 32 });
  return p.image.data.reduce((a, v) => a + v, 0) / p.image.data.length;
}
function pearson(x: number[], y: number[]): number {
  const mx = x.reduce((a, b) => a + b) / x.length, my = y.reduce((a, b) => a + b) / y.length;
  let sxy = 0, sxx = 0, syy = 0;
  x.forEach((_, i) => ((sxy += (x[i] - mx) * (y[i] - my)), (sxx += (x[i] - mx) ** 2), (syy += (y[i] - my) ** 2)));
  return sxy / Math.sqrt(sxx * syy);
}

test('labels are learnable from the pixels: opacity follows the Brixia score and the prognosis', async () => {
  const { afcRoot, bxRoot } = await synthFixture();
  const bx = (await readBrixia(bxRoot)).records;
  const ob = await Promise.all(bx.map(opacity));
  const rho = pearson(ob, bx.map((r) => r.global!));
  if (process.env.MDMT_DEBUG) console.log(`rho ${rho}`);
  assert.ok(rho > 0.6, `corr(opacity, global score) = ${rho.toFixed(2)}`);
  assert.ok(new Set(bx.map((r) => r.label)).size === 4, 'all four bins occur');
  const afc = (await readAIforCOVID(afcRoot)).records;
  const oa = await Promise.all(afc.map(opacity));
  const mean = (l: number) => {
    const v = oa.filter((_, i) => afc[i].label === l);
    return v.reduce((a, b) => a + b, 0) / v.length;
  };
  assert.ok(mean(1) > mean(0), `SEVERE ${mean(1).toFixed(3)} brighter than MILD ${mean(0).toFixed(3)}`);
  const frac = afc.filter((r) => r.label === 1).length / afc.length;
  assert.ok(frac > 0.2 && frac < 0.8, `SEVERE fraction ${frac}`);
});

test('mdmt synth subcommand writes a data set and rejects bad options', async () => {
  const out = tmpDir('cli');
  const p = new Command('mdmt').exitOverride();
  register(p);
  const logs: string[] = [];
  const log = console.log;
  console.log = (m: string) => logs.push(m);
  try {
    await p.parseAsync(['synth', '--out', out, '--n-afc', '6', '--n-bx', '5', '--size', '40', '--seed', '3'], { from: 'user' });
  } finally {
    console.log = log;
  }
  assert.ok(logs.some((l) => /BRIXIA:\s+5 images/.test(l)));
  assert.is((await readBrixia(path.join(out, 'BRIXIA'))).records.length, 5);
  assert.is((await readAIforCOVID(path.join(out, 'AIforCOVID'), { exclude: [] })).records.length, 6);
  const q = new Command('mdmt').exitOverride();
  register(q);
  let err: Error | undefined;
  try {
    await q.parseAsync(['synth', '--out', out, '--size', 'big'], { from: 'user' });
  } catch (e) {
    err = e as Error;
  }
  // a usage error (commander's, so the CLI exits 2) naming the flag and the value
  assert.match(String(err?.message), /option '--size <px>' argument 'big' is invalid\. expected an integer ≥ 32/);
  assert.is((err as { code?: string }).code, 'commander.invalidArgument');
});

test.run();
