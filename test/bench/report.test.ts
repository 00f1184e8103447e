// The start-time report's targets and table (bench/lib/report.ts): each of issue 5's
// targets is judged from the medians it names (met, missed, or not measured when a figure
// is absent), and the Markdown rows carry the ratios against native and pull-then-run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startsMarkdown, startsRatios, startsTargets, type ContenderResult, type StartsReport } from '../../bench/lib/report.js';
import { summarize } from '../../bench/lib/stats.js';

function contender(name: string, family: ContenderResult['family'], readyMs: number[], extra: Partial<ContenderResult> = {}): ContenderResult {
  return { name, family, description: name, readyMs: summarize(readyMs), exitMs: summarize(readyMs.map((x) => x + 10)), runs: [], failures: [], ...extra };
}

function report(contenders: ContenderResult[], concurrency?: StartsReport['concurrency']): StartsReport {
  const r: StartsReport = {
    machine: { date: '2026-11-29T00:00:00Z', hostname: 'h', nproc: 2, cpuModel: 'cpu', memoryGiB: 1, kernel: 'k', node: 'v20', runc: 'runc' },
    link: { rateMbit: 1000, rttMs: 1 }, runsPerContender: 3, image: { name: 'i', id: 'x', files: 10, bytes: 1000 },
    openedFiles: { files: 5, bytes: 50 }, contenders, concurrency, ratios: startsRatios(contenders), notes: [],
  };
  r.targets = startsTargets(r);
  return r;
}

test('targets met: every bound on its own medians', () => {
  const r = report([
    contender('native cold', 'native', [400, 500, 600]),
    contender('native hot', 'native', [200, 200, 200]),
    contender('pull-then-run cold', 'pull', [20_000, 30_000, 40_000]),
    contender('sway cold', 'sway', [1000, 1200, 1400], { bytesFetched: 60 }),
    contender('sway warm', 'sway', [640, 650, 660]),
    contender('sway hot', 'sway', [210, 215, 220]),
  ], [
    { n: 1, batches: 3, slowestReadyMs: summarize([1000]), fastestReadyMs: summarize([1000]), bytesFetched: 60, linkBytes: 60, failedRuns: 0 },
    { n: 8, batches: 3, slowestReadyMs: summarize([1900]), fastestReadyMs: summarize([1500]), bytesFetched: 480, linkBytes: 60, failedRuns: 0 },
  ]);
  assert.deepEqual(r.targets!.map((t) => t.met), [true, true, true, true, true, true, true]);
  assert.equal(r.targets![0]!.measured, '25.00x faster');
  const md = startsMarkdown(r);
  // sway cold: 1200 / native cold 500 = 2.40x; / pull 30000 = 0.04x. sway hot against native hot: 215/200.
  assert.match(md, /\| sway cold \| 1200 \(1000–1400\) \| 2\.40x \| 0\.04x \|/);
  assert.match(md, /\| sway hot \| 215 \(210–220\) \| 1\.07x \|/);
  assert.match(md, /\| 8 \| 1900 \(1900–1900\) \| 1500 \(1500–1500\) \| 1\.90x \|/);
});

test('targets missed, and not measured without the figures', () => {
  const r = report([
    contender('native cold', 'native', [500]),
    contender('native hot', 'native', [200]),
    contender('sway cold', 'sway', [5000], { bytesFetched: 90 }),
    contender('sway warm', 'sway', [700]),
    contender('sway hot', 'sway', [230]),
  ]);
  const met = Object.fromEntries(r.targets!.map((t) => [t.target, t.met]));
  assert.equal(met['sway cold >= 10x faster than pull-then-run'], null);
  assert.equal(met['sway cold within 3x of native cold'], false);
  assert.equal(met['bytes fetched cold <= 1.2x the bytes of the files the app opens'], false); // 90 / 50
  assert.equal(met['bytes fetched cold < 6.4% of the image'], false); // 9%
  assert.equal(met['sway warm within 1.3x of native cold'], false); // 1.4x
  assert.equal(met['sway hot within 1.1x of native hot'], false); // 1.15x
  assert.equal(met['8 concurrent cold starts within 2x the time of one'], null);
  assert.match(startsMarkdown(r), /\| sway cold within 3x of native cold \| 10\.00x \| \*\*no\*\* \|/);
});
