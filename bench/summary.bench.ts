// Entry point for scripts/bench.sh (`npm run bench -- summary`), run after the starts*
// entries (names sort so): the suite's summary table, targets and chart from the results
// they wrote (bench/lib/suite-summary.ts). Measures nothing.
import { join } from 'node:path';
import { REPO_ROOT } from '../test/helpers/tmp.js';
import { writeSuiteSummary } from './lib/suite-summary.js';

writeSuiteSummary(process.env.SWAY_BENCH_RESULTS ?? join(REPO_ROOT, 'bench', 'results'));
