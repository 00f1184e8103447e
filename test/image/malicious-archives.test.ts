// The malicious-archive corpus (test/fixtures/malicious-archives.ts) against the real
// `sway export --image-archive` command line and a real fileserver over TLS. For every case:
// - refused: exit 125, exactly one `sway: ...` line matching the case's error (no stack
//   trace, no other line but progress), and the case's user owns no image and no blob:
//   nothing was uploaded or published;
// - confined: exit 0, exactly one image under the case's name, whose manifest passes the
//   codec's validation (clean relative paths, parents are directories, hard links point at
//   files of the image), holds the expected entries (symlink targets as plain strings,
//   file contents read back through the fileserver) and not the forbidden ones;
// - always: a canary directory beside the export's cwd, cache and TMPDIR (the target of
//   the symlink and hard-link attacks) is byte-for-byte and mode-for-mode unchanged, TMPDIR
//   is empty, the cache holds no temp file, and the cwd holds only the archive.
// Cases run three at a time (each is its own CLI process with its own fileserver user).
//
// Deliberately does not: run containers on what was published (the FUSE layer serves a
// symlink target as a string; test/fuse covers that), or fuzz (archive-fuzz.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { makeTempDir } from '../helpers/tmp.js';
import { runSway } from '../helpers/cli.js';
import { startFixture } from '../fileserver/fixture.js';
import { databasePath } from '../../ts/fileserver/server.js';
import { FileserverClient } from '../../ts/common/fileserver-client.js';
import { decodeManifest, isCleanRelativePath } from '../../ts/common/manifest.js';
import { MALICIOUS_CASES, type MaliciousCase } from '../fixtures/malicious-archives.js';

