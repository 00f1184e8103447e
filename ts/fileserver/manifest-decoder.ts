// Decodes manifest blobs for the fileserver on worker threads, never on the event loop: a
// user's blob (a gzip bomb, a huge JSON) must not stall every other user's requests.
//
// Bounded three ways: the decompressed size (readManifestTable's bound, MAX_MANIFEST_JSON_
// BYTES and a gzip ratio), the time (a decode still running after the deadline has its
// thread terminated) and the memory (each thread's heap is capped; running out is the
// manifest's fault). A few threads, kept between decodes; further decodes wait in a queue.
// The result comes back as columns (typed arrays moved, strings concatenated), and entry
// objects are made here from them: receiving 34,000 entry objects by structured clone
// took 90 ms of the main thread, rebuilding them takes a few.
//
// Deliberately does not: cache anything (manifest-cache.ts does) or check access.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ImageFormatError, SwayError } from '../common/errors.js';
import { ENTRY_KINDS, MANIFEST_VERSION, readManifestTable, type ChunkHashes, type ImageConfig, type Manifest, type ManifestEntry } from '../common/manifest.js';

/** Decode threads: two, on a 2-core machine one hostile manifest leaves the other free. */
export const DECODE_THREADS = 2;
/** A decode that has not finished by then fails (the 34,000-entry image takes ~0.2 s). */
export const DEFAULT_DECODE_DEADLINE_MS = 10_000;
/** Old-generation heap of a decode thread; a 32 MiB manifest's JSON needs about 400 MB. */
const THREAD_HEAP_MB = 1024;
const WORKER_MARK = 'sway-manifest-decoder';

/** A ManifestTable's columns as posted: strings of a column joined, with their lengths. */
interface Packed {
  config: ImageConfig;
  kinds: Uint8Array; modes: Uint32Array; uids: Uint32Array; gids: Uint32Array; mtimes: Float64Array; sizes: Float64Array;
  paths: [string, Uint32Array]; hashes: [string, Uint32Array]; targets: [string, Uint32Array];
  xattrs: [number, Record<string, string>][];
  chunks?: ChunkHashes;
}
type Reply = { ok: Packed } | { error: { name: string; message: string } };

interface Job { blob: Buffer; resolve: (m: Manifest) => void; reject: (err: unknown) => void }

export class ManifestDecoder {
  private readonly idle: Worker[] = [];
  private readonly busy = new Set<Worker>();
  private readonly queue: Job[] = [];
  private closed = false;

  constructor(private readonly deadlineMs = DEFAULT_DECODE_DEADLINE_MS, private readonly threads = DECODE_THREADS) {}

