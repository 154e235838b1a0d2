/**
 * Unknown-key checks for configuration objects (train() and experiment() configs, --config
 * files): a key the schema does not list is an ECONFIG error naming it and the nearest valid
 * key, because an ignored key is a setting silently left at its default
 * (`{ "lr": 0.01, "epochs": 1 }` trained 300 epochs at 1e-3).
 *
 *   checkKeys({ lr: 0.01 }, TRAIN_CONFIG_KEYS, { op: 'train', where: 'config' });
 *   // MdmtError: train: config: unknown key 'lr' (it would be ignored); did you mean optim.lr?
 */
import { MdmtError } from '../errors';

/** Valid keys: `true` for a leaf, a nested tree for an object-valued setting. */
export interface KeyTree { [key: string]: true | KeyTree }

/** Levenshtein distance (insert, delete, substitute: 1 each); the strings are short key names. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** Every dotted path of a tree (nested objects and their leaves). */
function paths(tree: KeyTree, prefix = ''): string[] {
  return Object.entries(tree).flatMap(([k, v]) => [prefix + k, ...(v === true ? [] : paths(v, `${prefix}${k}.`))]);
}

// 'batch_size', 'Batch-Size' and 'batchSize' are the same name
const norm = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '');

/**
 * The valid path nearest to an unknown key: an alias, a path whose last part is the key
 * (spelled any way), else the closest last part or path within a third of the key's length.
 */
export function nearestKey(key: string, root: KeyTree, aliases: Record<string, string> = {}): string | undefined {
  const all = paths(root);
  const k = norm(key);
  const alias = Object.entries(aliases).find(([a]) => norm(a) === k);
  if (alias) return alias[1];
  const same = all.find((p) => norm(p.slice(p.lastIndexOf('.') + 1)) === k || norm(p) === k);
  if (same) return same;
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(k.length / 3)) + 1;
  for (const p of all) {
    const d = Math.min(distance(k, norm(p.slice(p.lastIndexOf('.') + 1))), distance(k, norm(p)));
    if (d < bestD) [best, bestD] = [p, d];
  }
  return best;
}

const isPlain = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Throws ECONFIG for the first key of `obj` (recursively, where the tree nests) that `tree`
 * does not list; the message names `where`, the key's path and the nearest valid key.
 */
export function checkKeys(obj: unknown, tree: KeyTree, o: { op: string; where: string; aliases?: Record<string, string>; root?: KeyTree; prefix?: string }): void {
  if (!isPlain(obj)) return;
  const root = o.root ?? tree;
  const prefix = o.prefix ?? '';
  for (const [k, v] of Object.entries(obj)) {
    const sub = tree[k];
    if (sub === undefined) {
      const near = nearestKey(k, root, o.aliases);
      // nothing close: still name the nearest key of this level, and list them all
      const here = Object.keys(tree);
      const far = here.map((h) => [h, distance(norm(k), norm(h))] as const).sort((a, b) => a[1] - b[1])[0]?.[0];
      const hint = near ? `; did you mean ${near}?` : far ? `; nearest is ${prefix}${far} (valid here: ${here.join(', ')})` : '';
      throw new MdmtError('ECONFIG', o.op, `${o.where}: unknown key '${prefix}${k}' (it would be ignored)${hint}`);
    }
    if (sub !== true && isPlain(v)) checkKeys(v, sub, { ...o, root, prefix: `${prefix}${k}.` });
  }
}
