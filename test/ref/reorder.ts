/**
 * float64 reference of reorder: where element (n, c, h, w) of a logical [N, C, H, W] tensor
 * lives in each physical layout, written out index by index.
 *   nchw     ((n·C + c)·H + h)·W + w
 *   nhwc     ((n·H + h)·W + w)·C + c
 *   nchwXc   (((n·⌈C/X⌉ + ⌊c/X⌋)·H + h)·W + w)·X + c mod X   (X = 8, 16; padding channels hold 0)
 */
export type RefLayout = 'nchw' | 'nhwc' | 'nchw8c' | 'nchw16c';

export function physicalSize(shape: readonly number[], layout: RefLayout): number {
  const [N, C, H, W] = shape;
  const b = layout === 'nchw8c' ? 8 : layout === 'nchw16c' ? 16 : 1;
  return N * Math.ceil(C / b) * b * H * W;
}

export function physicalIndex(idx: readonly number[], shape: readonly number[], layout: RefLayout): number {
  const [n, c, h, w] = idx;
  const [, C, H, W] = shape;
  if (layout === 'nchw') return ((n * C + c) * H + h) * W + w;
  if (layout === 'nhwc') return ((n * H + h) * W + w) * C + c;
  const b = layout === 'nchw8c' ? 8 : 16;
  return (((n * Math.ceil(C / b) + Math.floor(c / b)) * H + h) * W + w) * b + (c % b);
}

/** x's bytes in layout `from` → the same elements in layout `to`. */
export function reorderRef(x: ArrayLike<number>, shape: readonly number[], from: RefLayout, to: RefLayout): Float64Array {
  const [N, C, H, W] = shape;
  const y = new Float64Array(physicalSize(shape, to));
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) y[physicalIndex([n, c, h, w], shape, to)] = x[physicalIndex([n, c, h, w], shape, from)];
  return y;
}
