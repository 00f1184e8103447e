// Rebuild one layer tar from podman's store, byte for byte: the layer's tar-split file
// (gzip of JSON lines: {type:2, payload: base64 raw tar bytes} for headers and padding,
// {type:1, name, size} for a file body) with each body read from the layer's diff
// directory. The result is streamed, so readLayer hashes it against the diff_id like any
// archive layer. Small files are read a few ahead to keep the disk busy.
//
// Deliberately does not: parse tar headers (layer-reader.ts does) or trust names with
// '..' (cleanTarPath refuses them) even though the store is podman's own.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ImageFormatError } from '../common/errors.js';
import { cleanTarPath } from './tar-entries.js';
import type { StoreLayer } from './podman.js';

const SMALL_FILE = 1024 * 1024;
const LOOKAHEAD_ITEMS = 64;
/** Bytes of small files read ahead at most (memory stays flat whatever the layer). */
const LOOKAHEAD_BYTES = 8 * 1024 * 1024;

type Item = Buffer | Promise<Buffer> | { large: string; size: number };

async function* tarBytes(layer: StoreLayer): AsyncGenerator<Buffer> {
  const lines = createInterface({ input: createReadStream(layer.tarSplit).pipe(createGunzip()), crlfDelay: Infinity });
  const window: Item[] = [];
  const sizes: number[] = [];
  let aheadBytes = 0;
  const pathOf = (name: string) => join(layer.diffDir, cleanTarPath(name, 'layer store entry'));
  async function* drainOne(): AsyncGenerator<Buffer> {
    const item = window.shift()!;
    aheadBytes -= sizes.shift()!;
    if (Buffer.isBuffer(item)) { yield item; return; }
    if (item instanceof Promise) { yield await item; return; }
    let got = 0;
    for await (const c of createReadStream(item.large, { highWaterMark: 1024 * 1024 })) { got += (c as Buffer).length; yield c as Buffer; }
    if (got !== item.size) throw new ImageFormatError(`layer store file ${item.large} has ${got} bytes, its tar header says ${item.size}`);
  }
  for await (const line of lines) {
    if (!line) continue;
    const rec = JSON.parse(line) as { type: number; name?: string; size?: number; payload?: string | null };
    if (rec.type === 2) { if (rec.payload) { window.push(Buffer.from(rec.payload, 'base64')); sizes.push(0); } }
    else if (rec.type === 1 && rec.size && rec.size > 0) {
      const path = pathOf(rec.name ?? '');
      const size = rec.size;
      if (size <= SMALL_FILE) {
        const p = readFile(path).then((b) => {
          if (b.length !== size) throw new ImageFormatError(`layer store file ${path} has ${b.length} bytes, its tar header says ${size}`);
          return b;
        });
        p.catch(() => {}); // awaited in order below; avoid an unhandled rejection meanwhile
        window.push(p); sizes.push(size); aheadBytes += size;
      } else { window.push({ large: path, size }); sizes.push(0); }
    }
    while (window.length > LOOKAHEAD_ITEMS || aheadBytes > LOOKAHEAD_BYTES) yield* drainOne();
  }
  while (window.length) yield* drainOne();
}

export function storeLayerStream(layer: StoreLayer): Readable {
  return Readable.from(tarBytes(layer), { objectMode: false, highWaterMark: 1024 * 1024 });
}
