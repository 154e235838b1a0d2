/**
 * float64 references for the memory ops (docs/ops.md "memory"): what fill and cast store
 * for each dtype, written from the definitions (float32 rounds to nearest, float → int
 * truncates toward zero, int32 → uint8 keeps the low 8 bits).
 */

export type HostDType = 'float32' | 'int32' | 'uint8';

/** The value a `dtype` element holds after storing `v` (v in the dtype's range for ints). */
export function storeRef(v: number, dtype: HostDType, from: HostDType = 'float32'): number {
  switch (dtype) {
    case 'float32':
      return Math.fround(v);
    case 'int32':
      return Math.trunc(v);
    case 'uint8':
      return from === 'int32' ? (((Math.trunc(v) % 256) + 256) % 256) : Math.trunc(v);
  }
}

/** y = cast(x): each element converted from `from` to `to`. */
export function castRef(x: ArrayLike<number>, from: HostDType, to: HostDType): Float64Array {
  return Float64Array.from(x, (v) => storeRef(v, to, from));
}

/** y[:] = value in `dtype`. */
export function fillRef(n: number, value: number, dtype: HostDType): Float64Array {
  return new Float64Array(n).fill(storeRef(value, dtype));
}