  /** decodeManifest(blob) off the event loop; ImageFormatError for a bad, too big or too slow manifest. */
  decode(blob: Buffer): Promise<Manifest> {
    if (this.closed) return Promise.reject(new SwayError('SWAY_CLOSED', 'the fileserver is shutting down', 503));
    return new Promise((resolve, reject) => {
      this.queue.push({ blob, resolve, reject });
      this.next();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new SwayError('SWAY_CLOSED', 'the fileserver is shutting down', 503));
    // A decode under way ends with its thread (its caller gets the thread's exit as an error).
    await Promise.all([...this.idle.splice(0), ...this.busy].map((w) => w.terminate()));
  }

  private next(): void {
    while (this.queue.length && (this.idle.length || this.busy.size < this.threads)) {
      const job = this.queue.shift()!;
      const worker = this.idle.pop() ?? this.spawn();
      this.busy.add(worker);
      this.run(worker, job);
    }
  }

  private spawn(): Worker {
    const worker = new Worker(new URL(import.meta.url), { workerData: { mark: WORKER_MARK }, resourceLimits: { maxOldGenerationSizeMb: THREAD_HEAP_MB } });
    worker.on('error', () => {}); // a job's own listener reports it; none may go unhandled between jobs
    return worker;
  }

  private run(worker: Worker, job: Job): void {
    let done = false;
    const finish = (keep: boolean, settle: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      this.busy.delete(worker);
      if (keep && !this.closed) {
        worker.unref(); // an idle decoder never keeps the process alive
        this.idle.push(worker);
      } else {
        void worker.terminate();
      }
      settle();
      this.next();
    };
    const onMessage = (m: Reply) => finish(true, () => ('ok' in m ? job.resolve(unpack(m.ok)) : job.reject(rebuildError(m.error))));
    const onError = (err: Error) => finish(false, () => job.reject((err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY'
      ? new ImageFormatError(`manifest needs more than ${THREAD_HEAP_MB} MB of memory to decode`)
      : new SwayError('SWAY_INTERNAL', `the manifest decoder thread failed: ${err.message}`, 500)));
    const onExit = (code: number) => finish(false, () => job.reject(new SwayError('SWAY_INTERNAL', `the manifest decoder thread stopped (exit code ${code})`, 500)));
    const timer = setTimeout(() => finish(false, () => job.reject(new ImageFormatError(`manifest took more than ${this.deadlineMs / 1000} s to decode`))), this.deadlineMs);
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    worker.ref(); // busy: keep the process alive for the answer
    worker.postMessage(job.blob);
  }
}

function rebuildError(e: { name: string; message: string }): Error {
  return e.name === 'ImageFormatError' ? new ImageFormatError(e.message) : new SwayError('SWAY_INTERNAL', `manifest decoder: ${e.message}`, 500);
}

/** Column strings joined into one (one copy to post, not one per string) with their lengths. */
function join(strings: string[]): [string, Uint32Array] {
  const lengths = new Uint32Array(strings.length);
  for (let i = 0; i < strings.length; i++) lengths[i] = strings[i]!.length;
  return [strings.join(''), lengths];
}

function split([all, lengths]: [string, Uint32Array]): string[] {
  const out = new Array<string>(lengths.length);
  let at = 0;
  for (let i = 0; i < lengths.length; i++) { out[i] = all.slice(at, at + lengths[i]!); at += lengths[i]!; }
  return out;
}

function unpack(p: Packed): Manifest {
  const paths = split(p.paths), hashes = split(p.hashes), targets = split(p.targets);
  const xattrs = new Map(p.xattrs);
  const entries = new Array<ManifestEntry>(paths.length);
  for (let i = 0; i < entries.length; i++) {
    const type = ENTRY_KINDS[p.kinds[i]!]!;
    const e: ManifestEntry = { path: paths[i]!, type, mode: p.modes[i]!, uid: p.uids[i]!, gid: p.gids[i]!, mtime: p.mtimes[i]!, size: p.sizes[i]! };
    if (type === 'file' || type === 'hardlink') e.hash = hashes[i]!;
    if (type === 'symlink' || type === 'hardlink') e.target = targets[i]!;
    const x = xattrs.get(i);
    if (x) e.xattrs = x;
    entries[i] = e;
  }
  return { version: MANIFEST_VERSION, config: p.config, entries, ...(p.chunks ? { chunks: p.chunks } : {}) };
}

// ---- the decode thread -----------------------------------------------------------------

function runThread(): void {
  parentPort!.on('message', (blob: Uint8Array) => {
    let reply: Reply;
    const moved: ArrayBuffer[] = [];
    try {
      const t = readManifestTable(Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength));
      const xattrs: [number, Record<string, string>][] = [];
      t.xattrs.forEach((x, i) => { if (x) xattrs.push([i, x]); });
      reply = { ok: {
        config: t.config, kinds: t.kinds, modes: t.modes, uids: t.uids, gids: t.gids, mtimes: t.mtimes, sizes: t.sizes,
        paths: join(t.paths), hashes: join(t.hashes), targets: join(t.targets), xattrs, ...(t.chunks ? { chunks: t.chunks } : {}),
      } };
      moved.push(...[t.kinds, t.modes, t.uids, t.gids, t.mtimes, t.sizes].map((a) => a.buffer as ArrayBuffer));
    } catch (err) {
      const e = err as { name?: string; message?: string };
      reply = { error: { name: e?.name ?? 'Error', message: e?.message ?? String(err) } };
    }
    parentPort!.postMessage(reply, moved);
  });
}

if (!isMainThread && (workerData as { mark?: string } | null)?.mark === WORKER_MARK) runThread();
