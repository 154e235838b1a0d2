/**
 * Reverse-mode autodiff. Ops record a node on their outputs when any input requires a
 * gradient (and recording is on); backward() sorts the nodes topologically from the root
 * and sweeps them in reverse, accumulating gradients (so a tensor used twice gets both
 * contributions). Leaves with requiresGrad receive `.grad`, which accumulates across
 * backward() calls until zeroed, as in PyTorch.
 *
 *   const w = param(...); const loss = sum(mul(w, x)); backward(loss); w.grad  // = x
 */
import { AsyncLocalStorage } from 'async_hooks';
import { check, checkOptions, kindOf, MdmtError } from '../errors';
import { observingSteps, runOp, stepDepends } from '../ops/op';
import { GradNode, keep, ones, shapeStr, Tensor } from '../tensor';

/**
 * Set inside noGrad: it follows the async context, as tidy's scope does. A global counter
 * held by an async noGrad across its awaits switched recording off for everything else the
 * process ran meanwhile (a training step beside an awaited evaluation recorded nothing).
 */
const noGradStore = new AsyncLocalStorage<true>();
let nextNodeId = 1;

/** Runs fn without recording (inference, optimiser updates). Works with async fn: its awaits stay without recording, other work goes on recording. */
export function noGrad<T>(fn: () => T): T {
  check(typeof fn === 'function', 'EINVAL', 'noGrad', () => `needs a function to run, got ${kindOf(fn)}`);
  return noGradStore.run(true, fn);
}

/** The owner of grad mode as a recorded step's dependency (stepDepends). */
const GRAD_MODE = {};

export function isGradEnabled(): boolean {
  return noGradStore.getStore() !== true;
}

function needsGrad(t: Tensor | null): boolean {
  return t !== null && (t.requiresGrad || t.node !== null);
}

/**
 * Records `outputs = op(inputs)` with its vector-Jacobian product. `vjp` receives one
 * gradient per output (null where no gradient flowed) and returns one per input
 * (null/undefined for inputs that get none). Called by the op files.
 */
export function record(op: string, inputs: (Tensor | null)[], outputs: Tensor[], vjp: GradNode['vjp']): void {
  if (!isGradEnabled() || !inputs.some(needsGrad)) return;
  const node: GradNode = { op, inputs, outputs, vjp, id: nextNodeId++ };
  for (const o of outputs) o.node = node;
}

function topoOrder(root: Tensor): GradNode[] {
  const order: GradNode[] = [];
  const seen = new Set<GradNode>();
  // iterative DFS (deep networks overflow a recursive one)
  const stack: [GradNode, number][] = [];
  if (root.node) stack.push([root.node, 0]);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [node, i] = top;
    if (i === 0 && seen.has(node)) {
      stack.pop();
      continue;
    }
    seen.add(node);
    if (i < node.inputs.length) {
      top[1]++;
      const inp = node.inputs[i];
      if (inp?.node && !seen.has(inp.node)) stack.push([inp.node, 0]);
    } else {
      stack.pop();
      order.push(node);
    }
  }
  return order;
}

// Gradient arithmetic runs the kernels through the op runner, not the op files: every op
// file imports record() from here, so the tape sits below them. Both operands of a sum
// have one shape (the vjp results are checked below), so nothing broadcasts, and backward
// records nothing, so the op files' recording would be a no-op anyway.
function sumGrads(a: Tensor, b: Tensor, what: string): Tensor {
  check(a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]), 'ESHAPE', 'backward',
    `${what} of shape ${shapeStr(a.shape)} cannot accumulate a gradient of shape ${shapeStr(b.shape)}`);
  return runOp('add', [a, b], {}, [{ shape: a.shape }], ['a', 'b'])[0];
}

function copyGrad(g: Tensor): Tensor {
  return runOp('copy', [g], {}, [{ shape: g.shape, dtype: g.dtype }], ['x'])[0];
}

function accumulate(map: Map<Tensor, Tensor>, t: Tensor, g: Tensor): void {
  const prev = map.get(t);
  if (!prev) {
    map.set(t, g);
    return;
  }
  map.set(t, sumGrads(prev, g, 'the gradient'));
  prev.dispose();
  g.dispose();
}

/** A node's vjp; a tensor it saved that was freed before backward() is named as such. */
function vjpOf(node: GradNode, gOut: (Tensor | null)[]): (Tensor | null | undefined)[] {
  try {
    return node.vjp(gOut);
  } catch (e) {
    if (!(e instanceof MdmtError) || e.code !== 'EDISPOSED') throw e;
    // the inner message names an argument of the vjp's own op (mul's 'b' may be the forward's
    // 'a'), so only the freed tensor's shape is kept
    const shape = /\(shape (\[[^\]]*\])\)/.exec(e.message)?.[1];
    throw new MdmtError('EDISPOSED', 'backward', `the gradient of '${node.op}' needs a tensor${shape ? ` of shape ${shape}` : ''} that was ` +
      'disposed before backward(): call backward() inside the tidy() that built the graph, or keep() what it saves');
  }
}

const BACKWARD_KEYS = { grad: true, retainGraph: true } as const;
/** roots whose graph backward() freed: a second backward() on one says so */
const freedRoots = new WeakSet<Tensor>();

export interface BackwardOptions {
  /** gradient of the root (default: ones, which requires a one-element root) */
  grad?: Tensor;
  /** keep the graph for another backward() */
  retainGraph?: boolean;
}

/**
 * Computes gradients of `root` with respect to every leaf that requires them and adds
 * them to the leaves' `.grad` (kept out of tidy scopes; zero them with zeroGrad()).
 */
