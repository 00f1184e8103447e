// Temporary directories for tests, removed when the test ends (pass or fail).
//
//   const dir = await makeTempDir(t, 'export-');      // removed in t.after()
//   const out = testOutputDir('dashboard');           // kept: screenshots, logs to look at
//
// Cleanup first detaches any mount left under the directory (a FUSE mount, an overlay,
// a bind mount of a test that failed half-way): `rm -rf` through a live FUSE mount would
// hang or fail, and an overlay left mounted would keep the worker's files busy.
import { mkdtemp, rm } from 'node:fs/promises';
import { mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

/** The repository root (this file is compiled to dist/test/helpers/tmp.js). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('../../../', import.meta.url)));

/**
 * A new empty directory under the system temp dir, removed after the test `t`
 * (or, given a suite-level `after` hook instead, when that hook runs).
 */
export async function makeTempDir(t: Pick<TestContext, 'after'> | { after(fn: () => unknown): void }, prefix = 'sway-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => removeTempDir(dir));
  return dir;
}

/** Unmount whatever is mounted under `dir` (deepest first), then delete it. */
export async function removeTempDir(dir: string): Promise<void> {
  for (const mountPoint of mountsUnder(dir)) {
    // Lazy detach: works even while a process still holds files open on the mount.
    const fuse = spawnSync('fusermount3', ['-u', '-z', mountPoint], { stdio: 'ignore' });
    if (fuse.status !== 0) spawnSync('umount', ['-l', mountPoint], { stdio: 'ignore' });
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
}

/** Mount points at or below `dir`, deepest first, from /proc/self/mountinfo. */
export function mountsUnder(dir: string): string[] {
  const root = resolve(dir);
  let info: string;
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const points = info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => !!p)
    .map(unescapeMountPath)
    .filter((p) => p === root || p.startsWith(root + '/'));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * A directory for artefacts a person may want to look at after the run (screenshots,
 * logs): $SWAY_TEST_OUTPUT/<name> (scripts/test.sh sets it to test-output/), not removed.
 */
export function testOutputDir(name: string): string {
  const base = process.env.SWAY_TEST_OUTPUT ?? join(REPO_ROOT, 'test-output');
  const dir = join(base, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}
