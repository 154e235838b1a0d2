/**
 * The public API as plain JavaScript calls it, with no type checker: arguments of the wrong
 * kind are MdmtErrors naming them (not raw TypeErrors or silently kept values), and
 * manualSeed() makes dropout masks reproducible as it does weights.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backward } from '../../ts/autograd/tape';
import { show } from '../../ts/errors';
import { BatchNorm2d, Conv2d, Linear } from '../../ts/nn/layers';
import { Adam, AdamW, SGD } from '../../ts/optim';
import { AvgPool2d, Dropout, Flatten, MaxPool2d, ReLU, Sequential } from '../../ts/nn/simple';
import { getModel } from '../../ts/models/zoo';
import { batchnorm2d } from '../../ts/ops/batchnorm';
import { dropout } from '../../ts/ops/dropout';
import { affine, mul } from '../../ts/ops/elementwise';
import { cast, fill_ } from '../../ts/ops/memory';
import { flatten, reshape } from '../../ts/ops/reshape';
import { pad2d } from '../../ts/ops/layout';
import { relu } from '../../ts/ops/activations';
import { sum } from '../../ts/ops/reduce';
import { compileStep } from '../../ts/plan/step';
import { manualSeed } from '../../ts/random';
import { full, keep, ones, tensor, tidy, zeros } from '../../ts/tensor';
import { DEVICE, expectError } from '../helpers';

/** A value of the wrong type, as plain JavaScript passes it. */
const js = (v: unknown): never => v as never;

test("backward(loss, gradTensor) says how to pass the gradient (was: unknown option 'id')", () => {
  const w = tensor([1, 2], [2]);
  w.requiresGrad = true;
  tidy(() => expectError(() => backward(mul(w, w), js(ones([2]))), 'EINVAL', 'backward', /\{ grad: t \}/, 'tensor as options'));
  tidy(() => backward(sum(mul(w, w)), { grad: ones([]) }));
  assert.equal([...w.grad!.toArray()], [2, 4]);
  w.grad!.dispose();
  w.dispose();
});

test('registerParameter / registerBuffer / registerModule refuse a name or value of the wrong kind', () => {
  const s = new Sequential();
  expectError(() => s.registerParameter(js(5), ones([1])), 'EINVAL', 'registerParameter', /name must be a non-empty string, got 5/, 'numeric name (was a TypeError)');
  expectError(() => s.registerParameter('w', js([1, 2])), 'EINVAL', 'registerParameter', /'w' must be a Tensor or null, got an array/, 'array kept as a parameter');
  expectError(() => s.registerBuffer('b', js(3)), 'EINVAL', 'registerBuffer', /'b' must be a Tensor, got 3/, 'number kept as a buffer');
  expectError(() => s.registerModule(js(undefined), new Sequential()), 'EINVAL', 'registerModule', /name must be a non-empty string/, 'undefined name');
  assert.is(s.parameters().length, 0);
  assert.is(s.stateDict().size, 0);
  s.registerParameter('none', null);
  assert.is(s.parameters().length, 0);
});

test("Module.train() takes a boolean: train('false') left the module training", () => {
  const l = new Linear(2, 2);
  expectError(() => l.train(js('false')), 'EINVAL', 'train', /mode must be a boolean, got "false"/, "train('false')");
  expectError(() => l.train(js(0)), 'EINVAL', 'train', /got 0/, 'train(0)');
  assert.is(l.training, true);
  assert.is(l.eval().training, false);
  assert.is(l.train().training, true);
  l.dispose();
});