export function backward(root: Tensor, opts: BackwardOptions = {}): void {
  check(root instanceof Tensor, 'EINVAL', 'backward', () => `root must be a Tensor, got ${kindOf(root)}`);
  root.assertAlive('backward', 'root');
  // PyTorch's l.backward(gradient) habit: a Tensor here was refused as "unknown option 'id'"
  check(!((opts as unknown) instanceof Tensor), 'EINVAL', 'backward', 'the second argument is the options { grad?, retainGraph? }, got a Tensor: pass the gradient as { grad: t }');
  checkOptions('backward', opts, BACKWARD_KEYS);
  check(root.node !== null || root.requiresGrad, 'EINVAL', 'backward', () => (freedRoots.has(root)
    ? 'the graph of root was already freed by an earlier backward(); pass { retainGraph: true } to that one to run backward() again'
    : 'root does not depend on any tensor that requires grad'));
  // a recorded step that runs backward() depends on gradients being on: replayed inside noGrad()
  // it trained where the eager step throws (its forward records nothing to differentiate), so it
  // records again there, and that eager run refuses as above
  if (observingSteps()) stepDepends(GRAD_MODE, 'enabled', isGradEnabled);
  let seed = opts.grad;
  if (seed !== undefined) {
    check(seed instanceof Tensor && seed.dtype === root.dtype, 'EINVAL', 'backward', () => `opts.grad must be a ${root.dtype} Tensor, got ${seed instanceof Tensor ? seed.dtype : kindOf(seed)}`);
    seed.assertAlive('backward', 'opts.grad');
    // of any root, not only a leaf: a [3, 1] seed of a [1, 3] root broadcast through the vjps
    // and was summed back into a gradient 3 times too large
    const given = seed.shape;
    check(given.length === root.shape.length && given.every((d, i) => d === root.shape[i]), 'ESHAPE', 'backward',
      () => `opts.grad has shape ${shapeStr(given)}, root ${shapeStr(root.shape)}`);
  }
  if (!seed) {
    check(root.size === 1, 'ESHAPE', 'backward', `root has ${root.size} elements; pass opts.grad for a non-scalar root`);
    seed = ones(root.shape, { device: root.device });
  }
  if (!root.node) {
    // a leaf root is its own gradient's target: x.backward() gives x.grad = 1 (as PyTorch); nothing was written
    addToGrad(root, seed === opts.grad ? copyGrad(seed) : seed);
    return;
  }
  const grads = new Map<Tensor, Tensor>([[root, seed]]);
  const order = topoOrder(root);
  try {
    sweep(order, grads, opts.grad);
  } finally {
    // on success only unused gradients are left; on an error, every one still held
    for (const g of grads.values()) if (g !== opts.grad && !g.disposed) g.dispose();
  }
  if (!opts.retainGraph) {
    for (const node of order) for (const o of node.outputs) o.node = null;
    freedRoots.add(root);
  }
}

/** The reverse sweep of backward(): each node's vjp, gradients accumulated per input. */
function sweep(order: GradNode[], grads: Map<Tensor, Tensor>, given: Tensor | undefined): void {
  noGrad(() => {
    for (let k = order.length - 1; k >= 0; k--) {
      const node = order[k];
      const gOut = node.outputs.map((o) => grads.get(o) ?? null);
      if (gOut.every((g) => g === null)) continue;
      const gIn = vjpOf(node, gOut);
      // A vjp may pass an incoming gradient through (identity) or return one tensor for
      // several inputs: each input must own its gradient, so repeats are copied.
      const owned = new Set<Tensor>();
      for (let i = 0; i < gIn.length; i++) {
        const g = gIn[i];
        if (!g) continue;
        if (owned.has(g)) gIn[i] = copyGrad(g);
        else owned.add(g);
      }
      for (const o of node.outputs) {
        const g = grads.get(o);
        if (g && g !== given && !owned.has(g)) g.dispose();
        grads.delete(o);
      }
      node.inputs.forEach((inp, i) => {
        const g = gIn[i];
        if (!g) return;
        if (!inp || !needsGrad(inp)) {
          g.dispose();
          return;
        }
        check(g.shape.length === inp.shape.length && g.shape.every((d, j) => d === inp.shape[j]), 'EINTERNAL', node.op,
          `vjp returned a gradient of shape [${g.shape}] for input ${i} of shape [${inp.shape}]`);
        if (inp.node) accumulate(grads, inp, g);
        else {
          addToGrad(inp, g);
        }
      });
    }
  });
}

/**
 * Adds `g` to a leaf's `.grad` (taking it over). A `.grad` the caller disposed (`p.grad.dispose()`
 * instead of zeroGrad) is none, as zeroGrad leaves it; adding to it failed as "add: input 'a' has
 * been disposed", naming neither backward nor the gradient.
 */
function addToGrad(leaf: Tensor, g: Tensor): void {
  // outside any tidy scope: a leaf's gradient outlives the backward() that made it
  keep(g);
  const prev = leaf.grad?.disposed ? null : leaf.grad;
  if (!prev) {
    leaf.grad = g;
    return;
  }
  leaf.grad = keep(sumGrads(prev, g, `'.grad'`));
  prev.dispose();
  g.dispose();
}

/** Disposes and clears `.grad` of each tensor. */
export function zeroGrad(params: Iterable<Tensor>): void {
  check(params !== null && typeof params === 'object' && Symbol.iterator in params, 'EINVAL', 'zeroGrad',
    () => `needs an array (or iterable) of Tensors, got ${kindOf(params)}`);
  for (const p of params) {
    check(p instanceof Tensor, 'EINVAL', 'zeroGrad', () => `needs Tensors, got ${kindOf(p)}`);
    p.grad?.dispose();
    p.grad = null;
  }
}
