// The main thread's end of stage-worker.ts: hands a copy of a small blob's bytes to one
// worker thread that hashes them and writes them to a temp file, and resolves when that
// is done; likewise a commit's renames. One worker per store, started on first use and
// held only while a request is pending (an idle fileserver or a test process exits as if
// it were not there). If the worker dies, every pending request fails and the next one
// starts a new worker.
//
// Deliberately does not: queue or bound (the caller bounds its stages in flight), or
// retry a failed write.
import { Worker } from 'node:worker_threads';
import { HashMismatchError, SwayError } from '../../common/errors.js';
import type { RenameRequest, StageReply, StageRequest } from './stage-worker.js';

export class StageThread {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: () => void; reject: (err: unknown) => void; hash?: string }>();

  /** Verify `bytes` against `hash` and write them to `tmpPath` (created, must not exist). */
  stage(tmpPath: string, hash: string, bytes: Uint8Array): Promise<void> {
    // A copy of exactly these bytes goes over (moved, not cloned again): the caller keeps
    // its buffer, and a slice of a larger buffer never drags the rest along.
    const copy = new Uint8Array(bytes);
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      const req: StageRequest = { kind: 'stage', id, tmpPath, hash, bytes: copy };
      this.send(id, { resolve, reject, hash }).postMessage(req, [copy.buffer]);
    });
  }

  /**
   * Rename each [tmp, final] pair in order (an existing final path is kept, the temp file
   * removed). On failure the error carries `renamed`: how many pairs were done first.
   */
  renameAll(pairs: [string, string][]): Promise<void> {
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      const req: RenameRequest = { kind: 'rename', id, pairs };
      this.send(id, { resolve, reject }).postMessage(req);
    });
  }

  private start(): Worker {
    const worker = new Worker(new URL('./stage-worker.js', import.meta.url));
    worker.on('message', (reply: StageReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      if (reply.ok) p.resolve();
      else if ('mismatch' in reply) p.reject(new HashMismatchError(p.hash ?? '', reply.mismatch, 'uploaded blob'));
      else p.reject(Object.assign(new Error(reply.message), { code: reply.code, renamed: reply.done }));
    });
    const fail = (err: unknown) => {
      if (this.worker === worker) this.worker = undefined;
      const err2 = new SwayError('SWAY_STORE_WORKER', `blob store worker failed: ${err instanceof Error ? err.message : String(err)}`, 500, { cause: err });
      for (const p of this.pending.values()) p.reject(err2);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
    worker.unref(); // after the listeners: attaching one refs it again
    this.worker = worker;
    return worker;
  }

  /** The worker, started if needed, and held (ref) while a request is pending. */
  private send(id: number, entry: { resolve: () => void; reject: (err: unknown) => void; hash?: string }): Worker {
    const worker = this.worker ?? this.start();
    if (this.pending.size === 0) worker.ref();
    this.pending.set(id, entry);
    return worker;
  }
}
