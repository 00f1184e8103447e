// Build step after tsc (npm's postbuild:ts): bundle dist/ts/cli/main-run.js, the CLI of
// `sway run` and `sway --version`, with clipanion into one file, dist/ts/cli/run-bundle.js,
// so that every run loads one file instead of ~10 modules of ours and ~15 of clipanion's
// (about 20 ms of each `sway run` on this machine; bench/cli-start.bench.ts). Also writes
// run-bundle.json, the dist files it was built from: bin/sway.js uses the bundle only
// while none of them is newer (a plain `tsc` after it makes it stale, not wrong).
// Kept out of the bundle: modules imported dynamically (the fileserver client, undici:
// loaded only for a script over 1 MiB) and ts/common/errors.js, whose classes must be the
// same ones those modules throw (`instanceof`). The build fails if a heavy dependency
// (anything but clipanion) gets into the bundle.
// Deliberately does not: bundle the other commands or the daemons (they run unbundled
// from dist/ts/cli/main.js, where paths relative to import.meta.url hold).
// Without esbuild installed (a checkout whose node_modules predates it) it removes any old
// bundle and says so: the CLI then runs unbundled, which is slower but the same.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI_DIST = dirname(fileURLToPath(import.meta.url)); // dist/ts/cli
const ENTRY = resolve(CLI_DIST, 'main-run.js');
const OUT = resolve(CLI_DIST, 'run-bundle.js');
const INPUTS = resolve(CLI_DIST, 'run-bundle.json');
/** Shared with modules outside the bundle: one copy, or `instanceof` breaks. */
const ALWAYS_EXTERNAL = [resolve(CLI_DIST, '..', 'common', 'errors.js')];
const ALLOWED_PACKAGES = /\/node_modules\/(clipanion|typanion|tslib)\//;

interface EsbuildLike {
  build(options: Record<string, unknown>): Promise<{ metafile: { inputs: Record<string, unknown> } }>;
}

function removeBundle(): void {
  for (const f of [OUT, `${OUT}.map`, INPUTS]) rmSync(f, { force: true });
}

const esbuildModule = 'esbuild'; // a variable: tsc must not need esbuild's types to compile this file
let esbuild: EsbuildLike;
try {
  esbuild = (await import(esbuildModule)) as EsbuildLike;
} catch {
  removeBundle();
  process.stderr.write('build-bundle: esbuild is not installed (npm ci): sway runs unbundled (slower start-up, same behaviour)\n');
  process.exit(0);
}
if (!existsSync(ENTRY)) throw new Error(`build-bundle: ${ENTRY} missing: run tsc first`);
removeBundle(); // a failed build leaves no stale bundle behind

const result = await esbuild.build({
  entryPoints: [ENTRY],
  outfile: OUT,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
  // clipanion is CommonJS and requires node builtins ("tty"): give the ESM bundle a require.
  banner: { js: "import { createRequire as __swayCreateRequire } from 'node:module'; const require = __swayCreateRequire(import.meta.url);" },
  plugins: [{
    name: 'sway-externals',
    setup(build: { onResolve(o: { filter: RegExp }, cb: (a: { path: string; importer: string; kind: string }) => unknown): void }) {
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        const target = resolve(dirname(args.importer), args.path);
        if (args.kind !== 'dynamic-import' && !ALWAYS_EXTERNAL.includes(target)) return undefined;
        // The bundle sits in dist/ts/cli/: keep the import working from there.
        const fromBundle = relative(CLI_DIST, target);
        return { path: fromBundle.startsWith('.') ? fromBundle : `./${fromBundle}`, external: true };
      });
    },
  }],
});

const inputs = Object.keys(result.metafile.inputs).map((p) => resolve(process.cwd(), p));
const heavy = inputs.filter((p) => p.includes('/node_modules/') && !ALLOWED_PACKAGES.test(p));
if (heavy.length) {
  removeBundle();
  throw new Error(`build-bundle: the run bundle must not contain ${heavy.map((p) => p.replace(/.*\/node_modules\//, '')).join(', ')}: import it inside perform() instead`);
}
const ours = inputs.filter((p) => !p.includes('/node_modules/')).map((p) => relative(CLI_DIST, p)).sort();
writeFileSync(INPUTS, JSON.stringify({ inputs: ours }, null, 1) + '\n');
process.stdout.write(`build-bundle: ${relative(process.cwd(), OUT)} from ${ours.length} of our modules and clipanion\n`);
