// A/B of sway builds: the same cold starts, interleaved, against this tree and other
// built checkouts of sway (git worktrees), in one process on one machine. Each tree gets
// its own fileserver and worker (bench/lib/sway-hosts.ts, loaded from that tree's dist/,
// so each side runs its own code), exports the workload once and records its start
// profile; then (after one round not counted) every round restarts each side's worker on an empty cache, drops the page
// cache and times one profiled cold start (and, with --concurrency N, a batch of N at
// once), alternating which side goes first. Prints medians (min–max), fetched MB and the
// ratios against this tree. Not run by `npm run bench` (its name has no .bench): it is the
// tool for "did this change make starts faster or slower", which a single run of the suite
// cannot answer on a noisy machine. Besides the medians it prints each round's ratio (the
// two sides of a round run back to back) and whether one side won every round.
//
//   node dist/bench/ab-trees.js --tree /work/before [--tree DIR...] [--workload scipy]
//        [--rounds 4] [--concurrency 8] [--rate-mbit 1000] [--rtt-ms 1] [--worker-flag=--no-gzip...]
// (a tree: `git worktree add /work/before REV`, `npm ci` or a node_modules link, `npm run build`).
import { mkdtemp, cp, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../test/helpers/tmp.js';
import type { SwayHosts as SwayHostsClass } from './lib/sway-hosts.js';
import { WORKLOADS } from './lib/workloads.js';
import { formatMs, summarize } from './lib/stats.js';

interface Side {
  tree: string;
  /** Its hosts' directory (fileserver store, worker cache: about a GB), removed at the end. */
  dir: string;
  hosts: SwayHostsClass;
  project: string;
  cold: number[];
  fetchedMB: number[];
  batch: number[];
}

const { values } = parseArgs({
  options: {
    tree: { type: 'string', multiple: true, default: [] },
    workload: { type: 'string', default: 'scipy' },
    rounds: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '0' },
    'rate-mbit': { type: 'string', default: '1000' },
    'rtt-ms': { type: 'string', default: '1' },
    'worker-flag': { type: 'string', multiple: true, default: [] },
  },
});
const workload = WORKLOADS[values.workload!];
if (!workload) throw new Error(`--workload: one of ${Object.keys(WORKLOADS).join(', ')}`);
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(concurrency) || concurrency < 0) throw new Error('--rounds >= 1 and --concurrency >= 0: whole numbers');
const trees = [REPO_ROOT, ...values.tree!.map((t) => resolve(t))];
if (trees.length < 2) throw new Error('give at least one --tree DIR (a built checkout of sway) to compare this tree with');
const link = { rateMbit: Number(values['rate-mbit']), rttMs: Number(values['rtt-ms']) };

const dropCaches = (): void => { execFileSync('sh', ['-c', 'sync; echo 3 > /proc/sys/vm/drop_caches']); };

async function coldStart(side: Side): Promise<void> {
  await side.hosts.restartWorker({ clearCache: true });
  dropCaches();
  const run = await side.hosts.run(side.project, workload.script, workload.ready);
  side.cold.push(run.readyMs);
  side.fetchedMB.push((await side.hosts.lastRun()).bytesFetched / 1e6);
}

async function batch(side: Side, n: number): Promise<void> {
  await side.hosts.restartWorker({ clearCache: true });
  dropCaches();
  const runs = await Promise.all(Array.from({ length: n }, () => side.hosts.run(side.project, workload.script, workload.ready)));
  side.batch.push(Math.max(...runs.map((r) => r.readyMs)));
}

const sides: Side[] = [];
try {
  for (const tree of trees) {
    const { SwayHosts } = (await import(join(tree, 'dist/bench/lib/sway-hosts.js'))) as { SwayHosts: typeof SwayHostsClass };
    const dir = await mkdtemp(join(tmpdir(), 'sway-ab-'));
    const hosts = await SwayHosts.start(dir, link, values['worker-flag']!).catch(async (err: unknown) => {
      await rm(dir, { recursive: true, force: true });
      throw err;
    });
    const project = join(dir, workload.name);
    sides.push({ tree, dir, hosts, project, cold: [], fetchedMB: [], batch: [] });
    await cp(workload.project, project, { recursive: true });
    await hosts.exportImage(project);
    // The first run records the start profile; the next makes the fileserver's gzip copies.
    await hosts.run(project, workload.script, workload.ready);
    await hosts.restartWorker({ clearCache: true });
    await hosts.run(project, workload.script, workload.ready);
    console.log(`[ab] ${tree}: exported and profiled`);
  }
  // Round 0 is not counted: the fileserver may still be making its gzip copies.
  for (let round = -1; round < rounds; round++) {
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      await coldStart(side);
      if (concurrency > 0) await batch(side, concurrency);
    }
    if (round < 0) {
      for (const s of sides) { s.cold.length = 0; s.fetchedMB.length = 0; s.batch.length = 0; }
      continue;
    }
    console.log(`[ab] round ${round + 1}/${rounds}: ` + sides.map((s) => `${s.tree} cold ${Math.round(s.cold.at(-1)!)} ms${concurrency ? `, ${concurrency} at once ${Math.round(s.batch.at(-1)!)} ms` : ''}`).join('; '));
  }
  const base = summarize(sides[0]!.cold).median;
  console.log(`\n${workload.name}, ${link.rateMbit} Mbit/s ${link.rttMs} ms, ${rounds} rounds, median (min–max) ms:`);
  for (const s of sides) {
    const cold = summarize(s.cold);
    const many = summarize(s.batch);
    console.log(`  ${s.tree}: cold ${formatMs(cold)} (${(cold.median / base).toFixed(2)}x this tree), fetched ${summarize(s.fetchedMB).median.toFixed(1)} MB` +
      (concurrency ? `; slowest of ${concurrency} at once ${formatMs(many)}, ${(many.median / cold.median).toFixed(2)}x one alone` : ''));
  }
  // Round by round: the two sides of a round ran back to back, so the machine's slow drifts
  // (other tenants, page cache, thermal) cancel in their ratio better than in the medians.
  for (const s of sides.slice(1)) {
    const paired = s.cold.map((ms, i) => ms / sides[0]!.cold[i]!);
    const r = summarize(paired);
    const faster = paired.filter((x) => x < 1).length;
    const verdict = r.max < 1 ? 'faster in every round' : r.min > 1 ? 'slower in every round' : 'no consistent difference';
    console.log(`  ${s.tree} ÷ this tree, per round: ${r.median.toFixed(2)}x (${r.min.toFixed(2)}–${r.max.toFixed(2)}), faster in ${faster} of ${paired.length} rounds: ${verdict}`);
  }
} finally {
  for (const s of sides) {
    await s.hosts.close().catch(() => {});
    await rm(s.dir, { recursive: true, force: true });
  }
}
