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
// SWAY_BENCH_FLOOR=1 first measures what each part costs alone here (read, sha256, TLS on
// loopback, the blob store's writes): the floor an export cannot beat on this machine.
// SWAY_BENCH_NODE_ARGS adds node flags to both (--cpu-prof --cpu-prof-dir=DIR to profile).
// SWAY_BENCH_BASELINE=/path/to/another/built/checkout runs that checkout's CLI and
// fileserver too, alternating with this one in every round, so a change is measured
// against its baseline under the same load. SWAY_BENCH_ROUNDS (default 1) repeats.
// Before every export the page cache is settled (as root: sync, drop_caches, then the
// base image's layer files read back in): the store's files are cached, as right after a
// build, and the rest of memory is free. Without it the fileserver's system time for the
// same export ranged 1.5-7.7 s, with how much of memory earlier runs had left in the page
// cache (reclaim), and runs measured the machine's history more than the export.
// SWAY_BENCH_EXPORT_KEEP_CACHE=1 skips it.
// Not a test: it asserts no timing; it fails only if an export fails.
//
//   node dist/bench/export.bench.js [IMAGE]
// Writes $SWAY_BENCH_RESULTS/export.json when that is set.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, removeTempDir } from '../test/helpers/tmp.js';
import { runCommand, startCommand } from '../test/helpers/cli.js';
import { addUser } from '../ts/fileserver/index.js';
import { LocalBlobStore } from '../ts/fileserver/store/local-store.js';
import type { BlobWriter } from '../ts/fileserver/store/blob-store.js';
import { ensureTlsMaterial } from '../ts/common/tls.js';
import { fanoutPath } from '../ts/common/hash.js';

interface Summary {
  image: string; id: string; files: number; bytes: number; blobsUploaded: number; bytesUploaded: number;
  seconds: number; phases?: Record<string, number>; podmanImage?: string;
}
interface Measured extends Summary { label: string; contender: string; mbPerSec: number; mbPerSecAfterBuild: number; cliPeakRssMB: number; serverPeakRssMB: number; cliCpuSeconds: number; serverCpuSeconds: number; load: [number, number] }

const baseImage = process.argv[2] ?? 'localhost/sway/python-base:bookworm';
if (spawnSync('podman', ['image', 'exists', baseImage]).status !== 0) {
  console.error(`bench/export: no image ${baseImage} (run scripts/ensure-base-image.sh)`);
  process.exit(2);
}
/** Extra node flags for the CLI and the fileserver, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
const nodeArgs = (process.env.SWAY_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
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

/** CPU seconds (user + system) a live process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** The base image's layer directories in podman's store (its top layer's diff and the ones below). */
let baseDirs: string[] | undefined;
function baseLayerDirs(): string[] {
  if (baseDirs) return baseDirs;
  const r = spawnSync('podman', ['image', 'inspect', baseImage, '--format', '{{.GraphDriver.Data.UpperDir}}:{{.GraphDriver.Data.LowerDir}}'], { encoding: 'utf8' });
  return (baseDirs = r.stdout.trim().split(':').filter((d) => d && d !== '<no value>'));
}

/** See the header: drop the page cache, then read the base image's files back into it. */
function settlePageCache(): void {
  if (process.env.SWAY_BENCH_EXPORT_KEEP_CACHE === '1' || process.getuid?.() !== 0) return;
  spawnSync('sync');
  writeFileSync('/proc/sys/vm/drop_caches', '3');
  // Through a pipe: GNU tar skips reading file contents when it writes to /dev/null itself.
  spawnSync('sh', ['-c', 'tar cf - "$@" 2>/dev/null | cat > /dev/null', 'settle', ...baseLayerDirs()], { stdio: 'ignore' });
}

