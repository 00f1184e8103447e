// A child process that mounts a LazyFilesystem fed by a real fileserver (worker token,
// FileserverBlobFetcher for misses) and runs prefetches on command, so a test process can
// read the mount while it is served elsewhere (deadlock rule). One JSON line per answer.
// Usage: node prefetch-helper.js <config.json>; config {mountpoint, cacheDir, fileserver, imageId, manifestFile}
// Commands: {"cmd":"prefetch", hashes, sizes, gate?, stall?, joinTimeoutMs?, concurrency?, batchBytes?}
//   → {"started":true} at once; {"cmd":"prefetchResult"} → {"result": PrefetchResult} when it ends.
//   gate: the batch request waits for {"cmd":"release"} (a batch "in flight" that has not
//   sent anything yet). stall: the batch source never answers until aborted: the stand-in
//   for a fileserver that accepted and hangs (the one mock here; a real hung server cannot
//   be made to hold only fetch-batch while answering single fetches).
//   {"cmd":"stats"} {"cmd":"cached","hash"} → {"cached":bool}  {"cmd":"unmount"}
import { readFileSync, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { LazyFilesystem, type BatchSource, type PrefetchResult } from '../../ts/worker/fuse/lazy-fs.js';
import { FileserverBlobFetcher } from '../../ts/worker/fuse/blob-fetcher.js';
import { FileserverClient } from '../../ts/common/fileserver-client.js';
import { fanoutPath } from '../../ts/common/hash.js';
import type { Manifest } from '../../ts/common/manifest.js';
import { join } from 'node:path';

interface Config { mountpoint: string; cacheDir: string; fileserver: { url: string; token: string; caFile: string }; imageId: string; manifestFile: string }
const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Config;
const send = (msg: unknown) => process.stdout.write(JSON.stringify(msg) + '\n');
const client = new FileserverClient(config.fileserver);
const fs = await LazyFilesystem.mount({ mountpoint: config.mountpoint, cacheDir: config.cacheDir, fetcher: new FileserverBlobFetcher(client) });
fs.loadImage(config.imageId, JSON.parse(readFileSync(config.manifestFile, 'utf8')) as Manifest);
send({ ready: true });

let running: Promise<PrefetchResult> | undefined;
let release: () => void = () => {};
const gate = new Promise<void>((r) => { release = r; });
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line) as { cmd: string; hashes?: string[]; sizes?: number[]; gate?: boolean; stall?: boolean; joinTimeoutMs?: number; concurrency?: number; batchBytes?: number; hash?: string };
  try {
    switch (cmd.cmd) {
      case 'prefetch': {
        const real: BatchSource = (hashes, onBlob, o) => client.fetchBatch(hashes, onBlob, o);
        const source: BatchSource = cmd.stall
          ? (_h, _b, o) => new Promise((_, reject) => o.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }))
          : cmd.gate ? async (h, b, o) => { await gate; return real(h, b, o); } : real;
        const blobs = cmd.hashes!.map((hash, i) => ({ hash, size: cmd.sizes![i]! }));
        running = fs.prefetch(blobs, source, { joinTimeoutMs: cmd.joinTimeoutMs, concurrency: cmd.concurrency, batchBytes: cmd.batchBytes, deadlineMs: 60_000 });
        send({ started: true });
        break;
      }
      case 'release': release(); send({ released: true }); break;
      case 'prefetchResult': send({ result: await running }); break;
      case 'stats': send({ stats: fs.stats(config.imageId) }); break;
      case 'cached': send({ cached: existsSync(join(config.cacheDir, fanoutPath(cmd.hash!))) }); break;
      case 'unmount': await fs.unmount(); await client.close(); send({ unmounted: true }); process.exit(0); break;
      default: send({ error: `unknown command ${cmd.cmd}` });
    }
  } catch (err) {
    send({ error: (err as Error).message });
  }
}
