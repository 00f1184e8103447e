// The start-time benchmark's results as Markdown: machine and link header, one row per
// contender (time to the ready line, bytes, cache hits), then the ratios the issue asks for.
import type { MachineInfo } from './machine.js';
import { formatMB, formatMs, formatRatio, type Summary } from './stats.js';

export interface ContenderResult {
  name: string;
  description: string;
  /** Time to the ready line, ms (sway: `sway run` end to end, CLI start included). */
  readyMs: Summary;
  /** Time to the process's exit, ms. */
  exitMs: Summary;
  /** From spawning `sway run` to the run log's start row (the container about to start), ms; sway only. */
  toContainerStartMs?: Summary;
  /** The worker's own duration of the run (run log), ms; sway only. */
  workerRunMs?: Summary;
  /** Medians over the runs (sway only). */
  bytesFetched?: number;
  linkBytes?: number;
  serverFetches?: number;
  memoryHits?: number;
  diskHits?: number;
  runs: Record<string, unknown>[];
  /** Runs that did not print the ready line or exited non-zero (left out of the figures). */
  failures: { run: number; exit: number | null; error: string }[];
}

export interface StartsReport {
  machine: MachineInfo;
  link: { rateMbit: number; rttMs: number };
  runsPerContender: number;
  image: { name: string; id: string; files: number; bytes: number };
  contenders: ContenderResult[];
  ratios: Record<string, number>;
  notes: string[];
}

/**
 * The ratios the issue asks for, on medians: end to end (sway's ready line, CLI start
 * included, against native's), and the worker's run alone against native's exit (both
 * from overlay mount to container exit).
 */
export function startsRatios(contenders: ContenderResult[]): Record<string, number> {
  const find = (name: string) => contenders.find((c) => c.name === name);
  const ready = (name: string) => find(name)?.readyMs.median ?? NaN;
  const exit = (name: string) => find(name)?.exitMs.median ?? NaN;
  const workerRun = (name: string) => find(name)?.workerRunMs?.median ?? NaN;
  return {
    'sway cold / native cold, ready line': ready('sway cold') / ready('native cold'),
    'sway warm / native cold, ready line': ready('sway warm') / ready('native cold'),
    'sway hot / native hot, ready line': ready('sway hot') / ready('native hot'),
    'sway cold worker run / native cold exit': workerRun('sway cold') / exit('native cold'),
    'sway warm worker run / native cold exit': workerRun('sway warm') / exit('native cold'),
    'sway hot worker run / native hot exit': workerRun('sway hot') / exit('native hot'),
  };
}

export function startsMarkdown(r: StartsReport): string {
  const m = r.machine;
  const lines: string[] = [];
  lines.push('# Start times: sway vs runc on a local rootfs', '');
  lines.push(`${m.date} on ${m.hostname}: ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB memory, kernel ${m.kernel}, node ${m.node}, ${m.runc}.`);
  lines.push(`Link between worker and fileserver: ${r.link.rateMbit} Mbit/s (tc tbf), ${r.link.rttMs} ms RTT (delay proxy). App: examples/quickstart/app.py (numpy + scipy SVD), ready line \`svd: ...\`.`);
  lines.push(`Image ${r.image.name}: ${r.image.files} files, ${formatMB(r.image.bytes)} MB in files. Median (min–max) of ${r.runsPerContender} runs each; produced by \`node dist/bench/starts.js\`.`, '');
  lines.push('| contender | ready ms | exit ms | to container start ms | worker run ms | fetched MB | share of image | link MB | server fetches | memory / disk hits | failed runs |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const c of r.contenders) {
    const share = c.bytesFetched === undefined ? '–' : `${((c.bytesFetched / r.image.bytes) * 100).toFixed(2)}%`;
    const hits = c.memoryHits === undefined ? '–' : `${c.memoryHits} / ${c.diskHits}`;
    lines.push(`| ${c.name} | ${formatMs(c.readyMs)} | ${formatMs(c.exitMs)} | ${c.toContainerStartMs ? formatMs(c.toContainerStartMs) : '–'} | ${c.workerRunMs ? formatMs(c.workerRunMs) : '–'} | ${formatMB(c.bytesFetched)} | ${share} | ${formatMB(c.linkBytes)} | ${c.serverFetches ?? '–'} | ${hits} | ${(c.failures ?? []).length} |`);
  }
  lines.push('', '| ratio (of medians) | value |', '|---|---:|');
  for (const [k, v] of Object.entries(r.ratios)) lines.push(`| ${k} | ${formatRatio(v)} |`);
  lines.push('', ...r.contenders.map((c) => `- **${c.name}**: ${c.description}`));
  for (const c of r.contenders) {
    for (const f of c.failures ?? []) lines.push(`- failed: ${c.name} run ${f.run} (exit ${f.exit}): ${f.error}`);
  }
  if (r.notes.length) lines.push('', ...r.notes.map((n) => `- ${n}`));
  return lines.join('\n') + '\n';
}
