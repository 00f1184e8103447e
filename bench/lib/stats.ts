// Small statistics and formatting helpers for the benchmarks: median/min/max of a series,
// and numbers printed the same way in the console, the JSON and the Markdown table.

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
}

/** Median (mean of the middle two for an even count), min and max; NaN when empty. */
export function summarize(values: number[]): Summary {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { n: 0, median: NaN, min: NaN, max: NaN };
  const mid = Math.floor(n / 2);
  const median = n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { n, median, min: sorted[0]!, max: sorted[n - 1]! };
}

/** "1234 (1100–1500)" in milliseconds, or "–" when there is nothing. */
export function formatMs(s: Summary): string {
  if (s.n === 0) return '–';
  return `${Math.round(s.median)} (${Math.round(s.min)}–${Math.round(s.max)})`;
}

export function formatMB(bytes: number | undefined): string {
  return bytes === undefined || !Number.isFinite(bytes) ? '–' : (bytes / 1e6).toFixed(1);
}

export function formatRatio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}x` : '–';
}
