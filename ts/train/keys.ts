/**
 * Unknown-key checks for configuration objects (train() and experiment() configs, --config
 * files): one implementation, in ../errors beside checkOptions (the flat check of a public
 * function's options), so that the ops and layers below train/ can use it too.
 */
export { checkKeys, nearestKey, type KeyTree } from '../errors';
