// Manifest chunk hashes (issue 5, partial fetches): the format's validation, and that
// `sway export` writes one verified hash per chunk for big files (and none for small
// ones), which the fileserver's Range answers match, several chunks in one request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { runSway } from '../helpers/cli.js';
import { startFixture } from '../fileserver/fixture.js';
import { makeDockerArchive, makeTar } from '../fixtures/image-archives.js';
import { CHUNKED_FILE_MIN, DEFAULT_CHUNK_SIZE, decodeManifest, encodeManifest, emptyImageConfig, type Manifest } from '../../ts/common/manifest.js';
import { sha256 } from '../../ts/common/hash.js';
import { hashChunks } from '../../ts/common/chunk-hasher.js';
import { ImageFormatError } from '../../ts/common/errors.js';

const MiB = 1024 * 1024;

function chunkHashesOf(content: Buffer, chunkSize = MiB): string[] {
  const out: string[] = [];
  for (let at = 0; at < content.length; at += chunkSize) out.push(sha256(content.subarray(at, at + chunkSize)));
  return out;
}

function manifestWith(size: number, hash: string, chunks?: Manifest['chunks']): Manifest {
  return {
    version: 1, config: emptyImageConfig(), ...(chunks ? { chunks } : {}),
    entries: [
      { path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
      { path: 'big', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size, hash },
    ],
  };
}

test('manifest chunk hashes: round trip; wrong count, unknown content, bad chunk size, non-hex refused; none decodes as before', async () => {
  const content = randomBytes(5 * MiB + 123);
  const hash = sha256(content);
  const chunks = chunkHashesOf(content);
  assert.equal(chunks.length, 6);
  const hashed = await hashChunks(content, MiB);
  assert.deepEqual(hashed, { hash, chunks, bytes: content.length });

  const decoded = decodeManifest(encodeManifest(manifestWith(content.length, hash, { chunkSize: MiB, byBlob: { [hash]: chunks } })));
  assert.deepEqual(decoded.chunks, { chunkSize: MiB, byBlob: { [hash]: chunks } });
  assert.equal(decodeManifest(encodeManifest(manifestWith(content.length, hash))).chunks, undefined);

  const refused = (m: Manifest, re: RegExp) => assert.throws(() => decodeManifest(encodeManifest(m)), (e: unknown) => e instanceof ImageFormatError && re.test(e.message));
  refused(manifestWith(content.length, hash, { chunkSize: MiB, byBlob: { [hash]: chunks.slice(1) } }), /needs 6 chunk hashes/);
  refused(manifestWith(content.length, hash, { chunkSize: MiB, byBlob: { [sha256('other')]: chunks } }), /no file content/);
  refused(manifestWith(content.length, hash, { chunkSize: MiB + 1, byBlob: { [hash]: chunks } }), /power of two/);
  refused(manifestWith(content.length, hash, { chunkSize: MiB, byBlob: { [hash]: [...chunks.slice(1), 'X'.repeat(64)] } }), /needs 6 chunk hashes/);
  refused(manifestWith(100, sha256(content.subarray(0, 100)), { chunkSize: MiB, byBlob: { [sha256(content.subarray(0, 100))]: [chunks[0]!] } }), /fits in one chunk/);
});

test('sway export: a 9.5 MiB file gets one verified hash per 256 KiB chunk, a 1 MiB file none; a Range of chunks 3-5 matches them', { timeout: 180_000 }, async (t) => {
  const tmp = await makeTempDir(t, 'sway-chunks-export-');
  const fx = await startFixture(t);
  const big = randomBytes(9 * MiB + MiB / 2);
  const medium = randomBytes(CHUNKED_FILE_MIN); // not above the threshold: whole-file
  const CS = DEFAULT_CHUNK_SIZE;
  const layer = makeTar([{ name: 'data/', type: 'dir' }, { name: 'data/big.bin', content: big }, { name: 'data/medium.bin', content: medium }]);
  const archive = join(tmp, 'image.tar');
  writeFileSync(archive, makeDockerArchive([layer]));
  const suffix = randomBytes(4).toString('hex');
  const env = { SWAY_FILESERVER: fx.server.url, SWAY_TOKEN: fx.tokens.alice, SWAY_CA: fx.server.caCertPath, SWAY_CACHE_DIR: join(tmp, 'cache') };
  const r = await runSway(['export', '--image-archive', archive, '--tag', `chunks-${suffix}:1`, '--json'], { env, timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);

  const { blob } = await fx.alice.getManifest(`alice/chunks-${suffix}:1`);
  const manifest = decodeManifest(blob);
  const bigHash = sha256(big);
  assert.equal(manifest.chunks?.chunkSize, CS);
  assert.deepEqual(Object.keys(manifest.chunks!.byBlob), [bigHash]);
  assert.deepEqual(manifest.chunks!.byBlob[bigHash], chunkHashesOf(big, CS));
  const n = Math.ceil(big.length / CS);

  // Three consecutive chunks in one request, each verified by the client.
  const got: Array<[number, Buffer]> = [];
  await fx.worker.fetchBlobChunks(bigHash, { size: big.length, chunkSize: CS, first: 3, hashes: manifest.chunks!.byBlob[bigHash]!.slice(3, 6) }, (i, b) => { got.push([i, b]); });
  assert.deepEqual(got.map(([i]) => i), [3, 4, 5]);
  assert.ok(Buffer.concat(got.map(([, b]) => b)).equals(big.subarray(3 * CS, 6 * CS)));
  // The short last chunk too.
  const last: Buffer[] = [];
  await fx.worker.fetchBlobChunks(bigHash, { size: big.length, chunkSize: CS, first: n - 2, hashes: manifest.chunks!.byBlob[bigHash]!.slice(n - 2) }, (_i, b) => { last.push(b); });
  assert.ok(Buffer.concat(last).equals(big.subarray((n - 2) * CS)));
  // A wrong chunk hash: the chunks before it are delivered, then it throws.
  const wrong = [...manifest.chunks!.byBlob[bigHash]!.slice(0, 2), sha256('not it')];
  const seen: number[] = [];
  await assert.rejects(fx.worker.fetchBlobChunks(bigHash, { size: big.length, chunkSize: CS, first: 0, hashes: wrong }, (i) => { seen.push(i); }), /chunk 2/);
  assert.deepEqual(seen, [0, 1]);
});
