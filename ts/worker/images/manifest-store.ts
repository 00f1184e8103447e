// Image manifests kept on the worker's disk by id (D/manifests/<id>), so a restarted
// worker does not fetch them again. A stored manifest is re-verified (its SHA-256 is its
// name) every time it is read; a bad one is deleted and fetched again.
// Deliberately does not: decide who may use an image (the fileserver does, per user).
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sha256, isHash } from '../../common/hash.js';
import { BadRequestError, HashMismatchError } from '../../common/errors.js';
import { decodeManifest, type Manifest } from '../../common/manifest.js';

export class ManifestStore {
  constructor(private readonly dir: string, private readonly fetchBlob: (id: string) => Promise<Buffer>) {}

  async get(id: string): Promise<Manifest> {
    if (!isHash(id)) throw new BadRequestError(`not an image id: ${JSON.stringify(id)}`);
    const path = join(this.dir, id);
    const stored = await readFile(path).catch(() => undefined);
    if (stored && sha256(stored) === id) return decodeManifest(stored);
    if (stored) await rm(path, { force: true });
    const blob = await this.fetchBlob(id);
    const actual = sha256(blob);
    if (actual !== id) throw new HashMismatchError(id, actual, 'manifest');
    const manifest = decodeManifest(blob); // refuse to store what does not decode
    await mkdir(this.dir, { recursive: true });
    const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
    await writeFile(tmp, blob);
    await rename(tmp, path);
    return manifest;
  }
}
