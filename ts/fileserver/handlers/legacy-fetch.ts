// GET /fetch?filepath=user/name:tag/path — the original prototype's per-path read, kept:
// a file's content with its manifest entry as JSON in header `sway-meta`; a filepath
// ending in '/' lists that directory ({path, entries}, metadata only). Directories and
// symlinks without the '/' answer their metadata and an empty body.
// Workers do not use this (they read the manifest once); it serves tools and debugging.
import { BadRequestError, LimitError, NotFoundError } from '../../common/errors.js';
import { isCleanRelativePath, type ManifestEntry } from '../../common/manifest.js';
import { HEADERS } from '../../common/protocol.js';
import type { Router } from '../../common/server.js';
import { currentUser, resolveImageRef } from '../auth.js';
import type { FileserverContext } from '../context.js';

export function registerLegacyFetchRoute(router: Router, fs: FileserverContext): void {
  router.get('/fetch', async (ctx) => {
    const user = currentUser(ctx);
    const filepath = ctx.query.filepath;
    if (typeof filepath !== 'string' || filepath === '') throw new BadRequestError('missing query parameter filepath=user/name:tag/path');
    if (filepath.length > fs.limits.maxPathLength) throw new LimitError(`filepath longer than ${fs.limits.maxPathLength} characters`, 414);
    const m = /^([^/]+\/[^/]+)(\/.*)?$/.exec(filepath);
    if (!m) throw new BadRequestError(`filepath ${JSON.stringify(filepath)} is not user/name:tag/path`);
    const rest = m[2] ?? '/';
    const listing = rest.endsWith('/');
    const path = rest.replace(/^\/+/, '').replace(/\/+$/, '');
    if (!isCleanRelativePath(path)) throw new BadRequestError(`path ${JSON.stringify(rest)} is not a clean path`);

    const { id, name } = await resolveImageRef(fs, user, m[1]!);
    const image = await fs.manifests.get(id);
    const entry = image.byPath.get(path);
    if (!entry) throw new NotFoundError(`no /${path} in image ${name ?? id}`);
    ctx.set(HEADERS.meta, headerJson(entry));
    ctx.set(HEADERS.imageId, id);
    ctx.set('cache-control', 'no-cache');
    if (listing) {
      if (entry.type !== 'dir') throw new BadRequestError(`/${path} in image ${name ?? id} is not a directory`);
      ctx.body = { path, entries: image.children.get(path) ?? [] };
      return;
    }
    if ((entry.type === 'file' || entry.type === 'hardlink') && entry.hash) {
      const st = await fs.store.stat(entry.hash);
      if (!st) throw new NotFoundError(`content of /${path} is missing from the store`);
      ctx.type = 'application/octet-stream';
      ctx.set('etag', `"${entry.hash}"`);
      ctx.body = await fs.store.read(entry.hash);
      ctx.length = st.size;
      return;
    }
    ctx.status = 200;
    ctx.body = '';
  });
}

/** JSON safe for an HTTP header: non-ASCII and control characters escaped. */
function headerJson(entry: ManifestEntry): string {
  return JSON.stringify(entry).replace(/[\u0000-\u001f\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
