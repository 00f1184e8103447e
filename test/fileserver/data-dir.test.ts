// One fileserver per data directory: a second start is refused while the first runs
// (its start-up would wipe the first one's staged uploads), and allowed once it stopped.
// A lock left by a killed server is taken over (crash.test.ts restarts after kill -9).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { startFileserver } from '../../ts/fileserver/index.js';

test('a second fileserver on the same data directory is refused until the first stops', async (t) => {
  const dataDir = await makeTempDir(t, 'sway-fs-lock-');
  const first = await startFileserver({ dataDir, port: 0, log: () => {} });
  let firstClosed = false;
  t.after(() => (firstClosed ? undefined : first.close()));
  await assert.rejects(startFileserver({ dataDir, port: 0, log: () => {} }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'SWAY_CONFIG');
    assert.match(err.message, /in use by another fileserver \(pid \d+\)/);
    return true;
  });
  await first.close();
  firstClosed = true;
  assert.equal(existsSync(join(dataDir, 'fileserver.lock')), false);
  const second = await startFileserver({ dataDir, port: 0, log: () => {} });
  await second.close();
});
