// Issue 6, isolation under load: 10 users start 100 runs at once on one real installation
// (`sway up`: fileserver and worker daemons, FUSE, runc), each run printing a random secret
// of its own. 20 runs go through the real CLI (`sway run main.sh SECRET`), 80 through the
// worker's API with the secret in the script's arguments, in the command, in the
// environment, or written to a file of a kept run. Then:
//   - each run's output is exactly its own secret (and no other);
//   - every file under the installation's home (both data directories, the run log, the
//     worker's blob cache and kept run directories, both daemons' stdout/stderr logs) holds
//     a secret only where that run's own record belongs: the run-log row of its command
//     (read row by row from SQLite: that run's id, its owner) or its own kept directory;
//   - the dashboard API as each user shows no other user's secret, /metrics none at all;
//   - no bearer token is in any file but the token files `sway up` writes on purpose.
// Deliberately does not: walk the worker's FUSE mount (it holds image files, not run data).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { FileserverClient } from '../../ts/common/fileserver-client.js';
import { ServiceClient } from '../../ts/common/http-client.js';
import { WorkerClient, type RunBody } from '../../ts/worker/client.js';
import { runSway } from '../helpers/cli.js';
import { publishTree } from '../worker/publish.js';
import { CLUSTER_SKIP, startCluster } from './cluster.js';

const USERS = 10;
const RUNS_PER_USER = 10;
const CLI_RUNS_PER_USER = 2;

type Mode = 'cli-arg' | 'api-arg' | 'api-command' | 'api-env' | 'api-kept-file';
/** How the i-th run of a user carries its secret. */
function modeOf(i: number): Mode {
  if (i < CLI_RUNS_PER_USER) return 'cli-arg';
  if (i < 5) return 'api-arg';
  if (i < 8) return 'api-command';
  if (i < 9) return 'api-env';
  return 'api-kept-file';
}

interface Run { user: string; secret: string; mode: Mode; runId?: string; keptUpper?: string; stdout: string; stderr: string; exit: number | null }

/** Every regular file under `dir`, skipping `skip` (absolute paths). */
function walk(dir: string, skip: Set<string>, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (skip.has(path)) continue;
    const st = lstatSync(path);
    if (st.isDirectory()) walk(path, skip, out);
    else if (st.isFile()) out.push(path);
  }
  return out;
}

