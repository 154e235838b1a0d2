/** The model zoo: registry, the six families and the paper's MDMT / single-task models. */
export * from './registry';
export * from './zoo';
export * from './resnet';
export * from './densenet';
export * from './efficientnet';
export * from './googlenet';
export * from './mobilenet';
export * from './shufflenet';
export * from './mdmt';
export * from './inference';
