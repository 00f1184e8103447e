// A tiny root filesystem for tests: Debian's static busybox, applet symlinks, the given
// directories and files. One definition for the worker tests' image and the export
// test's podman base image, which differ only in applets and extra files.
import { chmodSync, copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const BUSYBOX = '/bin/busybox';

export interface BusyboxRootfsSpec {
  /** Applets linked as bin/<name> -> busybox. */
  applets: readonly string[];
  /** Directories to create (besides bin and tmp, which always exist; tmp is 1777). */
  dirs?: readonly string[];
  /** Files by path relative to the root; parent directories are created. */
  files?: Readonly<Record<string, string>>;
}

export function writeBusyboxRootfs(root: string, spec: BusyboxRootfsSpec): string {
  for (const d of ['bin', 'tmp', ...(spec.dirs ?? [])]) mkdirSync(join(root, d), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777);
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  for (const applet of spec.applets) symlinkSync('busybox', join(root, 'bin', applet));
  for (const [path, content] of Object.entries(spec.files ?? {})) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}
