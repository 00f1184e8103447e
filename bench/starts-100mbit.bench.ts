// Entry point for scripts/bench.sh (`npm run bench -- starts-100mbit`): the scipy app on the slow link (100 Mbit/s, 10 ms RTT), native, pull-then-run and sway.
// Runs: SWAY_BENCH_RUNS, or 2 with SWAY_BENCH_QUICK=1, else 5. Writes bench/results/starts-100mbit-10ms.{json,md,svg}.
import { join } from 'node:path';
import { REPO_ROOT } from '../test/helpers/tmp.js';
import { runStartsBench, runsFromEnv } from './lib/starts-bench.js';
import { WORKLOADS } from './lib/workloads.js';

await runStartsBench({
  runs: runsFromEnv(), rateMbit: 100, rttMs: 10, out: process.env.SWAY_BENCH_RESULTS ?? join(REPO_ROOT, 'bench', 'results'),
  baseName: 'starts-100mbit-10ms', workload: WORKLOADS.scipy!, pull: true, concurrency: [],
});
