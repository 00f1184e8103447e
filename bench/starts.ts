// Start-time benchmark (issue 4 "Measure", first slice of issue 5): the quick-start app
// (examples/quickstart/app.py, ready line = its svd print) started
//   native cold / hot:  runc on a plain extracted copy of the image's rootfs (ext4),
//                       page cache dropped before each cold run;
//   sway cold:          `sway run app.py` with the worker restarted on an empty disk cache
//                       (blobs and manifests deleted) and the page cache dropped;
//   sway warm:          worker restarted (in-memory state gone) on a full disk cache,
//                       page cache dropped;
//   sway hot:           right after another run: everything cached.
// The fileserver lives in one network namespace, the worker and the CLI in another, over
// a veth link shaped with tbf and a delay proxy (default 1 Gbit/s, 1 ms RTT).
// Not a test: it never asserts a timing. It fails only when the app does not run right.
//
//   node dist/bench/starts.js [--runs N] [--rate-mbit 1000] [--rtt-ms 1] [--out DIR] [--tag T]
// Writes DIR/starts.json and DIR/starts.md (DIR: $SWAY_BENCH_RESULTS or bench/results;
// with --tag T, starts-T.json and starts-T.md, e.g. for another network profile).
// Needs root, the FUSE addon, runc, podman's localhost/sway/python-base:bookworm and its
// rootfs tarball (scripts/ensure-base-image.sh).
import { cpSync, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT, removeTempDir } from '../test/helpers/tmp.js';
import { ADDON_PATH } from '../ts/worker/fuse/native.js';
import { decodeManifest, type ImageConfig } from '../ts/common/manifest.js';
import { fanoutPath } from '../ts/common/hash.js';
import type { RunRecord } from '../ts/worker/run-log.js';
import { describeMachine } from './lib/machine.js';
import { NativeRunner } from './lib/native.js';
import { SwayHosts } from './lib/sway-hosts.js';
import { summarize } from './lib/stats.js';
import { startsMarkdown, startsRatios, type ContenderResult, type StartsReport } from './lib/report.js';
import { timedCommand, type TimedResult } from './lib/timed.js';
import { SWAY_BIN } from '../test/helpers/cli.js';

const READY = /svd: u=\(100, 100\), s=\(100,\)/;
const TARBALL = process.env.SWAY_BASE_TARBALL ?? '/var/cache/sway-test/python-base-bookworm.tar';
const QUICKSTART = join(REPO_ROOT, 'examples', 'quickstart');

function options() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      'rate-mbit': { type: 'string', default: '1000' },
      'rtt-ms': { type: 'string', default: '1' },
      tag: { type: 'string', default: '' },
      out: { type: 'string', default: process.env.SWAY_BENCH_RESULTS ?? join(REPO_ROOT, 'bench', 'results') },
    },
  });
  const runs = Number(values.runs);
  const rateMbit = Number(values['rate-mbit']);
  const rttMs = Number(values['rtt-ms']);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs: a whole number, 1 or more');
  if (!(rateMbit > 0) || !(rttMs >= 0)) throw new Error('--rate-mbit > 0 and --rtt-ms >= 0');
  if (values.tag && !/^[a-z0-9-]+$/.test(values.tag)) throw new Error('--tag: lower-case letters, digits and dashes');
  return { runs, rateMbit, rttMs, out: values.out!, baseName: values.tag ? `starts-${values.tag}` : 'starts' };
}

function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'root (namespaces, FUSE, runc, drop_caches)';
  if (!existsSync(ADDON_PATH)) return `the FUSE addon at ${ADDON_PATH} (npm run build:native)`;
  if (!existsSync(TARBALL)) return `the base rootfs tarball ${TARBALL} (scripts/ensure-base-image.sh)`;
  return undefined;
}

/** Write back dirty pages, then drop the page cache, dentries and inodes (the whole machine's). */
function dropCaches(): void {
  execFileSync('sync');
  execFileSync('sh', ['-c', 'echo 3 > /proc/sys/vm/drop_caches']);
}

function ranRight(r: TimedResult): boolean {
  return r.code === 0 && !Number.isNaN(r.readyMs);
}

