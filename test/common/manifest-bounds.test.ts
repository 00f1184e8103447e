// The decompressed-size bound of readManifestTable (worker and fileserver alike): a
// manifest's JSON may be at most MAX_MANIFEST_JSON_BYTES, and at most MAX_MANIFEST_GZIP_RATIO
// times its gzip size, so a gzip bomb stops after a few MB of output, however big its claim.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ImageFormatError } from '../../ts/common/errors.js';
import { encodeManifest, emptyImageConfig, manifestJsonLimit, readManifestTable, MAX_MANIFEST_GZIP_RATIO, MAX_MANIFEST_JSON_BYTES } from '../../ts/common/manifest.js';

const root = { path: '', type: 'dir' as const, mode: 0o755, uid: 0, gid: 0, mtime: 1700000000, size: 0 };

test('a manifest whose JSON is far bigger than its gzip is refused, even a well-formed one', () => {
  const json = gunzipSync(encodeManifest({ version: 1, config: emptyImageConfig(), entries: [root] })).toString();
  // JSON allows whitespace: 8 MiB of it makes a valid manifest that gzips ~1000:1.
  const padded = gzipSync(Buffer.from(json.replace('"entries":', `"entries":${' '.repeat(8 * 1024 * 1024)}`)), { level: 9 });
  assert.ok(padded.length * MAX_MANIFEST_GZIP_RATIO < 8 * 1024 * 1024);
  assert.throws(() => readManifestTable(padded), (err: Error) => err instanceof ImageFormatError
    && /^manifest decompresses to more than \d+ bytes/.test(err.message));
  // The same JSON is fine with a bound that allows it (the bound, not the content, refused it).
  assert.equal(readManifestTable(padded, 16 * 1024 * 1024).paths.length, 1);
});

test('the bound: 1 MiB at least, 64 times the gzip size, 32 MiB at most', () => {
  assert.equal(manifestJsonLimit(100), 1024 * 1024);
  assert.equal(manifestJsonLimit(100_000), 100_000 * MAX_MANIFEST_GZIP_RATIO);
  assert.equal(manifestJsonLimit(10 * 1024 * 1024), MAX_MANIFEST_JSON_BYTES);
  const bomb = gzipSync(Buffer.alloc(256 * 1024 * 1024), { level: 1 });
  assert.throws(() => readManifestTable(bomb), /manifest decompresses to more than/);
});
