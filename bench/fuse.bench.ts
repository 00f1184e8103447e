// Benchmark of the lazy FUSE filesystem against a plain ext4 copy of the same tree, each
// operation run side by side in one run and reported as a ratio (FUSE time / ext4 time):
//   stat of every entry: first pass on a fresh mount (against the ext4 copy, whose
//     dentries and inodes are cached since it was just written, and against the same tree
//     in a freshly mounted ext4 image, whose are not), then warm passes;
//   sequential read of a 512 MiB file from the disk cache: first read (page cache of the
//     ext4 file and of the cache blob dropped), then warm re-reads;
//   64 parallel readers over all files: first (caches dropped, fresh mount), then warm.
// Warm passes are medians of several passes alternating ext4 and FUSE after one untimed
// pass of each (the machine is shared and noisy). Each FUSE pass also reports the
// requests that reached the daemon (its per-image counters): a warm pass should send
// none but the OPEN of each file (the kernel sends one per open()); one that sent LOOKUPs
// or READs ran on caches someone emptied (drop_caches) and is left out of the median.
// Trees: a generated one, and the python base image's rootfs when its tarball exists
// (SWAY_BASE_TARBALL, else /var/cache/sway-test/python-base-bookworm.tar).
// Contents are put in the disk cache beforehand (this measures the cache levels, not
// the network). The mount is served by test/fuse/mount-helper in a child process and
// every timed operation runs in another child (bench/fuse-ops.py, the same code for both
// sides): this process never touches the mount.
// Before/after: with SWAY_BENCH_FUSE_BASELINE_ADDON=<path of another sway_fuse.node> (say,
// main's build), every FUSE measurement is also made on a second mount served by that
// addon, in the same run, alternating (columns "base s" and "base ratio"). Each first
// pass starts with the page cache of the files it reads dropped (ext4 files, cache blobs).
// With FUSE passthrough (native/src/passthrough.h) reads of cached blobs never reach the
// daemon, so "reads" stays 0 and a warm pass cannot tell that its caches were emptied.
// Not a test: it prints figures and writes them to $SWAY_BENCH_RESULTS/fuse.{txt,json}.
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
const WARM_PASSES = Number(process.env.SWAY_BENCH_FUSE_WARM_PASSES ?? 5);
const BASELINE_ADDON = process.env.SWAY_BENCH_FUSE_BASELINE_ADDON;
/** First reads of the 512 MiB file (each with its page cache dropped first): several, the machine is noisy. */
const FIRST_READS = Number(process.env.SWAY_BENCH_FUSE_FIRST_READS ?? 3);

/** Daemon requests during a FUSE pass (deltas of the image's native counters). */
interface Requests { lookups: number; metadata: number; opens: number; passthrough: number; reads: number }
/** One mount measured against ext4: this build's addon, or the baseline addon. */
interface Side { helper: MountHelper; root: string }
type Row = {
  tree: string; op: string; pass: string; ext4: number; fuse: number; requests: Requests;
  ext4Passes?: number[]; fusePasses?: number[]; bytes?: number; entries?: number;
  /** The same FUSE measurement with the baseline addon (SWAY_BENCH_FUSE_BASELINE_ADDON). */
  base?: number; basePasses?: number[];
};

