// The data-directory lock under contention: many starters at once, in separate
// processes, with a stale lock left by a dead process, and exactly one wins every round
// (a read-pid, unlink, re-create protocol lets a late starter unlink a fresh lock).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from '../helpers/tmp.js';

const CONTENDER = fileURLToPath(new URL('./lock-contender.js', import.meta.url));
const ROUNDS = 20;
const STARTERS = 8;

function deadPid(): number {
  const r = spawnSync('true');
  return r.pid!;
}

function lineOf(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (c: Buffer) => {
      buf += c.toString();
      const line = buf.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) { child.stdout!.off('data', onData); resolve(line); }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`contender exited (${code}) before printing ${pattern}: ${buf}`)));
  });
}

test(`${STARTERS} starters at once on one data directory with a stale lock: exactly one wins, ${ROUNDS} rounds`, { timeout: 300_000 }, async (t) => {
  for (let round = 0; round < ROUNDS; round++) {
    const dataDir = await makeTempDir(t, 'sway-fs-lockrace-');
    // What a kill -9'd fileserver leaves: the lock file with its (now dead) pid.
    writeFileSync(join(dataDir, 'fileserver.lock'), `${deadPid()}\n`);
    const children = Array.from({ length: STARTERS }, () => spawn(process.execPath, [CONTENDER, dataDir], { stdio: ['pipe', 'pipe', 'inherit'] }));
    try {
      await Promise.all(children.map((c) => lineOf(c, /^ready$/)));
      const results = children.map((c) => lineOf(c, /^(won|lost)/));
      for (const c of children) c.stdin!.write('go\n');
      const lines = await Promise.all(results);
      const winners = lines.filter((l) => l === 'won').length;
      assert.equal(winners, 1, `round ${round}: ${winners} starters locked the directory:\n${lines.join('\n')}`);
      for (const l of lines.filter((x) => x !== 'won')) assert.match(l, /in use by another fileserver/);
    } finally {
      await Promise.all(children.map((c) => new Promise((r) => { if (c.exitCode !== null) r(null); else { c.once('exit', r); c.stdin!.end(); } })));
    }
  }
});
