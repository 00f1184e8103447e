// Turns a manifest into the column form the native tree is built from: one element per
// entry, parents and hard-link targets resolved to indexes, xattrs decoded to bytes, and
// the standard directories a container needs added to the root where the image lacks
// them. From a decoded ManifestTable (a worker's images: mostly copies of its columns)
// or from a Manifest built in memory (tests, tools; entries in any order).
// Deliberately does not: validate the manifest (decoding did) or talk to C++.
import { sortedIndexOf, type Manifest, type ManifestEntry, type ManifestTable } from '../../common/manifest.js';
import { ImageFormatError } from '../../common/errors.js';
import type { ImageColumns } from './native.js';

/** Mount points runc needs in every root; added as empty root-owned dirs when absent. */
export const STANDARD_DIRS: Readonly<Record<string, number>> = { dev: 0o755, proc: 0o555, sys: 0o555, tmp: 0o1777, run: 0o755 };

const KIND = { dir: 0, file: 1, symlink: 2, hardlink: 3 } as const;

export function manifestToColumns(manifest: Manifest): ImageColumns {
  const root = manifest.entries.find((e) => e.path === '');
  if (!root || root.type !== 'dir') throw new ImageFormatError('manifest has no root directory');
  // The root must be element 0 for the native builder.
  const entries: ManifestEntry[] = [root];
  for (const e of manifest.entries) if (e !== root) entries.push(e);
  // Indexes of directories (parents) and of hard links' targets only: a map of every
  // path cost a cold start ~20 ms more on the python/scipy image's 30,000 entries.
  const linkTargets = new Set<string>();
  for (const e of entries) if (e.type === 'hardlink') linkTargets.add(e.target!);
  const dirIndex = new Map<string, number>();
  const targetIndex = new Map<string, number>();
  const present = new Set<string>();
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.type === 'dir') dirIndex.set(e.path, i);
    if (linkTargets.size && linkTargets.has(e.path)) targetIndex.set(e.path, i);
    if (Object.hasOwn(STANDARD_DIRS, e.path)) present.add(e.path);
  }
  for (const [name, mode] of Object.entries(STANDARD_DIRS)) {
    if (!present.has(name)) {
      dirIndex.set(name, entries.length);
      entries.push({ path: name, type: 'dir', mode, uid: 0, gid: 0, mtime: root.mtime, size: 0 });
    }
  }
  const n = entries.length;
  const cols: ImageColumns = {
    names: new Array<string>(n), parents: new Int32Array(n), kinds: new Uint8Array(n),
    modes: new Uint32Array(n), uids: new Uint32Array(n), gids: new Uint32Array(n),
    mtimes: new Float64Array(n), sizes: new Float64Array(n),
    hashes: new Array<string>(n), targets: new Array<string>(n), linkTo: new Int32Array(n), xattrs: new Array(n),
  };
  // Plain loops: this runs over every entry of every image a worker loads.
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    const slash = e.path.lastIndexOf('/');
    cols.names[i] = slash < 0 ? e.path : e.path.slice(slash + 1);
    const parent = i === 0 ? -1 : dirIndex.get(slash < 0 ? '' : e.path.slice(0, slash));
    if (parent === undefined) {
      throw new ImageFormatError(`manifest entry ${JSON.stringify(e.path)} has no parent directory`);
    }
    cols.parents[i] = parent;
    cols.kinds[i] = KIND[e.type];
    cols.modes[i] = e.mode;
    cols.uids[i] = e.uid;
    cols.gids[i] = e.gid;
    cols.mtimes[i] = e.mtime;
    const isFile = e.type === 'file';
    cols.sizes[i] = isFile ? e.size : 0;
    cols.hashes[i] = isFile ? e.hash! : '';
    cols.targets[i] = e.type === 'symlink' ? e.target! : '';
    let target = -1;
    if (e.type === 'hardlink') {
      const at = targetIndex.get(e.target!);
      if (at === undefined || entries[at]!.type !== 'file') throw new ImageFormatError(`hard link ${JSON.stringify(e.path)} does not point at a file`);
      target = at;
    }
    cols.linkTo[i] = target;
    cols.xattrs[i] = e.xattrs && Object.keys(e.xattrs).length
      ? Object.entries(e.xattrs).flatMap(([k, v]) => [k, Buffer.from(v, 'base64')])
      : null;
  }
  return cols;
}

/** The columns of a decoded manifest: its rows are already in path order, root first. */
export function tableToColumns(t: ManifestTable): ImageColumns {
  const n = t.paths.length;
  const missing = Object.keys(STANDARD_DIRS).filter((name) => sortedIndexOf(t.paths, name) < 0);
  const total = n + missing.length;
  const cols: ImageColumns = {
    names: new Array<string>(total), parents: grown(t.parents, new Int32Array(total)), kinds: grown(t.kinds, new Uint8Array(total)),
    modes: grown(t.modes, new Uint32Array(total)), uids: grown(t.uids, new Uint32Array(total)), gids: grown(t.gids, new Uint32Array(total)),
    mtimes: grown(t.mtimes, new Float64Array(total)), sizes: new Float64Array(total),
    hashes: new Array<string>(total), targets: new Array<string>(total), linkTo: grown(t.linkTo, new Int32Array(total)), xattrs: new Array(total),
  };
  // Plain loops: this runs over every entry of every image a worker loads.
  for (let i = 0; i < n; i++) {
    const path = t.paths[i]!;
    cols.names[i] = path.slice(path.lastIndexOf('/') + 1);
    const kind = t.kinds[i]!;
    // The tree takes sizes and hashes of files only (a hard link is its file's), targets of symlinks only.
    cols.sizes[i] = kind === KIND.file ? t.sizes[i]! : 0;
    cols.hashes[i] = kind === KIND.file ? t.hashes[i]! : '';
    cols.targets[i] = kind === KIND.symlink ? t.targets[i]! : '';
    const xattrs = t.xattrs[i];
    cols.xattrs[i] = xattrs && Object.keys(xattrs).length ? Object.entries(xattrs).flatMap(([k, v]) => [k, Buffer.from(v, 'base64')]) : null;
  }
  for (let j = 0; j < missing.length; j++) {
    const i = n + j;
    const name = missing[j]!;
    cols.names[i] = name;
    cols.parents[i] = 0;
    cols.kinds[i] = KIND.dir;
    cols.modes[i] = STANDARD_DIRS[name]!;
    cols.mtimes[i] = t.mtimes[0]!;
    cols.hashes[i] = '';
    cols.targets[i] = '';
    cols.linkTo[i] = -1;
    cols.xattrs[i] = null;
  }
  return cols;
}

/** `to` with `from` copied to its start. */
function grown<T extends Uint8Array | Int32Array | Uint32Array | Float64Array>(from: T, to: T): T {
  to.set(from as never);
  return to;
}
