// Start-time benchmark, command line (issue 4 "Measure", issue 5). The work is in
// bench/lib/starts-bench.ts; this file only reads the flags.
//
//   node dist/bench/starts.js [--runs N] [--rate-mbit 1000] [--rtt-ms 1] [--out DIR] [--tag T]
//                             [--workload scipy|sympy|bigfile] [--pull] [--concurrency 1,4,8] [--quick] [--no-gzip] [--fuse-open-less]
// Defaults (scipy app, 5 runs, 1 Gbit/s, 1 ms RTT, native + sway contenders only) are what
// this command always did. --pull adds the pull-then-run contender (registry + skopeo +
// umoci), --concurrency N,M... the simultaneous cold starts, --quick 2 runs (also
// SWAY_BENCH_QUICK=1 or SWAY_BENCH_RUNS=N when --runs is not given), --no-gzip a worker that
// takes plain blobs only (the fileserver's gzip copies are what it fetches by default),
// --fuse-open-less a worker with open-less files (native/src/lazy_fs.h).
// Writes DIR/BASE.json, .md and .svg (DIR: $SWAY_BENCH_RESULTS or bench/results; BASE:
// starts, starts-WORKLOAD for another workload, or starts-T with --tag T).
// Needs root, the FUSE addon, runc, podman's localhost/sway/python-base:bookworm and its
// rootfs tarball (scripts/ensure-base-image.sh); --pull needs docker-registry, skopeo, umoci.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../test/helpers/tmp.js';
import { runStartsBench, runsFromEnv, type StartsOptions } from './lib/starts-bench.js';
import { WORKLOADS } from './lib/workloads.js';

function options(): StartsOptions {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      'rate-mbit': { type: 'string', default: '1000' },
      'rtt-ms': { type: 'string', default: '1' },
      tag: { type: 'string', default: '' },
      out: { type: 'string', default: process.env.SWAY_BENCH_RESULTS ?? join(REPO_ROOT, 'bench', 'results') },
      workload: { type: 'string', default: 'scipy' },
      pull: { type: 'boolean', default: false },
      concurrency: { type: 'string', default: '' },
      quick: { type: 'boolean', default: false },
      'no-gzip': { type: 'boolean', default: false },
      'fuse-open-less': { type: 'boolean', default: false },
    },
  });
  const runs = values.runs !== undefined ? Number(values.runs) : values.quick ? 2 : runsFromEnv();
  const rateMbit = Number(values['rate-mbit']);
  const rttMs = Number(values['rtt-ms']);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs: a whole number, 1 or more');
  if (!(rateMbit > 0) || !(rttMs >= 0)) throw new Error('--rate-mbit > 0 and --rtt-ms >= 0');
  if (values.tag && !/^[a-z0-9-]+$/.test(values.tag)) throw new Error('--tag: lower-case letters, digits and dashes');
  const workload = WORKLOADS[values.workload!];
  if (!workload) throw new Error(`--workload: one of ${Object.keys(WORKLOADS).join(', ')}`);
  const concurrency = values.concurrency ? values.concurrency.split(',').map(Number) : [];
  if (concurrency.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--concurrency: whole numbers, e.g. 1,4,8');
  const baseName = values.tag ? `starts-${values.tag}` : workload.name === 'scipy' ? 'starts' : `starts-${workload.name}`;
  return { runs, rateMbit, rttMs, out: values.out!, baseName, workload, pull: values.pull!, concurrency, workerFlags: [
    ...(values['no-gzip'] ? ['--no-gzip'] : []), ...(values['fuse-open-less'] ? ['--fuse-open-less'] : []),
  ] };
}

await runStartsBench(options());
