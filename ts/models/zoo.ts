/**
 * The model zoo: imports every family (each registers its builders in registry.ts on
 * import), then answers the look-ups. Imports run one way: zoo → families → registry.
 *
 *   listModels().length;  const net = getModel('resnet18', { withClassifier: false });
 */
import { check, checkOptions, kindOf, MdmtError, show } from '../errors';
import './densenet';
import './efficientnet';
import './googlenet';
import './mobilenet';
import './resnet';
import './shufflenet';
import { Backbone, ModelInfo, ModelOptions, registeredModel, registeredNames } from './registry';

/** Names of every registered model, sorted. */
export function listModels(): string[] {
  return registeredNames();
}

function lookup(name: string): NonNullable<ReturnType<typeof registeredModel>> {
  const b = registeredModel(name);
  if (!b) throw new MdmtError('EINVAL', 'getModel', `unknown model '${name}'; registered: ${registeredNames().join(', ')}`);
  return b;
}

/** Facts about a registered model (family, source, feature width, default and smallest input size). */
export function modelInfo(name: string): ModelInfo & { minSize: number } {
  const info = lookup(name).info;
  return { ...info, minSize: info.minSize ?? 1 };
}

/**
 * Builds a registered model with PyTorch/timm default initialisation from the global
 * seeded generator (`manualSeed`), in training mode.
 *   manualSeed(0); const m = getModel('densenet121', { withClassifier: false });
 */
export function getModel(name: string, opts: ModelOptions = {}): Backbone {
  const { build, info } = lookup(name);
  // `numclasses: 3` built 1000 classes
  checkOptions('getModel', opts, { numClasses: true, withClassifier: true, transformInput: true });
  check(opts.transformInput === undefined || info.family === 'googlenet', 'EINVAL', 'getModel',
    () => `'transformInput' applies to googlenet only, not to '${name}' (it would be ignored)`);
  check(opts.transformInput === undefined || typeof opts.transformInput === 'boolean', 'EINVAL', 'getModel',
    () => `'transformInput' must be a boolean, got ${show(opts.transformInput)}`);
  const m = build(opts);
  // a registered builder that returns something else fails here, not at its first forward()
  check(m instanceof Backbone, 'EINVAL', 'getModel', () => `the builder registered as '${name}' returned ${kindOf(m)}, not a Backbone`);
  m.registeredAs = { name, minSize: info.minSize ?? 1 };
  return m;
}
