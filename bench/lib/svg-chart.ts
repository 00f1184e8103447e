// A small hand-written SVG bar chart (no dependencies), for the benchmarks' results: one
// horizontal bar per series entry (e.g. "sway cold"), its length proportional to the value
// on a linear axis that starts at 0, an optional min–max whisker, the value printed at the
// bar's end. Bars of one `group` share a colour. Every bar carries data-label and
// data-value attributes so that tests (and anyone reading the file) can check it against
// the data. Deliberately not a plotting library: no log axis, no legend layout engine.
export interface Bar {
  label: string;
  value: number;
  min?: number;
  max?: number;
  /** Bars with the same group share a colour (e.g. "native", "pull", "sway"). */
  group?: string;
}

export interface BarChart {
  title: string;
  /** Axis unit, printed after the values (e.g. "ms"). */
  unit: string;
  bars: Bar[];
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1'];
const WIDTH = 760;
const LABEL_WIDTH = 200;
const VALUE_ROOM = 110;
const BAR_HEIGHT = 22;
const BAR_GAP = 8;
const TOP = 40;
const BOTTOM = 36;

export const CHART_PLOT_WIDTH = WIDTH - LABEL_WIDTH - VALUE_ROOM;

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A "nice" axis end at or above `max`: 1, 2 or 5 times a power of ten. */
export function niceCeiling(max: number): number {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

function formatValue(v: number): string {
  if (v === 0) return '0';
  return v >= 100 ? String(Math.round(v)) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** The chart as an SVG document. Bars with a non-finite value are drawn as "n/a" labels. */
export function barChartSvg(chart: BarChart): string {
  const finite = chart.bars.flatMap((b) => [b.value, b.max ?? b.value]).filter((v) => Number.isFinite(v));
  const axisMax = niceCeiling(Math.max(0, ...finite));
  const scale = (v: number) => (v / axisMax) * CHART_PLOT_WIDTH;
  const groups = [...new Set(chart.bars.map((b) => b.group ?? b.label))];
  const colour = (b: Bar) => PALETTE[groups.indexOf(b.group ?? b.label) % PALETTE.length]!;
  const height = TOP + chart.bars.length * (BAR_HEIGHT + BAR_GAP) + BOTTOM;
  const plotBottom = height - BOTTOM;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect x="0" y="0" width="${WIDTH}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(chart.title)}</text>`);
  // Axis ticks: 0, 1/4 ... 4/4 of the nice ceiling.
  for (let i = 0; i <= 4; i++) {
    const v = (axisMax * i) / 4;
    const x = LABEL_WIDTH + scale(v);
    out.push(`<line x1="${x.toFixed(1)}" y1="${TOP - 6}" x2="${x.toFixed(1)}" y2="${plotBottom}" stroke="#dddddd"/>`);
    out.push(`<text x="${x.toFixed(1)}" y="${plotBottom + 16}" text-anchor="middle" fill="#555555">${escapeXml(formatValue(v))}</text>`);
  }
  out.push(`<text x="${LABEL_WIDTH + CHART_PLOT_WIDTH / 2}" y="${height - 4}" text-anchor="middle" fill="#555555">${escapeXml(chart.unit)}</text>`);
  chart.bars.forEach((b, i) => {
    const y = TOP + i * (BAR_HEIGHT + BAR_GAP);
    const mid = y + BAR_HEIGHT / 2 + 4;
    out.push(`<text x="${LABEL_WIDTH - 8}" y="${mid}" text-anchor="end">${escapeXml(b.label)}</text>`);
    if (!Number.isFinite(b.value)) {
      out.push(`<text x="${LABEL_WIDTH + 4}" y="${mid}" fill="#999999">n/a</text>`);
      return;
    }
    const w = scale(b.value);
    out.push(`<rect class="bar" data-label="${escapeXml(b.label)}" data-value="${b.value}" x="${LABEL_WIDTH}" y="${y}" width="${w.toFixed(2)}" height="${BAR_HEIGHT}" fill="${colour(b)}"/>`);
    if (b.min !== undefined && b.max !== undefined && Number.isFinite(b.min) && Number.isFinite(b.max)) {
      const x1 = LABEL_WIDTH + scale(b.min);
      const x2 = LABEL_WIDTH + scale(b.max);
      out.push(`<line class="whisker" x1="${x1.toFixed(2)}" y1="${mid - 4}" x2="${x2.toFixed(2)}" y2="${mid - 4}" stroke="#333333"/>`);
    }
    const textX = LABEL_WIDTH + Math.max(w, b.max !== undefined && Number.isFinite(b.max) ? scale(b.max) : 0) + 6;
    out.push(`<text x="${textX.toFixed(1)}" y="${mid}">${escapeXml(`${formatValue(b.value)} ${chart.unit}`)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
