// Benchmark of the lazy FUSE filesystem against a plain ext4 copy of the same tree (issue 3),
// every operation measured on both sides in the same run and reported as FUSE / ext4 ratios:
//   stat of every entry: first pass (a fresh FUSE mount against the same tree in a freshly
//     mounted ext4 image: neither has dentries or inodes cached), then warm passes;
//   sequential read of a 512 MiB file from the disk cache: first reads (page cache of the
//     ext4 file, of the cache blob and of the FUSE file dropped before each), then re-reads;
//   64 parallel readers over all files: first (data caches dropped), then warm.
//
// How samples are taken (the machine is shared with other engineers and noisy):
// - Warm rows: one untimed pass per side, then rounds of one sample per side. A sample is
//   k passes back to back in one process, k chosen once per row so that an ext4 sample
//   lasts at least SWAY_BENCH_FUSE_MIN_SAMPLE_S (0.5 s): a 50 ms hiccup then moves a sample
//   by 10%, not by the whole pass. Rounds alternate the order (ext4 fuse, fuse ext4, ...),
//   so both sides see the same machine state; each round gives one ratio, and the row
//   reports the median of the per-round ratios with their min and max.
// - A warm round is discarded (and replaced, up to twice the wanted count) when someone
//   emptied the kernel's caches during it by writing /proc/sys/vm/drop_caches
//   (/proc/vmstat drop_pagecache or drop_slab moved; other engineers' benchmarks do).
//   Nothing else is discarded: requests a warm pass should not need (LOOKUP, READ...)
//   show in the requests column and their cost in the figures.
// - First reads and first passes: several rounds, alternating which side goes first.
//   Reads: each side's files dropped from the page cache right before its own pass (ext4
//   files; cache blobs and FUSE files' pages; dropping opens every file, so both sides
//   start with their dentries cached and their data cold). Stat: fresh mounts each round.
// Same operation on both sides (bench/fuse-ops.py, one child process per sample), no
// warm-up on one side only. The FUSE column also shows the requests that reached the
// daemon per pass, by opcode (the mount's request counters: native/src/counters.h).
//
// Trees: a generated one, and the python base image's rootfs when its tarball exists
// (SWAY_BASE_TARBALL, else /var/cache/sway-test/python-base-bookworm.tar); SWAY_BENCH_FUSE_TREES
// (generated,python-base) picks them. Contents are put
// in the disk cache beforehand (this measures the cache levels, not the network). Mounts
// are served by test/fuse/mount-helper in child processes: this process never touches them.
// Before/after: with SWAY_BENCH_FUSE_BASELINE_ADDON=<path of another sway_fuse.node>, every
// FUSE measurement is also made on a second mount served by that addon, in the same
// rounds (column "base"); SWAY_BENCH_FUSE_THREADS and SWAY_BENCH_FUSE_BASE_THREADS (8) set the
// session threads of each (the baseline may be this build's addon with other threads), and
// SWAY_BENCH_FUSE_NO_OPEN and SWAY_BENCH_FUSE_BASE_NO_OPEN (0: an OPEN and a RELEASE per
// open, and passthrough; 1: open-less files, native/src/lazy_fs.h) their open mode. With FUSE passthrough reads of cached blobs over 1 MiB never
// reach the daemon.
// Not a test: it prints figures and writes them to $SWAY_BENCH_RESULTS/fuse.{last.txt,json}
// (bench/results/fuse.txt is the curated history; paste a run there by hand).
import { mkdtemp, mkdir, rm, writeFile, open } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
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
const env = process.env;
/** Warm rounds kept per row. */
const SAMPLES = Number(env.SWAY_BENCH_FUSE_SAMPLES ?? 9);
/** A warm sample repeats its pass until an ext4 sample lasts at least this long. */
const MIN_SAMPLE_S = Number(env.SWAY_BENCH_FUSE_MIN_SAMPLE_S ?? 0.5);
/** First reads of the 512 MiB file, each with its page cache dropped first. */
const FIRST_READS = Number(env.SWAY_BENCH_FUSE_FIRST_READS ?? 5);
/** First passes (stat, parallel readers), each on fresh mounts. */
const FIRST_PASSES = Number(env.SWAY_BENCH_FUSE_FIRST_PASSES ?? 3);
const BASELINE_ADDON = env.SWAY_BENCH_FUSE_BASELINE_ADDON;
/** FUSE session threads of this build's mount and of the baseline's (same addon allowed: a thread-count comparison). */
const THREADS = Number(env.SWAY_BENCH_FUSE_THREADS ?? 8);
const BASE_THREADS = Number(env.SWAY_BENCH_FUSE_BASE_THREADS ?? THREADS);
/** Open-less files on this build's mount and on the baseline's (lazy_fs.h). */
const NO_OPEN = (env.SWAY_BENCH_FUSE_NO_OPEN ?? '0') === '1';
const BASE_NO_OPEN = (env.SWAY_BENCH_FUSE_BASE_NO_OPEN ?? (NO_OPEN ? '1' : '0')) === '1';
/** Trees to measure (comma-separated): generated, python-base. */
const TREES = (env.SWAY_BENCH_FUSE_TREES ?? 'generated,python-base').split(',');

