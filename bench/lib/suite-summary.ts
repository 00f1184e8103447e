// The benchmark suite's summary (issue 5): one table over every start-time result of the
// suite (workloads x link profiles: bench/results/starts*.json), the issue's targets
// from the reference run (scipy on 1 Gbit/s, 1 ms: starts.json), and one SVG chart of
// start time by workload, contender and state. Reads results, measures nothing.
//   node dist/bench/lib/suite-summary.js [DIR]     (also bench/summary.bench.ts)
// Writes DIR/suite.json, suite.md and suite.svg; a missing result is left out, said so.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatMB, formatMs, formatRatio } from './stats.js';
import { parseStartsReport, PULL, startsTargets, type StartsReport } from './report.js';
import { barChartSvg } from './svg-chart.js';

/** The suite's results, in the order of the summary. */
export const SUITE_RESULTS = ['starts', 'starts-100mbit-10ms', 'starts-sympy', 'starts-bigfile'];
const ROWS = ['native cold', 'native hot', PULL, 'sway cold', 'sway warm', 'sway hot'];

export interface SuiteSummary {
  generated: string;
  machine: StartsReport['machine'] | undefined;
  missing: string[];
  results: { file: string; workload: string; link: string; date: string; readyMedianMs: Record<string, number>; swayColdFetchedBytes: number; imageBytes: number; pullOverSwayCold: number; swayColdOverNativeCold: number }[];
  targets: StartsReport['targets'];
}

function label(r: StartsReport): string {
  return `${r.workload?.name ?? 'scipy'}, ${r.link.rateMbit >= 1000 ? `${r.link.rateMbit / 1000} Gbit/s` : `${r.link.rateMbit} Mbit/s`} ${r.link.rttMs} ms`;
}

export function summarizeSuite(dir: string): { summary: SuiteSummary; markdown: string; svg: string } {
  const reports: { file: string; report: StartsReport }[] = [];
  const missing: string[] = [];
  for (const base of SUITE_RESULTS) {
    const file = join(dir, `${base}.json`);
    if (existsSync(file)) reports.push({ file: `${base}.json`, report: parseStartsReport(readFileSync(file, 'utf8')) });
    else missing.push(`${base}.json`);
  }
  const reference = reports.find((r) => r.file === 'starts.json')?.report;
  const targets = reference ? reference.targets ?? startsTargets(reference) : undefined;
  const median = (r: StartsReport, name: string) => r.contenders.find((c) => c.name === name)?.readyMs.median ?? NaN;
  const summary: SuiteSummary = {
    generated: new Date().toISOString(),
    machine: reference?.machine ?? reports[0]?.report.machine,
    missing,
    results: reports.map(({ file, report }) => {
      const cold = report.contenders.find((c) => c.name === 'sway cold');
      return {
        file, workload: report.workload?.name ?? 'scipy', link: `${report.link.rateMbit} Mbit/s, ${report.link.rttMs} ms`, date: report.machine.date,
        readyMedianMs: Object.fromEntries(ROWS.map((n) => [n, median(report, n)])),
        swayColdFetchedBytes: cold?.bytesFetched ?? NaN, imageBytes: report.image.bytes,
        pullOverSwayCold: median(report, PULL) / median(report, 'sway cold'),
        swayColdOverNativeCold: median(report, 'sway cold') / median(report, 'native cold'),
      };
    }),
    targets,
  };

  const m = summary.machine;
  const lines: string[] = ['# Start-time suite: native vs pull-then-run vs sway', ''];
  if (m) lines.push(`Machine: ${m.hostname}, ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB memory, kernel ${m.kernel}, node ${m.node}, ${m.runc}. Runs: ${reports.map((r) => `${r.file} ${r.report.machine.date.slice(0, 16).replace('T', ' ')} UTC`).join('; ')}.`, '');
  lines.push('Time to the ready line, median (min–max) ms of each run series; details, bytes and cache hits in each result\'s own table.', '');
  lines.push(`| workload, link | runs | ${ROWS.join(' | ')} | sway cold fetched MB (share of image) | pull-then-run ÷ sway cold | sway cold ÷ native cold |`);
  lines.push(`|---|---:|${ROWS.map(() => '---:').join('|')}|---:|---:|---:|`);
  for (const { report } of reports) {
    const cells = ROWS.map((n) => {
      const c = report.contenders.find((x) => x.name === n);
      if (!c) return '–';
      const failed = c.failures?.length ? ` (${c.failures.length} failed)` : '';
      return formatMs(c.readyMs) + failed;
    });
    const cold = report.contenders.find((c) => c.name === 'sway cold');
    const share = cold?.bytesFetched !== undefined && Number.isFinite(cold.bytesFetched) ? `${formatMB(cold.bytesFetched)} (${((cold.bytesFetched / report.image.bytes) * 100).toFixed(1)}% of ${formatMB(report.image.bytes)})` : '–';
    lines.push(`| ${label(report)} | ${report.runsPerContender} | ${cells.join(' | ')} | ${share} | ${formatRatio(median(report, PULL) / median(report, 'sway cold'))} | ${formatRatio(median(report, 'sway cold') / median(report, 'native cold'))} |`);
  }
  const conc = reference?.concurrency;
  if (conc?.length) {
    const one = conc.find((x) => x.n === 1)?.slowestReadyMs.median ?? NaN;
    lines.push('', 'Simultaneous cold starts of the scipy app on one worker (1 Gbit/s, 1 ms), slowest of each batch:', '', '| starts | slowest ready ms | ÷ one alone | fetched MB (batch) |', '|---:|---:|---:|---:|');
    for (const x of conc) lines.push(`| ${x.n} | ${formatMs(x.slowestReadyMs)} | ${formatRatio(x.slowestReadyMs.median / one)} | ${formatMB(x.bytesFetched)} |`);
  }
  if (targets?.length) {
    lines.push('', 'Targets (scipy, 1 Gbit/s, 1 ms):', '', '| target | measured | met | detail |', '|---|---:|:---:|---|');
    for (const t of targets) lines.push(`| ${t.target} | ${t.measured} | ${t.met === null ? 'not measured' : t.met ? 'yes' : '**no**'} | ${t.note} |`);
  }
  if (missing.length) lines.push('', `Not in this summary (no result file): ${missing.join(', ')}.`);
  const markdown = lines.join('\n') + '\n';

  const bars = reports.flatMap(({ report }) => ROWS.map((n) => report.contenders.find((c) => c.name === n)).filter((c) => c !== undefined).map((c) => ({
    label: `${label(report)}: ${c.name}`, value: c.readyMs.median, min: c.readyMs.min, max: c.readyMs.max, group: c.family ?? c.name.split(' ')[0],
  })));
  const svg = barChartSvg({ title: 'Time to the ready line by workload, link, contender and state (median, min–max)', unit: 'ms', bars });
  return { summary, markdown, svg };
}

export function writeSuiteSummary(dir: string): void {
  const { summary, markdown, svg } = summarizeSuite(dir);
  writeFileSync(join(dir, 'suite.json'), JSON.stringify(summary, null, 2) + '\n');
  writeFileSync(join(dir, 'suite.md'), markdown);
  writeFileSync(join(dir, 'suite.svg'), svg);
  console.log(markdown);
  console.log(`[suite] wrote ${join(dir, 'suite.{json,md,svg}')}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) writeSuiteSummary(process.argv[2] ?? 'bench/results');
