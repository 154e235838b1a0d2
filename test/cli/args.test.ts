// Numeric flags read decimal notation only ('--lr 0x10' was 16), and range messages of
// unbounded settings read "≥ 0", not "in [0, 9007199254740991]".
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { numArg, withFlags } from '../../ts/cli/options';
import { MdmtError } from '../../ts/errors';
import { resolveTrainConfig } from '../../ts/train/config';

test('numArg: decimal and exponent notation, not hex, binary, Infinity or blanks', () => {
  const n = numArg();
  assert.equal(['1e-3', '0.5', '.5', '5.', '-2', '+3', '1E2', ' 7 '].map(n), [1e-3, 0.5, 0.5, 5, -2, 3, 100, 7]);
  for (const v of ['0x10', '0b1', '0o7', 'Infinity', '', ' ', '1e', 'e3', '1,5', 'NaN']) assert.throws(() => n(v), /expected a number/, v);
  assert.throws(() => numArg(0)('-1'), /expected a number ≥ 0/);
});

test('unbounded ranges read as a bound, not as MAX_SAFE_INTEGER or Infinity', () => {
  const base = { backbone: 'shufflenet_v2_x0_5', experiment: 'stl_afc' as const, outDir: '/tmp/x', data: { afc: '/d' } };
  const msg = (o: object) => { try { resolveTrainConfig({ ...base, ...o }); } catch (e) { return (e as MdmtError).message; } return ''; };
  assert.match(msg({ fold: -1 }), /config\.fold must be an integer ≥ 0, got -1$/);
  assert.match(msg({ schedule: { minLr: -1 } }), /config\.schedule\.minLr must be a number ≥ 0, got -1$/);
  assert.match(msg({ imageSize: 8 }), /config\.imageSize must be an integer in \[16, 2048\], got 8$/);
});

test('CLI errors name the flag beside the train() setting (config.schedule.maxEpochs is --epochs)', () => {
  assert.is(withFlags('train: config.schedule.maxEpochs must be an integer ≥ 1, got 0'), 'train: config.schedule.maxEpochs (--epochs) must be an integer ≥ 1, got 0');
  assert.is(withFlags("train: config.init.stlAfc is required by experiment 'mdmt'"), "train: config.init.stlAfc (--init-stl-afc) is required by experiment 'mdmt'");
  assert.is(withFlags('train: config.data.afcReleases must be a list; config.beta is 2'), 'train: config.data.afcReleases (--afc-releases) must be a list; config.beta is 2', 'a setting without a flag is left as it is');
  assert.is(withFlags('report: no config here.'), 'report: no config here.');
});

test.run();
