// An image straight from podman's store, without `podman image save`: each layer's
// changes come from the LayerCache when its diff_id was read before, else from the
// layer as the store keeps it (store-layer.ts: headers and bodies read into one hash,
// checked against the diff_id), then cached. Contents are not copied: each file's bytes
// are read from the diff directory of the layer that added them, at upload time.
//
// Deliberately does not: build or inspect (podman.ts), upload (upload.ts).
import { createReadStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageFormatError } from '../common/errors.js';
import { MANIFEST_VERSION, type Manifest } from '../common/manifest.js';
import { imageConfigOf, type ImageRead } from './archive.js';
import type { ContentSource } from './content-store.js';
import { LayerCache } from './layer-cache.js';
import type { EarlyUploader } from './early-upload.js';
import { LayerTree, type LayerChange } from './layers.js';
import type { StoreImage, StoreLayer } from './podman.js';
import { readStoreLayerOffThread } from './store-layer-thread.js';

/**
 * Small files are read whole and synchronously (on a page-cached store a few
 * microseconds each, where fs.promises costs tens: see store-layer.ts); large ones are streamed.
 */
const SYNC_READ_BYTES = 256 * 1024;
function openContent(path: string, size: number): NodeJS.ReadableStream | Buffer {
  if (size === 0) return Buffer.alloc(0);
  if (size <= SYNC_READ_BYTES) return readFileSync(path);
  return createReadStream(path, { highWaterMark: 1024 * 1024 });
}

export interface StoreReadOptions {
  cache: LayerCache;
  /** Contents of the layers read are handed here as they are hashed (uploaded meanwhile). */
  earlyUpload?: EarlyUploader;
  warn?: (message: string) => void;
  onLayer?: (info: { diffId: string; cached: boolean; bytes: number; files: number }) => void;
}

export async function readStoreImage(image: StoreImage & { layers: StoreLayer[] }, opts: StoreReadOptions): Promise<ImageRead & { layersRead: number }> {
  const config = imageConfigOf(image.config); // before any layer is read or uploaded
  const warnings: string[] = [];
  const tree = new LayerTree((m) => { warnings.push(m); opts.warn?.(m); });
  const perLayer: LayerChange[][] = [];
  let layerBytes = 0;
  let layersRead = 0;
  const chunks = new Map<string, string[]>();
  for (const layer of image.layers) {
    const cached = await opts.cache.get(layer.diffId);
    let changes: LayerChange[];
    if (cached) {
      changes = cached.changes;
      for (const [hash, list] of cached.chunks) chunks.set(hash, list);
      opts.onLayer?.({ diffId: layer.diffId, cached: true, bytes: 0, files: 0 });
    } else {
      const early = opts.earlyUpload;
      const onFile = early && ((hash: string, size: number, path: string) => {
        const file = join(layer.diffDir, path);
        return early.add({ key: path, hash, size, open: () => openContent(file, size) });
      });
      let data;
      try {
        data = await readStoreLayerOffThread(layer, { onFile });
      } catch (err) {
        early?.check(); // an upload failure stopped the reader: report it as itself
        throw err;
      }
      if (`sha256:${data.diffId}` !== layer.diffId) {
        throw new ImageFormatError(`layer ${layer.diffId} in podman's store does not match its diff_id (content sha256:${data.diffId})`);
      }
      changes = data.changes;
      for (const [hash, list] of data.chunks) chunks.set(hash, list);
      await opts.cache.put(layer.diffId, { changes, chunks: data.chunks });
      layerBytes += data.bytes;
      layersRead++;
      opts.onLayer?.({ diffId: layer.diffId, cached: false, bytes: data.bytes, files: data.files });
    }
    tree.apply(changes);
    perLayer.push(changes);
  }
  const manifest: Manifest = { version: MANIFEST_VERSION, config, entries: tree.entries() };
  const needed = new Map<string, number>();
  for (const e of manifest.entries) if (e.type === 'file') needed.set(e.hash!, e.size);
  const contents = new Map<string, ContentSource>();
  // Top layer first: the newest copy of a content is the one most surely still in place.
  for (let i = image.layers.length - 1; i >= 0; i--) {
    for (const c of perLayer[i]!) {
      if (c.op !== 'file' || contents.has(c.hash) || !needed.has(c.hash)) continue;
      const path = join(image.layers[i]!.diffDir, c.path);
      const size = c.size;
      contents.set(c.hash, { size, open: () => openContent(path, size) });
    }
  }
  for (const [hash, size] of needed) if (!contents.has(hash)) contents.set(hash, { size, open: () => Buffer.alloc(0) });
  return { manifest, contents, chunks, format: 'docker-archive', diffIds: image.diffIds, layerBytes, warnings, layersRead };
}
