// The README's first quick-start command, `npm run demo` (scripts/demo.sh), end to end:
// `sway up` on its defaults, `sway export` of examples/quickstart, `sway run app.py`
// printing the svd line. Isolated from the machine's own `sway up`: its home, client
// config and ports are the test's own (HOME, SWAY_HOME, SWAY_CONFIG, free ports), and
// `sway down` stops its servers afterwards. Setup is what `npm test` already did.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { removeTempDir, REPO_ROOT } from '../helpers/tmp.js';
import { runCommand, runSway } from '../helpers/cli.js';

const ADDON = join(REPO_ROOT, 'native', 'build', 'Release', 'sway_fuse.node');
function baseImagePresent(): boolean {
  try {
    execFileSync('podman', ['image', 'exists', 'localhost/sway/python-base:bookworm'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const skip = process.getuid?.() !== 0 ? 'needs root' : !existsSync(ADDON) ? 'the FUSE addon is not built (npm run build)' : !baseImagePresent() ? 'no base image (scripts/ensure-base-image.sh)' : false;

test('npm run demo: sway up, export and run the quick start, printing the svd line', { skip, timeout: 1_200_000 }, async (t) => {
  const home = await mkdtemp(join(tmpdir(), 'sway-demo-'));
  const env = {
    HOME: home,
    SWAY_HOME: join(home, 'sway'),
    SWAY_CONFIG: join(home, 'config.json'),
    SWAY_DEMO_UP_ARGS: '--fileserver-port 0 --worker-port 0',
    SWAY_DEMO_SKIP_SETUP: '1',
  };
  // Registered before the run, so the servers stop even when the demo fails half-way; one
  // hook, so that `sway down` still finds its state before the directory goes (hooks run
  // in order of registration: a separate removal registered first left the servers up).
  t.after(async () => {
    await runSway(['down', '--home', env.SWAY_HOME], { env, timeoutMs: 120_000 });
    await removeTempDir(home);
  });
  const r = await runCommand('bash', [join(REPO_ROOT, 'scripts', 'demo.sh')], { env, timeoutMs: 1_100_000 });
  assert.equal(r.code, 0, `demo failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  assert.match(r.stdout, /^svd: u=\(100, 100\), s=\(100,\)$/m);
  assert.ok(existsSync(env.SWAY_CONFIG), 'sway up wrote the client config the demo used');
});