async function ops(args: string[]): Promise<Record<string, number>> {
  const { stdout } = await run('python3', [OPS, ...args], { maxBuffer: 1 << 20, timeout: 30 * 60_000 });
  return JSON.parse(stdout) as Record<string, number>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Runs `fn` and returns the daemon requests it caused (divided by `passes`). */
async function counted<T>(helper: MountHelper, image: string, passes: number, fn: () => Promise<T>): Promise<[T, Requests]> {
  const before = await helper.stats(image);
  const out = await fn();
  const after = await helper.stats(image);
  const d = (k: string): number => Math.round(((after[k] ?? 0) - (before[k] ?? 0)) / passes);
  return [out, { lookups: d('lookups'), metadata: d('memoryHits') + d('negativeLookups'), opens: d('diskHits'), passthrough: d('passthroughOpens'), reads: d('reads') }];
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

/** The tree in a fresh ext4 image mounted read-only: a walk of it starts with no dentries cached. */
async function ext4Image(work: string, name: string, root: string, entries: number): Promise<{ mountpoint: string; umount: () => Promise<void> }> {
  const img = join(work, `${name}.ext4`);
  const mountpoint = join(work, `${name}-ext4img`);
  await mkdir(mountpoint, { recursive: true });
  const { stdout } = await run('du', ['-sb', root]);
  const bytes = Number(stdout.split('\t')[0]);
  await run('truncate', ['-s', String(Math.ceil(bytes * 1.3) + 256 * 1024 * 1024), img]);
  await run('mkfs.ext4', ['-q', '-F', '-N', String(entries + 4096), '-d', root, img]);
  await run('mount', ['-o', 'loop,ro,noatime', img, mountpoint]);
  return { mountpoint, umount: async () => { await run('umount', [mountpoint]); await rm(img, { force: true }); } };
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
  const allFiles = Object.entries(snap).filter(([, e]) => e.type === 'f').map(([p]) => p);
  const files = allFiles.filter((p) => p !== bigFile);
  const nulList = async (file: string, paths: string[]): Promise<string> => {
    await writeFile(file, paths.map((p) => p + '\0').join(''));
    return file;
  };
  // Every ext4 file and every blob, the big one included, is dropped before a first pass.
  const ext4Drop = await nulList(join(work, `${name}-ext4.drop`), allFiles.map((p) => join(root, p)));
  const blobDrop = await nulList(join(work, `${name}-blobs.drop`), [...new Set(manifest.entries.filter((e) => e.type === 'file').map((e) => e.hash!))]
    .map((h) => join(cacheDir, h.slice(0, 2), h.slice(2, 4), h)));
  const relList = await nulList(join(work, `${name}-files.list`), files);
  const rows: Row[] = [];
  // This build's mount, then (optionally) the baseline addon's on its own mountpoint.
  const addons: (string | undefined)[] = BASELINE_ADDON ? [undefined, BASELINE_ADDON] : [undefined];
  const mountAll = async (): Promise<Side[]> => {
    const sides: Side[] = [];
    for (const [i, addon] of addons.entries()) {
      const mp = i === 0 ? mountpoint : `${mountpoint}-base`;
      await mkdir(mp, { recursive: true });
      const helper = await MountHelper.start(work, {
        mountpoint: mp, cacheDir, serverUrl: 'http://127.0.0.1:9', images: [{ id: name, manifestFile }], threads: 8,
      }, addon ? { SWAY_FUSE_ADDON: addon } : {});
      sides.push({ helper, root: join(mp, name) });
    }
    return sides;
  };
  const stopAll = async (sides: Side[]): Promise<void> => { for (const side of sides) await side.helper.stop(); };
  const coldStart = async (): Promise<Side[]> => {
    await ops(['drop', ext4Drop]);
    await ops(['drop', blobDrop]);
    return mountAll();
  };
  // The FUSE files' own page cache (cached-mode opens keep it across opens), per mountpoint.
  const fuseDrops = new Map<string, string>();
  const fuseDrop = async (side: Side): Promise<string> => {
    let list = fuseDrops.get(side.root);
    if (!list) {
      list = await nulList(join(work, `${name}-fuse-${fuseDrops.size}.drop`), allFiles.map((p) => join(side.root, p)));
      fuseDrops.set(side.root, list);
    }
    return list;
  };
  // A first pass of each side, each starting with the files it reads out of the page cache
  // (the ext4 files; the cache blobs and the FUSE files' pages). `call` alternates the
  // order of the FUSE sides, so neither always runs right after ext4.
  let call = 0;
  const once = async (sides: Side[], op: string, target: (root: string) => string): Promise<Omit<Row, 'tree' | 'op' | 'pass'> & { n: Record<string, number> }> => {
    const readsData = op !== 'stat';
    if (readsData) await ops(['drop', ext4Drop]);
    const ext4 = await ops(['once', op, target(root)]);
    const fuse: number[] = [];
    let requests: Requests | undefined;
    let n: Record<string, number> = {};
    const order = sides.map((_, k) => k);
    if (call++ % 2 === 1) order.reverse();
    for (const k of order) {
      const side = sides[k]!;
      if (readsData) { await ops(['drop', blobDrop]); await ops(['drop', await fuseDrop(side)]); }
      const [out, req] = await counted(side.helper, name, 1, () => ops(['once', op, target(side.root)]));
      fuse[k] = out.seconds!;
      if (k === 0) { requests = req; n = out; }
    }
    return { ext4: ext4.seconds!, fuse: fuse[0]!, base: fuse[1], requests: requests!, n };
  };
  // Warm passes, one process each, alternating ext4 and each FUSE side after one untimed
  // pass of each. A FUSE pass that sent the daemon a LOOKUP or a READ found the kernel's
  // caches emptied under it (on this shared machine, another engineer's benchmark writes
  // /proc/sys/vm/drop_caches): that round is not a warm measurement and is left out.
  const warm = async (sides: Side[], op: string, target: (root: string) => string, passes: number): Promise<Row> => {
    await ops(['once', op, target(root)]);
    for (const side of sides) await ops(['once', op, target(side.root)]);
    const ext4Passes: number[] = [];
    const sidePasses: number[][] = sides.map(() => []);
    const kept: Requests[] = [];
    let dropped = 0;
    for (let i = 0; i < passes; i++) {
      const e = await ops(['once', op, target(root)]);
      const round: number[] = [];
      let evicted = false;
      let first: Requests | undefined;
      for (const side of sides) {
        const [f, requests] = await counted(side.helper, name, 1, () => ops(['once', op, target(side.root)]));
        if (requests.lookups > 0 || requests.reads > 0) evicted = true;
        first ??= requests;
        round.push(f.seconds!);
      }
      if (evicted) { dropped++; continue; }
      ext4Passes.push(e.seconds!);
      round.forEach((sec, k) => sidePasses[k]!.push(sec));
      kept.push(first!);
    }
    const requests = kept[0] ?? { lookups: -1, metadata: -1, opens: -1, passthrough: -1, reads: -1 };
    const pass = `warm (median of ${ext4Passes.length}${dropped ? `, ${dropped} evicted` : ''})`;
    if (!ext4Passes.length) return { tree: name, op: '', pass, ext4: NaN, fuse: NaN, requests };
    return {
      tree: name, op: '', pass, ext4: median(ext4Passes), fuse: median(sidePasses[0]!), requests, ext4Passes, fusePasses: sidePasses[0],
      base: sidePasses[1] ? median(sidePasses[1]) : undefined, basePasses: sidePasses[1],
    };
  };
  const relTarget = (base: string) => `${relList}@${base}`;

  let sides = await coldStart();
  try {
    const image = await ext4Image(work, name, root, allFiles.length + Object.keys(snap).length);
    try {
      // Its blocks stay in the page cache of the image file (as the daemon keeps its trees
      // in memory); what is cold is the kernel's dentries and inodes of that filesystem.
      const op = 'stat every entry';
      const coldExt4 = await ops(['once', 'stat', image.mountpoint]);
      const { n, ...first } = await once(sides, 'stat', (r) => r);
      rows.push({ tree: name, op, pass: 'first (ext4: dentries cached)', ...first, entries: n.entries });
      rows.push({ tree: name, op, pass: 'first (ext4: fresh mount)', ...first, ext4: coldExt4.seconds!, entries: n.entries });
      rows.push({ ...await warm(sides, 'stat', (r) => r, WARM_PASSES), op, entries: n.entries });
    } finally { await image.umount(); }
    if (bigFile) {
      const op = 'read 512 MiB file';
      const firsts: Omit<Row, 'tree' | 'op' | 'pass'>[] = [];
      for (let i = 0; i < FIRST_READS; i++) firsts.push(await once(sides, 'read', (r) => join(r, bigFile)));
      const pick = (f: (r: Omit<Row, 'tree' | 'op' | 'pass'>) => number | undefined): number[] => firsts.map(f).filter((x): x is number => x !== undefined);
      const basePasses = pick((r) => r.base);
      rows.push({
        tree: name, op, pass: `first (median of ${FIRST_READS})`, requests: firsts[0]!.requests, bytes: BIG_BYTES,
        ext4: median(pick((r) => r.ext4)), fuse: median(pick((r) => r.fuse)), base: basePasses.length ? median(basePasses) : undefined,
        ext4Passes: pick((r) => r.ext4), fusePasses: pick((r) => r.fuse), basePasses: basePasses.length ? basePasses : undefined,
      });
      rows.push({ ...await warm(sides, 'read', (r) => join(r, bigFile), WARM_PASSES), op, bytes: BIG_BYTES });
    }
  } finally { await stopAll(sides); }

  sides = await coldStart();
  try {
    const op = '64 parallel readers, all files';
    const { n, ...first } = await once(sides, 'parallel', relTarget);
    rows.push({ tree: name, op, pass: 'first', ...first, bytes: n.bytes });
    rows.push({ ...await warm(sides, 'parallel', relTarget, WARM_PASSES), op, bytes: n.bytes });
    for (const side of sides) {
      const stats = await side.helper.stats(name);
      if (stats.serverFetches !== 0 || stats.eios !== 0) throw new Error(`unexpected fetches/EIOs: ${JSON.stringify(stats)}`);
    }
  } finally { await stopAll(sides); }
  return rows;
}

function report(rows: Row[]): string {
  const withBase = rows.some((r) => r.base !== undefined);
  const lines = [
    `tree         operation                       pass                           ext4 s    fuse s   ratio  fuse MB/s${withBase ? '    base s  base ratio' : ''}   daemon requests in the FUSE pass`,
  ];
  for (const r of rows) {
    const mbps = r.bytes ? (r.bytes / r.fuse / 1e6).toFixed(0) : '';
    const q = r.requests;
    const base = withBase ? `${(r.base ?? NaN).toFixed(3).padStart(10)} ${((r.base ?? NaN) / r.ext4).toFixed(2).padStart(10)}x` : '';
    lines.push(`${r.tree.padEnd(12)} ${r.op.padEnd(31)} ${r.pass.padEnd(29)} ${r.ext4.toFixed(3).padStart(7)} ${r.fuse.toFixed(3).padStart(9)} ${(r.fuse / r.ext4).toFixed(2).padStart(6)}x ${mbps.padStart(9)}${base}   lookups ${q.lookups}, other metadata ${q.metadata - q.lookups}, opens ${q.opens} (passthrough ${q.passthrough}), reads ${q.reads}`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'sway-bench-fuse-'));
  try {
    const rows: Row[] = [];
    const loadBefore = readFileSync('/proc/loadavg', 'utf8').trim();
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
    const loadAfter = readFileSync('/proc/loadavg', 'utf8').trim();
    const text = `${new Date().toISOString()}  /proc/loadavg before: ${loadBefore}, after: ${loadAfter} (2 cores)\n${report(rows)}`;
    console.log(text);
    const out = process.env.SWAY_BENCH_RESULTS ?? join(REPO_ROOT, 'bench/results');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'fuse.json'), JSON.stringify({ date: new Date().toISOString(), loadBefore, loadAfter, rows }, null, 2));
    await writeFile(join(out, 'fuse.txt'), text + '\n');
  } finally {
    await removeTempDir(work);
  }
}

void main().catch((err: unknown) => { console.error(err); process.exitCode = 1; });
