// The README's quick start, literally, on `sway up`'s defaults: copy examples/quickstart,
// `sway export`, `sway run app.py` prints the svd line; edit app.py and run again without
// a re-export; a script that pickles to a temp file and exits 3 with stderr; a second run
// does not see the first one's files. Skipped until `sway export` and the base image exist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO_ROOT, removeTempDir, mountsUnder } from '../helpers/tmp.js';
import { runSway, SWAY_BIN } from '../helpers/cli.js';
import { HAVE_RUNTIME } from './fixtures.js';
import { ADDON_PATH } from '../../ts/worker/fuse/native.js';

function exportCommandExists(): boolean {
  return spawnSync(process.execPath, [SWAY_BIN, 'export', '--help'], { stdio: 'ignore' }).status === 0;
}
function baseImageExists(): boolean {
  return spawnSync('podman', ['image', 'exists', 'localhost/sway/python-base:bookworm'], { stdio: 'ignore' }).status === 0;
}

const skip = !HAVE_RUNTIME || !existsSync('/dev/fuse') || !existsSync(ADDON_PATH) ? 'needs root, /dev/fuse and the built FUSE addon'
  : !baseImageExists() ? 'needs the base image (scripts/ensure-base-image.sh)'
  : !exportCommandExists() ? 'needs `sway export`' : false;

const PICKLER = `import os, pickle, sys, tempfile
path = os.path.join(tempfile.gettempdir(), 'state.pkl')
print('seen before:', os.path.exists(path) or os.path.exists('/app/written.txt'))
with open(path, 'wb') as f:
    pickle.dump({'answer': 42}, f)
open('/app/written.txt', 'w').write('x')
with open(path, 'rb') as f:
    print('read back:', pickle.load(f)['answer'])
print('something went wrong', file=sys.stderr)
sys.exit(3)
`;

test('quick start: export once, run, edit, run again; pickles, stderr and status; runs isolated', { skip, timeout: 900_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sway-quickstart-'));
  const home = join(dir, 'home');
  const env = { SWAY_CONFIG: join(dir, 'config.json') };
  t.after(async () => {
    await runSway(['down', '--home', home], { env, timeoutMs: 120_000 });
    await removeTempDir(dir);
  });
  const up = await runSway(['up', '--home', home, '--user', 'dev', '--fileserver-port', '0', '--worker-port', '0'], { env, timeoutMs: 180_000 });
  assert.equal(up.code, 0, up.stderr);
  const project = join(dir, 'quickstart');
  await cp(join(REPO_ROOT, 'examples', 'quickstart'), project, { recursive: true });

  const exported = await runSway(['export'], { cwd: project, env, timeoutMs: 900_000 });
  assert.equal(exported.code, 0, exported.stderr);
  assert.ok(existsSync(join(project, '.sway', 'image')), 'export records the image for the directory');
  assert.ok(readFileSync(join(project, '.sway', 'image'), 'utf8').length > 0);

  const first = await runSway(['run', 'app.py'], { cwd: project, env, timeoutMs: 300_000 });
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout, 'svd: u=(100, 100), s=(100,)\n');

  await appendFile(join(project, 'app.py'), 'print("edited")\n');
  const edited = await runSway(['run', 'app.py'], { cwd: project, env, timeoutMs: 300_000 });
  assert.equal(edited.code, 0, edited.stderr);
  assert.equal(edited.stdout, 'svd: u=(100, 100), s=(100,)\nedited\n');

  await writeFile(join(project, 'pickler.py'), PICKLER);
  for (let i = 0; i < 2; i++) {
    const r = await runSway(['run', 'pickler.py'], { cwd: project, env, timeoutMs: 300_000 });
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'seen before: False\nread back: 42\n', `run ${i + 1} must not see an earlier run's files`);
    assert.equal(r.stderr, 'something went wrong\n');
  }
  const down = await runSway(['down', '--home', home], { env, timeoutMs: 120_000 });
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(mountsUnder(home), []);
});
