// The crash test of issue 2, literally: a fileserver child process is killed with
// kill -9 while `sway export --image-archive` is uploading a large image (a few thousand
// files, tens of MB, written here as a docker-archive). The export fails with one line and
// exit 125 and publishes no name; the fileserver restarts on the same data dir; the
// re-run export completes and the name points at its id; every blob on disk matches its
// hash and nothing half-written or staged is visible as a blob.
//
// Needs no podman: the archive is made with tar-stream, so it runs everywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { createWriteStream, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { makeTempDir } from '../helpers/tmp.js';
import { runSway, startSway, type RunningSway } from '../helpers/cli.js';
import { FileserverClient } from '../../ts/common/fileserver-client.js';
import { isHash, sha256 } from '../../ts/common/hash.js';
import { blobRelPath } from '../../ts/fileserver/store/local-store.js';
import { decodeManifest } from '../../ts/common/manifest.js';
import { listFiles } from '../fileserver/fixture.js';

const FILES = 4000;

async function startServer(dataDir: string): Promise<{ proc: RunningSway; url: string; ca: string }> {
  const proc = startSway(['fileserver', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0']);
  const m = await proc.waitForOutput(/listening on (https:\/\/\S+) ca=(\S+)/, 120_000);
  return { proc, url: m[1]!, ca: m[2]! };
}

/** One layer of FILES random files (mostly a few KB, some of a few hundred KB: ~50 MB). */
async function layerTar(): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (b: unknown) => { chunks.push(b as Buffer); });
  const ended = new Promise<void>((r) => pack.on('end', () => r()));
  pack.entry({ name: 'data/', type: 'directory', mode: 0o755 });
  for (let d = 0; d < 40; d++) pack.entry({ name: `data/d${d}/`, type: 'directory', mode: 0o755 });
  for (let i = 0; i < FILES; i++) {
    // Random content: every file is its own blob, none is already on the server.
    const size = i % 50 === 0 ? randomInt(200_000, 600_000) : randomInt(0, 16_000);
    pack.entry({ name: `data/d${i % 40}/f${i}`, mode: 0o644 }, randomBytes(size));
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

/** A docker-archive (manifest.json, config, one uncompressed layer) at `path`. */
async function writeDockerArchive(path: string): Promise<void> {
  const layer = await layerTar();
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux',
    config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${createHash('sha256').update(layer).digest('hex')}`] },
  }));
  const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
  const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: ['localhost/crash:1'], Layers: ['layer0/layer.tar'] }]));
  const pack = tar.pack();
  pack.entry({ name: configName }, config);
  pack.entry({ name: 'layer0/layer.tar' }, layer);
  pack.entry({ name: 'manifest.json' }, manifest);
  pack.finalize();
  await pipeline(pack, createWriteStream(path));
}

test('kill -9 of the fileserver during a large export: it fails cleanly, the re-run completes, every stored blob is intact', { timeout: 900_000 }, async (t) => {
  const tmp = await makeTempDir(t, 'sway-export-crash-');
  const dataDir = join(tmp, 'data');
  const archive = join(tmp, 'big.tar');
  await writeDockerArchive(archive);

  const adduser = await runSway(['fileserver', 'adduser', 'alice', '--data-dir', dataDir]);
  assert.equal(adduser.code, 0, adduser.stderr);
  const token = adduser.stdout.trim().split('\n').pop()!.trim();
  const name = 'alice/crash:latest';
  const exportArgs = ['export', '--image-archive', archive, '--tag', name, '--json'];

  // Round 1: kill -9 once the upload is under way (upload phase shown and blobs landing on disk).
  const first = await startServer(dataDir);
  t.after(() => first.proc.stop());
  const env = (url: string, ca: string) => ({
    SWAY_FILESERVER: url, SWAY_TOKEN: token, SWAY_CA: ca, SWAY_USERNAME: 'alice', SWAY_CACHE_DIR: join(tmp, 'cache'),
  });
  const exporting = startSway(exportArgs, { env: env(first.url, first.ca) });
  t.after(() => exporting.stop());
  await exporting.waitForOutput(/^upload\b/m, 300_000);
  const blobsDir = join(dataDir, 'blobs');
  for (;;) {
    // Something of this export is on disk or staged: the server is mid-upload.
    const staged = readdirSafe(join(dataDir, 'tmp')).length;
    if (staged > 0 || listFiles(blobsDir).length > 0) break;
    assert.equal(exporting.child.exitCode, null, `export ended before the kill:\n${exporting.stderr()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  process.kill(-first.proc.child.pid!, 'SIGKILL');
  assert.equal((await first.proc.exited).signal, 'SIGKILL');
  const blobsAtKill = listFiles(blobsDir).length;

  const failed = await exporting.exited;
  assert.equal(failed.code, 125, `export after the kill: ${exporting.stderr()}`);
  const errorLines = exporting.stderr().split('\n').filter((l) => l.startsWith('sway:'));
  assert.equal(errorLines.length, 1, exporting.stderr());
  assert.match(errorLines[0]!, /fileserver.*unreachable/, 'the connection loss is named as such');
  assert.equal(exporting.stdout(), '', 'no summary printed for a failed export');

  // Restart on the same data dir: the name was never published.
  const second = await startServer(dataDir);
  t.after(() => second.proc.stop());
  const client = new FileserverClient({ url: second.url, token, caFile: second.ca });
  t.after(() => client.close());
  await assert.rejects(client.resolveImage(name), (e: Error) => /not found|no image|404/i.test(e.message), 'the name was published by the killed export');

  // Round 2: the re-run completes and the name points at its id.
  const rerun = await runSway(exportArgs, { env: env(second.url, second.ca), timeoutMs: 600_000 });
  assert.equal(rerun.code, 0, rerun.stderr);
  const summary = JSON.parse(rerun.stdout) as { image: string; id: string; files: number; blobsUploaded: number };
  assert.equal(summary.image, name);
  assert.ok(summary.files >= FILES, `only ${summary.files} files exported`);
  assert.equal((await client.resolveImage(name)).id, summary.id);
  const { blob } = await client.getManifest(name);
  const referenced = new Set(decodeManifest(blob).entries.flatMap((e) => (e.type === 'file' && e.hash ? [e.hash] : [])));

  // The blob store: every file is a complete blob at its own fan-out name; all the image's blobs are there.
  const stored = listFiles(blobsDir);
  for (const rel of stored) {
    const hash = rel.split('/').pop()!;
    assert.ok(isHash(hash), `unexpected file in the blob store: ${rel}`);
    assert.equal(rel, blobRelPath(hash));
    assert.equal(sha256(readFileSync(join(blobsDir, rel))), hash, `stored blob ${rel} does not match its hash`);
  }
  const storedHashes = new Set(stored.map((rel) => rel.split('/').pop()!));
  const missing = [...referenced].filter((h) => !storedHashes.has(h));
  assert.deepEqual(missing, [], 'blobs of the exported image missing from the store');
  t.diagnostic(`${blobsAtKill} blobs stored at the kill; re-run uploaded ${summary.blobsUploaded} of ${referenced.size} file blobs; ${stored.length} blobs stored`);
});

function readdirSafe(dir: string): string[] {
  try { return readdirSync(dir); } catch { return []; }
}
