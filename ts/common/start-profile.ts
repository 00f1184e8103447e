// The start profile's shapes, shared by the fileserver (which stores and merges profiles)
// and the worker (which records and prefetches them): blobs read whole, by hash, in
// first-access order; and for files read by chunk (big files, see ts/common/manifest.ts
// chunks), the chunk runs read, per blob.
// Deliberately does not: decide what a profile may name (the fileserver checks blobs and
// chunk counts against the image's manifest) or talk to anyone.
import { isHash } from './hash.js';

/** Chunks of one blob read by chunk: runs [first chunk, count], ascending, not touching. */
export interface ChunkRuns { hash: string; runs: Array<[number, number]> }

/** Chunk indices as runs [first, count], ascending. */
export function runsOf(indices: Iterable<number>): Array<[number, number]> {
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const runs: Array<[number, number]> = [];
  for (const i of sorted) {
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === i) last[1]++;
    else runs.push([i, 1]);
  }
  return runs;
}

/** Every chunk index of some runs. */
export function indicesOf(runs: Array<[number, number]>): number[] {
  const out: number[] = [];
  for (const [first, count] of runs) for (let i = first; i < first + count; i++) out.push(i);
  return out;
}

/** Is `value` a list of {hash, runs: [[first, count], …]} with whole numbers (count ≥ 1)? */
export function isChunkRunsList(value: unknown): value is ChunkRuns[] {
  return Array.isArray(value) && value.every((e) => {
    const { hash, runs } = (e ?? {}) as { hash?: unknown; runs?: unknown };
    return isHash(hash) && Array.isArray(runs) && runs.every((r) =>
      Array.isArray(r) && r.length === 2 && Number.isSafeInteger(r[0]) && Number.isSafeInteger(r[1]) && r[0] >= 0 && r[1] >= 1);
  });
}

/** `stored` with `added` merged in: stored blobs keep their place, new ones follow in order. */
export function mergeChunkRuns(stored: ChunkRuns[], added: ChunkRuns[]): ChunkRuns[] {
  const byHash = new Map<string, Set<number>>();
  for (const { hash, runs } of [...stored, ...added]) {
    let set = byHash.get(hash);
    if (!set) byHash.set(hash, set = new Set());
    for (const i of indicesOf(runs)) set.add(i);
  }
  return [...byHash].map(([hash, set]) => ({ hash, runs: runsOf(set) }));
}
