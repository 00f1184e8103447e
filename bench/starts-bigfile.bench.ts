// Entry point for scripts/bench.sh (`npm run bench -- starts-bigfile`): the large-file app (64 MiB read out of 1 GiB, bench/workloads/bigfile-app) on 1 Gbit/s, 1 ms RTT, native, pull-then-run and sway.
// Runs: SWAY_BENCH_RUNS, or 2 with SWAY_BENCH_QUICK=1, else 5. Writes bench/results/starts-bigfile.{json,md,svg}.
import { join } from 'node:path';
import { REPO_ROOT } from '../test/helpers/tmp.js';
import { runStartsBench, runsFromEnv } from './lib/starts-bench.js';
import { WORKLOADS } from './lib/workloads.js';

await runStartsBench({
  runs: runsFromEnv(), rateMbit: 1000, rttMs: 1, out: process.env.SWAY_BENCH_RESULTS ?? join(REPO_ROOT, 'bench', 'results'),
  baseName: 'starts-bigfile', workload: WORKLOADS.bigfile!, pull: true, concurrency: [],
});
