// Layer application: turn the ordered changes of an image's layers into one Manifest,
// exactly as a runtime's overlay view of the image shows it (podman's `image mount`).
//
//   const tree = new LayerTree();
//   for (const layer of layers) tree.apply(layer.changes);
//   const entries = tree.entries();
//
// Semantics, per layer, in the layer's own order:
// - `.wh.NAME` deletes NAME (and everything under it) from the layers below;
//   `.wh..wh..opq` in DIR hides everything the layers below put in DIR (entries this
//   layer itself adds are kept, whatever their order in the tar).
// - A file or symlink replaces whatever was at its path (a directory with its whole
//   subtree); a directory replaces a non-directory, and over a directory it only
//   updates the metadata (the contents merge, as overlayfs merges directories).
// - A missing parent is created (0755, root); a non-directory parent is replaced by a
//   directory, as an extraction into the layer's own diff directory does.
// - Hard links share one inode (content and metadata); in the manifest the first path
//   of each inode (in path order) is the 'file' and the others are 'hardlink' entries
//   pointing at it, so deleting or replacing the original later just promotes another
//   path. A hard link whose target is missing or a directory is an ImageFormatError; a
//   hard link to a symlink becomes a copy of the symlink.
// - The root directory's metadata comes from the top layer alone (a layer without a
//   './' entry gives 0555 root:root, as podman's store does).
// - Device nodes and fifos are not represented: they remove what was at their path and
//   are reported through `warn`.
//
// Deliberately does not: read tars or hash content (ts/image/layer-reader.ts does), or
// resolve symlinks (paths are taken literally, so nothing can be steered outside the tree).
import { ImageFormatError } from '../common/errors.js';
import { EMPTY_HASH } from '../common/hash.js';
import { compareManifestPaths, type ManifestEntry } from '../common/manifest.js';

interface Meta { mode: number; uid: number; gid: number; mtime: number; xattrs?: Record<string, string> }

/** One change a layer makes; paths are clean and relative ('' is the root). */
export type LayerChange =
  | { op: 'whiteout'; path: string }
  | { op: 'opaque'; path: string }
  | ({ op: 'dir'; path: string } & Meta)
  | ({ op: 'file'; path: string; size: number; hash: string } & Meta)
  | ({ op: 'symlink'; path: string; target: string } & Meta)
  | { op: 'hardlink'; path: string; target: string }
  | { op: 'skip'; path: string; reason: string };

interface Inode extends Meta { size: number; hash: string }
type Node =
  | { kind: 'dir'; meta: Meta; children: Map<string, Node>; layer: number }
  | { kind: 'file'; inode: Inode; layer: number }
  | { kind: 'symlink'; meta: Meta; target: string; layer: number };

const ROOT_META: Meta = { mode: 0o755, uid: 0, gid: 0, mtime: 0 };
const LAYER_ROOT_META: Meta = { mode: 0o555, uid: 0, gid: 0, mtime: 0 };

export class LayerTree {
  private readonly root: Node & { kind: 'dir' } = { kind: 'dir', meta: { ...ROOT_META }, children: new Map(), layer: -1 };
  private layerIndex = -1;

  constructor(private readonly warn: (message: string) => void = () => {}) {}

  /** Apply one layer's changes on top of what is there. */
  apply(changes: Iterable<LayerChange>): void {
    this.layerIndex++;
    // The image root is the top layer's own root directory (overlayfs shows the upper
    // directory's attributes): a layer without a './' entry gets the 0555 root:root
    // directory podman's store creates for it.
    this.root.meta = { ...LAYER_ROOT_META };
    for (const c of changes) this.applyOne(c);
  }

  private applyOne(c: LayerChange): void {
    const L = this.layerIndex;
    if (c.op === 'whiteout') {
      const { parent, name } = this.split(c.path, 'whiteout');
      const dir = this.lookupDir(parent);
      dir?.children.delete(name);
      return;
    }
    if (c.op === 'opaque') {
      const dir = this.ensureDir(c.path);
      dir.layer = L;
      this.hideLower(dir);
      return;
    }
    if (c.op === 'skip') {
      this.warn(`skipped ${JSON.stringify(c.path)}: ${c.reason}`);
      if (c.path === '') return;
      const { parent, name } = this.split(c.path, 'entry');
      this.lookupDir(parent)?.children.delete(name);
      return;
    }
    if (c.path === '') {
      if (c.op !== 'dir') throw new ImageFormatError(`archive replaces the image root with a ${c.op}`);
      this.root.meta = metaOf(c);
      this.root.layer = L;
      return;
    }
    const { parent, name } = this.split(c.path, 'entry');
    const dir = this.ensureDir(parent);
    switch (c.op) {
      case 'dir': {
        const existing = dir.children.get(name);
        if (existing?.kind === 'dir') { existing.meta = metaOf(c); existing.layer = L; }
        else dir.children.set(name, { kind: 'dir', meta: metaOf(c), children: new Map(), layer: L });
        return;
      }
      case 'file':
        dir.children.set(name, { kind: 'file', inode: { ...metaOf(c), size: c.size, hash: c.hash }, layer: L });
        return;
      case 'symlink':
        dir.children.set(name, { kind: 'symlink', meta: metaOf(c), target: c.target, layer: L });
        return;
      case 'hardlink': {
        const target = this.lookup(c.target);
        if (!target) throw new ImageFormatError(`hard link ${JSON.stringify(c.path)} points at ${JSON.stringify(c.target)}, which is not in the image`);
        if (target.kind === 'dir') throw new ImageFormatError(`hard link ${JSON.stringify(c.path)} points at directory ${JSON.stringify(c.target)}`);
        if (target.kind === 'file') dir.children.set(name, { kind: 'file', inode: target.inode, layer: L });
        else dir.children.set(name, { kind: 'symlink', meta: { ...target.meta }, target: target.target, layer: L });
        return;
      }
    }
  }

