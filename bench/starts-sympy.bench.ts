// Entry point for scripts/bench.sh (`npm run bench -- starts-sympy`): the heavy-import sympy app (bench/workloads/sympy-app) on 1 Gbit/s, 1 ms RTT, native, pull-then-run and sway.
// Runs: SWAY_BENCH_RUNS, or 2 with SWAY_BENCH_QUICK=1, else 5. Writes bench/results/starts-sympy.{json,md,svg}.
import { join } from 'node:path';
import { REPO_ROOT } from '../test/helpers/tmp.js';
import { runStartsBench, runsFromEnv } from './lib/starts-bench.js';
import { WORKLOADS } from './lib/workloads.js';

await runStartsBench({
  runs: runsFromEnv(), rateMbit: 1000, rttMs: 1, out: process.env.SWAY_BENCH_RESULTS ?? join(REPO_ROOT, 'bench', 'results'),
  baseName: 'starts-sympy', workload: WORKLOADS.sympy!, pull: true, concurrency: [],
});
