// Turns a decoded manifest (ManifestTable) into the column form the native tree is built
// from: mostly copies of the table's columns, names instead of paths, sizes and hashes of
// files only, targets of symlinks only, xattrs decoded to bytes, and the standard
// directories a container needs added to the root where the image lacks them.
// Deliberately does not: validate the manifest (decoding did) or talk to C++.
import { sortedIndexOf, type ManifestTable } from '../../common/manifest.js';
import type { ImageColumns } from './native.js';

/** Mount points runc needs in every root; added as empty root-owned dirs when absent. */
export const STANDARD_DIRS: Readonly<Record<string, number>> = { dev: 0o755, proc: 0o555, sys: 0o555, tmp: 0o1777, run: 0o755 };

const KIND = { dir: 0, file: 1, symlink: 2, hardlink: 3 } as const;

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