test('axes, a cast dtype and pooling parameters of the wrong kind are named by their op, when given', () => {
  const t = ones([2, 3]);
  expectError(() => sum(t, js('01')), 'EINVAL', 'sum', /axes must be an integer or an array of integers, got "01"/, "a string (read as axes 0 and 1)");
  expectError(() => sum(t, 1.5), 'EINVAL', 'sum', /axis 1\.5 is not an integer/, 'a fraction');
  expectError(() => sum(t, [0, js('1')]), 'EINVAL', 'sum', /axis "1" is not an integer/, 'a string in the list');
  expectError(() => sum(t, 2), 'EINVAL', 'sum', /axis 2 out of range for 2 dims/, 'out of range');
  expectError(() => cast(t, js('float64')), 'EDTYPE', 'cast', /dtype must be one of float32, int32, uint8, bfloat16, float16, got "float64"/, 'float64 (was op alloc)');
  expectError(() => new MaxPool2d(0), 'EINVAL', 'MaxPool2d', /'kernel' must be/, 'kernel 0 (was found at the first forward)');
  expectError(() => new AvgPool2d(3, { padding: 2 }), 'EINVAL', 'AvgPool2d', /'padding' \[2,2\] must be at most half of 'kernel' \[3,3\]/, 'padding over half the kernel');
  assert.equal(new MaxPool2d(3, { stride: 2, padding: 1 }).forward(ones([1, 1, 8, 8])).shape, [1, 1, 4, 4]);
  t.dispose();
});

test("Dropout, Flatten and Sequential.at refuse arguments of the wrong kind when called, not at forward (Dropout('0.5') failed there, Flatten('1') ran)", () => {
  expectError(() => new Dropout(js('0.5')), 'EINVAL', 'Dropout', /'p' must be a number in \[0, 1\), got "0\.5"/, "Dropout('0.5') (failed only at forward)");
  expectError(() => new Dropout(1), 'EINVAL', 'Dropout', /got 1$/, 'p = 1');
  expectError(() => new Dropout(NaN), 'EINVAL', 'Dropout', /got NaN/, 'p = NaN');
  assert.is(new Dropout().p, 0.5);
  expectError(() => new Flatten(js('1')), 'EINVAL', 'Flatten', /'startDim' must be a non-negative integer, got "1"/, "Flatten('1') (ran)");
  expectError(() => new Flatten(1.5), 'EINVAL', 'Flatten', /got 1\.5/, 'Flatten(1.5) (ran as 1)');
  expectError(() => new Flatten(-1), 'EINVAL', 'Flatten', /got -1/, 'Flatten(-1) (failed at forward)');
  const t = ones([2, 3, 4]);
  expectError(() => flatten(t, js('1')), 'EINVAL', 'flatten', /startDim "1" is not an integer/, "flatten(x, '1')");
  expectError(() => flatten(t, 1.5), 'EINVAL', 'flatten', /startDim 1\.5 is not an integer/, 'flatten(x, 1.5) (ran as 1)');
  assert.equal(new Flatten().forward(t).shape, [2, 12]);
  assert.equal(new Flatten(2).forward(t).shape, [2, 3, 4]);
  t.dispose();
  const s = new Sequential(new ReLU(), new Flatten());
  expectError(() => s.at(5), 'EINVAL', 'Sequential.at', /index 5 out of range for a Sequential of 2 modules/, 'at(5) (a TypeError)');
  expectError(() => s.at(-3), 'EINVAL', 'Sequential.at', /index -3 out of range/, 'at(-3)');
  expectError(() => s.at(js('0')), 'EINVAL', 'Sequential.at', /index must be an integer, got "0"/, "at('0')");
  assert.instance(s.at(1), Flatten);
  assert.instance(s.at(-1), Flatten, 'at(-1) counts from the end, as Array.at and PyTorch do');
  expectError(() => s.append(js(3)), 'EINVAL', 'registerModule', /must be a Module, got 3/, 'append(3)');
});

test('manualSeed(s) restarts the dropout stream: the same masks after each call', () => {
  const x = ones([64]);
  const masks = () => tidy(() => [...dropout(x, 0.5, true).toArray(), ...dropout(x, 0.5, true).toArray()].join());
  manualSeed(3);
  const a = masks();
  manualSeed(3);
  assert.is(masks(), a, 'a second manualSeed(3) gave other dropout masks');
  manualSeed(4);
  assert.is.not(masks(), a);
  x.dispose();
});

