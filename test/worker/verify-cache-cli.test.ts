// `sway worker verify-cache` as an operator runs it: on a stopped worker's data dir it
// keeps good blobs, removes a blob whose bytes do not match its name and an interrupted
// fetch's temp file; beside a present mount it refuses with one line and exit 125.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { makeTempDir } from '../helpers/tmp.js';
import { runSway } from '../helpers/cli.js';
import { fanoutPath, sha256 } from '../../ts/common/hash.js';

async function putBlob(cacheDir: string, name: string, content: string): Promise<string> {
  const path = join(cacheDir, fanoutPath(name));
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
  return path;
}

test('verify-cache removes mismatching blobs and temp files, keeps good ones; refuses beside a mount', async (t) => {
  const dataDir = await makeTempDir(t, 'sway-verify-');
  const cacheDir = join(dataDir, 'cache');
  const good = ['alpha\n', 'beta\n'].map((c) => ({ hash: sha256(Buffer.from(c)), content: c }));
  const goodPaths = await Promise.all(good.map((g) => putBlob(cacheDir, g.hash, g.content)));
  const claimed = sha256(Buffer.from('what the name promises\n'));
  const badPath = await putBlob(cacheDir, claimed, 'what the disk holds\n');
  const tempPath = join(dirname(goodPaths[0]!), `.${good[0]!.hash}.tmp-123`);
  await writeFile(tempPath, 'half a fetch');

  const r = await runSway(['worker', 'verify-cache', '--data-dir', dataDir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { checked: number; removed: number; bytes: number };
  assert.equal(report.checked, 3);
  assert.equal(report.removed, 1);
  assert.ok(goodPaths.every((p) => existsSync(p)), 'good blobs stay');
  assert.equal(existsSync(badPath), false, 'the mismatching blob is removed');
  assert.equal(existsSync(tempPath), false, 'the temp file is removed');

  const again = await runSway(['worker', 'verify-cache', '--data-dir', dataDir]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^checked 2 blobs \(0\.0 MB\) in [\d.]+ s; removed 0 that did not match their hash\n$/);

  if (process.getuid?.() !== 0) return;
  const mnt = join(dataDir, 'mnt');
  await mkdir(mnt);
  execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', mnt]);
  t.after(() => { try { execFileSync('umount', [mnt]); } catch { /* already gone */ } });
  const refused = await runSway(['worker', 'verify-cache', '--data-dir', dataDir]);
  assert.equal(refused.code, 125);
  assert.match(refused.stderr, /^sway: the worker of \S+ is running or left its mount at \S+\/mnt: stop it/);
  assert.equal(refused.stderr.trim().split('\n').length, 1);
});
