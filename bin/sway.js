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
const fastPath = argv[0] === 'run' || (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v'));
const entry = fastPath && process.env.SWAY_CLI_NO_BUNDLE !== '1' && bundleIsFresh() ? 'run-bundle.js' : 'main.js';

import(new URL(entry, cliDist).href).catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write('sway: not built yet; run `npm run build` (or `npm run setup`) in the checkout\n');
    process.exit(125);
  }
  throw err;
});
