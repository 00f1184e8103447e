// Read an image archive as docker and podman write it, in one pass over a stream:
// docker-archive (`manifest.json` + layer tars) and OCI layout (`index.json` +
// `blobs/sha256/...`), with plain or gzip layers, in any member order (the manifest may
// come before or after the layers). Each large member is read as a layer as it streams
// by (hashed, contents staged by hash, see layer-reader.ts); members up to 4 MiB are
// kept in memory and read as layers only if the manifest says they are one. At the end
// the manifest picks the layers, every layer's uncompressed digest must equal the
// config's rootfs.diff_ids (and an OCI blob's digest its descriptor), and the layers
// are applied in order (layers.ts) into a sway Manifest.
//
// Hostile input: every JSON document is checked for shape before use (a `null` where an
// object belongs is an ImageFormatError, not a TypeError); every byte and entry counts
// against one ArchiveBudget (archive-limits.ts: decompressed bytes, entries, layers,
// path sizes, memory for small members), and an ArchiveLimitError ends the read at once.
// The reader never touches the filesystem by a path from the archive: member symlinks and
// hard links are only aliases between member names, resolved in memory.
//
// Deliberately does not: upload or publish anything (a refused archive therefore
// publishes nothing), talk to podman, or support multi-image archives beyond taking
// the first image (a multi-platform OCI index picks linux/amd64).
import { Readable } from 'node:stream';
import { posix } from 'node:path';
import { ImageFormatError } from '../common/errors.js';
import { sha256 } from '../common/hash.js';
import { MANIFEST_VERSION, checkImageConfig, emptyImageConfig, type ImageConfig, type Manifest } from '../common/manifest.js';
import { readTarEntries, asFormatError } from './tar-entries.js';
import { ArchiveBudget, ArchiveLimitError, archiveLimitsFromEnv, type ArchiveLimits } from './archive-limits.js';
import { readLayer, type LayerData } from './layer-reader.js';
import { LayerTree } from './layers.js';
import type { ContentSource, ContentStore } from './content-store.js';

const SMALL_MEMBER_BYTES = 4 * 1024 * 1024;

export interface ImageRead {
  manifest: Manifest;
  /** For every file hash in the manifest: where to read its bytes for upload. */
  contents: Map<string, ContentSource>;
  format: 'docker-archive' | 'oci';
  diffIds: string[];
  /** Content hash → chunk hashes of big files, as hashed while reading (see chunk-hashes.ts). */
  chunks?: Map<string, string[]>;
  /** Uncompressed bytes of all layers read. */
  layerBytes: number;
  warnings: string[];
}

