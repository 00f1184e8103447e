// The apps the start-time benchmark can start (issue 5): each a project directory with a
// Dockerfile (built by `sway export`, i.e. podman build) and an app.py whose ready line
// says it has done its work.
//   scipy:   examples/quickstart (numpy + scipy SVD), native rootfs = the base tarball + app.py
//   sympy:   bench/workloads/sympy-app, a heavy import (python3-sympy from Debian's archive)
//   bigfile: bench/workloads/bigfile-app, reads 64 MiB at 16 offsets of a 1 GiB data file
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/helpers/tmp.js';

export interface Workload {
  name: string;
  /** Source of the project (copied into the benchmark's temp dir; the image is named after the copy's directory). */
  project: string;
  script: string;
  ready: RegExp;
  description: string;
  /** Where the native contender's rootfs comes from: the base rootfs tarball (the scipy app's image is base + app.py) or a copy of the built image. */
  nativeRootfs: 'base-tarball' | 'image';
}

function workload(name: string, project: string, ready: RegExp, description: string, nativeRootfs: Workload['nativeRootfs']): Workload {
  return { name, project, script: 'app.py', ready, description, nativeRootfs };
}

export const WORKLOADS: Record<string, Workload> = {
  scipy: workload('scipy', join(REPO_ROOT, 'examples', 'quickstart'), /svd: u=\(100, 100\), s=\(100,\)/,
    'examples/quickstart/app.py (numpy + scipy SVD), ready line `svd: ...`', 'base-tarball'),
  sympy: workload('sympy', join(REPO_ROOT, 'bench', 'workloads', 'sympy-app'), /sympy: \S+ integral=/,
    'bench/workloads/sympy-app/app.py (import sympy, integrate sin(x)**2), ready line `sympy: ...`', 'image'),
  bigfile: workload('bigfile', join(REPO_ROOT, 'bench', 'workloads', 'bigfile-app'), /bigfile: read 64 MiB of 1024 MiB/,
    'bench/workloads/bigfile-app/app.py (reads 16 x 4 MiB spread over a 1 GiB data file), ready line `bigfile: ...`', 'image'),
};
