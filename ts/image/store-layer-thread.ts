// Reads a store layer (store-layer.ts) on a worker thread, so that reading and hashing
// the layer's files and uploading them run side by side: the early upload (TLS, framing,
// re-reading each content at send time) stays on the main thread, which was also the
// reader's, and on a 2-core machine the two took turns instead of overlapping.
//
// The worker hands each file over (hash, size, path: what readStoreLayer's onFile gets)
// in small batches; the main thread calls onFile for each, in order, as before. The worker
// runs at most AHEAD files ahead of the onFile calls that have returned (credits in a
// SharedArrayBuffer; it blocks in Atomics.wait), so an upload that falls behind still
// holds the reader back, and nothing piles up in memory. Errors come back as the same
// classes (ImageFormatError, ArchiveLimitError), with their messages; an onFile that
// throws stops the worker and is what the call rejects with.
//
// Deliberately does not: read several layers at once, or keep a worker between layers
// (a layer takes seconds to read, a worker ~20 ms to start).
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ImageFormatError, SwayError } from '../common/errors.js';
import { ArchiveLimitError } from './archive-limits.js';
import type { StoreLayer } from './podman.js';
import { readStoreLayer, type StoreLayerData } from './store-layer.js';

/** Files the worker may read past the last onFile call that returned. */
const AHEAD = 512;
/** Files per message from the worker. */
const BATCH = 32;
const WORKER_MARK = 'sway-store-layer-reader';
/** The worker's young generation (V8's default here is 32 MB and more). */
const WORKER_YOUNG_MB = 8;

type FileEvent = [hash: string, size: number, path: string];
type Message =
  | { files: FileEvent[] }
  | { done: StoreLayerData }
  | { error: { name: string; message: string; code?: string } };

export interface OffThreadOptions {
  onFile?: (hash: string, size: number, path: string) => Promise<void> | void;
  what?: string;
}

/** readStoreLayer on a worker thread; same result, same errors, onFile called in order on this thread. */
export function readStoreLayerOffThread(layer: StoreLayer, opts: OffThreadOptions = {}): Promise<StoreLayerData> {
  const credits = new Int32Array(new SharedArrayBuffer(4));
  credits[0] = AHEAD;
  const worker = new Worker(new URL(import.meta.url), {
    workerData: { mark: WORKER_MARK, layer, what: opts.what, credits: credits.buffer },
    // Its garbage is short-lived (records, headers): a small young generation (the export's
    // peak RSS budget, 300 MB, covers both threads). The node options are inherited: V8's
    // flags are the process's anyway, and a Worker refuses them in an execArgv of its own
    // (`node --trace-gc bin/sway.js export` failed with "invalid execArgv flags").
    resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_MB },
  });
  return new Promise<StoreLayerData>((resolve, reject) => {
    let settled = false;
    let finished = false; // the worker sent its result (it exits next)
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      Atomics.store(credits, 0, AHEAD); // wake it if it waits for credits, then stop it
      Atomics.notify(credits, 0);
      void worker.terminate();
      reject(err);
    };
    // onFile calls in message order, one after another (the early upload awaits in them).
    let calls: Promise<void> = Promise.resolve();
    worker.on('message', (m: Message) => {
      if ('files' in m) {
        calls = calls.then(async () => {
          for (const [hash, size, path] of m.files) {
            if (settled) return; // failed meanwhile: no file is handed on after that
            await opts.onFile?.(hash, size, path);
          }
          Atomics.add(credits, 0, m.files.length);
          Atomics.notify(credits, 0);
        });
        calls.catch(fail);
      } else if ('done' in m) {
        finished = true;
        calls.then(() => { if (!settled) { settled = true; resolve(m.done); } }, fail);
      } else {
        fail(rebuildError(m.error));
      }
    });
    worker.on('error', fail);
    worker.on('exit', (code) => finished || fail(new SwayError('SWAY_EXPORT', `the layer reader thread stopped (exit code ${code}) before it finished ${opts.what ?? `layer ${layer.diffId}`}`)));
  });
}

function rebuildError(e: { name: string; message: string; code?: string }): Error {
  if (e.name === 'ImageFormatError') return new ImageFormatError(e.message);
  if (e.name === 'ArchiveLimitError') return new ArchiveLimitError(e.message);
  if (e.code?.startsWith('SWAY_')) return new SwayError(e.code, e.message);
  return Object.assign(new Error(e.message), e.code ? { code: e.code } : {});
}

// ---- the worker ------------------------------------------------------------------------

async function runWorker(): Promise<void> {
  const { layer, what, credits: shared } = workerData as { layer: StoreLayer; what?: string; credits: SharedArrayBuffer };
  const credits = new Int32Array(shared);
  let batch: FileEvent[] = [];
  const post = (m: Message) => parentPort!.postMessage(m);
  const flush = () => { if (batch.length) { post({ files: batch }); batch = []; } };
  try {
    const data = await readStoreLayer(layer, {
      what,
      onFile: (hash, size, path) => {
        for (let c = Atomics.load(credits, 0); c <= 0; c = Atomics.load(credits, 0)) {
          flush(); // the main thread must have them to hand credits back
          Atomics.wait(credits, 0, c);
        }
        Atomics.sub(credits, 0, 1);
        batch.push([hash, size, path]);
        if (batch.length >= BATCH) flush();
      },
    });
    flush();
    post({ done: data });
  } catch (err) {
    const e = err as { name?: string; message?: string; code?: string };
    post({ error: { name: e?.name ?? 'Error', message: e?.message ?? String(err), code: typeof e?.code === 'string' ? e.code : undefined } });
  }
}

if (!isMainThread && (workerData as { mark?: string } | null)?.mark === WORKER_MARK) await runWorker();