export interface ReadArchiveOptions {
  store: ContentStore;
  warn?: (message: string) => void;
  /** Called after each layer member was read (for progress). */
  onLayer?: (info: { member: string; bytes: number; files: number }) => void;
  /** Bounds for this archive; default: DEFAULT_ARCHIVE_LIMITS as lowered by SWAY_ARCHIVE_MAX_* variables. */
  limits?: ArchiveLimits;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export async function readImageArchive(source: Readable, opts: ReadArchiveOptions): Promise<ImageRead> {
  try {
    return await readImageArchiveUnchecked(source, opts);
  } catch (err) {
    throw asFormatError(err, 'image archive');
  }
}

async function readImageArchiveUnchecked(source: Readable, opts: ReadArchiveOptions): Promise<ImageRead> {
  const budget = new ArchiveBudget(opts.limits ?? archiveLimitsFromEnv());
  const small = new Map<string, Buffer>();
  const layers = new Map<string, LayerData | Error>();
  const aliases = new Map<string, string>();
  for await (const { entry, body } of readTarEntries(source, 'image archive', budget)) {
    if (entry.type === 'symlink') { aliases.set(entry.path, posix.join(posix.dirname(entry.path), entry.linkname!)); continue; }
    if (entry.type === 'hardlink') { aliases.set(entry.path, entry.linkname!); continue; }
    if (entry.type !== 'file') continue;
    // Past the memory budget, a small member is read as a layer like a large one: a
    // manifest or config met then is reported missing, never kept.
    if (entry.size <= SMALL_MEMBER_BYTES && budget.reserveMemory(entry.size)) {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      small.set(entry.path, Buffer.concat(chunks));
      continue;
    }
    try {
      const data = await readLayer(body, opts.store, `layer ${entry.path}`, budget);
      layers.set(entry.path, data);
      opts.onLayer?.({ member: entry.path, bytes: data.bytes, files: data.files });
    } catch (err) {
      // A limit is fatal at once (the budget is spent); other errors only matter if the
      // manifest names this member as a layer.
      if (err instanceof ArchiveLimitError) throw err;
      layers.set(entry.path, err as Error);
      body.unpipe();
      body.resume();
      await new Promise<void>((resolve) => { if (body.readableEnded) resolve(); else { body.once('end', resolve); body.once('error', () => resolve()); } });
    }
  }

  const resolveMember = (p: string): string => {
    let cur = posix.normalize(p).replace(/^(\.\/)+/, '');
    for (let i = 0; i < 8 && aliases.has(cur); i++) cur = posix.normalize(aliases.get(cur)!);
    return cur;
  };
  const json = (p: string, what: string): unknown => {
    const buf = small.get(resolveMember(p));
    if (!buf) throw new ImageFormatError(`image archive lacks ${what} (${p})`);
    try { return JSON.parse(buf.toString('utf8')); } catch { throw new ImageFormatError(`image archive ${what} (${p}) is not valid JSON`); }
  };

  let format: ImageRead['format'];
  let configPath: string;
  let layerRefs: { member: string; digest?: string }[];
  if (small.has('manifest.json')) {
    format = 'docker-archive';
    const m = json('manifest.json', 'manifest.json');
    const first = Array.isArray(m) ? m[0] : undefined;
    if (!isRecord(first) || typeof first.Config !== 'string' || !Array.isArray(first.Layers) || !first.Layers.every((l) => typeof l === 'string')) {
      throw new ImageFormatError('image archive manifest.json has no image with Config and Layers');
    }
    configPath = first.Config;
    layerRefs = (first.Layers as string[]).map((member) => ({ member }));
  } else if (small.has('index.json')) {
    format = 'oci';
    const blobPath = (digest: unknown): string => {
      if (typeof digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(digest)) throw new ImageFormatError(`image archive has a bad digest ${JSON.stringify(digest)}`);
      return `blobs/sha256/${digest.slice(7)}`;
    };
    const verifiedJson = (digest: unknown, what: string): Record<string, unknown> => {
      const path = blobPath(digest);
      const buf = small.get(path);
      if (!buf) throw new ImageFormatError(`image archive lacks ${what} ${String(digest)}`);
      if (`sha256:${sha256(buf)}` !== digest) throw new ImageFormatError(`image archive ${what} does not match its digest ${String(digest)}`);
      const doc = json(path, what);
      if (!isRecord(doc)) throw new ImageFormatError(`image archive ${what} ${String(digest)} is not a JSON object`);
      return doc;
    };
    const index = json('index.json', 'index.json');
    if (!isRecord(index)) throw new ImageFormatError('image archive index.json is not a JSON object');
    let doc: Record<string, unknown> = index;
    for (let depth = 0; ; depth++) {
      const manifests = doc.manifests;
      if (!Array.isArray(doc.layers) && Array.isArray(manifests) && manifests.length && depth < 4) {
        if (!manifests.every(isRecord)) throw new ImageFormatError('image archive index lists a manifest that is not a JSON object');
        const pick = manifests.find((d) => isRecord(d.platform) && d.platform.os === 'linux' && d.platform.architecture === 'amd64') ?? manifests[0]!;
        doc = verifiedJson(pick.digest, 'OCI manifest');
        continue;
      }
      break;
    }
    const config = doc.config;
    if (!Array.isArray(doc.layers) || !isRecord(config)) throw new ImageFormatError('image archive OCI manifest has no config and layers');
    configPath = blobPath(config.digest);
    verifiedJson(config.digest, 'image config');
    layerRefs = doc.layers.map((l: unknown) => {
      const digest = isRecord(l) ? l.digest : undefined;
      return { member: blobPath(digest), digest: (digest as string).slice(7) };
    });
  } else {
    throw new ImageFormatError('not an image archive: neither manifest.json (docker-archive) nor index.json (OCI layout) found');
  }

  const config = json(configPath, 'image config');
  if (!isRecord(config)) throw new ImageFormatError(`image config (${configPath}) is not a JSON object`);
  const diffIds = isRecord(config.rootfs) ? config.rootfs.diff_ids : undefined;
  if (!Array.isArray(diffIds) || !diffIds.every((d) => typeof d === 'string')) throw new ImageFormatError('image config has no rootfs.diff_ids');
  if (diffIds.length !== layerRefs.length) throw new ImageFormatError(`image config lists ${diffIds.length} layers but the manifest ${layerRefs.length}`);
  const runtimeConfig = imageConfigOf(isRecord(config.config) ? config.config : undefined); // before any layer is read
  budget.checkLayers(layerRefs.length);

  const warnings: string[] = [];
  const warn = (m: string) => { warnings.push(m); opts.warn?.(m); };
  const tree = new LayerTree(warn);
  let layerBytes = 0;
  for (let i = 0; i < layerRefs.length; i++) {
    const ref = layerRefs[i]!;
    const member = resolveMember(ref.member);
    let data = layers.get(member);
    if (!data && small.has(member)) {
      try { data = await readLayer(Readable.from([small.get(member)!]), opts.store, `layer ${member}`, budget); } catch (err) { data = err as Error; }
      layers.set(member, data);
    }
    if (!data) throw new ImageFormatError(`image archive lacks layer ${ref.member}`);
    if (data instanceof Error) {
      if (data instanceof ImageFormatError || data instanceof ArchiveLimitError) throw data;
      throw new ImageFormatError(`layer ${ref.member} cannot be read: ${data.message}`);
    }
    if (ref.digest && data.digest !== ref.digest) throw new ImageFormatError(`layer ${ref.member} does not match its digest sha256:${ref.digest} (got sha256:${data.digest})`);
    if (`sha256:${data.diffId}` !== diffIds[i]) throw new ImageFormatError(`layer ${i + 1} (${ref.member}) does not match the image config: diff_id ${String(diffIds[i])}, content sha256:${data.diffId}`);
    budget.addAppliedEntries(data.changes.length);
    tree.apply(data.changes);
    layerBytes += data.bytes;
  }

  const manifest: Manifest = { version: MANIFEST_VERSION, config: runtimeConfig, entries: tree.entries() };
  const contents = new Map<string, ContentSource>();
  for (const e of manifest.entries) if (e.type === 'file' && !contents.has(e.hash!)) contents.set(e.hash!, opts.store.source(e.hash!, e.size));
  return { manifest, contents, chunks: opts.store.chunks, format, diffIds: diffIds as string[], layerBytes, warnings };
}

/** The OCI/docker image config's runtime part → sway's ImageConfig, checked (checkImageConfig). */
export function imageConfigOf(c: Record<string, unknown> | undefined | null): ImageConfig {
  const out = emptyImageConfig();
  if (!c || typeof c !== 'object') return out;
  const strings = (v: unknown): string[] | null => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? v as string[] : null);
  out.env = strings(c.Env) ?? [];
  out.entrypoint = strings(c.Entrypoint);
  out.cmd = strings(c.Cmd);
  // Builders store WORKDIR clean; '//' and '.' are folded, '..' is refused by the check.
  if (typeof c.WorkingDir === 'string' && c.WorkingDir) out.workingDir = c.WorkingDir.startsWith('/') ? foldPath(c.WorkingDir) : c.WorkingDir;
  if (typeof c.User === 'string') out.user = c.User;
  return checkImageConfig(out);
}

function foldPath(p: string): string {
  return '/' + p.split('/').filter((s) => s !== '' && s !== '.').join('/');
}
