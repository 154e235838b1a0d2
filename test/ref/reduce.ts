/** float64 references for the reductions (sum, mean). */
import { srcIndex, unravel } from './elementwise';

/** sum or mean over axes, result in keepdim layout (same element order either way); an empty mean is NaN */
export function reduceRef(x: Float64Array, shape: readonly number[], axes: number[], mean: boolean): Float64Array {
  const os = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const y = new Float64Array(os.reduce((p, q) => p * q, 1));
  const cnt = axes.reduce((p, a) => p * shape[a], 1);
  for (let i = 0; i < x.length; i++) y[srcIndex(unravel(i, shape), os)] += x[i];
  if (mean) for (let i = 0; i < y.length; i++) y[i] /= cnt;
  return y;
}
