// The start-time benchmark's results: the JSON shape, the Markdown table (machine and link
// header, one row per contender: time to the ready line, bytes, requests, cache hits,
// ratios against native and against pull-then-run), the concurrency table, the issue's
// targets (met or missed), and the SVG chart of start time by contender and state.
import type { MachineInfo } from './machine.js';
import { formatMB, formatMs, formatRatio, type Summary } from './stats.js';
import { barChartSvg } from './svg-chart.js';
import type { CachedBlob } from './cache-inventory.js';

export interface ContenderResult {
  name: string;
  description: string;
  /** native, pull (pull-then-run), sway, or floor (the CLI's own start). Absent in older results. */
  family?: 'native' | 'pull' | 'sway' | 'floor';
  state?: 'cold' | 'warm' | 'hot';
  /** Time to the ready line, ms (sway: `sway run` end to end, CLI start included). */
  readyMs: Summary;
  /** Time to the process's exit, ms. */
  exitMs: Summary;
  /** From spawning `sway run` to the run log's start row (the container about to start), ms; sway only. */
  toContainerStartMs?: Summary;
  /** The worker's own duration of the run (run log), ms; sway only. */
  workerRunMs?: Summary;
  /** pull-then-run only: the skopeo copy and the umoci unpack, ms. */
  pullMs?: Summary;
  unpackMs?: Summary;
  /** Medians over the runs. bytesFetched: sway's fetched blob bytes; pull's OCI layout bytes. */
  bytesFetched?: number;
  linkBytes?: number;
  /** Requests to the server: sway's blob fetches, pull's registry requests. */
  requests?: number;
  serverFetches?: number;
  memoryHits?: number;
  diskHits?: number;
  runs: Record<string, unknown>[];
  /** Runs that did not print the ready line or exited non-zero (left out of the figures). */
  failures: { run: number; exit: number | null; error: string }[];
}

export interface ConcurrencyResult {
  /** Simultaneous cold `sway run`s on one worker. */
  n: number;
  batches: number;
  /** Per batch, the slowest run's ready ms; summarized over batches. */
  slowestReadyMs: Summary;
  fastestReadyMs: Summary;
  /** Median over batches of the bytes the worker fetched for the whole batch. */
  bytesFetched: number;
  linkBytes: number;
  failedRuns: number;
}

export interface TargetResult {
  target: string;
  measured: string;
  met: boolean | null;
  note: string;
}

export interface StartsReport {
  machine: MachineInfo;
  link: { rateMbit: number; rttMs: number };
  runsPerContender: number;
  workload?: { name: string; description: string };
  image: { name: string; id: string; files: number; bytes: number };
  /** The files the app opens (strace of a native run) and their bytes: the yardstick for fetched bytes. */
  openedFiles?: { files: number; bytes: number; paths?: string[] };
  /** The worker's disk cache after the last sway cold run: what it fetched, by blob (bench/lib/cache-inventory.ts). */
  coldCache?: { wholeBytes: number; partialBytes: number; notOpenedBytes?: number; blobs: number; largest: CachedBlob[] };
  contenders: ContenderResult[];
  concurrency?: ConcurrencyResult[];
  ratios: Record<string, number>;
  targets?: TargetResult[];
  notes: string[];
}

/** Figures that JSON turns from NaN (a series whose runs all failed) into null. */
const NUMERIC_KEYS = new Set(['median', 'min', 'max', 'bytesFetched', 'linkBytes', 'requests', 'serverFetches', 'memoryHits', 'diskHits']);

/** Parse a saved StartsReport, its missing figures back to NaN (so ratios say – and not 0). */
export function parseStartsReport(json: string): StartsReport {
  return JSON.parse(json, (key, value) => (value === null && NUMERIC_KEYS.has(key) ? NaN : value)) as StartsReport;
}

const find = (contenders: ContenderResult[], name: string) => contenders.find((c) => c.name === name);
const readyOf = (contenders: ContenderResult[], name: string) => find(contenders, name)?.readyMs.median ?? NaN;
export const PULL = 'pull-then-run cold';

