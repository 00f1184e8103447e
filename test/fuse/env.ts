// Shared setup of the FUSE tests: a source tree, its manifest and blob store, a blob
// server, and a mount-helper child serving it; torn down after the test (pass or fail).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { makeTempDir } from '../helpers/tmp.js';
import { BlobServer } from './blob-server.js';
import { MountHelper, type HelperOptions } from './helper-client.js';
import { makeSourceTree, manifestFromTree, type SourceTree } from './fixtures.js';
import type { Manifest } from '../../ts/common/manifest.js';

export const IMAGE_ID = 'img0123';
export const ALIAS = 'alice_app:latest';

export interface FuseEnv {
  dir: string;
  source: SourceTree;
  manifest: Manifest;
  manifestFile: string;
  hashes: Map<string, { hash: string; size: number }>;
  server: BlobServer;
  mountpoint: string;
  cacheDir: string;
  helper: MountHelper;
  imageRoot: string;
  /** Start another helper on the same mountpoint/cache (after stop or kill). */
  restart(extra?: Partial<HelperOptions>): Promise<MountHelper>;
}

export async function setupFuseEnv(t: Pick<TestContext, 'after'>, extra: Partial<HelperOptions> = {}, treeOpts: { bigBytes?: number } = {}): Promise<FuseEnv> {
  const dir = await makeTempDir(t, 'sway-fuse-');
  const srcRoot = join(dir, 'src');
  const store = join(dir, 'store');
  const mountpoint = join(dir, 'mnt');
  const cacheDir = join(dir, 'cache');
  await Promise.all([mkdir(srcRoot), mkdir(store), mkdir(mountpoint)]);
  const source = await makeSourceTree(srcRoot, treeOpts);
  const { manifest, hashes } = await manifestFromTree(srcRoot, store);
  const manifestFile = join(dir, 'manifest.json');
  await writeFile(manifestFile, JSON.stringify(manifest));
  const server = new BlobServer(store);
  await server.start();
  const helpers: MountHelper[] = [];
  // Registered before makeTempDir's cleanup runs? t.after hooks run in order of
  // registration; removeTempDir also detaches any mount left under dir.
  t.after(async () => {
    let sanitizer: unknown;
    for (const h of helpers) {
      await h.stop().catch(async (err: unknown) => { sanitizer ??= err; await h.kill().catch(() => {}); });
    }
    await server.close();
    if (sanitizer) throw sanitizer;
  });
  const options = (more: Partial<HelperOptions>): HelperOptions => ({
    mountpoint, cacheDir, serverUrl: server.url, images: [{ id: IMAGE_ID, manifestFile, aliases: [ALIAS] }],
    fetchTimeoutMs: 8000, retries: 2, ...extra, ...more,
  });
  const helper = await MountHelper.start(dir, options({}));
  helpers.push(helper);
  const env: FuseEnv = {
    dir, source, manifest, manifestFile, hashes, server, mountpoint, cacheDir, helper,
    imageRoot: join(mountpoint, IMAGE_ID),
    async restart(more = {}) {
      const h = await MountHelper.start(dir, options({ ...more, serverUrl: server.url }));
      helpers.push(h);
      env.helper = h;
      return h;
    },
  };
  return env;
}
