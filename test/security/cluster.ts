// A real sway installation for the security tests: `sway up` (the real CLI) starts a
// fileserver and a worker (FUSE mount, runc) as daemons under a temp home, with their
// stdout/stderr in home/logs/*.log; users of each role are added to the fileserver's
// database; the busybox fixture rootfs is at hand for publishing images. `close()` runs
// `sway down` and removes everything.
// Deliberately does not: publish images or start runs (each test decides what it needs).
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { runSway } from '../helpers/cli.js';
import { removeTempDir } from '../helpers/tmp.js';
import { addUser } from '../../ts/fileserver/index.js';
import type { Role } from '../../ts/fileserver/roles.js';
import { ADDON_PATH } from '../../ts/worker/fuse/native.js';
import { HAVE_RUNTIME, makeBusyboxRootfs } from '../worker/fixtures.js';

export const CLUSTER_SKIP = HAVE_RUNTIME && existsSync('/dev/fuse') && existsSync(ADDON_PATH) ? false : 'needs root, /dev/fuse, busybox and the built FUSE addon';

export interface Cluster {
  dir: string;
  home: string;
  /** Environment for `sway` commands: SWAY_CONFIG of the first user ("owner"). */
  env: Record<string, string>;
  fileserverUrl: string;
  workerUrl: string;
  ca: string;
  rootfs: string;
  /** The worker's own fileserver token (role worker). */
  workerToken: string;
  addUser(name: string, role?: Role): string;
  /** Every token handed out so far (the worker's included): none may appear in a log. */
  tokens(): string[];
}

/** `env`: extra environment for `sway up` (the daemons inherit it). */
export async function startCluster(t: Pick<TestContext, 'after'>, opts: { env?: Record<string, string> } = {}): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), 'sway-security-'));
  const home = join(dir, 'home');
  const env = { SWAY_CONFIG: join(dir, 'config.json') };
  t.after(async () => {
    await runSway(['down', '--home', home], { env, timeoutMs: 120_000 });
    await removeTempDir(dir);
  });
  const up = await runSway(['up', '--home', home, '--user', 'owner', '--fileserver-port', '0', '--worker-port', '0'], { env: { ...env, ...opts.env }, timeoutMs: 180_000 });
  assert.equal(up.code, 0, up.stderr + up.stdout);
  const config = JSON.parse(readFileSync(env.SWAY_CONFIG, 'utf8')) as { fileserver: string; worker: string; token: string; ca: string };
  const workerToken = readFileSync(join(home, 'tokens', 'worker'), 'utf8').trim();
  const issued = [config.token, workerToken];
  const rootfs = await makeBusyboxRootfs(join(dir, 'rootfs'));
  return {
    dir, home, env, rootfs, workerToken,
    fileserverUrl: config.fileserver, workerUrl: config.worker, ca: config.ca,
    addUser(name, role = 'user') {
      const token = addUser(join(home, 'fileserver'), name, role);
      issued.push(token);
      return token;
    },
    tokens: () => [...issued],
  };
}
