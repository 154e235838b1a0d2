/**
 * A tiny covid-cxr-like data set written by the tests: `labels.csv` + 32 px PNGs, where most
 * films carry both a prognosis (τ1, `went_icu`) and a Brixia score (τ2), several patients have
 * two films, and three source hosts act as centres — `c.example` has τ1 films only, so its
 * jointly split LOCO fold has no τ2 test set. The data the cross-task leakage tests need.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { rng } from '../../ts/data/rng';

const HOSTS = ['a.example', 'b.example', 'c.example'];

/**
 * Writes the set into `dir` (made if missing) and returns it: n films of about n/1.5 patients.
 *
 * @example const dir = await linkedData(tmpDir('linked'), 60);  await readCovidCxr(dir)
 */
export async function linkedData(dir: string, n = 60, seed = 5): Promise<string> {
  fs.mkdirSync(path.join(dir, 'images'), { recursive: true });
  const r = rng(seed);
  const rows = ['file,patientid,source_url,went_icu,brixia_global_senior'];
  let patient = 0;
  for (let i = 0; i < n; i++) {
    // a new patient for two films of three; each patient stays at one host
    if (i % 3 !== 1) patient++;
    const host = HOSTS[patient % 3];
    const icu = r.next() < 0.9 ? (r.next() < 0.45 ? 'Y' : 'N') : '';
    const score = host !== 'c.example' && (r.next() < 0.8 || !icu) ? String(r.int(0, 18)) : '';
    const file = `images/p${patient}_${i}.png`;
    const px = Buffer.alloc(32 * 32);
    for (let j = 0; j < px.length; j++) px[j] = Math.floor(255 * r.next());
    await sharp(px, { raw: { width: 32, height: 32, channels: 1 } }).png().toFile(path.join(dir, file));
    rows.push(`${file},${patient},https://${host}/case/${patient},${icu},${score}`);
  }
  fs.writeFileSync(path.join(dir, 'labels.csv'), rows.join('\n') + '\n');
  return dir;
}