test("reshape's shape of the wrong kind is named (a number was a raw TypeError, '6' read as \"invalid shape [6]\")", () => {
  const x = ones([2, 3]);
  expectError(() => reshape(x, js(6)), 'EINVAL', 'reshape', /'shape' must be an array of integers \(one may be -1\), got 6/, 'a number');
  expectError(() => reshape(x, js('6')), 'EINVAL', 'reshape', /got "6"/, 'a string');
  expectError(() => reshape(x, [-1, -1]), 'ESHAPE', 'reshape', /invalid shape \[-1,-1\]: integers >= 0, and at most one -1/, 'two -1');
  assert.equal(reshape(x, [6]).shape, [6]);
  x.dispose();
});

test('a module used twice (tied weights) lists its parameters once: Adam refused them as appearing twice', () => {
  const l = new Linear(2, 2);
  const s = new Sequential(l, new ReLU(), l);
  assert.equal(s.namedParameters().map(([k]) => k), ['0.weight', '0.bias'], 'each parameter once, under its first name');
  assert.is(s.numParams(), 6);
  assert.equal([...s.stateDict().keys()], ['0.weight', '0.bias', '2.weight', '2.bias'], 'state_dict keeps every key, as PyTorch');
  const opt = new Adam(s.parameters(), { lr: 0.1 });
  tidy(() => backward(sum(s.forward(ones([3, 2])))));
  opt.step();
  opt.dispose();
  s.dispose();
});

test('a name taken by another kind of member, or twice in a Sequential, is refused instead of replacing one silently', () => {
  const s = new Sequential();
  s.registerParameter('w', ones([1]));
  expectError(() => s.registerBuffer('w', ones([2])), 'EINVAL', 'registerBuffer', /'w' is already a parameter of this Sequential/, 'buffer over a parameter (stateDict kept one)');
  expectError(() => s.registerModule('w', new ReLU()), 'EINVAL', 'registerModule', /'w' is already a parameter/, "submodule 'w' beside parameter 'w'");
  s.registerBuffer('b', ones([1]));
  expectError(() => s.registerParameter('b', ones([1])), 'EINVAL', 'registerParameter', /'b' is already a buffer/, 'parameter over a buffer');
  s.registerParameter('w', ones([3]));
  assert.equal(s.param('w').shape, [3], 'a parameter registered again replaces the old one, as in PyTorch');
  expectError(() => new Sequential(['a', new ReLU()], ['a', new Flatten()]), 'EINVAL', 'Sequential', /a child is already named 'a'/, 'a repeated name (length 1)');
  const q = new Sequential(['1', new ReLU()]);
  expectError(() => q.append(new Flatten()), 'EINVAL', 'Sequential.append', /a child is already named '1'/, "append's default name taken (replaced ReLU)");
  q.append(new Flatten(), 'f');
  assert.is(q.length, 2);
  s.dispose();
});

test("optimisers refuse a tensor computed by an op (it never gets .grad: nothing stepped); AdamW refuses 'decoupled'", () => {
  const w = tensor([1, 2], [2]);
  w.requiresGrad = true;
  tidy(() => {
    const y = affine(w, 2);
    expectError(() => new Adam([y]), 'EINVAL', 'Adam', /params\[0\] \[2\] is the result of 'affine', not a leaf tensor/, 'Adam over a non-leaf');
    expectError(() => new SGD([w, y]), 'EINVAL', 'SGD', /params\[1\] \[2\] is the result of 'affine'/, 'SGD over a non-leaf');
  });
  expectError(() => new AdamW([w], js({ decoupled: false })), 'EINVAL', 'AdamW', /'decoupled' is not an option of AdamW/, 'decoupled: false (ignored)');
  assert.is(new AdamW([w]).decoupled, true);
  const bn = new BatchNorm2d(2);
  assert.is(new Adam(bn.parameters()).params.length, 2);
  bn.dispose();
  w.dispose();
});

