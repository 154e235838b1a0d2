/**
 * The weight-file functions as plain JavaScript calls them: a file argument that is not a path
 * (a number is an open file descriptor to fs: exportOnnx overwrote that file) and metadata or
 * options of the wrong kind are MdmtErrors naming them, before anything is read or written.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exportOnnx } from '../../ts/io/onnx_export';
import { loadSafetensors, saveSafetensors } from '../../ts/io/safetensors';
import { loadWeightsFile, weightsBackbone } from '../../ts/io/weights';
import { Conv2d, Linear } from '../../ts/nn/layers';
import { Sequential } from '../../ts/nn/simple';
import { tensor } from '../../ts/tensor';
import { expectError } from '../helpers';

/** A value of the wrong type, as plain JavaScript passes it. */
const js = (v: unknown): never => v as never;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-paths-'));

test('exportOnnx refuses a file descriptor instead of writing the model into that open file', () => {
  const victim = path.join(dir, 'victim.txt');
  const fd = fs.openSync(victim, 'w+');
  fs.writeSync(fd, 'precious\n');
  const net = new Sequential(new Conv2d(3, 2, 3));
  try {
    expectError(() => exportOnnx(net, js(fd), { inputShape: [1, 3, 8, 8] }), 'EINVAL', 'exportOnnx', /file must be a path, got \d+/, 'fd');
  } finally {
    fs.closeSync(fd);
    net.dispose();
  }
  assert.is(fs.readFileSync(victim, 'utf8'), 'precious\n');
});

test('saveSafetensors: metadata null or a Map, and an unknown option, are named', () => {
  const l = new Linear(2, 2);
  const f = path.join(dir, 'l.safetensors');
  expectError(() => saveSafetensors(f, l.stateDict(), js(null)), 'EINVAL', 'saveSafetensors', /metadata must be an object of strings, got null/, 'null (was a TypeError)');
  expectError(() => saveSafetensors(f, l.stateDict(), js(new Map([['a', 'b']]))), 'EINVAL', 'saveSafetensors', /got a Map/, 'Map (its entries were dropped)');
  expectError(() => saveSafetensors(f, l.stateDict(), {}, js({ int64keys: () => true })), 'EINVAL', 'saveSafetensors', /unknown option 'int64keys'.*int64Keys/, 'misspelt option');
  expectError(() => saveSafetensors(f, l.stateDict(), {}, js({ int64Keys: true })), 'EINVAL', 'saveSafetensors', /'int64Keys' must be a function/, 'not a function');
  assert.not.ok(fs.existsSync(f));
  saveSafetensors(f, new Map([['n', tensor([3], [1], { dtype: 'int32' })]]), { a: 'b' }, { int64Keys: () => true });
  const r = loadSafetensors(f);
  assert.equal([...r.tensors.get('n')!.toArray()], [3]);
  assert.equal(r.metadata, { a: 'b' });
  for (const t of r.tensors.values()) t.dispose();
  l.dispose();
});

test('loadSafetensors, loadWeightsFile and weightsBackbone take a path, and loadWeightsFile a Module', () => {
  const l = new Linear(2, 2);
  expectError(() => loadSafetensors(js(0)), 'EINVAL', 'loadSafetensors', /file must be a path, got 0/, 'fd 0 (was read as stdin)');
  expectError(() => loadWeightsFile(l, js(5)), 'EINVAL', 'loadWeightsFile', /file must be the path of a \.safetensors or \.onnx file, got 5/, 'number (was a TypeError)');
  expectError(() => loadWeightsFile(l, js(undefined)), 'EINVAL', 'loadWeightsFile', /got undefined/, 'undefined');
  expectError(() => loadWeightsFile(js(null), path.join(dir, 'x.safetensors')), 'EINVAL', 'loadWeightsFile', /needs a Module to load into, got null/, 'null model');
  expectError(() => weightsBackbone(js(5)), 'EINVAL', 'loadWeightsFile', /got 5/, 'weightsBackbone(5)');
  l.dispose();
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test.run();
