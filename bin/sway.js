#!/usr/bin/env node
// Entry point installed as `sway`: the compiled CLI lives in dist/ (npm run build).
// `sway run ...` and `sway --version` load dist/ts/cli/run-bundle.js (one file, built by
// ts/cli/build-bundle.ts: a faster start) when it is there and no file it was built from
// is newer; anything else, or SWAY_CLI_NO_BUNDLE=1, loads dist/ts/cli/main.js.
import { readFileSync, statSync } from 'node:fs';

const cliDist = new URL('../dist/ts/cli/', import.meta.url);

function bundleIsFresh() {
  try {
    const built = statSync(new URL('run-bundle.js', cliDist)).mtimeMs;
    const { inputs } = JSON.parse(readFileSync(new URL('run-bundle.json', cliDist), 'utf8'));
    return inputs.length > 0 && inputs.every((f) => statSync(new URL(f, cliDist)).mtimeMs <= built);
  } catch {
    return false;
  }
}

const argv = process.argv.slice(2);

// `sway export` holds an image's whole tree and streams its bytes: its live heap stays
// well under 128 MB for the 30,000-file python3+scipy image, but V8 lets garbage grow the
// heap long before it collects hard, which took the export's peak RSS over its 300 MB
// budget (272-313 MB; 226 MB with the old space capped at 128 MB). So an export runs in a
// child node with the old space capped: SWAY_EXPORT_HEAP_MB, default 192 (an image with
// far more files may need more). Signals are passed on; the child's status is ours.
// Within that cap the heap may double before V8 collects (--heap-growing-percent=100):
// by default it grew the old space only ~1.1-1.3x past the ~65 MB live, so a first export
// of the scipy image ran ~90 full collections, and this flag cut its CPU by ~2 s of ~9.5
// (6.3-6.5 s user against 8.3-8.4 in alternating runs) for 240-257 MB of peak RSS.
// And without incremental marking (--no-incremental-marking): V8 still started a marking
// task every 50-100 ms on a 17-24 MB heap far below its limit (--trace-gc: ~55 full
// collections, each marked concurrently on V8's helper threads, which used ~2 s of CPU on
// a 2-core machine). An export is a batch job, so atomic collections at the heap limit (8
// of them) cost nothing it notices: CLI CPU 7.3-7.5 s against 8.5-9.4, first export of the
// scipy image 107.8-112.7 MB/s against 98.6-109.5 in alternating runs, same peak RSS.
const EXPORT_HEAP_FLAG = '--max-old-space-size=';
const EXPORT_GC_FLAGS = ['--heap-growing-percent=100', '--no-incremental-marking'];

if (argv[0] === 'export' && !process.execArgv.some((a) => a.startsWith(EXPORT_HEAP_FLAG))) await exportWithCappedHeap();
else startCli();

async function exportWithCappedHeap() {
  const { spawn } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const asked = Number(process.env.SWAY_EXPORT_HEAP_MB);
  const heapMb = asked > 0 ? Math.floor(asked) : 192;
  const child = spawn(process.execPath, [...process.execArgv, `${EXPORT_HEAP_FLAG}${heapMb}`, ...EXPORT_GC_FLAGS, fileURLToPath(import.meta.url), ...argv], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('error', (err) => { process.stderr.write(`sway: cannot start the export: ${err.message}\n`); process.exit(125); });
  child.on('exit', (code, signal) => {
    if (!signal) process.exit(code ?? 125);
    if (signal === 'SIGABRT') { // V8 aborts when the capped heap is full
      process.stderr.write(`sway: the export stopped (out of memory with a ${heapMb} MB heap?): set SWAY_EXPORT_HEAP_MB higher and export again\n`);
      process.exit(125);
    }
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  });
}

function startCli() {
  const fastPath = argv[0] === 'run' || (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v'));
  const entry = fastPath && process.env.SWAY_CLI_NO_BUNDLE !== '1' && bundleIsFresh() ? 'run-bundle.js' : 'main.js';
  import(new URL(entry, cliDist).href).catch((err) => {
    if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
      process.stderr.write('sway: not built yet; run `npm run build` (or `npm run setup`) in the checkout\n');
      process.exit(125);
    }
    throw err;
  });
}
