// POST /v1/runs: authenticate the caller, validate the request, make the image and the
// script ready, then answer 200 with NDJSON and stream the run:
//   {"runId":"…"}                                   first line, once the run is accepted
//   {"stream":"stdout"|"stderr","data":"<base64>"}  as the container writes
//   {"exit":N,"runId":"…","timedOut":bool,"durationMs":…}  last line
//   {"error":{"code","message"}}                     last line instead, if sway failed
// Failures before the stream starts are ordinary JSON errors with a 4xx/5xx status.
// A small script may travel inside the request (script.content, base64; `sway run` sends
// scripts up to 1 MiB this way): it is verified against script.hash and used as is, with
// no upload to and no fetch from the fileserver. These are the caller's own bytes, so
// this grants nothing a command run (`command`) does not; without content the script is
// fetched from the fileserver with the caller's token, as before.
// The client going away cancels the run (the container is killed).
// Deliberately does not: run containers (runner.ts) or record runs itself (it calls hooks).
import { PassThrough } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Context } from 'koa';
import { readJsonBody, bearerToken, type Log } from '../../common/server.js';
import { CONTENT_TYPES } from '../../common/protocol.js';
import { BadRequestError, ForbiddenError, HashMismatchError, LimitError, SwayError } from '../../common/errors.js';
import { sha256 } from '../../common/hash.js';
import { parseRunRequest } from '../run-request.js';
import type { Authenticator } from '../auth.js';
import type { ImageRootProvider, WorkerUser, PreparedImage } from '../images/provider.js';
import type { ScriptSource } from '../scripts.js';
import type { Runner, RunResult } from '../runner.js';
import type { RunRequest } from '../run-request.js';
import { randomUUID } from 'node:crypto';

export interface RunHooks {
  started?(rec: { runId: string; user: WorkerUser; request: RunRequest; image: PreparedImage; args: string[] }): void;
  finished?(rec: { runId: string; user: WorkerUser; request: RunRequest; image: PreparedImage; result?: RunResult; error?: unknown }): void;
}

export interface RunsHandlerDeps {
  authenticator: Authenticator;
  provider: ImageRootProvider;
  scripts: ScriptSource;
  runner: Runner;
  hooks?: RunHooks;
  log: Log;
  /** Runs in progress, so the server's close can wait for their cleanup. */
  inflight: Set<Promise<unknown>>;
  /** Cancel handles of runs in progress; aborted with SHUTDOWN when the worker stops. */
  active: Set<AbortController>;
}

/** The abort reason when the worker stops: the client gets an error line, not an exit. */
export const SHUTDOWN = 'worker-shutdown';

export function runsHandler(deps: RunsHandlerDeps) {
  return async (ctx: Context): Promise<void> => {
    const user = await deps.authenticator.authenticate(bearerToken(ctx), ctx.ip);
    // A worker token reads every user's images and scripts (workers serve everyone), so a
    // run started with one would reach any user's data: runs take a user's own token.
    if (user.role === 'worker') throw new ForbiddenError('a worker token cannot start runs; use a user token');
    (ctx.state as { user?: { name: string } }).user = { name: user.name };
    const body = await readJsonBody(ctx, MAX_RUN_REQUEST_BYTES);
    // From here the peer waits on us (an image made ready, then a run that may be silent
    // for longer than the server's idle timeout): not an idle peer.
    ctx.req.socket.setTimeout(0);
    const request = parseRunRequest(body);
    const inlineScript = request.script ? inlineScriptContent(body, request.script.hash) : undefined;
    // Both may ask the fileserver with the user's token: at the same time, not one after the other.
    const [image, script] = await Promise.all([
      deps.provider.ensureImage(request.image, user),
      request.script ? inlineScript ?? deps.scripts.fetchScript(request.script.hash, user) : undefined,
    ]);

    const runId = randomUUID();
    const out = new PassThrough();
    const cancel = new AbortController();
    deps.active.add(cancel);
    ctx.res.on('close', () => { if (!ctx.res.writableFinished) cancel.abort(); });
    ctx.status = 200;
    ctx.type = CONTENT_TYPES.ndjson;
    ctx.set('cache-control', 'no-store');
    ctx.body = out;
    const line = (obj: unknown) => out.write(JSON.stringify(obj) + '\n');
    line({ runId });

    const job = deps.runner.run({
      runId, request, image, script, signal: cancel.signal,
      sink: {
        write: (stream, chunk) => line({ stream, data: chunk.toString('base64') }),
        onceDrain: (cb) => out.once('drain', cb),
      },
      onStart: ({ args }) => safely(deps.log, () => deps.hooks?.started?.({ runId, user, request, image, args })),
    }).then((result) => {
      safely(deps.log, () => deps.hooks?.finished?.({ runId, user, request, image, result }));
      if (cancel.signal.reason === SHUTDOWN) {
        line({ error: { code: 'SWAY_WORKER_STOPPING', message: `the worker is stopping: run ${runId} was cancelled` }, runId });
        out.end();
        return;
      }
      line({ exit: result.exit, runId, timedOut: result.timedOut, durationMs: result.durationMs, ...(result.keptUpper ? { keptUpper: result.keptUpper } : {}) });
      out.end();
    }, (err: unknown) => {
      safely(deps.log, () => deps.hooks?.finished?.({ runId, user, request, image, error: err }));
      const e = err instanceof SwayError ? { code: err.code, message: err.message } : { code: 'SWAY_INTERNAL', message: 'internal error while running the container' };
      if (!(err instanceof SwayError)) deps.log(`run ${runId} failed: ${(err as Error)?.stack ?? String(err)}`);
      line({ error: e, runId });
      out.end();
    });
    // A run is over for the server once its last line has left (or the client is gone).
    const delivered = job.then(() => finished(ctx.res).catch(() => {}));
    deps.inflight.add(delivered);
    void delivered.finally(() => { deps.inflight.delete(delivered); deps.active.delete(cancel); });
  };
}

/** Largest script accepted inside a run request (the fileserver's own script limit). */
export const MAX_INLINE_SCRIPT_BYTES = 16 * 1024 * 1024;
/** Largest run request: the largest inline script in base64, and room for the rest. */
export const MAX_RUN_REQUEST_BYTES = Math.ceil(MAX_INLINE_SCRIPT_BYTES / 3) * 4 + 1024 * 1024;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** script.content of a run request, decoded and verified against `hash`; undefined when absent. */
export function inlineScriptContent(body: unknown, hash: string): Buffer | undefined {
  const content = ((body as { script?: { content?: unknown } }).script)?.content;
  if (content === undefined || content === null) return undefined;
  if (typeof content !== 'string' || content.length % 4 !== 0 || !BASE64_RE.test(content)) throw new BadRequestError('script.content must be base64');
  if (content.length / 4 * 3 > MAX_INLINE_SCRIPT_BYTES + 2) throw new LimitError(`script.content is over ${MAX_INLINE_SCRIPT_BYTES} bytes: upload the script to the fileserver instead`);
  const bytes = Buffer.from(content, 'base64');
  const actual = sha256(bytes);
  if (actual !== hash) throw new HashMismatchError(hash, actual, 'script');
  return bytes;
}

function safely(log: Log, fn: () => void): void {
  try { fn(); } catch (err) { log(`run hook failed: ${(err as Error).message}`); }
}