/**
 * The ratios the issue asks for, on medians: end to end (sway's ready line, CLI start
 * included, against native's and pull-then-run's), and the worker's run alone against
 * native's exit (both from overlay mount to container exit).
 */
export function startsRatios(contenders: ContenderResult[]): Record<string, number> {
  const ready = (name: string) => readyOf(contenders, name);
  const exit = (name: string) => find(contenders, name)?.exitMs.median ?? NaN;
  const workerRun = (name: string) => find(contenders, name)?.workerRunMs?.median ?? NaN;
  const ratios: Record<string, number> = {
    'sway cold / native cold, ready line': ready('sway cold') / ready('native cold'),
    'sway warm / native cold, ready line': ready('sway warm') / ready('native cold'),
    'sway hot / native hot, ready line': ready('sway hot') / ready('native hot'),
    'sway cold worker run / native cold exit': workerRun('sway cold') / exit('native cold'),
    'sway warm worker run / native cold exit': workerRun('sway warm') / exit('native cold'),
    'sway hot worker run / native hot exit': workerRun('sway hot') / exit('native hot'),
  };
  if (find(contenders, PULL)) {
    ratios['pull-then-run / sway cold, ready line (speed-up of sway)'] = ready(PULL) / ready('sway cold');
    ratios['pull-then-run / native cold, ready line'] = ready(PULL) / ready('native cold');
  }
  return ratios;
}

/** The native row a contender is compared with: native hot for hot states, native cold otherwise. */
function nativeBaseline(c: ContenderResult): string {
  return c.state === 'hot' || c.name.endsWith(' hot') ? 'native hot' : 'native cold';
}

/**
 * The issue's targets (stated for the scipy app on 1 Gbit/s, 1 ms RTT; computed for every
 * report so other workloads and links show where they stand). met = null: not measured.
 */
export function startsTargets(r: StartsReport): TargetResult[] {
  const c = r.contenders;
  const ready = (name: string) => readyOf(c, name);
  const cold = find(c, 'sway cold');
  const out: TargetResult[] = [];
  const ratioTarget = (target: string, value: number, bound: number, note: string) =>
    out.push({ target, measured: formatRatio(value), met: Number.isFinite(value) ? value <= bound : null, note });
  const speedup = ready(PULL) / ready('sway cold');
  out.push({ target: 'sway cold >= 10x faster than pull-then-run', measured: Number.isFinite(speedup) ? `${speedup.toFixed(2)}x faster` : '–', met: Number.isFinite(speedup) ? speedup >= 10 : null,
    note: `pull-then-run ${Math.round(ready(PULL))} ms vs sway cold ${Math.round(ready('sway cold'))} ms` });
  ratioTarget('sway cold within 3x of native cold', ready('sway cold') / ready('native cold'), 3,
    cold ? `sway cold ${Math.round(ready('sway cold'))} ms (worker run ${Math.round(cold.workerRunMs?.median ?? NaN)} ms, ${formatMB(cold.bytesFetched)} MB in ${cold.serverFetches ?? '–'} fetches) vs native cold ${Math.round(ready('native cold'))} ms` : 'no sway cold run');
  const openedRatio = (cold?.bytesFetched ?? NaN) / (r.openedFiles?.bytes ?? NaN);
  ratioTarget('bytes fetched cold <= 1.2x the bytes of the files the app opens', openedRatio, 1.2,
    `${formatMB(cold?.bytesFetched)} MB fetched; the app opens ${r.openedFiles?.files ?? '–'} files of ${formatMB(r.openedFiles?.bytes)} MB (strace of a native run)`);
  const share = (cold?.bytesFetched ?? NaN) / r.image.bytes;
  out.push({ target: 'bytes fetched cold < 6.4% of the image', measured: Number.isFinite(share) ? `${(share * 100).toFixed(2)}%` : '–', met: Number.isFinite(share) ? share < 0.064 : null,
    note: `${formatMB(cold?.bytesFetched)} MB of ${formatMB(r.image.bytes)} MB` });
  ratioTarget('sway warm within 1.3x of native cold', ready('sway warm') / ready('native cold'), 1.3, `${Math.round(ready('sway warm'))} ms vs ${Math.round(ready('native cold'))} ms`);
  ratioTarget('sway hot within 1.1x of native hot', ready('sway hot') / ready('native hot'), 1.1, `${Math.round(ready('sway hot'))} ms vs ${Math.round(ready('native hot'))} ms`);
  const one = r.concurrency?.find((x) => x.n === 1);
  const eight = r.concurrency?.find((x) => x.n === 8);
  ratioTarget('8 concurrent cold starts within 2x the time of one', (eight?.slowestReadyMs.median ?? NaN) / (one?.slowestReadyMs.median ?? NaN), 2,
    eight && one ? `slowest of 8: ${Math.round(eight.slowestReadyMs.median)} ms vs one alone: ${Math.round(one.slowestReadyMs.median)} ms` : 'concurrency not measured in this run');
  return out;
}