test("backward() after the caller disposed a leaf's .grad starts it afresh (was: add: input 'a' has been disposed)", () => {
  const w = tensor([1, 2, 3], [3]);
  w.requiresGrad = true;
  tidy(() => backward(sum(mul(w, w))));
  w.grad!.dispose();
  tidy(() => backward(sum(mul(w, w))));
  assert.equal([...w.grad!.toArray()], [2, 4, 6]);
  tidy(() => backward(sum(mul(w, w))));
  assert.equal([...w.grad!.toArray()], [4, 8, 12], 'a live .grad still accumulates');
  w.grad!.dispose();
  backward(w, { grad: tensor([1, 1, 1], [3]) });
  assert.equal([...w.grad!.toArray()], [1, 1, 1], 'a leaf root too');
  w.grad!.dispose();
  w.dispose();
});

test('fill_ and pad2d take ±Infinity as full() does, and NaN is named by the call (full(NaN) was op fill\'s); open ranges say "finite"', () => {
  tidy(() => {
    assert.equal([...fill_(zeros([2]), -Infinity).toArray()], [-Infinity, -Infinity], 'fill_ refused what full() took');
    assert.equal([...pad2d(ones([1, 1, 1, 1]), [1, 0, 0, 0], -Infinity).toArray()], [-Infinity, 1], 'F.pad(value=-inf)');
    expectError(() => full([2], NaN), 'EINVAL', 'full', /value NaN is not a number or ±Infinity/, 'full(NaN) (was a native error of op fill)');
    expectError(() => fill_(zeros([2]), NaN), 'EINVAL', 'fill', /value NaN is not a number or ±Infinity/, 'fill_(NaN)');
    expectError(() => pad2d(ones([1, 1, 1, 1]), [1, 0, 0, 0], NaN), 'EINVAL', 'pad2d', /'value' must be a number \(±Infinity included\), got NaN/, 'pad2d NaN');
    expectError(() => fill_(zeros([2], { dtype: 'int32' }), Infinity), 'EINVAL', 'fill', /int32 can hold/, 'an int32 fill of Infinity');
    expectError(() => affine(ones([1]), Infinity), 'EINVAL', 'affine', /'alpha' must be a finite number, got Infinity$/, 'was "a number in [-Infinity, Infinity]"');
    expectError(() => new BatchNorm2d(2, { eps: -1 }), 'EINVAL', 'BatchNorm2d', /'eps' must be a finite number >= 0, got -1$/, 'eps');
  });
});

test("Module.to() keeps the tensors already on the device, however it is spelt ('cuda' for 'cuda:0' replaced them all)", () => {
  const l = new Linear(2, 2);
  const spelt = DEVICE === 'cuda:0' ? 'cuda' : DEVICE; // the short name, where the device under test has one
  l.to(spelt);
  const [w, b] = l.parameters();
  const opt = new Adam(l.parameters());
  l.to(spelt);
  assert.ok(l.param('weight') === w && l.param('bias') === b && !w.disposed, 'the parameters the optimiser holds were replaced');
  expectError(() => l.to('gpu'), 'EDEVICE', 'device', /unknown device 'gpu'/, 'a bad name, before anything moves');
  opt.dispose();
  l.dispose();
});

test("getModel refuses numClasses with withClassifier: false (ignored); compileStep names a bare Tensor returned (was the JSON of its fields)", () => {
  expectError(() => getModel('resnet18', { withClassifier: false, numClasses: 5 }), 'EINVAL', 'getModel', /'numClasses' \(5\) sizes the classifier, which withClassifier: false leaves out/, 'numClasses ignored');
  const m = getModel('shufflenet_v2_x0_5', { numClasses: 5 });
  assert.equal(m.child('fc').param('weight').shape, [5, 1024], 'with its classifier, numClasses sizes it');
  m.dispose();
  const step = compileStep(([x]) => js(relu(x)));
  tidy(() => expectError(() => step.run([ones([2])]), 'EINVAL', 'compileStep', /got Tensor\(\[2\], float32, cpu\) \(wrap it: return \[y\]\)$/, 'a bare Tensor'));
  step.dispose();
});

