// The start-time benchmark itself (issue 5), run by bench/starts.ts (command line) and the
// bench/starts*.bench.ts entry points (`npm run bench`). For one workload (bench/lib/
// workloads.ts) and one link profile:
//   native cold / hot:  runc on a plain extracted copy of the image's rootfs (ext4),
//                       page cache dropped before each cold run;
//   pull-then-run cold: (with `pull`) skopeo copy from a local registry over the link,
//                       umoci unpack, runc run (bench/lib/pull-then-run.ts);
//   sway cold:          `sway run app.py` with the worker restarted on an empty disk cache
//                       (blobs and manifests deleted) and the page cache dropped;
//   sway warm:          worker restarted (in-memory state gone) on a full disk cache,
//                       page cache dropped;
//   sway hot:           right after another run: everything cached;
//   concurrency:        (with `concurrency`) N simultaneous cold `sway run`s on one worker.
// Plus the files the app opens (strace of one native run), the issue's targets, and an SVG
// chart. The fileserver (and the registry) live in one network namespace, the worker and
// the CLI in another, over a veth link shaped with tbf and delay proxies.
// Not a test: it never asserts a timing. It fails only when the app does not run right
// natively; a failed sway or pull start is reported as a finding.
import { cpSync, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeTempDir } from '../../test/helpers/tmp.js';
import { ADDON_PATH } from '../../ts/worker/fuse/native.js';
import { decodeManifest, type ImageConfig } from '../../ts/common/manifest.js';
import { blobRelPath } from '../../ts/fileserver/store/local-store.js';
import type { RunRecord } from '../../ts/worker/run-log.js';
import { SWAY_BIN } from '../../test/helpers/cli.js';
import { describeMachine } from './machine.js';
import { NativeRunner } from './native.js';
import { SwayHosts } from './sway-hosts.js';
import { PullThenRun } from './pull-then-run.js';
import { summarize } from './stats.js';
import { openedFilesIn } from './opened-files.js';
import { cacheInventory } from './cache-inventory.js';
import { PULL, startsChartSvg, startsMarkdown, startsRatios, startsTargets, type ConcurrencyResult, type ContenderResult, type StartsReport } from './report.js';
import { timedCommand, type TimedResult } from './timed.js';
import type { Workload } from './workloads.js';

export interface StartsOptions {
  runs: number;
  rateMbit: number;
  rttMs: number;
  /** Results directory; files BASENAME.json, .md and .svg. */
  out: string;
  baseName: string;
  workload: Workload;
  /** Add the pull-then-run contender. */
  pull: boolean;
  /** Batch sizes of simultaneous cold starts (empty: none). */
  concurrency: number[];
  /** Extra flags of `sway worker` (e.g. --no-gzip to measure without gzip on the wire). */
  workerFlags?: string[];
}

const TARBALL = process.env.SWAY_BASE_TARBALL ?? '/var/cache/sway-test/python-base-bookworm.tar';

/** Runs per contender from the environment: SWAY_BENCH_RUNS=N, or SWAY_BENCH_QUICK=1 for 2. */
export function runsFromEnv(fallback = 5): number {
  if (process.env.SWAY_BENCH_RUNS) return Number(process.env.SWAY_BENCH_RUNS);
  return process.env.SWAY_BENCH_QUICK ? 2 : fallback;
}

function missingPrerequisite(opts: StartsOptions): string | undefined {
  if (process.getuid?.() !== 0) return 'root (namespaces, FUSE, runc, drop_caches)';
  if (!existsSync(ADDON_PATH)) return `the FUSE addon at ${ADDON_PATH} (npm run build:native)`;
  if (opts.workload.nativeRootfs === 'base-tarball' && !existsSync(TARBALL)) return `the base rootfs tarball ${TARBALL} (scripts/ensure-base-image.sh)`;
  for (const tool of opts.pull ? ['docker-registry', 'skopeo', 'umoci'] : []) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} (scripts/setup.sh)`;
    }
  }
  return undefined;
}

function hasStrace(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v strace'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Write back dirty pages, then drop the page cache, dentries and inodes (the whole machine's). */
function dropCaches(): void {
  execFileSync('sync');
  execFileSync('sh', ['-c', 'echo 3 > /proc/sys/vm/drop_caches']);
}

function ranRight(r: Pick<TimedResult, 'code' | 'readyMs'>): boolean {
  return r.code === 0 && !Number.isNaN(r.readyMs);
}

function checkRan(what: string, r: TimedResult): void {
  if (!ranRight(r)) throw new Error(`${what}: exit ${r.code}, no ready line\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