type Requests = Record<string, number>;
type SideName = 'ext4' | 'fuse' | 'base';
/** One side of a comparison: the ext4 tree, this build's mount, or the baseline addon's. */
interface Side {
  name: SideName;
  /** Where the tree is: the ext4 directory or `<mountpoint>/<image>`. */
  root: string;
  helper?: MountHelper;
  /** NUL lists of files to evict before this side's first pass (fuse-ops.py drop). */
  drops: string[];
}
interface Spread { median: number; min: number; max: number }
interface Row {
  tree: string; op: string; pass: string; load: string;
  /** Rounds kept and discarded; passes per sample. */
  rounds: number; discarded: number; k: number;
  /** Median seconds per pass of each side. */
  seconds: Partial<Record<SideName, number>>;
  /** Per-round ratios against ext4. */
  ratio: Spread; baseRatio?: Spread;
  /** Rows that read data: MB/s of each side. */
  mbps?: Partial<Record<SideName, Spread>>;
  /** Requests the FUSE side's daemon got per pass (first kept round). */
  requests: Requests;
  samples: Partial<Record<SideName, number[]>>;
}

async function ops(args: string[]): Promise<Record<string, number>> {
  const { stdout } = await run('python3', [OPS, ...args], { maxBuffer: 1 << 20, timeout: 30 * 60_000 });
  return JSON.parse(stdout) as Record<string, number>;
}

function spread(xs: number[]): Spread {
  if (!xs.length) return { median: NaN, min: NaN, max: NaN };
  const s = [...xs].sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]! };
}

