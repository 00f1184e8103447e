// A child process that mounts a LazyFilesystem and serves it, so that a test process can
// read the mount without breaking the deadlock rule (the serving process must not touch
// its own mount). Usage: node mount-helper.js <config.json>
//   config: { mountpoint, cacheDir, serverUrl | fileserver: {url, token, caFile},
//             images: [{id, manifestFile, aliases}],
//             fetchTimeoutMs?, retries?, cacheMaxBytes?, threads?, noOpen? }
// Prints one JSON line {"ready":true} once mounted (or {"error":...} and exits 1), then
// answers JSON commands on stdin, one per line, with one JSON line each:
//   {"cmd":"stats","id"?} {"cmd":"requests"} {"cmd":"verify"} {"cmd":"usage"} {"cmd":"errors"} {"cmd":"chunks","hash"}
//   {"cmd":"load","id","manifestFile","aliases"?} {"cmd":"unload","id"}
//   {"cmd":"unmount"} (answers, then exits 0)   {"cmd":"exit"} (exits at once, no unmount())
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { LazyFilesystem } from '../../ts/worker/fuse/lazy-fs.js';
import type { Manifest } from '../../ts/common/manifest.js';
import { HttpBlobFetcher } from './http-fetcher.js';
import type { HelperOptions } from './helper-client.js';
import { FileserverBlobFetcher } from '../../ts/worker/fuse/blob-fetcher.js';
import { FileserverChunkFetcher } from '../../ts/worker/fuse/chunk-cache.js';
import { FileserverClient } from '../../ts/common/fileserver-client.js';

/** The helper's JSON configuration is exactly what MountHelper (helper-client.ts) sends. */
type HelperConfig = HelperOptions;

function send(msg: unknown): void { process.stdout.write(JSON.stringify(msg) + '\n'); }

async function main(): Promise<void> {
  const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as HelperConfig;
  const fetchErrors: string[] = [];
  let fs: LazyFilesystem;
  try {
    fs = await LazyFilesystem.mount({
      mountpoint: config.mountpoint, cacheDir: config.cacheDir,
      fetcher: config.fileserver
        ? new FileserverBlobFetcher(new FileserverClient(config.fileserver))
        : new HttpBlobFetcher(config.serverUrl),
      // Manifests with chunk hashes are read by chunk when served by a real fileserver.
      chunkFetcher: config.fileserver ? new FileserverChunkFetcher(new FileserverClient(config.fileserver)) : undefined,
      fetchTimeoutMs: config.fetchTimeoutMs, retries: config.retries, cacheMaxBytes: config.cacheMaxBytes, threads: config.threads,
      noOpen: config.noOpen,
      onFetchError: (hash, err) => { fetchErrors.push(`${hash}: ${(err as Error).message}`); },
    });
    for (const img of config.images) {
      fs.loadImage(img.id, JSON.parse(readFileSync(img.manifestFile, 'utf8')) as Manifest, img.aliases ?? []);
    }
  } catch (err) {
    send({ error: (err as Error).message, code: (err as { code?: string }).code });
    process.exit(1);
  }
  send({ ready: true, pid: process.pid });
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const cmd = JSON.parse(line) as { cmd: string; id?: string };
    try {
      switch (cmd.cmd) {
        case 'stats': send({ stats: fs.stats(cmd.id) }); break;
        case 'requests': send({ requests: fs.requestCounts() }); break;
        case 'usage': send({ usage: fs.cacheUsage() }); break;
        case 'chunks': send({ present: fs.presentChunks((cmd as unknown as { hash: string }).hash) }); break;
        case 'verify': send({ verify: await fs.verifyCache() }); break;
        case 'prefetch': {
          // Whole blobs through the fileserver's fetch-batch, as a worker's start profile does.
          const blobs = (cmd as unknown as { blobs: { hash: string; size: number }[] }).blobs;
          const client = new FileserverClient(config.fileserver!);
          send({ prefetch: await fs.prefetch(blobs, (hashes, onBlob, o) => client.fetchBatch(hashes, onBlob, o)) });
          await client.close();
          break;
        }
        case 'errors': send({ errors: fetchErrors }); break;
        case 'load': {
          const c = cmd as unknown as { id: string; manifestFile: string; aliases?: string[] };
          fs.loadImage(c.id, JSON.parse(readFileSync(c.manifestFile, 'utf8')) as Manifest, c.aliases ?? []);
          send({ loaded: c.id });
          break;
        }
        case 'unload': fs.unloadImage(cmd.id!); send({ unloaded: cmd.id }); break;
        case 'unmount': await fs.unmount(); send({ unmounted: true }); process.exit(0); break;
        // Exit without unmount(): the addon's env cleanup hook must unmount.
        case 'exit': process.exit(0); break;
        default: send({ error: `unknown command ${cmd.cmd}` });
      }
    } catch (err) {
      send({ error: (err as Error).message, code: (err as { code?: string }).code });
    }
  }
  // stdin closed: the test went away; unmount cleanly.
  await fs.unmount();
  process.exit(0);
}

void main();