async function exportOnce(label: string, contender: { name: string; repo: string }, app: string, env: Record<string, string>, serverPid: number): Promise<Measured> {
  settlePageCache();
  takePeakRssMB(serverPid);
  const serverCpu0 = cpuSeconds(serverPid);
  const load1 = loadavg()[0]!;
  // /usr/bin/time reports the CLI's peak resident memory (the 300 MB budget).
  const r = await runCommand('/usr/bin/time', ['-f', 'PEAK_RSS_KB=%M CPU=%U+%S', process.execPath, ...nodeArgs, join(contender.repo, 'bin', 'sway.js'), 'export', app, '--json'], { cwd: contender.repo, env, timeoutMs: 1_800_000 });
  if (r.code !== 0) throw new Error(`${contender.name} ${label} export failed: ${r.stderr}`);
  const s = JSON.parse(r.stdout) as Summary;
  if (s.podmanImage) podmanImages.add(s.podmanImage);
  const cliPeak = Number(/PEAK_RSS_KB=(\d+)/.exec(r.stderr)?.[1] ?? 0) / 1024;
  const serverPeak = takePeakRssMB(serverPid);
  const cpu = /CPU=([\d.]+)\+([\d.]+)/.exec(r.stderr);
  const cliCpu = cpu ? Number(cpu[1]) + Number(cpu[2]) : NaN;
  const serverCpu = cpuSeconds(serverPid) - serverCpu0;
  const build = s.phases?.build ?? 0;
  const m: Measured = {
    ...s, label, contender: contender.name,
    mbPerSec: s.bytes / 1e6 / s.seconds, mbPerSecAfterBuild: s.bytes / 1e6 / (s.seconds - build),
    cliPeakRssMB: Math.round(cliPeak), serverPeakRssMB: Math.round(serverPeak),
    cliCpuSeconds: cliCpu, serverCpuSeconds: Math.round(serverCpu * 100) / 100, load: [load1, loadavg()[0]!],
  };
  const phases = s.phases ? Object.entries(s.phases).map(([k, v]) => `${k}=${v.toFixed(2)}`).join(' ') : '';
  console.log(`${contender.name.padEnd(8)} ${label.padEnd(10)} files=${s.files} bytes=${(s.bytes / 1e6).toFixed(1)}MB blobsUploaded=${s.blobsUploaded} ` +
    `seconds=${s.seconds.toFixed(2)} MB/s=${m.mbPerSec.toFixed(1)} MB/s(after build)=${m.mbPerSecAfterBuild.toFixed(1)} ` +
    `cliRSS=${m.cliPeakRssMB}MB serverRSS=${m.serverPeakRssMB}MB cliCPU=${cliCpu.toFixed(1)}s serverCPU=${serverCpu.toFixed(1)}s load=${m.load.map((l) => l.toFixed(1)).join('→')} [${phases}]`);
  results.push(m);
  return m;
}

