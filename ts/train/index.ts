/**
 * Training and evaluation of the paper's protocol: `train()` (one model, one fold, one run
 * directory, resumable), `experiment()` (backbones × experiments × folds, CV and LOCO, STL
 * before FT and MDMT, resumable sweep), the metrics, statistics and schedule they use.
 *
 *   const r = await train({ backbone: 'resnet18', experiment: 'stl_afc', outDir: 'runs/a', data: { afc, bx } });
 *   const { results } = await experiment({ runsDir: 'runs', backbones: ['resnet18'], base: { data: { afc, bx } } });
 */
export { train, RUN_FILES, type TrainResult, type RunState } from './train';
export { AbortError, type TrainOptions } from './abort';
export { experiment, planJobs, collectResults, type ExperimentConfig, type ExperimentOutcome, type Job } from './experiment';
export {
  resolveTrainConfig, experimentTasks, EXPERIMENTS, PROTOCOLS, PAPER_OPTIM, PAPER_SCHEDULE, CODE_PRESET,
  type TrainConfig, type TrainConfigInput, type DataConfig, type OptimConfig, type ScheduleConfig, type ExperimentName, type Protocol,
} from './config';
export { loadRecords, ensureSplits, prepareFold, pairedBxFold, foldDigest, type TaskRecords, type RunFolds, type SplitDirs, type TaskFold } from './data';
export { checkInits, ownPretraining, provenanceMeta, type Pretraining } from './provenance';
export { buildTaskNet, stepLoss, type TaskNet, type TaskOutputs } from './models';
export { evaluateModel, type ModelEval, type TaskEval } from './evaluate';
export { saveCheckpoint, loadCheckpoint, saveWeights, loadWeights, readTensors, atomicWriteJson, readJson } from './checkpoint';
export { progressHooks, SILENT, type TrainHooks } from './progress';
export * from './metrics';
export * from './bootstrap';
export * from './stats';
export * from './schedule';
