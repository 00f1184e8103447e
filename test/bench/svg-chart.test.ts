// The benchmarks' SVG bar chart (bench/lib/svg-chart.ts): the document parses as
// well-formed XML-ish markup, there is one bar per finite data point, in order, with the
// data's label and value, and bar lengths are proportional to the values on one scale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { barChartSvg, niceCeiling, CHART_PLOT_WIDTH } from '../../bench/lib/svg-chart.js';

interface ParsedRect {
  label: string;
  value: number;
  width: number;
  y: number;
  fill: string;
}

/** Attributes of every element named `tag`, from a small hand parser (no XML dependency). */
function elements(svg: string, tag: string): Record<string, string>[] {
  const found: Record<string, string>[] = [];
  for (const m of svg.matchAll(new RegExp(`<${tag}\\s([^>]*?)/?>`, 'g'))) {
    const attrs: Record<string, string> = {};
    for (const a of m[1]!.matchAll(/([\w:-]+)="([^"]*)"/g)) attrs[a[1]!] = a[2]!;
    found.push(attrs);
  }
  return found;
}

function bars(svg: string): ParsedRect[] {
  return elements(svg, 'rect')
    .filter((a) => a.class === 'bar')
    .map((a) => ({ label: a['data-label']!, value: Number(a['data-value']), width: Number(a.width), y: Number(a.y), fill: a.fill! }));
}

/** Every opened tag is closed (or self-closed), in order: the document is well nested. */
function assertWellNested(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (m[1]) assert.equal(stack.pop(), m[2], `closing </${m[2]}>`);
    else if (!m[3]) stack.push(m[2]!);
  }
  assert.deepEqual(stack, [], 'unclosed elements');
}

test('one bar per data point, in order, lengths proportional to the values', () => {
  const data = [
    { label: 'native cold', value: 457, min: 361, max: 529, group: 'native' },
    { label: 'pull-then-run', value: 31_250, group: 'pull' },
    { label: 'sway cold', value: 5140, min: 4588, max: 5409, group: 'sway' },
    { label: 'sway hot', value: 572, group: 'sway' },
  ];
  const svg = barChartSvg({ title: 'scipy <1 Gbit/s & 1 ms>', unit: 'ms', bars: data });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assertWellNested(svg);
  assert.match(svg, /scipy &lt;1 Gbit\/s &amp; 1 ms&gt;/, 'the title is escaped');
  const parsed = bars(svg);
  assert.deepEqual(parsed.map((b) => b.label), data.map((d) => d.label));
  assert.deepEqual(parsed.map((b) => b.value), data.map((d) => d.value));
  const axisMax = niceCeiling(31_250);
  assert.equal(axisMax, 50_000);
  for (const b of parsed) assert.ok(Math.abs(b.width - (b.value / axisMax) * CHART_PLOT_WIDTH) < 0.01, `${b.label} width ${b.width}`);
  // Ordering of lengths follows ordering of values.
  const byWidth = [...parsed].sort((a, b) => a.width - b.width).map((b) => b.label);
  const byValue = [...data].sort((a, b) => a.value - b.value).map((d) => d.label);
  assert.deepEqual(byWidth, byValue);
  // Rows go down the page, and a group keeps one colour.
  for (let i = 1; i < parsed.length; i++) assert.ok(parsed[i]!.y > parsed[i - 1]!.y);
  assert.equal(parsed[2]!.fill, parsed[3]!.fill);
  assert.notEqual(parsed[0]!.fill, parsed[2]!.fill);
  assert.equal(elements(svg, 'line').filter((a) => a.class === 'whisker').length, 2, 'a whisker for each bar with min and max');
});

test('a missing value is labelled n/a, not drawn, and does not break the scale', () => {
  const svg = barChartSvg({ title: 't', unit: 'ms', bars: [{ label: 'a', value: 10 }, { label: 'failed', value: NaN }, { label: 'b', value: 20 }] });
  assertWellNested(svg);
  const parsed = bars(svg);
  assert.deepEqual(parsed.map((b) => b.label), ['a', 'b']);
  assert.ok(Math.abs(parsed[1]!.width / parsed[0]!.width - 2) < 1e-6);
  assert.match(svg, />n\/a</);
});

test('niceCeiling rounds up to 1, 2 or 5 times a power of ten', () => {
  assert.equal(niceCeiling(0), 1);
  assert.equal(niceCeiling(0.3), 0.5);
  assert.equal(niceCeiling(1), 1);
  assert.equal(niceCeiling(101), 200);
  assert.equal(niceCeiling(4999), 5000);
  assert.equal(niceCeiling(5001), 10_000);
});