test('a class instance in a message is named, not spelt out as JSON of its fields (a Tensor showed id, _scope, grad...)', () => {
  tidy(() => {
    const x = ones([1]);
    expectError(() => sum(ones([2]), js(x)), 'EINVAL', 'sum', /axes must be an integer or an array of integers, got Tensor\(\[1\], float32, cpu\)$/, 'a Tensor as axes');
    expectError(() => new Sequential(js(x)), 'EINVAL', 'Sequential', /argument 0 must be a Module or a \[name, Module\] pair, got Tensor\(\[1\], float32, cpu\)$/, 'a Tensor as a module');
    assert.is(show({ a: x, b: [NaN] }), '{"a":Tensor([1], float32, cpu),"b":[NaN]}');
    assert.is(show(new Map([['k', 1]])), 'a Map', 'a Map was {}');
    assert.is(show(new Error('boom')), 'Error: boom', 'an Error was {}');
    assert.is(show({ n: 1, s: 'x' }), '{"n":1,"s":"x"}', 'plain objects stay JSON');
  });
});

test("cast between floating dtypes passes the gradient on (cast(w, 'float32') cut the graph); an integer cast has none", () => {
  const w = tensor([1, 2, 3], [3]);
  w.requiresGrad = true;
  tidy(() => backward(sum(mul(cast(w, 'float32'), tensor([4, 5, 6], [3])))));
  assert.equal([...w.grad!.toArray()], [4, 5, 6]);
  tidy(() => expectError(() => backward(sum(cast(cast(w, 'int32'), 'float32'))), 'EINVAL', 'backward', /does not depend on any tensor that requires grad/, 'through int32'));
  w.grad!.dispose();
  w.dispose();
});

test("BatchNorm's momentum: null (PyTorch's cumulative average) is refused, not read as 0.1; a null stride or kernel is EINVAL (was a raw TypeError)", () => {
  expectError(() => new BatchNorm2d(2, { momentum: js(null) }), 'EINVAL', 'BatchNorm2d', /'momentum' null \(PyTorch's momentum=None, a cumulative moving average\) is not supported/, 'nn momentum null');
  tidy(() => expectError(() => batchnorm2d(ones([2, 2]), ones([2]), zeros([2]), zeros([2]), ones([2]), { training: true, momentum: js(null) }), 'EINVAL', 'batchnorm2d', /'momentum' null/, 'op momentum null'));
  assert.is(new BatchNorm2d(2).momentum, 0.1);
  expectError(() => new Conv2d(1, 1, 3, { stride: js(null) }), 'EINVAL', 'Conv2d', /'stride' must be an integer >= 1 or a pair of them, got null/, 'stride null');
  expectError(() => new Conv2d(1, 1, js(null)), 'EINVAL', 'Conv2d', /'kernel' must be an integer >= 1 or a pair of them, got null/, 'kernel null');
  expectError(() => new MaxPool2d(2, { padding: js(null) }), 'EINVAL', 'MaxPool2d', /'padding' must be an integer >= 0 or a pair of them, got null/, 'padding null');
  assert.equal(new Conv2d(1, 1, [1, 3], { stride: [2, 1] }).kernel, [1, 3]);
});

test('keep() takes one Tensor: keep([a, b]) returned the array untouched and the tidy disposed a and b', () => {
  const kept = tidy(() => {
    const a = ones([1]);
    expectError(() => keep(js([a])), 'EINVAL', 'keep', /takes one Tensor, got an array: keep each \(or return them from the tidy\)/, 'an array');
    expectError(() => keep(js({ a })), 'EINVAL', 'keep', /takes one Tensor, got an Object$/, 'an object');
    return keep(ones([2]));
  });
  assert.is(kept.disposed, false);
  kept.dispose();
});

test.run();
