// Worker thread of LocalBlobStore.stageBuffer: verifies a small blob's sha256 and writes
// it to its temp file (open O_EXCL, write, close), then answers. Run off the fileserver's
// main thread because creating ~30,000 files and hashing their bytes was ~6 s of it during
// a first export (bench/results/export.txt): the main thread meanwhile decrypts, parses
// and hashes the next frames.
//
// It also does commit()'s renames of a batch into place (up to thousands of renames and
// existence checks, ~1 s of the main thread per export before).
//
// Deliberately does not: make anything durable (commit() in local-store.ts syncs before
// asking for the renames and after they are done), or decide paths (the main thread
// sends them).
import { createHash } from 'node:crypto';
import { existsSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

export interface StageRequest { kind: 'stage'; id: number; tmpPath: string; hash: string; bytes: Uint8Array }
/** Rename each [tmp, final] pair in order; a final path that exists already is kept (same
 *  hash, same bytes) and the temp file removed. */
export interface RenameRequest { kind: 'rename'; id: number; pairs: [string, string][] }
export type StageReply =
  | { id: number; ok: true }
  | { id: number; ok: false; mismatch: string }
  | { id: number; ok: false; code: string | undefined; message: string; done?: number };

parentPort!.on('message', (req: StageRequest | RenameRequest) => {
  parentPort!.postMessage(req.kind === 'stage' ? stage(req) : renameAll(req));
});

function renameAll(req: RenameRequest): StageReply {
  let done = 0;
  try {
    for (const [tmp, final] of req.pairs) {
      if (existsSync(final)) { try { unlinkSync(tmp); } catch { /* init() empties tmp/ */ } }
      else renameSync(tmp, final);
      done++;
    }
    return { id: req.id, ok: true };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { id: req.id, ok: false, code: e.code, message: e.message, done };
  }
}

function stage(req: StageRequest): StageReply {
  const actual = createHash('sha256').update(req.bytes).digest('hex');
  if (actual !== req.hash) return { id: req.id, ok: false, mismatch: actual };
  try {
    writeFileSync(req.tmpPath, req.bytes, { flag: 'wx', mode: 0o644 });
    return { id: req.id, ok: true };
  } catch (err) {
    try { rmSync(req.tmpPath, { force: true }); } catch { /* init() empties tmp/ */ }
    const e = err as NodeJS.ErrnoException;
    return { id: req.id, ok: false, code: e.code, message: e.message };
  }
}
