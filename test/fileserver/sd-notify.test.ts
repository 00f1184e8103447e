// Under systemd (Type=notify) the fileserver reports READY=1 once it listens: here the
// notify socket is a Unix datagram socket of the test's own (python3 reads it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { startCommand, startSway } from '../helpers/cli.js';

const LISTENER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    msg = s.recv(4096).decode()
    print("got " + msg.replace("\\n", " "), flush=True)
    if "READY=1" in msg:
        break
`;

test('the fileserver tells systemd it is ready once it listens', async (t) => {
  if (spawnSync('python3', ['-c', 'pass']).status !== 0) { t.skip('python3 is not installed'); return; }
  const dir = await makeTempDir(t, 'sway-fs-notify-');
  const socketPath = join(dir, 'notify.sock');
  const listener = startCommand('python3', ['-c', LISTENER, socketPath]);
  t.after(() => listener.stop());
  await listener.waitForOutput(/bound/);
  const server = startSway(['fileserver', '--data-dir', join(dir, 'data'), '--host', '127.0.0.1', '--port', '0'], { env: { NOTIFY_SOCKET: socketPath } });
  t.after(() => server.stop());
  const got = await listener.waitForOutput(/got (.*READY=1.*)/, 120_000);
  assert.match(got[1]!, new RegExp(`MAINPID=${server.child.pid}`));
  assert.match(server.stdout(), /fileserver listening on https:/);
});
