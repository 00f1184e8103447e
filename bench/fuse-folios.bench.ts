// Which folio sizes hold the page cache a read leaves behind, on ext4 and on the FUSE mount
// in each open mode (issue 3: why a re-read from FUSE's own page cache is slower than
// ext4's, with no daemon request at all). One 64 MiB file and one 1 MiB file, each read
// twice with `cat` after every cache of it was dropped (fuse-ops.py drop: the ext4 file,
// the disk-cache blob, the FUSE file's own pages), then bench/page-folios.py counts the
// folios behind each page of the file (/proc/kpageflags).
//   ext4                  the file itself
//   fuse, per-open        files over 1 MiB pass through to the cache blob (an ext4 file);
//                         smaller ones are cached in FUSE's own pages (keep_cache)
//   fuse, open-less       every file in FUSE's own pages
// Not a test: it prints a table and writes $SWAY_BENCH_RESULTS/fuse-folios.json when set.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { REPO_ROOT, removeTempDir } from '../test/helpers/tmp.js';
import { manifestFromTree } from '../test/fuse/fixtures.js';
import { MountHelper } from '../test/fuse/helper-client.js';

const run = promisify(execFile);
const PROBE = join(REPO_ROOT, 'bench/page-folios.py');
const OPS = join(REPO_ROOT, 'bench/fuse-ops.py');
const FILES: Record<string, number> = { 'big-64MiB': 64 << 20, 'small-1MiB': 1 << 20 };

interface Folios { pages: number; small: number; large: Record<string, number> }
interface Row { side: string; file: string; folios: Folios }

async function dropAndRead(work: string, paths: string[], file: string): Promise<void> {
  const list = join(work, 'drop.list');
  await writeFile(list, paths.map((p) => p + '\0').join(''));
  await run('python3', [OPS, 'drop', list]);
  await run('sh', ['-c', 'cat "$1" > /dev/null && cat "$1" > /dev/null', 'sh', file]);
}

async function folios(file: string): Promise<Folios> {
  const { stdout } = await run('python3', [PROBE, file]);
  return JSON.parse(stdout) as Folios;
}

function describe(f: Folios): string {
  const large = Object.entries(f.large).sort(([a], [b]) => Number(a) - Number(b))
    .map(([pages, n]) => `${n} x ${(Number(pages) * 4)} KiB`).join(', ');
  return `${f.pages} pages: ${f.small} in 4 KiB folios${large ? `; large folios ${large}` : ''}`;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('fuse-folios needs root (/proc/kpageflags, FUSE mounts)');
  const work = await mkdtemp(join(tmpdir(), 'sway-folios-'));
  const rows: Row[] = [];
  try {
    const tree = join(work, 'tree');
    const cacheDir = join(work, 'cache');
    await mkdir(tree); await mkdir(cacheDir);
    for (const [name, bytes] of Object.entries(FILES)) await writeFile(join(tree, name), randomBytes(bytes));
    const { manifest } = await manifestFromTree(tree, cacheDir);
    const manifestFile = join(work, 'manifest.json');
    await writeFile(manifestFile, JSON.stringify(manifest));
    const blobOf = (name: string): string => {
      const hash = manifest.entries.find((e) => e.path === name)!.hash!;
      return join(cacheDir, hash.slice(0, 2), hash.slice(2, 4), hash);
    };
    for (const name of Object.keys(FILES)) {
      const file = join(tree, name);
      await dropAndRead(work, [file], file);
      rows.push({ side: 'ext4', file: name, folios: await folios(file) });
    }
    for (const noOpen of [false, true]) {
      const side = noOpen ? 'fuse, open-less' : 'fuse, per-open';
      const mountpoint = join(work, noOpen ? 'mnt-open-less' : 'mnt-per-open');
      await mkdir(mountpoint);
      const helper = await MountHelper.start(work, { mountpoint, cacheDir, serverUrl: 'http://127.0.0.1:9', images: [{ id: 'img', manifestFile }], noOpen });
      try {
        for (const name of Object.keys(FILES)) {
          const file = join(mountpoint, 'img', name);
          await dropAndRead(work, [blobOf(name), file], file);
          rows.push({ side, file: name, folios: await folios(file) });
        }
      } finally {
        await helper.stop();
      }
    }
  } finally {
    await removeTempDir(work);
  }
  const out = process.stdout;
  out.write(`${new Date().toISOString()}  page cache after two reads of each file (kernel ${(await run('uname', ['-r'])).stdout.trim()})\n`);
  for (const r of rows) out.write(`${r.side.padEnd(17)} ${r.file.padEnd(11)} ${describe(r.folios)}\n`);
  if (process.env.SWAY_BENCH_RESULTS) {
    await writeFile(join(process.env.SWAY_BENCH_RESULTS, 'fuse-folios.json'), JSON.stringify({ at: new Date().toISOString(), rows }, null, 2) + '\n');
  }
}

await main();