async function roundFor(round: number, contender: { name: string; repo: string }): Promise<void> {
  const dir = join(tmp, `${contender.name}-${round}`);
  const dataDir = join(dir, 'fs');
  const token = addUser(dataDir, 'bench');
  const server = startCommand(process.execPath, [...nodeArgs, join(contender.repo, 'bin', 'sway.js'), 'fileserver', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0'], { cwd: contender.repo });
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
    // The round's directory (its ~30,000-file store) is removed only at the end of the run:
    // for about a minute after a mass delete, ext4 skips the freed inodes when allocating
    // (recently_deleted, find_inode_bit: 58% of a create loop's kernel samples here), and
    // the next round's creates paid for this round's cleanup (file creation 1.1 s vs 2.6 s
    // sys for 30,000 files measured right after deleting 90,000).
  }
}

// ---- SWAY_BENCH_FLOOR=1: what the parts of an export cost here, measured on the same files ----
// Each figure is one component alone, over the base image's own files (its top layer's
// diff directory): reading them (fs.promises, 16 at a time, then synchronously), sha256 of their bytes, sending that many bytes over TLS
// on loopback, and storing them with the fileserver's own store (write, syncfs, rename,
// syncfs per 3000 files) next to the per-file fsync protocol it replaced.
async function measureFloor(): Promise<Record<string, number>> {
  const inspect = spawnSync('podman', ['image', 'inspect', baseImage, '--format', '{{.GraphDriver.Data.UpperDir}}'], { encoding: 'utf8' });
  const diffDir = inspect.stdout.trim();
  const files = spawnSync('find', [diffDir, '-type', 'f', '-printf', '%s %p\\n'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).stdout
    .trim().split('\n').map((l) => { const i = l.indexOf(' '); return { size: Number(l.slice(0, i)), path: l.slice(i + 1) }; });
  const bytes = files.reduce((n, f) => n + f.size, 0);
  const out: Record<string, number> = { files: files.length, MB: bytes / 1e6 };
  const timed = async (name: string, fn: () => Promise<void>) => {
    // CPU seconds too (user + system, this process and its threads): on a loaded machine
    // they say more than the wall clock.
    const t0 = performance.now(); const c0 = process.cpuUsage(); await fn();
    const s = (performance.now() - t0) / 1000; const c = process.cpuUsage(c0); const cpu = (c.user + c.system) / 1e6;
    out[`${name}_s`] = Math.round(s * 100) / 100; out[`${name}_MBps`] = Math.round(bytes / 1e6 / s); out[`${name}_cpu_s`] = Math.round(cpu * 100) / 100;
    console.log(`floor ${name.padEnd(22)} ${s.toFixed(2)} s  ${(bytes / 1e6 / s).toFixed(0)} MB/s  cpu=${cpu.toFixed(2)} s (user ${(c.user / 1e6).toFixed(2)})  load=${loadavg()[0]!.toFixed(1)}`);
  };
  const limited = async <T>(items: T[], n: number, fn: (item: T, i: number) => Promise<void>) => {
    let next = 0;
    await Promise.all(Array.from({ length: n }, async () => { while (next < items.length) { const i = next++; await fn(items[i]!, i); } }));
  };
  // Reading: once (as it comes, cold or warm), then again at once (warm: page cache).
  const readAll = () => limited(files, 16, async (f) => { await readFile(f.path); });
  await timed('read (first)', readAll);
  await timed('read (again)', readAll);
  // As the exporter reads them now (store-layer.ts): synchronously, one after the other.
  await timed('read (sync)', async () => { for (const f of files) readFileSync(f.path); });
  // sha256, in memory, 1 MB at a time.
  const block = randomBytes(1024 * 1024);
  await timed('sha256', async () => { const h = createHash('sha256'); for (let n = 0; n < bytes; n += block.length) h.update(block); h.digest(); });
  // TLS on loopback with the fileserver's own kind of certificate: 64 KB writes.
  const tlsDir = join(tmp, 'floor-tls');
  const material = ensureTlsMaterial(tlsDir);
  await timed('TLS loopback', async () => {
    const server = createTlsServer({ cert: readFileSync(material.certPath), key: readFileSync(material.keyPath) }, (sock) => {
      let got = 0;
      sock.on('data', (c: Buffer) => { got += c.length; if (got >= bytes) sock.end(); });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const sock = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(material.caCertPath), servername: 'localhost' });
    await new Promise<void>((r, j) => { sock.once('secureConnect', () => r()); sock.once('error', j); });
    const chunk = randomBytes(64 * 1024);
    for (let n = 0; n < bytes; n += chunk.length) if (!sock.write(chunk)) await new Promise((r) => sock.once('drain', r));
    await new Promise((r) => sock.once('end', r));
    sock.destroy(); server.close();
  });
  // Storing: the fileserver's LocalBlobStore, 3000 files per commit as a batch does.
  const storeDir = join(tmp, 'floor-store');
  const store = new LocalBlobStore(storeDir);
  await store.init();
  const blobs = files.map((f, i) => { const b = Buffer.alloc(f.size, i % 251); if (f.size >= 4) b.writeUInt32LE(i, 0); return b; });
  const hashes = blobs.map((b) => createHash('sha256').update(b).digest('hex'));
  await timed('store (batch syncfs)', async () => {
    for (let i = 0; i < blobs.length; i += 3000) {
      const writers: BlobWriter[] = [];
      await limited(blobs.slice(i, i + 3000), 32, async (b, k) => { writers.push(await store.stageBuffer(hashes[i + k]!, b)); });
      await store.commit(writers);
    }
  });
  await rm(storeDir, { recursive: true, force: true });
  // The protocol it replaced: write + fsync per file, rename, one syncfs per 3000 files.
  const oldDir = join(tmp, 'floor-old');
  await mkdir(join(oldDir, 'tmp'), { recursive: true });
  await timed('store (fsync per file)', async () => {
    for (let i = 0; i < blobs.length; i += 3000) {
      await limited(blobs.slice(i, i + 3000), 32, async (b, k) => {
        const tmpPath = join(oldDir, 'tmp', String(i + k));
        const fh = await open(tmpPath, 'wx'); await fh.writeFile(b); await fh.sync(); await fh.close();
        const d = join(oldDir, 'blobs', fanoutPath(hashes[i + k]!), '..');
        await mkdir(d, { recursive: true });
        await rename(tmpPath, join(oldDir, 'blobs', fanoutPath(hashes[i + k]!)));
      });
      spawnSync('sync', ['-f', oldDir]);
    }
  });
  await rm(oldDir, { recursive: true, force: true });
  return out;
}

let floor: Record<string, number> | undefined;
try {
  if (process.env.SWAY_BENCH_FLOOR) floor = await measureFloor();
  console.log(`bench/export: image FROM ${baseImage}; ${rounds} round(s) of ${contenders.map((c) => `${c.name} (${c.repo})`).join(' and ')}`);
  for (let round = 0; round < rounds; round++) {
    for (const c of round % 2 ? [...contenders].reverse() : contenders) await roundFor(round, c);
  }
  if (process.env.SWAY_BENCH_RESULTS) {
    await writeFile(join(process.env.SWAY_BENCH_RESULTS, 'export.json'), JSON.stringify({ baseImage, results, floor, at: new Date().toISOString() }, null, 2) + '\n');
  }
} finally {
  for (const image of podmanImages) spawnSync('podman', ['rmi', '--force', image], { stdio: 'ignore' });
  await removeTempDir(tmp);
}
