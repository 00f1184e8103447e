// Entry point for scripts/bench.sh (`npm run bench -- starts`): the scipy app on the default
// link (1 Gbit/s, 1 ms RTT) with every contender (native, pull-then-run, sway cold/warm/hot)
// and 1, 4 and 8 simultaneous cold starts. Runs: SWAY_BENCH_RUNS, or 2 with SWAY_BENCH_QUICK=1, else 5.
// Writes bench/results/starts.{json,md,svg}.
import { join } from 'node:path';
import { REPO_ROOT } from '../test/helpers/tmp.js';
import { runStartsBench, runsFromEnv } from './lib/starts-bench.js';
import { WORKLOADS } from './lib/workloads.js';

await runStartsBench({
  runs: runsFromEnv(), rateMbit: 1000, rttMs: 1, out: process.env.SWAY_BENCH_RESULTS ?? join(REPO_ROOT, 'bench', 'results'),
  baseName: 'starts', workload: WORKLOADS.scipy!, pull: true, concurrency: [1, 4, 8],
});
