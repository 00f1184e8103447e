// FileserverClient.batchUpload names the right culprit: a source of ours that fails (a file
// shorter than declared) surfaces as itself. (The other side, a connection reset by a
// killed server surfacing as "unreachable", is covered by test/export/export-crash.test.ts:
// a TLS server socket here cannot send the RST a killed process's kernel does.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { startFixture } from './fixture.js';
import { SizeMismatchError, type UploadFile } from '../../ts/common/fileserver-client.js';
import { sha256 } from '../../ts/common/hash.js';

/** Files whose contents come from streams, as an export sends them. */
function streamedFiles(count: number, size: number): UploadFile[] {
  return Array.from({ length: count }, (_, i) => {
    const content = randomBytes(size);
    return { key: `f${i}`, hash: sha256(content), size, open: () => Readable.from([content]) };
  });
}

test('a source shorter than declared fails the batch as a size mismatch', async (t) => {
  const fx = await startFixture(t);
  const files = streamedFiles(3, 300 * 1024);
  const short = files[1]!;
  files[1] = { ...short, open: () => Readable.from([randomBytes(short.size - 1)]) };
  await assert.rejects(fx.alice.batchUpload(files), SizeMismatchError);
});