function loadavg(): string { return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '); }

/** How many times anyone wrote /proc/sys/vm/drop_caches (page cache or dentries/inodes). */
function cacheDrops(): number {
  const vmstat = readFileSync('/proc/vmstat', 'utf8');
  let n = 0;
  for (const m of vmstat.matchAll(/^drop_(?:pagecache|slab) (\d+)$/gm)) n += Number(m[1]);
  return n;
}

/** The mount's request counters; a baseline addon without them gives its image's lookups and reads. */
async function requestCounts(helper: MountHelper, image: string): Promise<Requests> {
  try {
    return await helper.requests();
  } catch {
    const s = await helper.stats(image);
    return { LOOKUP: s.lookups ?? 0, READ: s.reads ?? 0 };
  }
}

function perPass(before: Requests, after: Requests, k: number): Requests {
  const out: Requests = {};
  for (const [op, n] of Object.entries(after)) {
    const d = Math.round((n - (before[op] ?? 0)) / k);
    if (d) out[op] = d;
  }
  return out;
}

/** One sample: `k` passes of `op` on a side, in one process. Seconds per pass, and the daemon's requests per pass. */
async function sample(side: Side, image: string, op: string, target: string, k: number): Promise<{ seconds: number; requests: Requests; n: Record<string, number> }> {
  const before = side.helper ? await requestCounts(side.helper, image) : {};
  const out = await ops(['repeat', op, target, String(k)]);
  const requests = side.helper ? perPass(before, await requestCounts(side.helper, image), k) : {};
  return { seconds: out.seconds! / k, requests, n: out };
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
  const candidates = [env.SWAY_BASE_TARBALL, '/var/cache/sway-test/python-base-bookworm.tar'];
  return candidates.find((p): p is string => !!p && existsSync(p));
}

/** The tree in an ext4 image, mounted read-only anew by remount(): a walk then starts with no dentries cached. */
async function ext4Image(work: string, name: string, root: string, entries: number): Promise<{ mountpoint: string; remount: () => Promise<void>; remove: () => Promise<void> }> {
  const img = join(work, `${name}.ext4`);
  const mountpoint = join(work, `${name}-ext4img`);
  await mkdir(mountpoint, { recursive: true });
  const { stdout } = await run('du', ['-sb', root]);
  const bytes = Number(stdout.split('\t')[0]);
  await run('truncate', ['-s', String(Math.ceil(bytes * 1.3) + 256 * 1024 * 1024), img]);
  await run('mkfs.ext4', ['-q', '-F', '-N', String(entries + 4096), '-d', root, img]);
  let mounted = false;
  const umount = async (): Promise<void> => { if (mounted) { await run('umount', [mountpoint]); mounted = false; } };
  return {
    mountpoint,
    // Its blocks stay in the page cache of the image file (as the daemon keeps its trees
    // in memory); what is cold is the kernel's dentries and inodes of that filesystem.
    remount: async () => { await umount(); await run('mount', ['-o', 'loop,ro,noatime', img, mountpoint]); mounted = true; },
    remove: async () => { await umount(); await rm(img, { force: true }); },
  };
}

async function benchTree(work: string, name: string, root: string, bigFile?: string): Promise<Row[]> {
  const cacheDir = join(work, `${name}-cache`);
  const mountpoint = join(work, `${name}-mnt`);
  // Blobs go straight into the disk cache: the layout is the same as a blob store's.
  const { manifest } = await manifestFromTree(root, cacheDir);
  const manifestFile = join(work, `${name}-manifest.json`);
  await writeFile(manifestFile, JSON.stringify(manifest));
  const snap = await snapshotTree(root);
  const allFiles = Object.entries(snap).filter(([, e]) => e.type === 'f').map(([p]) => p);
  const files = allFiles.filter((p) => p !== bigFile);
  let lists = 0;
  const nulList = async (paths: string[]): Promise<string> => {
    const file = join(work, `${name}-${lists++}.list`);
    await writeFile(file, paths.map((p) => p + '\0').join(''));
    return file;
  };
  const ext4Drop = await nulList(allFiles.map((p) => join(root, p)));
  const blobDrop = await nulList([...new Set(manifest.entries.filter((e) => e.type === 'file').map((e) => e.hash!))]
    .map((h) => join(cacheDir, h.slice(0, 2), h.slice(2, 4), h)));
  const relList = await nulList(files);
  const fuseNames: SideName[] = BASELINE_ADDON ? ['fuse', 'base'] : ['fuse'];
  const ext4: Side = { name: 'ext4', root, drops: [ext4Drop] };
  let fuseSides: Side[] = [];
  const mountFuse = async (): Promise<void> => {
    for (const side of fuseSides) await side.helper!.stop();
    fuseSides = [];
    for (const sideName of fuseNames) {
      const mp = sideName === 'fuse' ? mountpoint : `${mountpoint}-base`;
      await mkdir(mp, { recursive: true });
      const helper = await MountHelper.start(work, {
        mountpoint: mp, cacheDir, serverUrl: 'http://127.0.0.1:9', images: [{ id: name, manifestFile }],
        threads: sideName === 'base' ? BASE_THREADS : THREADS,
        noOpen: sideName === 'base' ? BASE_NO_OPEN : NO_OPEN,
      }, sideName === 'base' ? { SWAY_FUSE_ADDON: BASELINE_ADDON! } : {});
      const imageRoot = join(mp, name);
      // Before a first pass: the cache blobs, and the FUSE files' own pages (cached-mode
      // opens keep them across opens; a fresh mount has none).
      fuseSides.push({ name: sideName, root: imageRoot, helper, drops: [blobDrop, await nulList(allFiles.map((p) => join(imageRoot, p)))] });
    }
  };
  const rows: Row[] = [];
  const rowOf = (op: string, pass: string, load: string, rounds: Record<SideName, number>[], discarded: number, k: number, requests: Requests, bytes?: number): Row => {
    const sides: SideName[] = ['ext4', ...fuseNames];
    const col = (s: SideName): number[] => rounds.map((r) => r[s]);
    const row: Row = {
      tree: name, op, pass, load, rounds: rounds.length, discarded, k, requests,
      seconds: Object.fromEntries(sides.map((s) => [s, spread(col(s)).median])),
      ratio: spread(rounds.map((r) => r.fuse / r.ext4)),
      baseRatio: BASELINE_ADDON ? spread(rounds.map((r) => r.base / r.ext4)) : undefined,
      samples: Object.fromEntries(sides.map((s) => [s, col(s)])),
    };
    if (bytes) row.mbps = Object.fromEntries(sides.map((s) => [s, spread(col(s).map((sec) => bytes / sec / 1e6))]));
    return row;
  };
  // Rounds of first passes: each side's own files dropped right before it, order alternating.
  const firstRounds = async (op: string, pass: string, count: number, target: (s: Side) => string, before: () => Promise<Side>, bytes?: number): Promise<Row> => {
    const load = loadavg();
    const rounds: Record<SideName, number>[] = [];
    let requests: Requests = {};
    for (let i = 0; i < count; i++) {
      const base = await before();
      const sides = [base, ...fuseSides];
      if (i % 2) sides.reverse();
      const round = {} as Record<SideName, number>;
      for (const side of sides) {
        if (op !== 'stat') for (const list of side.drops) await ops(['drop', list]);
        const s = await sample(side, name, op, target(side), 1);
        round[side.name] = s.seconds;
        if (side.name === 'fuse' && i === 0) requests = s.requests;
      }
      rounds.push(round);
    }
    return rowOf(op === 'stat' ? 'stat every entry' : op === 'read' ? 'read 512 MiB file' : '64 parallel readers, all files', pass, load, rounds, 0, 1, requests, bytes);
  };
  // Warm rounds: one untimed pass per side, then interleaved samples of k passes each.
  const warmRounds = async (op: string, target: (s: Side) => string, bytes?: number): Promise<Row> => {
    const load = loadavg();
    const sides = [ext4, ...fuseSides];
    for (const side of sides) await sample(side, name, op, target(side), 1);
    const calibration = await sample(ext4, name, op, target(ext4), 1);
    const k = Math.max(1, Math.ceil(MIN_SAMPLE_S / calibration.seconds));
    const rounds: Record<SideName, number>[] = [];
    let discarded = 0;
    let requests: Requests | undefined;
    for (let attempt = 0; rounds.length < SAMPLES && attempt < 2 * SAMPLES; attempt++) {
      const order = attempt % 2 ? [...sides].reverse() : sides;
      const drops = cacheDrops();
      const round = {} as Record<SideName, number>;
      let fuseRequests: Requests = {};
      for (const side of order) {
        const s = await sample(side, name, op, target(side), k);
        round[side.name] = s.seconds;
        if (side.name === 'fuse') fuseRequests = s.requests;
      }
      if (cacheDrops() !== drops) {
        discarded++;
        console.error(`${name} ${op}: warm round discarded, someone dropped the caches (FUSE requests per pass ${JSON.stringify(fuseRequests)})`);
        continue;
      }
      requests ??= fuseRequests;
      rounds.push(round);
    }
    const opName = op === 'stat' ? 'stat every entry' : op === 'read' ? 'read 512 MiB file' : '64 parallel readers, all files';
    return rowOf(opName, 'warm', load, rounds, discarded, k, requests ?? {}, bytes);
  };

  const image = await ext4Image(work, name, root, allFiles.length + Object.keys(snap).length);
  try {
    // First stat passes: a fresh ext4 mount against a fresh FUSE mount, each round.
    const ext4Fresh: Side = { name: 'ext4', root: image.mountpoint, drops: [] };
    rows.push(await firstRounds('stat', 'first (fresh mounts)', FIRST_PASSES, (s) => s.root, async () => {
      await image.remount();
      await mountFuse();
      return ext4Fresh;
    }));
  } finally { await image.remove(); }
  try {
    rows.push(await warmRounds('stat', (s) => s.root));
    if (bigFile) {
      rows.push(await firstRounds('read', 'first (caches dropped)', FIRST_READS, (s) => join(s.root, bigFile), async () => ext4, BIG_BYTES));
      rows.push(await warmRounds('read', (s) => join(s.root, bigFile), BIG_BYTES));
    }
    const relTarget = (s: Side): string => `${relList}@${s.root}`;
    const bytes = allFiles.filter((p) => p !== bigFile).reduce((n, p) => n + (snap[p]!.size ?? 0), 0);
    rows.push(await firstRounds('parallel', 'first (caches dropped)', FIRST_PASSES, relTarget, async () => ext4, bytes));
    rows.push(await warmRounds('parallel', relTarget, bytes));
    for (const side of fuseSides) {
      const stats = await side.helper!.stats(name);
      if (stats.serverFetches !== 0 || stats.eios !== 0) throw new Error(`unexpected fetches/EIOs: ${JSON.stringify(stats)}`);
    }
  } finally {
    for (const side of fuseSides) await side.helper!.stop();
  }
  return rows;
}

function report(rows: Row[]): string {
  const withBase = rows.some((r) => r.baseRatio);
  const range = (s: Spread, digits: number): string => `${s.median.toFixed(digits)} [${s.min.toFixed(digits)}-${s.max.toFixed(digits)}]`;
  const lines = [
    `tree         operation                       pass                                 load            rounds  k   ext4 s/pass  fuse s/pass  fuse/ext4 median [min-max]  ${withBase ? 'base/ext4 median [min-max]  ' : ''}MB/s ext4 | fuse median [min-max]    daemon requests per FUSE pass`,
  ];
  for (const r of rows) {
    const mbps = r.mbps ? `${r.mbps.ext4!.median.toFixed(0).padStart(5)} | ${range(r.mbps.fuse!, 0)}` : '';
    const reqs = Object.entries(r.requests).map(([op, n]) => `${op} ${n}`).join(', ') || 'none';
    lines.push([
      r.tree.padEnd(12), r.op.padEnd(31), r.pass.padEnd(36), r.load.padEnd(15),
      `${r.rounds}${r.discarded ? `+${r.discarded}d` : ''}`.padStart(6), String(r.k).padStart(3),
      (r.seconds.ext4 ?? NaN).toFixed(4).padStart(12), (r.seconds.fuse ?? NaN).toFixed(4).padStart(12),
      `${range(r.ratio, 2)}x`.padStart(27), withBase && r.baseRatio ? `${range(r.baseRatio, 2)}x`.padStart(27) : '',
      mbps.padEnd(30), reqs,
    ].filter((c) => c !== '').join(' '));
  }
  lines.push('rounds: kept (+d discarded: someone wrote /proc/sys/vm/drop_caches meanwhile); requests "@root": about the mount root (1 s cache);',
    'k: passes per sample; ratios are per round (sides interleaved, order alternating), seconds and MB/s per pass.');
  return lines.join('\n');
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'sway-bench-fuse-'));
  try {
    const rows: Row[] = [];
    const loadBefore = readFileSync('/proc/loadavg', 'utf8').trim();
    if (TREES.includes('generated')) {
      const gen = join(work, 'generated');
      await mkdir(gen);
      await generateTree(gen);
      rows.push(...await benchTree(work, 'generated', gen, 'data/big.bin'));
      await rm(gen, { recursive: true, force: true });
      await rm(join(work, 'generated-cache'), { recursive: true, force: true });
    }
    const tarball = baseTarball();
    if (!TREES.includes('python-base')) {
      // not asked for
    } else if (tarball) {
      const base = join(work, 'python-base');
      await mkdir(base);
      await run('tar', ['-xf', tarball, '-C', base, '--numeric-owner', '--xattrs', '--xattrs-include=*']);
      rows.push(...await benchTree(work, 'python-base', base));
    } else {
      console.log('python base rootfs tarball not found: generated tree only');
    }
    const loadAfter = readFileSync('/proc/loadavg', 'utf8').trim();
    const text = `${new Date().toISOString()}  /proc/loadavg before: ${loadBefore}, after: ${loadAfter} (2 cores)\n${report(rows)}`;
    console.log(text);
    const out = env.SWAY_BENCH_RESULTS ?? join(REPO_ROOT, 'bench/results');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'fuse.json'), JSON.stringify({ date: new Date().toISOString(), loadBefore, loadAfter, rows }, null, 2));
    await writeFile(join(out, 'fuse.last.txt'), text + '\n');
  } finally {
    await removeTempDir(work);
  }
}

void main().catch((err: unknown) => { console.error(err); process.exitCode = 1; });
