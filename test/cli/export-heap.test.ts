// `sway export` runs in a child node whose old space is capped (bin/sway.js), so its peak
// RSS stays within budget: the child sees the cap (SWAY_EXPORT_HEAP_MB, default 192) and
// collects without incremental marking, the parent does neither, and the child's error
// line and exit status are the command's; a child that runs out of heap ends in one line
// that says what to raise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand, SWAY_BIN } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/tmp.js';

test('sway export runs with a capped V8 heap and passes its error and status through', async (t) => {
  const dir = await makeTempDir(t, 'sway-export-heap-');
  // Loaded into every node process started with it (the child inherits execArgv): logs its
  // heap limit and whether it collects without incremental marking.
  const hook = join(dir, 'heap-hook.mjs');
  writeFileSync(hook, "import v8 from 'node:v8'; import { appendFileSync } from 'node:fs';\nappendFileSync(process.env.SWAY_TEST_HEAP_LOG, v8.getHeapStatistics().heap_size_limit + ' ' + process.execArgv.includes('--no-incremental-marking') + '\\n');\n");
  for (const [asked, capMb] of [[undefined, 192], ['150', 150]] as const) {
    const log = join(dir, `heap-${capMb}.log`);
    writeFileSync(log, '');
    const r = await runCommand(process.execPath, ['--import', hook, SWAY_BIN, 'export', join(dir, 'no-such-dir')], { cwd: dir, env: { SWAY_TEST_HEAP_LOG: log, SWAY_EXPORT_HEAP_MB: asked } });
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, /^sway: no fileserver configured: [^\n]*\n$/, 'one line, from the child');
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' '));
    const limits = lines.map((l) => Number(l[0]));
    assert.equal(limits.length, 2, 'two node processes: the launcher and the export');
    assert.deepEqual(lines.map((l) => l[1]), ['false', 'true'], 'only the export runs without incremental marking');
    const mb = (n: number) => n / 1024 / 1024;
    assert.ok(mb(limits[0]!) > 1024, `the launcher keeps node's default heap (${mb(limits[0]!).toFixed(0)} MB)`);
    // heap_size_limit is the old space plus the young generation (a few tens of MB).
    assert.ok(mb(limits[1]!) >= capMb && mb(limits[1]!) <= capMb + 64, `the export's heap is capped near ${capMb} MB (${mb(limits[1]!).toFixed(0)} MB)`);
  }
});

test('an export whose capped heap runs out stops with one line saying what to raise, status 125', async (t) => {
  const dir = await makeTempDir(t, 'sway-export-oom-');
  // 8 MB of old space is less than the CLI needs to load: V8 aborts the child.
  const r = await runCommand(process.execPath, [SWAY_BIN, 'export', join(dir, 'no-such-dir')], { cwd: dir, env: { SWAY_EXPORT_HEAP_MB: '8' } });
  assert.equal(r.code, 125, r.stderr);
  assert.match(r.stderr.trimEnd().split('\n').pop()!, /^sway: the export stopped \(out of memory with a 8 MB heap\?\): set SWAY_EXPORT_HEAP_MB higher/);
});
