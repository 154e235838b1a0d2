/**
 * mdmt data layer: decoding (DICOM, PNG/JPEG/TIFF), readers for AIforCOVID, BRIXIA and
 * covid-cxr, the synthetic generator, the paper's preprocessing and augmentation, split files
 * and the worker-thread loader.
 *
 *   const { afcRoot, bxRoot } = await synth('/tmp/d');
 *   const afc = await readAIforCOVID(afcRoot), bx = await readBrixia(bxRoot);
 *   const f = stratifiedFolds(afc.records, { seed: 0, strata: afcStrata })[0];
 *   const loader = new Loader([...f.train, ...bx.records], { train: true, batchSize: 32 });
 */
export { decodeDicom, readDicom, TRANSFER_SYNTAXES } from './dicom';
export type { DicomImage, DicomInfo, DecodeDicomOptions } from './dicom';
export { readImage, readRaster } from './image';
export { checkNotConstant } from './gray';
export type { GrayImage } from './image';
export { writeDicom } from './dicomwrite';
export type { DicomWriteSpec, WriteSyntax } from './dicomwrite';
export { binGlobal, binNames, countTasks, padBrixia, formatSummary, formatTaskCounts, BIN_EDGES, TASK_ID, PROGNOSIS } from './records';
export type { DataRecord, Dataset, BadRecord, BinRule, OnBad, ReadSummary, Task, TaskCounts, NameCount } from './records';
export { readCsv, readXlsx, readSheet, parseCsv } from './sheets';
export type { Sheet } from './sheets';
export { readAIforCOVID, readBrixia, readCovidCxr, readBoxSheet, AFC_EXCLUDED, AFC_RELEASES, parseRegionBox, brixiaCentre, BX_MANUFACTURERS, BX_CENTRE_GROUPS } from './readers';
export type { AfcOptions, BrixiaOptions, CovidCxrOptions } from './readers';
export { synth, drawChest } from './synth';
export type { SynthOptions, SynthResult } from './synth';
export {
  percentiles, clipScale, regionBoxes, lungBox, squareCrop, crop, resizeBilinear, resizeNearest, preprocess, toInput,
  IMAGENET_MEAN, IMAGENET_STD,
} from './preprocess';
export type { Box, PreprocessOptions, Preprocessed } from './preprocess';
export { augment, drawAugment, applyAugment, hflip, rotate, IDENTITY } from './augment';
export type { AugmentOptions, AugmentParams } from './augment';
export { stratifiedFolds, locoFolds, writeFolds, readSplitFile, readFold, makeSplits, afcStrata, bxStrata, jointSplits, jointStrata, linkRecords } from './splits';
export type { Fold, SplitRow, SplitSet, Strata } from './splits';
export { Loader, toTensors } from './loader';
export type { LoaderOptions, Batch, BatchTensors, LoaderReport } from './loader';
export { rng, seedOf } from './rng';
export type { Rng } from './rng';
