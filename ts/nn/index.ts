export * from './module';
export * from './layers';
export * from './simple';
export * as init from './init';
