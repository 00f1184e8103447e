// POST /sync: [{key, hash}] → {upload: [key…]}, the keys whose content this user must
// upload. Answered per user: a blob the store holds but this user never uploaded is
// still asked for, so the answer never reveals what other users hold (the upload then
// only proves possession and records ownership). One key per missing hash: several
// files with the same content need one upload.
import { BadRequestError, LimitError } from '../../common/errors.js';
import { isHash } from '../../common/hash.js';
import { readJsonBody, type Router } from '../../common/server.js';
import { currentUser } from '../auth.js';
import type { FileserverContext } from '../context.js';

interface SyncItem { key: string; hash: string }

export function registerSyncRoute(router: Router, fs: FileserverContext): void {
  router.post('/sync', async (ctx) => {
    const user = currentUser(ctx);
    const body = await readJsonBody<unknown>(ctx, fs.limits.maxJsonBytes);
    const items = (Array.isArray(body) ? body : (body as { items?: unknown })?.items) as unknown;
    if (!Array.isArray(items)) throw new BadRequestError('sync body must be a JSON array of {key, hash}');
    const firstKeyOf = new Map<string, string>();
    for (const [i, raw] of items.entries()) {
      const item = raw as SyncItem;
      if (typeof item !== 'object' || item === null || typeof item.key !== 'string' || !isHash(item.hash)) {
        throw new BadRequestError(`sync item ${i} is not {key: string, hash: sha256 hex}`);
      }
      if (item.key.length > fs.limits.maxPathLength) throw new LimitError(`sync item ${i}: key longer than ${fs.limits.maxPathLength} characters`, 400);
      if (!firstKeyOf.has(item.hash)) firstKeyOf.set(item.hash, item.key);
    }
    const missing = fs.db.notOwned(user.name, firstKeyOf.keys());
    ctx.body = { upload: missing.map((h) => firstKeyOf.get(h)!) };
  });
}
