// Scripts: small blobs a user uploads to run (PUT /v1/scripts → {hash}) and a worker
// fetches (GET/HEAD /v1/scripts/:hash). Readable by their owner and by workers only.
import { NotFoundError } from '../../common/errors.js';
import { sha256 } from '../../common/hash.js';
import { readBody, type Router } from '../../common/server.js';
import { currentUser, readsEverything, requireWriter } from '../auth.js';
import { commitOwned, type FileserverContext } from '../context.js';
import { requireHash, sendBlob } from './blobs.js';

export function registerScriptRoutes(router: Router, fs: FileserverContext): void {
  router.put('/v1/scripts', async (ctx) => {
    const user = currentUser(ctx);
    requireWriter(user);
    const content = await readBody(ctx, fs.limits.maxScriptBytes);
    const hash = sha256(content);
    const writer = await fs.store.createWriter(hash, { expectedSize: content.length });
    try {
      await writer.write(content);
      await writer.finish();
      await commitOwned(fs, user.name, [writer], () => fs.db.addScript(user.name, hash));
    } catch (err) {
      await writer.abort();
      throw err;
    }
    ctx.status = 201;
    ctx.body = { hash };
  });

  router.get('/v1/scripts/:hash', async (ctx, { hash }) => {
    const user = currentUser(ctx);
    requireHash(hash!);
    if (!readsEverything(user) && !fs.db.hasScript(user.name, hash!)) throw new NotFoundError(`script ${hash} not found`);
    await sendBlob(fs, ctx, hash!);
  });
}
