// The exporter's use of the local image builder: build a Dockerfile (with docker buildx
// when a Docker engine answers, else podman with a selectable OCI runtime), locate an
// image's layers in podman's own store, and stream `podman image save` as a fallback.
//
// Reading the store: `podman image inspect` gives the image's diff_ids and the top
// layer's overlay diff directory; the store's layers.json chains layer ids to their
// parents; each layer has `overlay-layers/<id>.tar-split.gz`, the tar headers of the
// original layer tar without its file contents (which live in `overlay/<id>/diff`).
// Putting the two back together yields the original layer tar byte for byte, so its
// sha256 is still checked against the diff_id (store-layer.ts) and no `podman save`
// (about 14 s for a 1 GB image) is needed.
//
// Deliberately does not: parse layers (layer-reader.ts), or support storage drivers
// other than overlay (anything else falls back to `podman image save`).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { BuildError } from '../common/errors.js';

export interface BuildOptions {
  dir: string;
  dockerfile: string;
  tag: string;
  /** OCI runtime for podman's RUN steps (crun fails on this machine's cgroups). */
  runtime: string;
  platform: string;
  /** Each line the builder prints (for progress). */
  onLine?: (line: string) => void;
}

export type Builder = 'docker' | 'podman';

/** docker only when its engine answers (the CLI alone is not enough). */
export function pickBuilder(): Builder {
  const r = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
  return r.status === 0 && String(r.stdout).trim() ? 'docker' : 'podman';
}

function run(cmd: string, args: string[], onLine?: (line: string) => void): Promise<{ code: number | null; tail: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const take = (buf: Buffer) => {
      for (const line of buf.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        tail.push(line); if (tail.length > 20) tail.shift();
        onLine?.(line);
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', (err) => reject(new BuildError(`cannot run ${cmd}: ${err.message}`)));
    child.on('close', (code) => resolve({ code, tail }));
  });
}

/** Build the Dockerfile into `tag`; a failed build is a BuildError with its last line. */
export async function buildImage(builder: Builder, o: BuildOptions): Promise<void> {
  const args = builder === 'docker'
    ? ['buildx', 'build', '--load', '--platform', o.platform, '-t', o.tag, '-f', o.dockerfile, o.dir]
    : ['build', '--runtime', o.runtime, '--platform', o.platform, '-t', o.tag, '-f', o.dockerfile, o.dir];
  const { code, tail } = await run(builder, args, o.onLine);
  if (code !== 0) {
    const last = [...tail].reverse().find((l) => /error|fail/i.test(l)) ?? tail.at(-1) ?? '';
    throw new BuildError(`${builder} build failed (exit ${code}): ${last.trim().slice(0, 300)}`);
  }
}

/** `podman image save` (or `docker save`) as a docker-archive stream; errors surface on the stream. */
export function saveImage(builder: Builder, ref: string): Readable {
  const args = builder === 'docker' ? ['save', ref] : ['image', 'save', '--format', 'docker-archive', ref];
  const child = spawn(builder, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  child.on('close', (code) => {
    if (code !== 0) child.stdout.destroy(new BuildError(`${builder} save ${ref} failed (exit ${code}): ${err.trim().split('\n').at(-1) ?? ''}`));
  });
  return child.stdout;
}

export interface StoreLayer {
  diffId: string;
  /** overlay/<id>/diff: the layer's files. */
  diffDir: string;
  /** overlay-layers/<id>.tar-split.gz: the layer tar's headers. */
  tarSplit: string;
}

export interface StoreImage {
  id: string;
  diffIds: string[];
  config: Record<string, unknown>;
  /** Bottom to top; null when the store cannot be read directly (then use saveImage). */
  layers: StoreLayer[] | null;
}

/** Inspect a podman image and find its layers in the store. */
export function inspectStoreImage(ref: string): StoreImage {
  const r = spawnSync('podman', ['image', 'inspect', '--format', 'json', ref], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new BuildError(`podman image inspect ${ref} failed: ${String(r.stderr).trim().split('\n').at(-1) ?? ''}`);
  const info = (JSON.parse(r.stdout) as Record<string, unknown>[])[0]!;
  const rootfs = info.RootFS as { Layers?: string[] } | undefined;
  const diffIds = rootfs?.Layers ?? [];
  const gd = info.GraphDriver as { Name?: string; Data?: Record<string, string> } | undefined;
  const config = (info.Config ?? {}) as Record<string, unknown>;
  const id = String(info.Id);
  const upper = gd?.Data?.UpperDir;
  if (gd?.Name !== 'overlay' || !upper) return { id, diffIds, config, layers: null };
  // <root>/overlay/<topId>/diff
  const storeRoot = dirname(dirname(dirname(upper)));
  let chain: StoreLayer[];
  try {
    const records = JSON.parse(readFileSync(join(storeRoot, 'overlay-layers', 'layers.json'), 'utf8')) as { id: string; parent?: string; 'diff-digest'?: string }[];
    const byId = new Map(records.map((l) => [l.id, l]));
    chain = [];
    for (let idOf: string | undefined = basename(dirname(upper)); idOf; idOf = byId.get(idOf)?.parent) {
      const rec = byId.get(idOf);
      if (!rec || chain.length > 1000) return { id, diffIds, config, layers: null };
      chain.unshift({ diffId: rec['diff-digest'] ?? '', diffDir: join(storeRoot, 'overlay', rec.id, 'diff'), tarSplit: join(storeRoot, 'overlay-layers', `${rec.id}.tar-split.gz`) });
    }
  } catch {
    return { id, diffIds, config, layers: null };
  }
  const matches = chain.length === diffIds.length && chain.every((l, i) => l.diffId === diffIds[i] && existsSync(l.tarSplit) && existsSync(l.diffDir));
  return { id, diffIds, config, layers: matches ? chain : null };
}

/** Remove an image the exporter tagged (tests, and replaced tags are left to podman). */
export function removeImage(ref: string): void {
  spawnSync('podman', ['rmi', '--force', ref], { stdio: 'ignore' });
}