/** The line of a failed run's stderr that says most: its last non-empty line. */
function failureLine(r: Pick<TimedResult, 'stderr' | 'stdout'>): string {
  return r.stderr.trim().split('\n').pop()?.trim() || `no ready line; stdout: ${r.stdout.slice(0, 200)}`;
}

function median(values: number[]): number {
  return summarize(values).median;
}

export async function runStartsBench(opts: StartsOptions): Promise<StartsReport | undefined> {
  const missing = missingPrerequisite(opts);
  if (missing) {
    console.log(`starts bench skipped: needs ${missing}`);
    return undefined;
  }
  const wl = opts.workload;
  const dir = await mkdtemp(join(tmpdir(), 'sway-bench-starts-'));
  let hosts: SwayHosts | undefined;
  let native: NativeRunner | undefined;
  let puller: PullThenRun | undefined;
  let podmanImage: string | undefined;
  const log = (s: string) => console.log(`[starts ${wl.name}] ${s}`);
  try {
    log(`network: ${opts.rateMbit} Mbit/s, ${opts.rttMs} ms RTT; ${opts.runs} runs per contender; work dir ${dir}`);
    hosts = await SwayHosts.start(dir, { rateMbit: opts.rateMbit, rttMs: opts.rttMs }, opts.workerFlags ?? []);
    // The image is named after the project's directory (bench/<dir>:latest, podman's
    // localhost/sway-export/bench-<dir>:latest): a name of this
    // process's own, so a benchmark running beside this one never removes this image.
    const project = join(dir, `${wl.project.split('/').pop()!}-${process.pid}`);
    cpSync(wl.project, project, { recursive: true });
    // `sway export` builds inside the worker's namespace, which has no route out; a build
    // on the host first (same Dockerfile and context) fills podman's layer cache, so RUN
    // steps that need Debian's archive (the sympy app) are cached when the export builds.
    const prebuilt = `localhost/bench-prebuild/${wl.name}-${process.pid}:latest`;
    log('podman build on the host (layer cache for the export)');
    execFileSync('podman', ['build', '--runtime', 'runc', '--platform', 'linux/amd64', '-q', '-t', prebuilt, '-f', join(project, 'Dockerfile'), project], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 1_800_000 });
    log('sway export (podman build + publish over the link)');
    const exported = await hosts.exportImage(project);
    // Untagged only now: removing it before the export would drop the cached layers.
    execFileSync('podman', ['rmi', prebuilt], { stdio: 'ignore' });
    podmanImage = exported.podmanImage ?? `localhost/sway-export/${exported.image.replace('/', '-')}`;
    log(`exported ${exported.image} ${exported.id.slice(0, 12)}: ${exported.files} files, ${(exported.bytes / 1e6).toFixed(1)} MB, ${exported.seconds.toFixed(1)} s`);

    // The image as the worker sees it: the manifest blob, read from the fileserver's store.
    const manifest = decodeManifest(await readFile(join(hosts.fileserverDataDir, 'blobs', blobRelPath(exported.id))));
    const imageBytes = manifest.entries.reduce((n, e) => n + (e.type === 'file' ? e.size : 0), 0);
    const imageFiles = manifest.entries.filter((e) => e.type === 'file').length;
    const config: ImageConfig = manifest.config;

    log('extracting the rootfs for native runs');
    const script = { name: wl.script, path: join(project, wl.script) };
    native = wl.nativeRootfs === 'base-tarball'
      ? await NativeRunner.prepare(join(dir, 'native'), TARBALL, config, script)
      : await NativeRunner.prepareFromImage(join(dir, 'native'), podmanImage, config, script);

    let openedFiles: StartsReport['openedFiles'];
    if (hasStrace()) {
      const trace = join(dir, 'opened.strace');
      const traced = await native.run(wl.ready, { traceTo: trace });
      checkRan('native run under strace', traced);
      const found = openedFilesIn(native.rootfsDir, trace, config.workingDir || '/');
      openedFiles = { files: found.files, bytes: found.bytes, paths: found.paths };
      log(`the app opens ${found.files} files of the image, ${(found.bytes / 1e6).toFixed(1)} MB`);
    }

    const contenders: ContenderResult[] = [];
    let coldCache: StartsReport['coldCache'];
    const nativeSeries = async (name: string, cold: boolean): Promise<void> => {
      const results: TimedResult[] = [];
      if (!cold) checkRan(`${name} warm-up`, await native!.run(wl.ready));
      for (let i = 0; i < opts.runs; i++) {
        if (cold) dropCaches();
        const r = await native!.run(wl.ready);
        checkRan(name, r);
        log(`${name} #${i + 1}: ready ${r.readyMs.toFixed(0)} ms, exit ${r.exitMs.toFixed(0)} ms`);
        results.push(r);
      }
      contenders.push({
        name,
        family: 'native',
        state: cold ? 'cold' : 'hot',
        description: cold
          ? 'runc run on an overlay over the extracted rootfs (ext4), the worker\'s config.json; page cache dropped before each run; timed from the overlay mount to runc\'s exit.'
          : 'the same, right after another run (page cache hot).',
        readyMs: summarize(results.map((r) => r.readyMs)),
        exitMs: summarize(results.map((r) => r.exitMs)),
        runs: results.map((r) => ({ readyMs: r.readyMs, exitMs: r.exitMs })),
        failures: [],
      });
    };

    const pullSeries = async (): Promise<void> => {
      log('starting the registry (docker-registry) in the fileserver\'s namespace; pushing the image');
      puller = await PullThenRun.start(hosts!.hostPair, join(dir, 'registry'), opts.rttMs, () => hosts!.linkBytesReceived());
      const name = await puller.push(podmanImage!);
      const runs: Awaited<ReturnType<PullThenRun['run']>>[] = [];
      const failures: ContenderResult['failures'] = [];
      for (let i = 0; i < opts.runs; i++) {
        dropCaches();
        const r = await puller.run(name, config, wl.script, wl.ready);
        if (!ranRight(r)) {
          failures.push({ run: i + 1, exit: r.code, error: failureLine(r) });
          log(`${PULL} #${i + 1}: FAILED, exit ${r.code}\n${r.stderr.trim()}`);
          continue;
        }
        log(`${PULL} #${i + 1}: ready ${r.readyMs.toFixed(0)} ms (pull ${r.pullMs.toFixed(0)}, unpack ${r.unpackMs.toFixed(0)}), pulled ${(r.pulledBytes / 1e6).toFixed(1)} MB in ${r.requests} requests, link ${(r.linkBytes / 1e6).toFixed(1)} MB`);
        runs.push(r);
      }
      contenders.push({
        name: PULL,
        family: 'pull',
        state: 'cold',
        description: 'the image pushed beforehand to a local registry (docker-registry, plain HTTP, in the fileserver\'s namespace behind the same delay proxy); each run: page cache dropped, `skopeo copy --src-tls-verify=false docker://… oci:DIR` over the link, `umoci raw unpack`, runc run as native; timed from the pull\'s start to the ready line. fetched MB: the pulled OCI layout (compressed layers).',
        readyMs: summarize(runs.map((r) => r.readyMs)),
        exitMs: summarize(runs.map((r) => r.exitMs)),
        pullMs: summarize(runs.map((r) => r.pullMs)),
        unpackMs: summarize(runs.map((r) => r.unpackMs)),
        bytesFetched: median(runs.map((r) => r.pulledBytes)),
        linkBytes: median(runs.map((r) => r.linkBytes)),
        requests: median(runs.map((r) => r.requests)),
        runs: runs.map((r) => ({ readyMs: r.readyMs, exitMs: r.exitMs, pullMs: r.pullMs, unpackMs: r.unpackMs, pulledBytes: r.pulledBytes, linkBytes: r.linkBytes, requests: r.requests })),
        failures,
      });
    };

    const swaySeries = async (name: string, state: 'cold' | 'warm' | 'hot', description: string, before: (i: number) => Promise<void>): Promise<void> => {
      const runs: (TimedResult & { record: RunRecord; linkBytes: number })[] = [];
      const failures: ContenderResult['failures'] = [];
      for (let i = 0; i < opts.runs; i++) {
        await before(i);
        const linkBefore = hosts!.linkBytesReceived();
        const r = await hosts!.run(project, wl.script, wl.ready);
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
        family: 'sway',
        state,
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
    if (opts.pull) await pullSeries();
    await swaySeries('sway cold', 'cold',
      `\`sway run ${wl.script}\` end to end (CLI start, script upload check, run, output); before each run the worker is stopped, its blob cache and stored manifests deleted, restarted, and the page cache dropped.`,
      async () => { await hosts!.restartWorker({ clearCache: true }); dropCaches(); });
    // What the last cold run fetched, file by file (before the warm runs add to the cache).
    const inventory = await cacheInventory(join(hosts.workerDataDir, 'cache'), manifest, openedFiles?.paths);
    coldCache = {
      wholeBytes: inventory.wholeBytes, partialBytes: inventory.partialBytes, notOpenedBytes: inventory.notOpenedBytes,
      blobs: inventory.blobs.length, largest: inventory.blobs.slice(0, 40),
    };
    log(`last cold run's cache: ${(inventory.wholeBytes / 1e6).toFixed(1)} MB in whole blobs, ${(inventory.partialBytes / 1e6).toFixed(1)} MB in chunks of partial ones${inventory.notOpenedBytes !== undefined ? `, ${(inventory.notOpenedBytes / 1e6).toFixed(1)} MB in blobs the app is not seen to open` : ''}; largest: ${inventory.blobs.slice(0, 8).map((b) => `${b.paths[0] ?? b.hash.slice(0, 12)} ${(b.cachedBytes / 1e6).toFixed(1)}${b.partial ? ' (partial)' : ''}${b.opened === false ? ' (not opened)' : ''}`).join(', ')}`);
    await swaySeries('sway warm', 'warm',
      'the same; before each run the worker is restarted on its full disk cache (its in-memory state and the kernel\'s FUSE caches are gone with the unmount); once it has loaded its images again from their stored manifests, as a worker that never stopped holds them, the page cache is dropped.',
      async (i) => {
        // The disk cache must be full even if the last cold run failed half-way: fill it once.
        if (i === 0) await hosts!.run(project, wl.script, wl.ready);
        await hosts!.restartWorker({ clearCache: false });
        dropCaches();
      });
    await swaySeries('sway hot', 'hot', 'the same, right after another run of the same worker (nothing dropped).', async (i) => {
      if (i === 0) await hosts!.run(project, wl.script, wl.ready); // fills every cache; its outcome does not count
    });

    // N simultaneous cold starts on one worker: per batch, the worker restarted on an empty
    // cache and the page cache dropped, then N `sway run`s spawned at once.
    const concurrency: ConcurrencyResult[] = [];
    for (const n of opts.concurrency) {
      const slowest: number[] = [];
      const fastest: number[] = [];
      const fetched: number[] = [];
      const link: number[] = [];
      let failedRuns = 0;
      for (let b = 0; b < opts.runs; b++) {
        await hosts.restartWorker({ clearCache: true });
        dropCaches();
        const linkBefore = hosts.linkBytesReceived();
        const results = await Promise.all(Array.from({ length: n }, () => hosts!.run(project, wl.script, wl.ready)));
        const linkBytes = hosts.linkBytesReceived() - linkBefore;
        const ok = results.filter(ranRight);
        failedRuns += n - ok.length;
        for (const r of results.filter((x) => !ranRight(x))) log(`concurrency ${n} batch ${b + 1}: a run FAILED, exit ${r.code}: ${failureLine(r)}`);
        if (ok.length !== n) continue;
        const records = await hosts.recentRuns(n);
        const ready = ok.map((r) => r.readyMs);
        slowest.push(Math.max(...ready));
        fastest.push(Math.min(...ready));
        fetched.push(records.reduce((s, r) => s + r.bytesFetched, 0));
        link.push(linkBytes);
        log(`concurrency ${n} batch ${b + 1}: slowest ${Math.max(...ready).toFixed(0)} ms, fastest ${Math.min(...ready).toFixed(0)} ms, fetched ${(fetched.at(-1)! / 1e6).toFixed(1)} MB, link ${(linkBytes / 1e6).toFixed(1)} MB`);
      }
      concurrency.push({ n, batches: opts.runs, slowestReadyMs: summarize(slowest), fastestReadyMs: summarize(fastest), bytesFetched: median(fetched), linkBytes: median(link), failedRuns });
    }

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
        family: 'floor',
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
      workload: { name: wl.name, description: wl.description },
      image: { name: exported.image, id: exported.id, files: imageFiles, bytes: imageBytes },
      openedFiles,
      coldCache,
      contenders,
      concurrency: concurrency.length ? concurrency : undefined,
      ratios: startsRatios(contenders),
      notes: [
        'ready ms for sway is the wall clock of the `sway run` process until the ready line reaches its stdout: it includes starting the CLI (node), reading the config and checking that the script is on the fileserver; "worker run ms" is the run log\'s duration (bundle, overlay, runc, until the container exited).',
        'fetched MB, requests and hits are the run log\'s per-run cache figures for sway (medians; "server" = blobs fetched from the fileserver), the pulled OCI layout and the registry\'s HTTP requests for pull-then-run; link MB is what the worker\'s namespace received on the veth link during the run (TLS, HTTP and TCP included).',
        'The files the app opens: one extra native run under `strace -f -e trace=open,openat,execve`, regular files of the rootfs opened or executed, counted once with their whole size (an estimate).',
        'Start profiles (worker prefetch, on by default): sway cold run 1 is the image\'s first run anywhere, with no profile yet (its figures are in the JSON\'s runs[0]); later cold runs prefetch the profile earlier runs stored on the fileserver. The concurrency batches run after them, with a profile.',
        'Dropping the page cache drops the fileserver\'s and the registry\'s too (same machine): a cold run also reads from the server\'s disk.',
        'Other work on the machine at the same time (other engineers\' tests) adds noise; min and max show its spread.',
      ],
    };
    report.targets = startsTargets(report);

    await mkdir(opts.out, { recursive: true });
    await writeFile(join(opts.out, `${opts.baseName}.json`), JSON.stringify(report, null, 2) + '\n');
    const md = startsMarkdown(report);
    await writeFile(join(opts.out, `${opts.baseName}.md`), md);
    await writeFile(join(opts.out, `${opts.baseName}.svg`), startsChartSvg(report));
    console.log('\n' + md);
    log(`wrote ${join(opts.out, opts.baseName)}.json, .md and .svg`);
    return report;
  } finally {
    native?.close();
    await puller?.close().catch((err: Error) => console.error(`[starts] registry cleanup: ${err.message}`));
    await hosts?.close().catch((err: Error) => console.error(`[starts] cleanup: ${err.message}`));
    try {
      if (podmanImage) execFileSync('podman', ['rmi', '-f', podmanImage], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
    await removeTempDir(dir);
  }
}