  /** Opaque directory: drop what lower layers put here, keep this layer's own entries. */
  private hideLower(dir: Node & { kind: 'dir' }): void {
    for (const [name, child] of dir.children) {
      if (child.layer !== this.layerIndex) dir.children.delete(name);
      else if (child.kind === 'dir') this.hideLower(child);
    }
  }

  private split(path: string, what: string): { parent: string; name: string } {
    const i = path.lastIndexOf('/');
    const name = i < 0 ? path : path.slice(i + 1);
    if (name === '' || name === '.' || name === '..') throw new ImageFormatError(`archive ${what} ${JSON.stringify(path)} has no usable name`);
    return { parent: i < 0 ? '' : path.slice(0, i), name };
  }

  private lookup(path: string): Node | undefined {
    let node: Node = this.root;
    if (path === '') return node;
    for (const c of path.split('/')) {
      if (node.kind !== 'dir') return undefined; // never through a symlink
      const next = node.children.get(c);
      if (!next) return undefined;
      node = next;
    }
    return node;
  }

  private lookupDir(path: string): (Node & { kind: 'dir' }) | undefined {
    const n = this.lookup(path);
    return n?.kind === 'dir' ? n : undefined;
  }

  /** The directory at path, creating (or replacing non-directories with) 0755 root dirs. */
  private ensureDir(path: string): Node & { kind: 'dir' } {
    let node: Node & { kind: 'dir' } = this.root;
    if (path === '') return node;
    for (const c of path.split('/')) {
      let next = node.children.get(c);
      if (next?.kind !== 'dir') {
        next = { kind: 'dir', meta: { ...ROOT_META }, children: new Map(), layer: this.layerIndex };
        node.children.set(c, next);
      }
      // This layer has the directory in its own diff too: an opaque ancestor keeps it.
      next.layer = this.layerIndex;
      node = next;
    }
    return node;
  }

  /** The flattened image, sorted by path, hard links resolved (see the header comment). */
  entries(): ManifestEntry[] {
    const out: ManifestEntry[] = [];
    const firstPathOf = new Map<Inode, string>();
    const files: { path: string; inode: Inode }[] = [];
    const walk = (path: string, node: Node): void => {
      if (node.kind === 'dir') {
        out.push(withMeta({ path, type: 'dir', size: 0 }, node.meta));
        for (const [name, child] of node.children) walk(path === '' ? name : `${path}/${name}`, child);
      } else if (node.kind === 'symlink') {
        out.push(withMeta({ path, type: 'symlink', size: Buffer.byteLength(node.target), target: node.target }, node.meta));
      } else {
        files.push({ path, inode: node.inode });
      }
    };
    walk('', this.root);
    files.sort((a, b) => compareManifestPaths(a.path, b.path));
    for (const { path, inode } of files) {
      const first = firstPathOf.get(inode);
      const base = { size: inode.size, hash: inode.size === 0 ? EMPTY_HASH : inode.hash };
      if (first === undefined) {
        firstPathOf.set(inode, path);
        out.push(withMeta({ path, type: 'file', ...base }, inode));
      } else {
        out.push(withMeta({ path, type: 'hardlink', ...base, target: first }, inode));
      }
    }
    return out.sort((a, b) => compareManifestPaths(a.path, b.path));
  }
}

function metaOf(c: Meta): Meta {
  const m: Meta = { mode: c.mode & 0o7777, uid: c.uid, gid: c.gid, mtime: c.mtime };
  if (c.xattrs && Object.keys(c.xattrs).length) m.xattrs = { ...c.xattrs };
  return m;
}

function withMeta(e: Omit<ManifestEntry, 'mode' | 'uid' | 'gid' | 'mtime'>, m: Meta): ManifestEntry {
  const out: ManifestEntry = { ...e, mode: m.mode, uid: m.uid, gid: m.gid, mtime: m.mtime };
  if (m.xattrs) out.xattrs = m.xattrs;
  return out;
}
