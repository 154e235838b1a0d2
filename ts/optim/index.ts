/** Optimisers with PyTorch's update rules, each a single native call per step. */
export { Adam, AdamW, type AdamOptions, type AdamState } from './adam';
export { SGD, type SGDOptions, type SGDState } from './sgd';
