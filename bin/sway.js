#!/usr/bin/env node
// Entry point installed as `sway`: the compiled CLI lives in dist/ (npm run build).
import('../dist/ts/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write('sway: not built yet; run `npm run build` (or `npm run setup`) in the checkout\n');
    process.exit(125);
  }
  throw err;
});
