// Benchmark of `sway run` of the quick-start app (examples/quickstart/app.py: numpy +
// scipy SVD) on the python base image served lazily, against the same app run by the
// same runner on a plain extracted copy of the rootfs (overlay over ext4, same runc
// config). Reports, per run: the worker's run duration, the client's wall time, and the
// bytes the worker fetched, against the image's size.
//   cold: fresh worker cache (first run after `sway up`)
//   warm: blobs in the worker's disk cache, page cache dropped (echo 3 > drop_caches)
//   hot:  right after another run
// Uses `sway up` in a temp home (real fileserver + worker daemons on 127.0.0.1); this
// process only talks HTTPS to them. Not a test: prints figures and writes
// $SWAY_BENCH_RESULTS/worker-run.json (default bench/results/).
import { mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, removeTempDir } from '../test/helpers/tmp.js';
import { runSway } from '../test/helpers/cli.js';
import { publishTree } from '../test/worker/publish.js';
import { FileserverClient } from '../ts/common/fileserver-client.js';
import { sha256 } from '../ts/common/hash.js';
import { WorkerClient, type RunBody } from '../ts/worker/client.js';
import { startWorkerServer } from '../ts/worker/server.js';
import { DirectoryImageProvider } from '../ts/worker/images/directory-provider.js';
import { StaticAuthenticator } from '../ts/worker/auth.js';
import { MemoryScriptSource } from '../ts/worker/scripts.js';
import { ensureTlsMaterial } from '../ts/common/tls.js';

const run = promisify(execFile);
const TARBALL = process.env.SWAY_BASE_TARBALL ?? '/var/cache/sway-test/python-base-bookworm.tar';
const APP = join(REPO_ROOT, 'examples/quickstart/app.py');
const IMAGE_CONFIG = { workingDir: '/app', cmd: ['python3', 'app.py'], env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] };

interface Row { mode: string; phase: string; runMs: number; wallMs: number; exit: number; bytesFetched?: number; serverFetches?: number }

async function dropCaches(): Promise<void> {
  await run('sync');
  await writeFile('/proc/sys/vm/drop_caches', '3\n');
}

async function timedRun(client: WorkerClient, body: RunBody): Promise<{ runId: string; runMs: number; wallMs: number; exit: number; out: string }> {
  let out = '';
  const t0 = performance.now();
  const r = await client.run(body, { onStdout: (b) => { out += b.toString(); }, onStderr: (b) => { out += b.toString(); } });
  return { runId: r.runId, runMs: r.durationMs ?? NaN, wallMs: performance.now() - t0, exit: r.exit, out };
}

async function main(): Promise<void> {
  if (!existsSync(TARBALL)) { console.log(`worker-run bench skipped: no base tarball at ${TARBALL} (scripts/ensure-base-image.sh)`); return; }
  const dir = await mkdtemp(join(tmpdir(), 'sway-bench-run-'));
  const home = join(dir, 'home');
  const env = { SWAY_CONFIG: join(dir, 'config.json') };
  const rows: Row[] = [];
  try {
    const rootfs = join(dir, 'rootfs');
    await mkdir(rootfs);
    await run('tar', ['-xf', TARBALL, '-C', rootfs, '--numeric-owner']);
    const up = await runSway(['up', '--home', home, '--user', 'bench', '--fileserver-port', '0', '--worker-port', '0'], { env, timeoutMs: 300_000 });
    if (up.code !== 0) throw new Error(`sway up failed: ${up.stderr}`);
    const config = JSON.parse(readFileSync(env.SWAY_CONFIG, 'utf8')) as { fileserver: string; worker: string; token: string; ca: string };
    const fileserver = new FileserverClient({ url: config.fileserver, token: config.token, caFile: config.ca });
    const image = await publishTree(fileserver, rootfs, 'bench/py:latest', IMAGE_CONFIG);
    const manifestBlob = (await fileserver.getManifest(image.id)).blob;
    const { decodeManifest } = await import('../ts/common/manifest.js');
    const imageBytes = decodeManifest(manifestBlob).entries.reduce((n, e) => n + (e.type === 'file' ? e.size : 0), 0);
    const app = await readFile(APP);
    const scriptHash = await fileserver.uploadScript(app);
    const body: RunBody = { image: 'bench/py:latest', script: { hash: scriptHash, name: 'app.py' } };
    const worker = new WorkerClient({ url: config.worker, token: config.token, caFile: config.ca });
    const figures = async (runId: string) => {
      const runs = await worker.http.json<{ runs: { id: string; bytesFetched: number; serverFetches: number }[] }>('/v1/runs?limit=100');
      const r = runs.runs.find((x) => x.id === runId);
      return { bytesFetched: r?.bytesFetched, serverFetches: r?.serverFetches };
    };
    for (const phase of ['cold', 'warm', 'hot']) {
      if (phase === 'warm') await dropCaches();
      const r = await timedRun(worker, body);
      if (!r.out.includes('svd: u=(100, 100), s=(100,)')) throw new Error(`unexpected output of the ${phase} run: ${r.out}`);
      rows.push({ mode: 'sway (lazy FUSE)', phase, runMs: r.runMs, wallMs: r.wallMs, exit: r.exit, ...(await figures(r.runId)) });
    }
    await worker.close();
    await fileserver.close();

    // The same runner on the plain rootfs (overlay over ext4).
    const tls = ensureTlsMaterial(join(dir, 'native-tls'));
    const scripts = new MemoryScriptSource();
    scripts.scripts.set(sha256(app), app);
    const native = await startWorkerServer({
      dataDir: join(dir, 'native'), host: '127.0.0.1', port: 0, tls,
      provider: new DirectoryImageProvider({ py: { dir: rootfs, config: IMAGE_CONFIG } }),
      authenticator: new StaticAuthenticator({ t: 'bench' }), scripts, log: () => {},
    });
    const nativeClient = new WorkerClient({ url: native.url, token: 't', caFile: tls.caCertPath });
    for (const phase of ['warm', 'hot']) {
      if (phase === 'warm') await dropCaches();
      const r = await timedRun(nativeClient, { ...body, image: 'py' });
      if (!r.out.includes('svd:')) throw new Error(`unexpected native output: ${r.out}`);
      rows.push({ mode: 'runc on plain rootfs', phase: phase === 'warm' ? 'cold page cache' : 'hot', runMs: r.runMs, wallMs: r.wallMs, exit: r.exit });
    }
    await nativeClient.close();
    await native.close();

    console.log(`image: ${(imageBytes / 1e6).toFixed(1)} MB in files`);
    console.log('mode                   phase            run ms   wall ms   fetched MB  fetches');
    for (const r of rows) {
      console.log(`${r.mode.padEnd(22)} ${r.phase.padEnd(15)} ${r.runMs.toFixed(0).padStart(7)} ${r.wallMs.toFixed(0).padStart(9)} ${r.bytesFetched === undefined ? '' : (r.bytesFetched / 1e6).toFixed(1).padStart(11)} ${r.serverFetches ?? ''}`);
    }
    const outDir = process.env.SWAY_BENCH_RESULTS ?? join(REPO_ROOT, 'bench/results');
    await mkdir(outDir, { recursive: true });
    await writeFile(join(outDir, 'worker-run.json'), JSON.stringify({ imageBytes, rows }, null, 2) + '\n');
  } finally {
    await runSway(['down', '--home', home], { env, timeoutMs: 120_000 });
    await removeTempDir(dir);
  }
}

await main();
