/**
 * Using a trained model: `predict()` on new X-rays (calibrated probabilities per image),
 * `gradCam()` heatmaps and their PNG overlays, temperature scaling.
 *
 *   const r = await predict(['scans/a.dcm'], { run: 'runs/cv/resnet18/mdmt/fold0', explain: { dir: 'heatmaps' } });
 */
export { predict, openPredictor, Predictor, type PredictorOptions, type PredictCallOptions, type PredictInput, type PredictOptions, type PredictResult, type PredictionRow, type PredictModelInfo, type PredictTask } from './predict';
export { collectImages } from './inputs';
export { gradCam, defaultCamLayer, type GradCamOptions, type GradCamResult } from './gradcam';
export { overlayRgb, writeOverlay, jet, type OverlayOptions } from './overlay';
export { softmaxT, nllT, fitTemperature, chooseTemperature, calibrationStats, calibrateTask, calibrateRun, TEMPERATURE_RANGE, TEMPERATURE_CHECK } from './calibration';