test('100 concurrent runs of 10 users: each secret only in its own output, run-log row and kept directory; no token in any log', { skip: CLUSTER_SKIP, timeout: 600_000 }, async (t) => {
  const started = Date.now();
  const cluster = await startCluster(t);
  const closers: (() => Promise<void>)[] = [];
  t.after(async () => { for (const c of closers) await c(); });
  const adminToken = cluster.addUser('ops', 'admin');

  // Each user publishes the busybox image under their own name and uploads the script.
  const script = Buffer.from('echo "out:${1:-$SECRET}"\nsleep 1\n');
  const users = await Promise.all(Array.from({ length: USERS }, async (_, u) => {
    const name = `user${u}`;
    const token = cluster.addUser(name);
    const files = new FileserverClient({ url: cluster.fileserverUrl, token, caFile: cluster.ca });
    closers.push(() => files.close());
    const image = await publishTree(files, cluster.rootfs, `${name}/bb:latest`, { workingDir: '/app', cmd: ['sh', 'main.sh'] });
    const scriptHash = await files.uploadScript(script);
    const worker = new WorkerClient({ url: cluster.workerUrl, token, caFile: cluster.ca });
    closers.push(() => worker.close());
    return { name, token, image, scriptHash, worker };
  }));
  const project = join(cluster.dir, 'project');
  await mkdir(project);
  await writeFile(join(project, 'main.sh'), script);

  const runs: Run[] = users.flatMap((u) => Array.from({ length: RUNS_PER_USER }, (_, i) => ({
    user: u.name, secret: `SECRET${randomBytes(12).toString('hex')}`, mode: modeOf(i), stdout: '', stderr: '', exit: null,
  })));

  const runStart = Date.now();
  await Promise.all(runs.map(async (run) => {
    const u = users.find((x) => x.name === run.user)!;
    if (run.mode === 'cli-arg') {
      const r = await runSway(['run', '--image', `${u.name}/bb:latest`, 'main.sh', run.secret], { cwd: project, env: { ...cluster.env, SWAY_TOKEN: u.token }, timeoutMs: 300_000 });
      Object.assign(run, { stdout: r.stdout, stderr: r.stderr, exit: r.code });
      return;
    }
    const script = { hash: u.scriptHash, name: 'main.sh' };
    const body: RunBody = {
      'api-arg': { image: u.image.name, script, args: [run.secret] },
      'api-command': { image: u.image.name, command: ['sh', '-c', 'echo "out:$0"; sleep 1', run.secret] },
      'api-env': { image: u.image.name, script, env: { SECRET: run.secret } },
      'api-kept-file': { image: u.image.name, command: ['sh', '-c', 'echo "out:$SECRET" | tee /tmp/kept; sleep 1'], env: { SECRET: run.secret }, keep: true },
    }[run.mode];
    const outcome = await u.worker.run(body, { onStdout: (b) => { run.stdout += b.toString(); }, onStderr: (b) => { run.stderr += b.toString(); } });
    Object.assign(run, { exit: outcome.exit, runId: outcome.runId, keptUpper: outcome.keptUpper });
  }));
  const runSeconds = (Date.now() - runStart) / 1000;

  // 1. Outputs: exactly one's own secret.
  for (const run of runs) {
    assert.equal(run.exit, 0, `${run.user} ${run.mode}: ${run.stderr}`);
    assert.equal(run.stdout, `out:${run.secret}\n`, `${run.user} ${run.mode}`);
    assert.equal(run.stderr, '', `${run.user} ${run.mode}`);
    if (run.mode === 'api-kept-file') assert.ok(run.keptUpper, 'a kept run reports its directory');
  }
  const secretsIn = (text: string | Buffer): Run[] => runs.filter((r) => text.includes(r.secret));

  // 2. The run log, row by row: a secret only in its own run's row, which is its owner's.
  const runLog = new Database(join(cluster.home, 'worker', 'runs.db'), { readonly: true, fileMustExist: true });
  const rows = runLog.prepare('SELECT * FROM runs').all() as { id: string; user: string }[];
  runLog.close();
  assert.equal(rows.length, runs.length, 'one run-log row per run');
  let rowsWithSecrets = 0;
  for (const row of rows) {
    const found = secretsIn(JSON.stringify(row));
    for (const r of found) {
      assert.equal(r.mode, 'api-command', `secret of a ${r.mode} run in a run-log row`);
      assert.deepEqual([row.id, row.user], [r.runId, r.user], 'a secret in another run\'s row');
    }
    if (found.length) rowsWithSecrets++;
  }
  assert.equal(rowsWithSecrets, runs.filter((r) => r.mode === 'api-command').length, 'each command run\'s row holds its command');

  // 3. Every file of the installation: secrets only in the run log and kept directories.
  const mountpoint = join(cluster.home, 'worker', 'mnt');
  const files = walk(cluster.home, new Set([mountpoint]));
  const workerDir = join(cluster.home, 'worker');
  const tokens = [...cluster.tokens(), adminToken];
  // `sway up` keeps the first user's and the worker's tokens here on purpose (mode 0600).
  const tokenFiles = new Set([join(cluster.home, 'tokens', 'worker'), join(cluster.home, 'tokens', 'user')]);
  let bytesScanned = 0;
  const foundIn = new Map<string, string[]>();
  for (const file of files) {
    const content = readFileSync(file);
    bytesScanned += content.length;
    const rel = relative(cluster.home, file);
    for (const r of secretsIn(content)) {
      foundIn.set(r.secret, [...(foundIn.get(r.secret) ?? []), file]);
      const inRunLog = file.startsWith(join(workerDir, 'runs.db'));
      const inOwnKeptDir = r.keptUpper !== undefined && file.startsWith(r.keptUpper + '/');
      assert.ok((inRunLog && r.mode === 'api-command') || (inOwnKeptDir && r.mode === 'api-kept-file'), `secret of ${r.user}'s ${r.mode} run found in ${rel}`);
    }
    for (const token of tokens) {
      if (content.includes(token)) assert.ok(tokenFiles.has(file), `a bearer token found in ${rel}`);
    }
  }
  // The scan can see: the secrets that belong on disk were found there, in their own place.
  for (const r of runs.filter((x) => x.mode === 'api-kept-file')) {
    assert.deepEqual(foundIn.get(r.secret), [join(r.keptUpper!, 'tmp', 'kept')], 'the scan found the kept run\'s file, and only it');
  }
  for (const r of runs.filter((x) => x.mode === 'api-command')) {
    assert.ok((foundIn.get(r.secret) ?? []).length > 0, 'the scan found the command in the run log');
  }
  const logs = files.filter((f) => f.startsWith(join(cluster.home, 'logs')));
  assert.equal(logs.length, 2, 'both daemons\' stdout/stderr logs were scanned');

  // 4. The dashboard API as each user, and /metrics as an admin.
  const get = async (token: string, path: string): Promise<string> => {
    const c = new ServiceClient({ url: cluster.workerUrl, token, caFile: cluster.ca, what: 'worker' });
    try { return await (await c.request(path)).body.text(); } finally { await c.close(); }
  };
  for (const u of users) {
    const body = await get(u.token, '/v1/runs?limit=1000');
    const listed = JSON.parse(body) as { runs: { user: string }[] };
    assert.equal(listed.runs.length, RUNS_PER_USER, `${u.name} lists their own runs`);
    assert.ok(listed.runs.every((r) => r.user === u.name), `${u.name} lists only their own runs`);
    for (const r of secretsIn(body)) assert.equal(r.user, u.name, `${u.name}'s dashboard shows ${r.user}'s secret`);
    for (const token of tokens) assert.ok(!body.includes(token), 'a token in the dashboard API');
  }
  const metrics = await get(adminToken, '/metrics');
  assert.match(metrics, /sway_worker_runs_total\{state="exited"\} 100/);
  assert.deepEqual(secretsIn(metrics), [], 'no secret in /metrics');
  for (const token of tokens) assert.ok(!metrics.includes(token), 'a token in /metrics');

  t.diagnostic(`${runs.length} runs (${runs.filter((r) => r.mode === 'cli-arg').length} through the CLI) of ${USERS} users in ${runSeconds.toFixed(1)} s; ${runs.length} secrets checked against ${files.length} files (${(bytesScanned / 1e6).toFixed(1)} MB) and ${rows.length} run-log rows; test total ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
