// Benchmark of the lazy FUSE filesystem against a plain ext4 copy of the same tree, each
// operation run side by side in one run and reported as a ratio (FUSE time / ext4 time):
//   stat of every entry (first pass on a fresh mount, second pass),
//   sequential read of a 512 MiB file from the disk cache (first read, re-read),
//   64 parallel readers over all files (first, second).
// Trees: a generated one, and the python base image's rootfs when its tarball exists
// (SWAY_BASE_TARBALL, else /var/cache/sway-test/python-base-bookworm.tar).
// Contents are put in the disk cache beforehand (this measures the cache levels, not
// the network); "first" reads start with the page cache of the ext4 files and of the
// cache blobs dropped (posix_fadvise), and with a freshly mounted filesystem.
// The mount is served by test/fuse/mount-helper in a child process and every timed
// operation runs in another child (bench/fuse-ops.py): this process never touches it.
// Not a test: it prints figures and writes them to $SWAY_BENCH_RESULTS/fuse.json.
import { mkdtemp, mkdir, rm, writeFile, open } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { REPO_ROOT, removeTempDir } from '../test/helpers/tmp.js';
import { manifestFromTree, snapshotTree } from '../test/fuse/fixtures.js';
import { MountHelper } from '../test/fuse/helper-client.js';

const run = promisify(execFile);
const OPS = join(REPO_ROOT, 'bench/fuse-ops.py');
const BIG_BYTES = 512 * 1024 * 1024;

interface Pair { first: number; second: number }
type Row = { tree: string; op: string; ext4: Pair; fuse: Pair; bytes?: number; entries?: number };

async function ops(args: string[]): Promise<Record<string, number>> {
  const { stdout } = await run('python3', [OPS, ...args], { maxBuffer: 1 << 20, timeout: 30 * 60_000 });
  return JSON.parse(stdout) as Record<string, number>;
}

async function generateTree(root: string): Promise<void> {
  for (let d = 0; d < 100; d++) {
    const dir = join(root, `lib/pkg${d}/sub`);
    await mkdir(dir, { recursive: true });
    for (let f = 0; f < 100; f++) await writeFile(join(dir, `mod${f}.py`), randomBytes(Math.floor(Math.random() * 16384)));
  }
  await mkdir(join(root, 'data'), { recursive: true });
  for (let i = 0; i < 64; i++) await writeFile(join(root, `data/chunk${i}.bin`), randomBytes(4 * 1024 * 1024));
  const block = randomBytes(1024 * 1024);
  const fh = await open(join(root, 'data/big.bin'), 'w');
  for (let i = 0; i < BIG_BYTES / block.length; i++) { block.writeUInt32LE(i, 0); await fh.write(block); }
  await fh.close();
}

function baseTarball(): string | undefined {
  const candidates = [process.env.SWAY_BASE_TARBALL, '/var/cache/sway-test/python-base-bookworm.tar'];
  return candidates.find((p): p is string => !!p && existsSync(p));
}

