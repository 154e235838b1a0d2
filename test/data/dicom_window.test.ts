/**
 * DICOM display windows and LUT sequences: mdmt preprocesses with the paper's 2nd–98th
 * percentile clip and applies none of them, so `mdmt inspect` names what a file carries
 * (WindowCenter / WindowWidth, a Modality or VOI LUT Sequence) and says it is not applied.
 */
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inspectFile } from '../../ts/cli/inspect';
import { readDicom } from '../../ts/data/dicom';
import { writeDicom, type DicomWriteSpec, type WriteSyntax } from '../../ts/data/dicomwrite';
import { sharedData, tmpDir } from './_fixture';

const W = 24, H = 20;
const pixels = Uint16Array.from({ length: W * H }, (_, i) => (i * 37) % 4096);
/** one sequence item holding LUTExplanation 'TEST' (explicit VR little endian) */
const item = Uint8Array.from([0xfe, 0xff, 0x00, 0xe0, 12, 0, 0, 0, 0x28, 0x00, 0x03, 0x30, 0x4c, 0x4f, 4, 0, 0x54, 0x45, 0x53, 0x54]);
/** the same item in implicit VR (a 4-byte length where the VR was) */
const implicitItem = Uint8Array.from([0xfe, 0xff, 0x00, 0xe0, 12, 0, 0, 0, 0x28, 0x00, 0x03, 0x30, 4, 0, 0, 0, 0x54, 0x45, 0x53, 0x54]);
const DISPLAY: DicomWriteSpec['extra'] = [
  { group: 0x0028, elem: 0x1050, vr: 'DS', value: '40\\-600' },
  { group: 0x0028, elem: 0x1051, vr: 'DS', value: '400\\1500' },
  { group: 0x0028, elem: 0x1055, vr: 'LO', value: 'MEDIASTINUM\\LUNG' },
  { group: 0x0028, elem: 0x3000, vr: 'SQ', value: item },
  { group: 0x0028, elem: 0x3010, vr: 'SQ', value: item },
];

function write(dir: string, name: string, extra: DicomWriteSpec['extra'], syntax: WriteSyntax = 'explicit'): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, writeDicom({ width: W, height: H, pixels, bitsStored: 12, extra, syntax }));
  return f;
}

test('decodeDicom reports WindowCenter/Width and the LUT sequences, and applies none of them', async () => {
  const dir = tmpDir('win');
  const plain = await readDicom(write(dir, 'plain.dcm', []));
  const shown = await readDicom(write(dir, 'shown.dcm', DISPLAY));
  assert.equal(shown.info.window, { center: '40\\-600', width: '400\\1500', explanation: 'MEDIASTINUM\\LUNG' });
  assert.ok(shown.info.modalityLut && shown.info.voiLut);
  assert.equal([plain.info.window, plain.info.modalityLut, plain.info.voiLut], [undefined, undefined, undefined]);
  assert.equal(shown.data, plain.data, 'the pixels are the same: no window or LUT applied');
});

test('mdmt inspect prints the windows and LUT sequences and says they are not applied; a file without them prints neither', async () => {
  const dir = tmpDir('win-inspect');
  const lines = await inspectFile(write(dir, 'shown.dcm', DISPLAY));
  assert.ok(lines.includes("window:      center 40, width 400 (MEDIASTINUM); center -600, width 1500 (LUNG) (not applied: mdmt clips to the 2nd–98th percentile, as the paper's pipeline)"), lines.join('\n'));
  assert.ok(lines.includes("LUT:         Modality LUT Sequence, VOI LUT Sequence present (not applied: mdmt clips to the 2nd–98th percentile, as the paper's pipeline; RescaleSlope/Intercept are applied)"), lines.join('\n'));
  // one window, implicit VR: the same lines, the VOI LUT alone
  const one = await inspectFile(write(dir, 'one.dcm', [
    { group: 0x0028, elem: 0x1050, vr: 'DS', value: '40' }, { group: 0x0028, elem: 0x1051, vr: 'DS', value: '400' },
    { group: 0x0028, elem: 0x3010, vr: 'SQ', value: implicitItem },
  ], 'implicit'));
  assert.ok(one.includes("window:      center 40, width 400 (not applied: mdmt clips to the 2nd–98th percentile, as the paper's pipeline)"), one.join('\n'));
  assert.ok(one.some((l) => l.startsWith('LUT:         VOI LUT Sequence present (not applied')), one.join('\n'));
  const plain = await inspectFile(write(dir, 'plain.dcm', []));
  assert.not.ok(plain.some((l) => /^(window|LUT):/.test(l)), plain.join('\n'));
});

test('a real CR film: its WindowCenter/Width are shown by inspect', async () => {
  const dir = sharedData('dicom-samples', 'dicom window samples');
  if (!dir) return;
  const lines = await inspectFile(path.join(dir, 'CR-MONO1-10-chest.dcm'));
  assert.ok(lines.some((l) => l.startsWith('window:      center 550, width 1024 (not applied')), lines.join('\n'));
});

test.run();
