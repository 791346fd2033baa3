// Small statistics for measure() and leakTest(): quantiles (linear
// interpolation between order statistics, Hyndman & Fan type 7, the same as
// numpy's default and Python's statistics.quantiles(method="inclusive")),
// Welch's t, and a seeded generator for reproducible shuffles and bootstraps.

/** The value at fraction `q` (0..1) of ascending `sorted` (type 7). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 1) return sorted[0];
  const position = q * (n - 1);
  const low = Math.floor(position);
  const high = Math.min(n - 1, low + 1);
  return sorted[low] + (position - low) * (sorted[high] - sorted[low]);
}

/** An ascending copy as a Float64Array (numeric sort, no comparator allocation per call). */
export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

/** Mean and unbiased variance (n - 1), by Welford's method. */
export function meanVariance(values: ArrayLike<number>): { mean: number; variance: number } {
  let mean = 0;
  let m2 = 0;
  for (let i = 0; i < values.length; i++) {
    const delta = values[i] - mean;
    mean += delta / (i + 1);
    m2 += delta * (values[i] - mean);
  }
  return { mean, variance: values.length > 1 ? m2 / (values.length - 1) : 0 };
}

/**
 * Welch's t statistic of `b` against `a` (positive when `b` is larger).
 * 0 when both samples have no variance and equal means; ±Infinity when they
 * have no variance and differ.
 */
export function welchT(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const x = meanVariance(a);
  const y = meanVariance(b);
  const se = Math.sqrt(x.variance / a.length + y.variance / b.length);
  const diff = y.mean - x.mean;
  if (se === 0) return diff === 0 ? 0 : diff > 0 ? Infinity : -Infinity;
  return diff / se;
}

/** Two xorshift32 lanes (Marsaglia): a fast seeded generator of floats in [0, 1). */
export class Random {
  #a: number;
  #b: number;

  constructor(seed: number) {
    // Spread the seed over both lanes (murmur3's finalizer); a lane is never 0.
    const mix = (x: number) => {
      x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
      x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
      return (x ^ (x >>> 16)) | 1;
    };
    this.#a = mix(Math.floor(seed) | 0);
    this.#b = mix((Math.floor(seed / 2 ** 32) | 0) ^ 0x5bd1e995);
  }

  /** A float in [0, 1). */
  next(): number {
    let a = this.#a;
    a ^= a << 13;
    a ^= a >>> 17;
    a ^= a << 5;
    this.#a = a;
    let b = this.#b;
    b ^= b << 13;
    b ^= b >>> 17;
    b ^= b << 5;
    this.#b = b;
    // 53 random bits: 32 from one lane, 21 from the other.
    return ((a >>> 0) * 2 ** 21 + ((b >>> 0) >>> 11)) / 2 ** 53;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
}
