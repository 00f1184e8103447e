// A BlobFetcher over plain HTTP for the tests (the fileserver speaks HTTPS through
// FileserverClient; this one talks to BlobServer). It does what the contract demands:
// stream to a temp file beside the destination while hashing, check size and hash,
// rename into place only on a match, remove the temp file on any failure.
import { request } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BlobFetcher } from '../../ts/worker/fuse/blob-fetcher.js';
import { HashMismatchError } from '../../ts/common/errors.js';

export class HttpBlobFetcher implements BlobFetcher {
  constructor(private readonly baseUrl: string) {}

  async fetch(hash: string, size: number, destPath: string, signal: AbortSignal): Promise<void> {
    await mkdir(dirname(destPath), { recursive: true });
    const tmp = `${destPath}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
    const fh = await open(tmp, 'wx', 0o644);
    try {
      const h = createHash('sha256');
      let got = 0;
      await new Promise<void>((resolve, reject) => {
        const req = request(`${this.baseUrl}/blobs/${hash}`, { signal }, (res) => {
          if (res.statusCode !== 200) { res.resume(); reject(new Error(`HTTP ${res.statusCode}`)); return; }
          res.on('data', (chunk: Buffer) => {
            got += chunk.length;
            h.update(chunk);
            res.pause();
            fh.write(chunk).then(() => res.resume(), reject);
          });
          res.on('end', () => resolve());
          res.on('aborted', () => reject(new Error('response aborted')));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
      // Let the last write land before checking.
      await fh.sync();
      if (got !== size) throw new Error(`blob ${hash}: expected ${size} bytes, got ${got}`);
      const actual = h.digest('hex');
      if (actual !== hash) throw new HashMismatchError(hash, actual, 'blob');
      await fh.close();
      await rename(tmp, destPath);
    } catch (err) {
      await fh.close().catch(() => {});
      await rm(tmp, { force: true });
      throw err;
    }
  }
}
