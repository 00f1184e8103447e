// What a cold start put into the worker's disk cache, file by file: the explanation behind
// "fetched MB". Whole blobs (cache/ab/cd/<hash>) count their size; partial blobs
// (cache/partial/ab/cd/<hash> with a `.chunks` sidecar, ts/worker/fuse/chunk-cache.ts)
// count the chunks their sidecar lists. Each blob is named by the image paths that hold
// it, and marked when the app is known to open one of them (bench/lib/opened-files.ts).
// Deliberately does not: verify anything (the worker does) or read blob contents.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest } from '../../ts/common/manifest.js';

export interface CachedBlob {
  hash: string;
  /** The blob's size in the image. */
  size: number;
  /** Bytes of it in the cache (size for a whole blob, present chunks for a partial one). */
  cachedBytes: number;
  partial: boolean;
  paths: string[];
  /** One of its paths is among the files the app opens (undefined: not known). */
  opened?: boolean;
}

export interface CacheInventory {
  blobs: CachedBlob[];
  wholeBytes: number;
  partialBytes: number;
  /** Bytes of blobs none of whose paths the app is known to open. */
  notOpenedBytes?: number;
}

const HASH = /^[0-9a-f]{64}$/;

async function hashFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const a of await readdir(root).catch(() => [] as string[])) {
    if (!/^[0-9a-f]{2}$/.test(a)) continue;
    for (const b of await readdir(join(root, a)).catch(() => [] as string[])) {
      for (const name of await readdir(join(root, a, b)).catch(() => [] as string[])) if (HASH.test(name)) out.push(join(root, a, b, name));
    }
  }
  return out;
}

export async function cacheInventory(cacheDir: string, manifest: Manifest, openedPaths?: string[]): Promise<CacheInventory> {
  const pathsOf = new Map<string, string[]>();
  const sizeOf = new Map<string, number>();
  for (const e of manifest.entries) {
    if (e.type !== 'file' || !e.hash) continue;
    sizeOf.set(e.hash, e.size);
    const list = pathsOf.get(e.hash) ?? [];
    list.push('/' + e.path);
    pathsOf.set(e.hash, list);
  }
  const opened = openedPaths ? new Set(openedPaths) : undefined;
  const blobs: CachedBlob[] = [];
  const describe = (hash: string, cachedBytes: number, partial: boolean): CachedBlob => {
    const paths = pathsOf.get(hash) ?? [];
    return { hash, size: sizeOf.get(hash) ?? cachedBytes, cachedBytes, partial, paths, ...(opened ? { opened: paths.some((p) => opened.has(p)) } : {}) };
  };
  for (const file of await hashFiles(cacheDir)) {
    const hash = file.slice(-64);
    blobs.push(describe(hash, (await stat(file)).size, false));
  }
  for (const file of await hashFiles(join(cacheDir, 'partial'))) {
    const hash = file.slice(-64);
    // Sidecar: a header line ({size, chunkSize, hashes}), then one line per chunk written (its index).
    const [header, ...lines] = (await readFile(`${file}.chunks`, 'utf8').catch(() => '{}')).split('\n');
    const { size = sizeOf.get(hash) ?? 0, chunkSize = 0 } = JSON.parse(header || '{}') as { size?: number; chunkSize?: number };
    const indexes = new Set(lines.filter((l) => /^\d+$/.test(l)).map(Number));
    let bytes = 0;
    for (const i of indexes) bytes += Math.max(0, Math.min(chunkSize, size - i * chunkSize));
    blobs.push(describe(hash, bytes, true));
  }
  blobs.sort((a, b) => b.cachedBytes - a.cachedBytes);
  const sum = (list: CachedBlob[]) => list.reduce((n, b) => n + b.cachedBytes, 0);
  return {
    blobs,
    wholeBytes: sum(blobs.filter((b) => !b.partial)),
    partialBytes: sum(blobs.filter((b) => b.partial)),
    ...(opened ? { notOpenedBytes: sum(blobs.filter((b) => !b.opened)) } : {}),
  };
}