async function benchTree(work: string, name: string, root: string, bigFile?: string): Promise<Row[]> {
  const cacheDir = join(work, `${name}-cache`);
  const mountpoint = join(work, `${name}-mnt`);
  await mkdir(mountpoint, { recursive: true });
  // Blobs go straight into the disk cache: the layout is the same as a blob store's.
  const { manifest } = await manifestFromTree(root, cacheDir);
  const manifestFile = join(work, `${name}-manifest.json`);
  await writeFile(manifestFile, JSON.stringify(manifest));
  const snap = await snapshotTree(root);
  const files = Object.entries(snap).filter(([p, e]) => e.type === 'f' && p !== bigFile).map(([p]) => p);
  const list = async (file: string, base: string, paths: string[]): Promise<string> => {
    await writeFile(file, paths.map((p) => join(base, p) + '\0').join(''));
    return file;
  };
  const ext4List = await list(join(work, `${name}-ext4.list`), root, files);
  const blobList = join(work, `${name}-blobs.list`);
  await writeFile(blobList, [...new Set(manifest.entries.filter((e) => e.type === 'file').map((e) => e.hash!))]
    .map((h) => join(cacheDir, h.slice(0, 2), h.slice(2, 4), h) + '\0').join(''));
  const rows: Row[] = [];
  const mount = () => MountHelper.start(work, {
    mountpoint, cacheDir, serverUrl: 'http://127.0.0.1:9', images: [{ id: name, manifestFile }], threads: 8,
  });
  const fuseRoot = join(mountpoint, name);
  const fuseList = await list(join(work, `${name}-fuse.list`), fuseRoot, files);
  const coldStart = async (): Promise<MountHelper> => {
    await ops(['drop', ext4List]);
    await ops(['drop', blobList]);
    return mount();
  };

  let helper = await coldStart();
  try {
    const ext4 = await ops(['stat', root]);
    const fuse = await ops(['stat', fuseRoot]);
    rows.push({ tree: name, op: 'stat every entry', ext4: pair(ext4), fuse: pair(fuse), entries: fuse.entries });
    if (bigFile) {
      const e = await ops(['read', join(root, bigFile)]);
      const f = await ops(['read', join(fuseRoot, bigFile)]);
      rows.push({ tree: name, op: 'read 512 MiB file', ext4: pair(e), fuse: pair(f), bytes: f.bytes });
    }
  } finally { await helper.stop(); }

  helper = await coldStart();
  try {
    const ext4 = await ops(['parallel', ext4List]);
    const fuse = await ops(['parallel', fuseList]);
    rows.push({ tree: name, op: '64 parallel readers, all files', ext4: pair(ext4), fuse: pair(fuse), bytes: fuse.bytes });
    const stats = await helper.stats(name);
    if (stats.serverFetches !== 0 || stats.eios !== 0) throw new Error(`unexpected fetches/EIOs: ${JSON.stringify(stats)}`);
  } finally { await helper.stop(); }
  return rows;
}

function pair(o: Record<string, number>): Pair { return { first: o.first!, second: o.second! }; }

function report(rows: Row[]): string {
  const lines = ['tree           operation                        pass     ext4 s    fuse s   ratio  fuse MB/s'];
  for (const r of rows) {
    for (const pass of ['first', 'second'] as const) {
      const e = r.ext4[pass];
      const f = r.fuse[pass];
      const mbps = r.bytes ? (r.bytes / f / 1e6).toFixed(0) : '';
      lines.push(`${r.tree.padEnd(14)} ${r.op.padEnd(32)} ${pass.padEnd(6)} ${e.toFixed(3).padStart(8)} ${f.toFixed(3).padStart(9)} ${(f / e).toFixed(2).padStart(6)}x ${mbps.padStart(9)}`);
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'sway-bench-fuse-'));
  try {
    const rows: Row[] = [];
    const gen = join(work, 'generated');
    await mkdir(gen);
    await generateTree(gen);
    rows.push(...await benchTree(work, 'generated', gen, 'data/big.bin'));
    await rm(gen, { recursive: true, force: true });
    await rm(join(work, 'generated-cache'), { recursive: true, force: true });
    const tarball = baseTarball();
    if (tarball) {
      const base = join(work, 'python-base');
      await mkdir(base);
      await run('tar', ['-xf', tarball, '-C', base, '--numeric-owner', '--xattrs', '--xattrs-include=*']);
      rows.push(...await benchTree(work, 'python-base', base));
    } else {
      console.log('python base rootfs tarball not found: generated tree only');
    }
    const text = report(rows);
    console.log(text);
    const out = process.env.SWAY_BENCH_RESULTS ?? join(REPO_ROOT, 'bench/results');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'fuse.json'), JSON.stringify({ date: new Date().toISOString(), rows }, null, 2));
    await writeFile(join(out, 'fuse.txt'), text + '\n');
  } finally {
    await removeTempDir(work);
  }
}

void main().catch((err: unknown) => { console.error(err); process.exitCode = 1; });
