// The run log on a real SQLite file: rows through their life (start → finish), newest
// first, per-user filtering, interrupted runs after a "crash", data kept across reopen,
// and the schema version recorded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { makeTempDir } from '../helpers/tmp.js';
import { RunLog, MAX_RECENT, type RunStart } from '../../ts/worker/run-log.js';
import { SwayError } from '../../ts/common/errors.js';

function startOf(id: string, user: string, startedAt: number, extra: Partial<RunStart> = {}): RunStart {
  return { id, user, image: `${user}/app:latest`, imageId: 'a'.repeat(64), script: 'b'.repeat(64), command: ['python', 'app.py', '--x'], startedAt, ...extra };
}
const figures = { memoryHits: 10, diskHits: 5, serverFetches: 2, bytesFetched: 8192 };

test('a run goes from running to finished with its figures', async (t) => {
  const dir = await makeTempDir(t, 'runlog-');
  const log = new RunLog(join(dir, 'sub', 'runs.db'));
  t.after(() => log.close());

  log.start(startOf('r1', 'alice', 1000, { script: null, command: ['echo', 'hi there'] }));
  const running = log.get('r1');
  assert.equal(running?.state, 'running');
  assert.equal(running?.durationMs, null);
  assert.equal(running?.exitStatus, null);
  assert.deepEqual(running?.command, ['echo', 'hi there']);
  assert.equal(running?.script, null);

  log.finish('r1', { durationMs: 1234.6, exitStatus: 3, state: 'exited', ...figures, eios: 1 });
  assert.deepEqual(log.get('r1'), {
    id: 'r1', user: 'alice', image: 'alice/app:latest', imageId: 'a'.repeat(64), script: null, command: ['echo', 'hi there'],
    startedAt: 1000, state: 'exited', durationMs: 1235, exitStatus: 3, memoryHits: 10, diskHits: 5, serverFetches: 2, bytesFetched: 8192, eios: 1,
  });
  assert.equal(log.get('nope'), undefined);
});

test('finish of an unknown run and a duplicate start are errors, not silent', async (t) => {
  const dir = await makeTempDir(t, 'runlog-');
  const log = new RunLog(join(dir, 'runs.db'));
  t.after(() => log.close());
  assert.throws(() => log.finish('ghost', { durationMs: 1, exitStatus: 0, state: 'exited', ...figures }),
    (err: unknown) => err instanceof SwayError && err.code === 'SWAY_RUN_UNKNOWN');
  log.start(startOf('dup', 'alice', 1));
  assert.throws(() => log.start(startOf('dup', 'alice', 2)));
  assert.throws(() => log.finish('dup', { durationMs: 1, exitStatus: 0, state: 'running' as never, ...figures }),
    (err: unknown) => err instanceof SwayError && err.code === 'SWAY_BAD_REQUEST');
});

test('recent: newest first, limited, and filtered by user', async (t) => {
  const dir = await makeTempDir(t, 'runlog-');
  const log = new RunLog(join(dir, 'runs.db'));
  t.after(() => log.close());
  for (let i = 0; i < 6; i++) log.start(startOf(`a${i}`, 'alice', 100 + i * 10));
  for (let i = 0; i < 3; i++) log.start(startOf(`b${i}`, 'bob', 105 + i * 10));

  assert.deepEqual(log.recent(4).map((r) => r.id), ['a5', 'a4', 'a3', 'b2']);
  assert.deepEqual(log.recent(10, 'bob').map((r) => r.id), ['b2', 'b1', 'b0']);
  assert.deepEqual(log.recent(2, 'alice').map((r) => r.id), ['a5', 'a4']);
  assert.deepEqual(log.recent(10, 'carol'), []);
  // Out-of-range limits are clamped, not errors.
  assert.equal(log.recent(0).length, 1);
  assert.equal(log.recent(MAX_RECENT * 10).length, 9);
});

test('runs left running by a crash are marked interrupted at the next start; data survives reopening', async (t) => {
  const dir = await makeTempDir(t, 'runlog-');
  const path = join(dir, 'runs.db');
  const first = new RunLog(path);
  first.start(startOf('done', 'alice', 1));
  first.finish('done', { durationMs: 50, exitStatus: 0, state: 'exited', ...figures });
  first.start(startOf('live1', 'alice', 2));
  first.start(startOf('live2', 'bob', 3));
  first.close();
  first.close(); // idempotent

  const second = new RunLog(path);
  t.after(() => second.close());
  assert.equal(second.markInterrupted(), 2);
  assert.equal(second.get('live1')?.state, 'interrupted');
  assert.equal(second.get('live2')?.state, 'interrupted');
  assert.equal(second.get('done')?.state, 'exited');
  assert.equal(second.get('done')?.bytesFetched, 8192);
  assert.equal(second.markInterrupted(), 0);
});

test('the schema version is recorded, and a newer one is refused with a clear error', async (t) => {
  const dir = await makeTempDir(t, 'runlog-');
  const path = join(dir, 'runs.db');
  new RunLog(path).close();
  const raw = new Database(path);
  assert.equal(raw.pragma('user_version', { simple: true }), 1);
  assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
  raw.pragma('user_version = 99');
  raw.close();
  assert.throws(() => new RunLog(path), (err: unknown) => err instanceof SwayError && /newer than this sway knows/.test(err.message));
});
