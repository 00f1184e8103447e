// Export benchmark (issue 2 §5): first export, then re-export after a one-file change,
// of an image built FROM a base image (default localhost/sway/python-base:bookworm, made
// by scripts/ensure-base-image.sh) plus one COPY'd file, through a real fileserver over
// TLS on 127.0.0.1, run as its own `sway fileserver` process. Both exports are the real
// CLI (`sway export DIR --json`), build included; each round starts with an empty layer
// cache and an empty fileserver, so the first export reads and uploads every file.
// Prints per export: files, bytes, blobs uploaded, seconds (and per phase), MB/s with and
// without the build, peak RSS of the CLI and of the fileserver, and the load average
// (this machine is shared: figures mean little without it).
//
// SWAY_BENCH_BASELINE=/path/to/another/built/checkout runs that checkout's CLI and
// fileserver too, alternating with this one in every round, so a change is measured
// against its baseline under the same load. SWAY_BENCH_ROUNDS (default 1) repeats.
// Not a test: it asserts no timing; it fails only if an export fails.
//
//   node dist/bench/export.bench.js [IMAGE]
// Writes $SWAY_BENCH_RESULTS/export.json when that is set.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, removeTempDir } from '../test/helpers/tmp.js';
import { runCommand, startCommand } from '../test/helpers/cli.js';
import { addUser } from '../ts/fileserver/index.js';

interface Summary {
  image: string; id: string; files: number; bytes: number; blobsUploaded: number; bytesUploaded: number;
  seconds: number; phases?: Record<string, number>; podmanImage?: string;
}
interface Measured extends Summary { label: string; contender: string; mbPerSec: number; mbPerSecAfterBuild: number; cliPeakRssMB: number; serverPeakRssMB: number; load: [number, number] }

const baseImage = process.argv[2] ?? 'localhost/sway/python-base:bookworm';
if (spawnSync('podman', ['image', 'exists', baseImage]).status !== 0) {
  console.error(`bench/export: no image ${baseImage} (run scripts/ensure-base-image.sh)`);
  process.exit(2);
}
const rounds = Number(process.env.SWAY_BENCH_ROUNDS ?? 1);
const contenders: { name: string; repo: string }[] = [{ name: 'this', repo: REPO_ROOT }];
if (process.env.SWAY_BENCH_BASELINE) contenders.unshift({ name: 'baseline', repo: process.env.SWAY_BENCH_BASELINE });

const tmp = await mkdtemp(join(tmpdir(), 'sway-bench-export-'));
const podmanImages = new Set<string>();
const results: Measured[] = [];

/** Peak resident memory of a live process, then reset (clear_refs 5) for the next phase. */
function takePeakRssMB(pid: number): number {
  const kb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  try { writeFileSync(`/proc/${pid}/clear_refs`, '5'); } catch { /* older kernels: peak stays cumulative */ }
  return kb / 1024;
}

async function exportOnce(label: string, contender: { name: string; repo: string }, app: string, env: Record<string, string>, serverPid: number): Promise<Measured> {
  takePeakRssMB(serverPid);
  const load1 = loadavg()[0]!;
  // /usr/bin/time reports the CLI's peak resident memory (the 300 MB budget).
  const r = await runCommand('/usr/bin/time', ['-f', 'PEAK_RSS_KB=%M', process.execPath, join(contender.repo, 'bin', 'sway.js'), 'export', app, '--json'], { cwd: contender.repo, env, timeoutMs: 1_800_000 });
  if (r.code !== 0) throw new Error(`${contender.name} ${label} export failed: ${r.stderr}`);
  const s = JSON.parse(r.stdout) as Summary;
  if (s.podmanImage) podmanImages.add(s.podmanImage);
  const cliPeak = Number(/PEAK_RSS_KB=(\d+)/.exec(r.stderr)?.[1] ?? 0) / 1024;
  const serverPeak = takePeakRssMB(serverPid);
  const build = s.phases?.build ?? 0;
  const m: Measured = {
    ...s, label, contender: contender.name,
    mbPerSec: s.bytes / 1e6 / s.seconds, mbPerSecAfterBuild: s.bytes / 1e6 / (s.seconds - build),
    cliPeakRssMB: Math.round(cliPeak), serverPeakRssMB: Math.round(serverPeak), load: [load1, loadavg()[0]!],
  };
  const phases = s.phases ? Object.entries(s.phases).map(([k, v]) => `${k}=${v.toFixed(2)}`).join(' ') : '';
  console.log(`${contender.name.padEnd(8)} ${label.padEnd(10)} files=${s.files} bytes=${(s.bytes / 1e6).toFixed(1)}MB blobsUploaded=${s.blobsUploaded} ` +
    `seconds=${s.seconds.toFixed(2)} MB/s=${m.mbPerSec.toFixed(1)} MB/s(after build)=${m.mbPerSecAfterBuild.toFixed(1)} ` +
    `cliRSS=${m.cliPeakRssMB}MB serverRSS=${m.serverPeakRssMB}MB load=${m.load.map((l) => l.toFixed(1)).join('→')} [${phases}]`);
  results.push(m);
  return m;
}

async function roundFor(round: number, contender: { name: string; repo: string }): Promise<void> {
  const dir = join(tmp, `${contender.name}-${round}`);
  const dataDir = join(dir, 'fs');
  const token = addUser(dataDir, 'bench');
  const server = startCommand(process.execPath, [join(contender.repo, 'bin', 'sway.js'), 'fileserver', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0'], { cwd: contender.repo });
  try {
    const [, url, ca] = await server.waitForOutput(/listening on (https:\/\/\S+) ca=(\S+)/, 120_000);
    const app = join(dir, 'app');
    const env = { SWAY_FILESERVER: url!, SWAY_TOKEN: token, SWAY_CA: ca!, SWAY_CACHE_DIR: join(dir, 'cache') };
    await mkdir(app, { recursive: true });
    await writeFile(join(app, 'Dockerfile'), `FROM ${baseImage}\nCOPY app.py /app/app.py\nCMD ["python3", "/app/app.py"]\n`);
    await writeFile(join(app, 'app.py'), 'print("version 1")\n');
    await exportOnce('first', contender, app, env, server.child.pid!);
    await writeFile(join(app, 'app.py'), 'print("version 2")\n');
    await exportOnce('re-export', contender, app, env, server.child.pid!);
  } finally {
    await server.stop();
    await removeTempDir(dir);
  }
}

try {
  console.log(`bench/export: image FROM ${baseImage}; ${rounds} round(s) of ${contenders.map((c) => `${c.name} (${c.repo})`).join(' and ')}`);
  for (let round = 0; round < rounds; round++) {
    for (const c of round % 2 ? [...contenders].reverse() : contenders) await roundFor(round, c);
  }
  if (process.env.SWAY_BENCH_RESULTS) {
    await writeFile(join(process.env.SWAY_BENCH_RESULTS, 'export.json'), JSON.stringify({ baseImage, results, at: new Date().toISOString() }, null, 2) + '\n');
  }
} finally {
  for (const image of podmanImages) spawnSync('podman', ['rmi', '--force', image], { stdio: 'ignore' });
  await removeTempDir(tmp);
}