export function startsMarkdown(r: StartsReport): string {
  const m = r.machine;
  const lines: string[] = [];
  const pullReady = readyOf(r.contenders, PULL);
  lines.push(`# Start times: sway vs runc on a local rootfs${Number.isFinite(pullReady) ? ' vs pull-then-run' : ''}`, '');
  lines.push(`${m.date} on ${m.hostname}: ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB memory, kernel ${m.kernel}, node ${m.node}, ${m.runc}.`);
  lines.push(`Link between worker and fileserver: ${r.link.rateMbit} Mbit/s (tc tbf), ${r.link.rttMs} ms RTT (delay proxy). App: ${r.workload?.description ?? 'examples/quickstart/app.py (numpy + scipy SVD), ready line `svd: ...`'}.`);
  const opened = r.openedFiles ? ` The app opens ${r.openedFiles.files} of its files, ${formatMB(r.openedFiles.bytes)} MB (${((r.openedFiles.bytes / r.image.bytes) * 100).toFixed(2)}% of the image).` : '';
  lines.push(`Image ${r.image.name}: ${r.image.files} files, ${formatMB(r.image.bytes)} MB in files.${opened} Median (min–max) of ${r.runsPerContender} runs each; produced by \`node dist/bench/starts.js\`.`, '');
  lines.push('| contender | ready ms | ÷ native | ÷ pull-then-run | exit ms | worker run ms | fetched MB | share of image | link MB | requests | hits memory / disk / server | failed runs |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const c of r.contenders) {
    const isFloor = c.family === 'floor' || c.name.includes('(floor)');
    // A series whose runs all failed has NaN medians: shown as –, like an absent figure.
    const known = (x: number | undefined): x is number => x !== undefined && Number.isFinite(x);
    const share = known(c.bytesFetched) ? `${((c.bytesFetched / r.image.bytes) * 100).toFixed(2)}%` : '–';
    const hits = known(c.memoryHits) ? `${c.memoryHits} / ${c.diskHits} / ${c.serverFetches}` : '–';
    const vsNative = isFloor ? '–' : formatRatio(c.readyMs.median / readyOf(r.contenders, nativeBaseline(c)));
    const vsPull = isFloor ? '–' : formatRatio(c.readyMs.median / pullReady);
    const requests = c.requests ?? c.serverFetches;
    lines.push(`| ${c.name} | ${formatMs(c.readyMs)} | ${vsNative} | ${vsPull} | ${formatMs(c.exitMs)} | ${c.workerRunMs ? formatMs(c.workerRunMs) : '–'} | ${formatMB(c.bytesFetched)} | ${share} | ${formatMB(c.linkBytes)} | ${known(requests) ? requests : '–'} | ${hits} | ${(c.failures ?? []).length} |`);
  }
  lines.push('', '÷ native: against native cold (native hot for hot rows); ÷ pull-then-run: against the pull-then-run median; below 1 is faster.');
  if (r.coldCache) {
    const cc = r.coldCache;
    lines.push('', '### What the last cold run fetched', '',
      `${formatMB(cc.wholeBytes)} MB in whole blobs, ${formatMB(cc.partialBytes)} MB in chunks of partially fetched ones (files over 1 MiB), ${cc.blobs} blobs${cc.notOpenedBytes !== undefined ? `; ${formatMB(cc.notOpenedBytes)} MB in blobs the app is not seen to open (e.g. the interpreter, which is executed, not opened)` : ''}. The largest:`, '',
      '| path | in cache MB | file MB | fetched |', '|---|---:|---:|---|');
    for (const b of cc.largest.slice(0, 12)) lines.push(`| ${b.paths[0] ?? b.hash.slice(0, 12)}${b.paths.length > 1 ? ` (+${b.paths.length - 1} more paths)` : ''} | ${formatMB(b.cachedBytes)} | ${formatMB(b.size)} | ${b.partial ? 'chunks' : 'whole'}${b.opened === false ? ', not seen opened' : ''} |`);
  }
  if (r.concurrency?.length) {
    const one = r.concurrency.find((x) => x.n === 1)?.slowestReadyMs.median ?? NaN;
    lines.push('', '### Simultaneous cold starts on one worker', '',
      '| starts | slowest ready ms | fastest ready ms | slowest ÷ one alone | fetched MB (batch) | link MB (batch) | batches | failed runs |', '|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const x of r.concurrency) {
      lines.push(`| ${x.n} | ${formatMs(x.slowestReadyMs)} | ${formatMs(x.fastestReadyMs)} | ${formatRatio(x.slowestReadyMs.median / one)} | ${formatMB(x.bytesFetched)} | ${formatMB(x.linkBytes)} | ${x.batches} | ${x.failedRuns} |`);
    }
    lines.push('', 'Each batch: worker restarted on an empty cache, page cache dropped, N `sway run`s spawned at once. fetched MB (batch) sums the run log\'s per-run figures, and runs that wait on the same fetch each count it; link MB is what actually crossed the link.');
  }
  lines.push('', '| ratio (of medians) | value |', '|---|---:|');
  for (const [k, v] of Object.entries(r.ratios)) lines.push(`| ${k} | ${formatRatio(v)} |`);
  if (r.targets?.length) {
    lines.push('', '### Targets (issue 5; stated for the scipy app on 1 Gbit/s, 1 ms)', '', '| target | measured | met | detail |', '|---|---:|:---:|---|');
    for (const t of r.targets) lines.push(`| ${t.target} | ${t.measured} | ${t.met === null ? 'not measured' : t.met ? 'yes' : '**no**'} | ${t.note} |`);
  }
  lines.push('', ...r.contenders.map((c) => `- **${c.name}**: ${c.description}`));
  for (const c of r.contenders) {
    for (const f of c.failures ?? []) lines.push(`- failed: ${c.name} run ${f.run} (exit ${f.exit}): ${f.error}`);
  }
  if (r.notes.length) lines.push('', ...r.notes.map((n) => `- ${n}`));
  return lines.join('\n') + '\n';
}

/** Start time (median, min–max whiskers) by contender and state, as an SVG bar chart. */
export function startsChartSvg(r: StartsReport): string {
  const rows = r.contenders.filter((c) => c.family !== 'floor' && !c.name.includes('(floor)'));
  return barChartSvg({
    title: `${r.workload?.name ?? 'scipy'}: time to the ready line, ${r.link.rateMbit} Mbit/s, ${r.link.rttMs} ms RTT (median, min–max)`,
    unit: 'ms',
    bars: rows.map((c) => ({ label: c.name, value: c.readyMs.median, min: c.readyMs.min, max: c.readyMs.max, group: c.family ?? c.name.split(' ')[0] })),
  });
}
