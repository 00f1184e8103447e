// Export benchmark (issue 2 §5): first export, then re-export after a one-file change,
// of an image built FROM a base image (default localhost/sway/python-base:bookworm, made
// by scripts/ensure-base-image.sh) plus one COPY'd file, through a real fileserver over
// TLS on 127.0.0.1. Both runs are the real CLI (`sway export DIR --json`), build
// included; the layer cache starts empty, so the first export reads every layer.
// Prints files, bytes, blobs uploaded, seconds, MB/s and the CLI's peak RSS.
// Not a test: it asserts no timing; it fails only if an export fails.
//
//   node dist/bench/export.bench.js [IMAGE]
// Writes $SWAY_BENCH_RESULTS/export.json when that is set.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, removeTempDir } from '../test/helpers/tmp.js';
import { runCommand, SWAY_BIN } from '../test/helpers/cli.js';
import { startFileserver } from '../ts/fileserver/index.js';

interface Summary { image: string; id: string; files: number; bytes: number; blobsUploaded: number; bytesUploaded: number; seconds: number; podmanImage?: string }

const baseImage = process.argv[2] ?? 'localhost/sway/python-base:bookworm';
if (spawnSync('podman', ['image', 'exists', baseImage]).status !== 0) {
  console.error(`bench/export: no image ${baseImage} (run scripts/ensure-base-image.sh)`);
  process.exit(2);
}

const tmp = await mkdtemp(join(tmpdir(), 'sway-bench-export-'));
const server = await startFileserver({ dataDir: join(tmp, 'fs'), port: 0, host: '127.0.0.1', log: () => {} });
const token = server.addUser('bench');
const app = join(tmp, 'app');
const env = { SWAY_FILESERVER: server.url, SWAY_TOKEN: token, SWAY_CA: server.caCertPath, SWAY_CACHE_DIR: join(tmp, 'cache') };
let podmanImage: string | undefined;

async function exportOnce(label: string): Promise<Summary & { peakRssMB: number }> {
  // /usr/bin/time reports the CLI's peak resident memory (the 300 MB budget).
  // Asynchronously: the fileserver answers from this very process.
  const r = await runCommand('/usr/bin/time', ['-f', 'PEAK_RSS_KB=%M', process.execPath, SWAY_BIN, 'export', app, '--json'], { cwd: REPO_ROOT, env, timeoutMs: 1_800_000 });
  if (r.code !== 0) throw new Error(`${label} export failed: ${r.stderr}`);
  const s = JSON.parse(r.stdout) as Summary;
  podmanImage = s.podmanImage;
  const peak = Number(/PEAK_RSS_KB=(\d+)/.exec(r.stderr)?.[1] ?? 0) / 1024;
  const line = `${label.padEnd(10)} files=${s.files} bytes=${(s.bytes / 1e6).toFixed(1)}MB blobsUploaded=${s.blobsUploaded} bytesUploaded=${(s.bytesUploaded / 1e6).toFixed(1)}MB seconds=${s.seconds.toFixed(2)} MB/s=${(s.bytes / 1e6 / s.seconds).toFixed(1)} peakRSS=${peak.toFixed(0)}MB`;
  console.log(line);
  return { ...s, peakRssMB: Math.round(peak) };
}

try {
  await mkdir(app, { recursive: true });
  await writeFile(join(app, 'Dockerfile'), `FROM ${baseImage}\nCOPY app.py /app/app.py\nCMD ["python3", "/app/app.py"]\n`);
  await writeFile(join(app, 'app.py'), 'print("version 1")\n');
  console.log(`bench/export: image FROM ${baseImage}`);
  const first = await exportOnce('first');
  await writeFile(join(app, 'app.py'), 'print("version 2")\n');
  const again = await exportOnce('re-export');
  if (process.env.SWAY_BENCH_RESULTS) {
    await writeFile(join(process.env.SWAY_BENCH_RESULTS, 'export.json'), JSON.stringify({ baseImage, first, reExport: again, at: new Date().toISOString() }, null, 2) + '\n');
  }
} finally {
  await server.close();
  if (podmanImage) spawnSync('podman', ['rmi', '--force', podmanImage], { stdio: 'ignore' });
  await removeTempDir(tmp);
}
