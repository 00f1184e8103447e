// Image names and manifests:
//   PUT /v1/images/*name    {id}  point user/name:tag at a manifest (caller's own prefix only)
//   GET /v1/images/*ref            {id, name} for a name or an id
//   GET /v1/manifests/*ref         the manifest blob, header sway-image-id
// A name moves only once the manifest and every blob it references are stored and owned
// by the caller: a half-uploaded image is never visible under a name, and publishing
// never grants access to blobs the caller could not already read. A new image under a
// name takes the publisher's start profile of the previous image, by path (profiles.ts,
// carryProfileOver).
import { BadRequestError, ForbiddenError, SwayError } from '../../common/errors.js';
import { isHash } from '../../common/hash.js';
import type { ManifestEntry } from '../../common/manifest.js';
import { HEADERS, parseImageName } from '../../common/protocol.js';
import { readJsonBody, type Router } from '../../common/server.js';
import { currentUser, requireWriter, resolveImageRef } from '../auth.js';
import type { FileserverContext } from '../context.js';
import { IMMUTABLE, sendBlob } from './blobs.js';
import { carryProfileOver } from './profiles.js';

export function registerImageRoutes(router: Router, fs: FileserverContext): void {
  router.put('/v1/images/*ref', async (ctx, { ref }) => {
    const user = currentUser(ctx);
    requireWriter(user);
    const name = parseImageName(ref!, user.name);
    if (name.user !== user.name) throw new ForbiddenError(`you can publish only under ${user.name}/, not ${name.user}/`);
    const body = await readJsonBody<{ id?: unknown }>(ctx, 64 * 1024);
    const id = body?.id;
    if (!isHash(id)) throw new BadRequestError('body must be {"id": "<sha256 of the manifest blob>"}');
    // Shared with GC: nothing checked here can be collected before the name points at it.
    await fs.gcLock.shared(async () => {
      if (!fs.db.ownsBlob(user.name, id) || !(await fs.store.stat(id))) {
        throw new SwayError('SWAY_MISSING_BLOBS', `manifest ${id} is not uploaded: upload it, then publish`, 409);
      }
      const { manifest } = await fs.manifests.get(id);
      const needed = new Set<string>([id]);
      for (const e of manifest.entries as ManifestEntry[]) if (e.hash) needed.add(e.hash);
      // Ownership implies presence: GC drops the ownership of every blob it deletes.
      const missing = fs.db.notOwned(user.name, needed);
      if (missing.length) {
        throw new SwayError('SWAY_MISSING_BLOBS', `${missing.length} blob(s) of image ${name.full} are not uploaded (first: ${missing[0]}): upload them, then publish`, 409);
      }
      const previous = fs.db.getImage(name.full)?.id;
      fs.db.setImage(name.full, user.name, id);
      // Under the GC lock still: the previous manifest cannot be collected meanwhile.
      if (previous && previous !== id) {
        const carried = await carryProfileOver(fs, previous, id, user.name);
        if (carried) fs.log(`start profile of ${name.full}: ${carried} blobs carried over from image ${previous.slice(0, 12)}`);
      }
    });
    ctx.body = { name: name.full, id };
  });

  router.get('/v1/images/*ref', async (ctx, { ref }) => {
    ctx.body = await resolveImageRef(fs, currentUser(ctx), ref!);
  });

  router.get('/v1/manifests/*ref', async (ctx, { ref }) => {
    const { id } = await resolveImageRef(fs, currentUser(ctx), ref!);
    ctx.set(HEADERS.imageId, id);
    // By id the answer never changes; by name it moves when the name does.
    await sendBlob(fs, ctx, id, isHash(ref) ? IMMUTABLE : 'no-cache');
  });
}