/** Every path under dir with its type, mode, size, mtime and content hash or link target. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (rel: string) => {
    const abs = rel ? join(dir, rel) : dir;
    const st = lstatSync(abs);
    const base = `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs}`;
    if (st.isDirectory()) {
      out.set(rel, `dir ${base}`);
      for (const n of readdirSync(abs).sort()) visit(rel ? `${rel}/${n}` : n);
    } else if (st.isSymbolicLink()) {
      out.set(rel, `symlink ${base} ${readlinkSync(abs)}`);
    } else {
      out.set(rel, `file ${base} ${st.size} ${createHash('sha256').update(readFileSync(abs)).digest('hex')}`);
    }
  };
  visit('');
  return out;
}

/** Every file (not directory) under dir, relative. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(join(d, e.name), r);
      else out.push(r);
    }
  };
  walk(dir, '');
  return out;
}

const PROGRESS_LINE = /^[a-z]+ *( {2}.*)?$/;

test('malicious image archives: each refused with one clear line or published confined; canary untouched; nothing left behind', { timeout: 600_000, concurrency: 3 }, async (t) => {
  assert.ok(MALICIOUS_CASES.length >= 40, `corpus has ${MALICIOUS_CASES.length} cases`);
  assert.equal(new Set(MALICIOUS_CASES.map((c) => c.name)).size, MALICIOUS_CASES.length, 'case names are unique');
  const fx = await startFixture(t);
  const root = await makeTempDir(t, 'sway-malicious-');
  const db = new Database(databasePath(fx.dataDir), { readonly: true, fileMustExist: true });
  t.after(() => db.close());
  const imagesOf = db.prepare<[string], { name: string; id: string }>('SELECT name, id FROM images WHERE user = ?');
  const blobsOf = db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM blob_owners WHERE user = ?');
  const clients: FileserverClient[] = [];
  t.after(() => Promise.all(clients.map((c) => c.close())));

  const runCase = async (c: MaliciousCase, i: number): Promise<void> => {
    const user = `evil${i}`;
    const token = fx.server.addUser(user);
    const caseDir = join(root, c.name);
    const [work, cache, tmp, home, canary] = ['work', 'cache', 'tmp', 'home', 'canary'].map((d) => join(caseDir, d)) as [string, string, string, string, string];
    for (const d of [work, cache, tmp, home, join(canary, 'sub')]) mkdirSync(d, { recursive: true });
    writeFileSync(join(canary, 'secret'), 'canary secret\n', { mode: 0o600 });
    writeFileSync(join(canary, 'sub', 'inner'), 'inner\n');
    symlinkSync('secret', join(canary, 'link'));
    const { archive, canaryFiles } = c.build({ canaryDir: canary });
    for (const [name, content] of Object.entries(canaryFiles ?? {})) writeFileSync(join(canary, name), content);
    const before = snapshot(canary);
    const archivePath = join(work, 'evil.tar');
    writeFileSync(archivePath, archive);

    const tag = `evil-${i}:t`;
    const r = await runSway(['export', '--image-archive', archivePath, '--tag', tag, '--json'], {
      cwd: work,
      timeoutMs: 120_000,
      env: {
        SWAY_FILESERVER: fx.server.url, SWAY_TOKEN: token, SWAY_CA: fx.server.caCertPath,
        SWAY_CACHE_DIR: cache, TMPDIR: tmp, HOME: home, ...c.env,
      },
    });
    const context = `${c.name} (${c.attack}): exit ${r.code}, stderr:\n${r.stderr}`;
    assert.equal(r.timedOut, false, context);
    assert.equal(r.signal, null, context);
    assert.doesNotMatch(r.stderr, /^\s+at \S/m, `no stack trace: ${context}`);

    if (c.expect.kind === 'refused') {
      assert.equal(r.code, 125, context);
      const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
      const errors = lines.filter((l) => l.startsWith('sway: '));
      assert.equal(errors.length, 1, `one error line: ${context}`);
      assert.match(errors[0]!, c.expect.error, context);
      for (const l of lines) if (l !== errors[0]) assert.match(l, PROGRESS_LINE, `only progress besides the error: ${context}`);
      assert.deepEqual(imagesOf.all(user), [], `no image published: ${context}`);
      assert.equal(blobsOf.get(user)!.n, 0, `no blob uploaded: ${context}`);
    } else {
      assert.equal(r.code, 0, context);
      const images = imagesOf.all(user);
      assert.deepEqual(images.map((im) => im.name), [`${user}/${tag}`], context);
      assert.equal((JSON.parse(r.stdout) as { id: string }).id, images[0]!.id);
      const client = new FileserverClient({ url: fx.server.url, token, caFile: fx.server.caCertPath });
      clients.push(client);
      const { blob } = await client.getManifest(`${user}/${tag}`);
      const manifest = decodeManifest(blob); // validates paths, parents and hard-link targets
      const byPath = new Map(manifest.entries.map((e) => [e.path, e]));
      for (const e of manifest.entries) {
        assert.ok(isCleanRelativePath(e.path), `${c.name}: ${JSON.stringify(e.path)} is inside the root`);
        if (e.type === 'hardlink') assert.equal(byPath.get(e.target!)?.type, 'file', `${c.name}: hard link ${e.path} points at a file of the image`);
      }
      for (const [path, want] of Object.entries(c.expect.present)) {
        const got = byPath.get(path);
        assert.ok(got, `${c.name}: ${path} published`);
        assert.equal(got.type, want.type, `${c.name}: ${path}`);
        if (want.target !== undefined) assert.equal(got.target, want.target.replace('CANARY', canary), `${c.name}: ${path} target kept as data`);
        if (want.content !== undefined) {
          const { content } = await client.fetchFile(`${user}/${tag}/${path}`);
          assert.equal(content.toString(), want.content, `${c.name}: ${path} content`);
        }
      }
      for (const path of c.expect.absent) assert.equal(byPath.has(path), false, `${c.name}: ${path} not published`);
    }

    assert.deepEqual(snapshot(canary), before, `${c.name}: canary untouched`);
    assert.deepEqual(readdirSync(tmp), [], `${c.name}: TMPDIR left empty`);
    assert.deepEqual(readdirSync(work), ['evil.tar'], `${c.name}: nothing written beside the archive`);
    const leftovers = filesUnder(cache).filter((f) => /(^|\/)tmp\/|\.tmp-/.test(f));
    assert.deepEqual(leftovers, [], `${c.name}: no temp file in the cache`);
  };

  await Promise.all(MALICIOUS_CASES.map((c, i) => t.test(`${c.expect.kind}: ${c.name}`, () => runCase(c, i))));
});