function checkRan(what: string, r: TimedResult): void {
  if (!ranRight(r)) throw new Error(`${what}: exit ${r.code}, no ready line\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

/** The line of a failed run's stderr that says most: its last non-empty line. */
function failureLine(r: TimedResult): string {
  return r.stderr.trim().split('\n').pop()?.trim() || `no ready line; stdout: ${r.stdout.slice(0, 200)}`;
}

function median(values: number[]): number {
  return summarize(values).median;
}

async function main(): Promise<void> {
  const opts = options();
  const missing = missingPrerequisite();
  if (missing) {
    console.log(`starts bench skipped: needs ${missing}`);
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'sway-bench-starts-'));
  let hosts: SwayHosts | undefined;
  let native: NativeRunner | undefined;
  const log = (s: string) => console.log(`[starts] ${s}`);
  try {
    log(`network: ${opts.rateMbit} Mbit/s, ${opts.rttMs} ms RTT; ${opts.runs} runs per contender; work dir ${dir}`);
    hosts = await SwayHosts.start(dir, { rateMbit: opts.rateMbit, rttMs: opts.rttMs });
    const project = join(dir, 'quickstart');
    cpSync(QUICKSTART, project, { recursive: true });
    log('sway export (podman build + publish over the link)');
    const exported = await hosts.exportImage(project);
    log(`exported ${exported.image} ${exported.id.slice(0, 12)}: ${exported.files} files, ${(exported.bytes / 1e6).toFixed(1)} MB, ${exported.seconds.toFixed(1)} s`);

    // The image as the worker sees it: the manifest blob, read from the fileserver's store.
    const manifest = decodeManifest(await readFile(join(hosts.fileserverDataDir, 'blobs', fanoutPath(exported.id))));
    const imageBytes = manifest.entries.reduce((n, e) => n + (e.type === 'file' ? e.size : 0), 0);
    const imageFiles = manifest.entries.filter((e) => e.type === 'file').length;
    const config: ImageConfig = manifest.config;

    log('extracting the rootfs for native runs');
    native = await NativeRunner.prepare(join(dir, 'native'), TARBALL, config, { name: 'app.py', path: join(project, 'app.py') });

    const contenders: ContenderResult[] = [];
    const nativeSeries = async (name: string, cold: boolean): Promise<void> => {
      const results: TimedResult[] = [];
      if (!cold) checkRan(`${name} warm-up`, await native!.run(READY));
      for (let i = 0; i < opts.runs; i++) {
        if (cold) dropCaches();
        const r = await native!.run(READY);
        checkRan(name, r);
        log(`${name} #${i + 1}: ready ${r.readyMs.toFixed(0)} ms, exit ${r.exitMs.toFixed(0)} ms`);
        results.push(r);
      }
      contenders.push({
        name,
        description: cold
          ? 'runc run on an overlay over the extracted rootfs (ext4), the worker\'s config.json; page cache dropped before each run; timed from the overlay mount to runc\'s exit.'
          : 'the same, right after another run (page cache hot).',
        readyMs: summarize(results.map((r) => r.readyMs)),
        exitMs: summarize(results.map((r) => r.exitMs)),
        runs: results.map((r) => ({ readyMs: r.readyMs, exitMs: r.exitMs })),
        failures: [],
      });
    };

    const swaySeries = async (name: string, description: string, before: (i: number) => Promise<void>): Promise<void> => {
      const runs: (TimedResult & { record: RunRecord; linkBytes: number })[] = [];
      const failures: ContenderResult['failures'] = [];
      for (let i = 0; i < opts.runs; i++) {
        await before(i);
        const linkBefore = hosts!.linkBytesReceived();
        const r = await hosts!.run(project, 'app.py', READY);
        const linkBytes = hosts!.linkBytesReceived() - linkBefore;
        if (!ranRight(r)) {
          // A benchmark reports a failed start rather than stopping: it is a finding too.
          failures.push({ run: i + 1, exit: r.code, error: failureLine(r) });
          log(`${name} #${i + 1}: FAILED, exit ${r.code}\n${r.stderr.trim()}\n--- worker log, last lines:\n${hosts!.workerLogTail()}`);
          continue;
        }
        const record = await hosts!.lastRun();
        log(`${name} #${i + 1}: ready ${r.readyMs.toFixed(0)} ms, exit ${r.exitMs.toFixed(0)} ms, container start at ${record.startedAt - r.spawnedAt} ms, worker ${record.durationMs} ms, fetched ${(record.bytesFetched / 1e6).toFixed(1)} MB in ${record.serverFetches} fetches, hits mem ${record.memoryHits} disk ${record.diskHits}, link ${(linkBytes / 1e6).toFixed(1)} MB`);
        runs.push({ ...r, record, linkBytes });
      }
      contenders.push({
        name,
        description,
        readyMs: summarize(runs.map((r) => r.readyMs)),
        exitMs: summarize(runs.map((r) => r.exitMs)),
        toContainerStartMs: summarize(runs.map((r) => r.record.startedAt - r.spawnedAt)),
        workerRunMs: summarize(runs.map((r) => r.record.durationMs ?? NaN)),
        bytesFetched: median(runs.map((r) => r.record.bytesFetched)),
        linkBytes: median(runs.map((r) => r.linkBytes)),
        serverFetches: median(runs.map((r) => r.record.serverFetches)),
        memoryHits: median(runs.map((r) => r.record.memoryHits)),
        diskHits: median(runs.map((r) => r.record.diskHits)),
        runs: runs.map((r) => ({
          readyMs: r.readyMs, exitMs: r.exitMs, toContainerStartMs: r.record.startedAt - r.spawnedAt, workerRunMs: r.record.durationMs, runId: r.record.id, linkBytes: r.linkBytes,
          bytesFetched: r.record.bytesFetched, serverFetches: r.record.serverFetches, memoryHits: r.record.memoryHits, diskHits: r.record.diskHits, eios: r.record.eios,
        })),
        failures,
      });
    };

    await nativeSeries('native cold', true);
    await nativeSeries('native hot', false);
    await swaySeries('sway cold',
      '`sway run app.py` end to end (CLI start, script upload check, run, output); before each run the worker is stopped, its blob cache and stored manifests deleted, restarted, and the page cache dropped.',
      async () => { await hosts!.restartWorker({ clearCache: true }); dropCaches(); });
    await swaySeries('sway warm',
      'the same; before each run the worker is restarted on its full disk cache (its in-memory state and the kernel\'s FUSE caches are gone with the unmount) and the page cache dropped.',
      async (i) => {
        // The disk cache must be full even if the last cold run failed half-way: fill it once.
        if (i === 0) await hosts!.run(project, 'app.py', READY);
        await hosts!.restartWorker({ clearCache: false });
        dropCaches();
      });
    await swaySeries('sway hot', 'the same, right after another run of the same worker (nothing dropped).', async (i) => {
      if (i === 0) await hosts!.run(project, 'app.py', READY); // fills every cache; its outcome does not count
    });

    // The floor under every `sway run`: starting the CLI itself (node, its modules).
    const cliSeries = async (name: string, cold: boolean): Promise<void> => {
      const results: TimedResult[] = [];
      for (let i = 0; i < opts.runs; i++) {
        if (cold) dropCaches();
        const r = await timedCommand(process.execPath, [SWAY_BIN, '--version'], { ready: /\d/, timeoutMs: 60_000 });
        checkRan(name, r);
        results.push(r);
      }
      log(`${name}: median ${summarize(results.map((r) => r.exitMs)).median.toFixed(0)} ms`);
      contenders.push({
        name,
        description: `\`sway --version\` (node starting the CLI and loading its modules), ${cold ? 'page cache dropped' : 'hot'}: part of every sway row's ready ms, not of the worker's run ms.`,
        readyMs: summarize(results.map((r) => r.readyMs)),
        exitMs: summarize(results.map((r) => r.exitMs)),
        runs: results.map((r) => ({ readyMs: r.readyMs, exitMs: r.exitMs })),
        failures: [],
      });
    };
    await cliSeries('sway CLI start, cold (floor)', true);
    await cliSeries('sway CLI start, hot (floor)', false);

    const report: StartsReport = {
      machine: describeMachine(),
      link: { rateMbit: opts.rateMbit, rttMs: opts.rttMs },
      runsPerContender: opts.runs,
      image: { name: exported.image, id: exported.id, files: imageFiles, bytes: imageBytes },
      contenders,
      ratios: startsRatios(contenders),
      notes: [
        'ready ms for sway is the wall clock of the `sway run` process until the svd line reaches its stdout: it includes starting the CLI (node), reading the config and checking that the script is on the fileserver; "to container start ms" runs from spawning `sway run` to the run log\'s start row (CLI start, request, image prepared on the worker, bundle and overlay ready); "worker run ms" is the run log\'s duration (bundle, overlay, runc, until the container exited).',
        'fetched MB, server fetches and hits are the run log\'s per-run cache figures (medians); link MB is what the worker\'s host received on the veth link during the run (TLS and TCP included).',
        'Dropping the page cache drops the fileserver\'s too (same machine): a cold sway run also reads the blobs from the fileserver\'s disk.',
        'Other work on the machine at the same time (other engineers\' tests) adds noise; min and max show its spread.',
      ],
    };

    await mkdir(opts.out, { recursive: true });
    await writeFile(join(opts.out, `${opts.baseName}.json`), JSON.stringify(report, null, 2) + '\n');
    const md = startsMarkdown(report);
    await writeFile(join(opts.out, `${opts.baseName}.md`), md);
    console.log('\n' + md);
    log(`wrote ${join(opts.out, opts.baseName)}.json and .md`);
  } finally {
    native?.close();
    await hosts?.close().catch((err: Error) => console.error(`[starts] cleanup: ${err.message}`));
    try {
      execFileSync('podman', ['rmi', '-f', 'localhost/bench/quickstart:latest'], { stdio: 'ignore' });
    } catch {
      // Built under another name, or already gone.
    }
    await removeTempDir(dir);
  }
}

await main();
