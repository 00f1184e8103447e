// The dashboard's JSON API, /metrics and static files over real HTTPS with verified TLS,
// and `sway runs` (the real CLI) against the same server: who sees which runs, what is
// refused and how, and that no token ends up in a log line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceClient } from '../../ts/common/http-client.js';
import { runSway } from '../helpers/cli.js';
import { startDashboardServer, type DashboardServer } from './dashboard-server.js';
import type { RunRecord } from '../../ts/worker/run-log.js';

function clientFor(s: DashboardServer, token?: string): ServiceClient {
  return new ServiceClient({ url: s.url, token, caFile: s.tls.caCertPath, what: 'worker' });
}

async function get(s: DashboardServer, path: string, token?: string): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const client = clientFor(s, token);
  try {
    const res = await client.request(path, { okStatuses: [400, 401, 403, 404, 405] });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  } finally {
    await client.close();
  }
}

async function seed(s: DashboardServer): Promise<void> {
  const t0 = Date.now() - 60_000;
  s.addRun({ id: 'alice-1', user: 'alice', startedAt: t0, command: [], script: 'c'.repeat(64) }, { durationMs: 1200, exitStatus: 0, memoryHits: 4, diskHits: 2, serverFetches: 1, bytesFetched: 2048 });
  s.addRun({ id: 'bob-1', user: 'bob', startedAt: t0 + 1000 }, { durationMs: 800, exitStatus: 3 });
  s.addRun({ id: 'alice-2', user: 'alice', startedAt: t0 + 2000, command: ['sh', '-c', 'echo hi'], script: null });
}

test('a user lists only their own runs; an admin lists everyone\'s; limit is checked', async (t) => {
  const s = await startDashboardServer(t);
  await seed(s);

  const alice = JSON.parse((await get(s, '/v1/runs', s.tokens.alice)).text) as { viewer: unknown; runs: RunRecord[] };
  assert.deepEqual(alice.viewer, { user: 'alice', role: 'user' });
  assert.deepEqual(alice.runs.map((r) => r.id), ['alice-2', 'alice-1']);
  assert.equal(alice.runs[1]!.bytesFetched, 2048);
  assert.equal(alice.runs[0]!.state, 'running');

  const admin = JSON.parse((await get(s, '/v1/runs?limit=2', s.tokens.admin)).text) as { runs: RunRecord[] };
  assert.deepEqual(admin.runs.map((r) => r.id), ['alice-2', 'bob-1']);

  for (const bad of ['0', 'abc', '1001', '-1', '1.5']) {
    const r = await get(s, `/v1/runs?limit=${bad}`, s.tokens.alice);
    assert.equal(r.status, 400, `limit=${bad}`);
    assert.equal(JSON.parse(r.text).error.code, 'SWAY_BAD_REQUEST');
  }
});

test('another user\'s run is a 404, exactly like an unknown one; the owner and an admin see it', async (t) => {
  const s = await startDashboardServer(t);
  await seed(s);

  const foreign = await get(s, '/v1/runs/bob-1', s.tokens.alice);
  const unknown = await get(s, '/v1/runs/nope', s.tokens.alice);
  assert.equal(foreign.status, 404);
  assert.equal(unknown.status, 404);
  // Same answer apart from the id the caller gave: nothing tells "exists" from "absent".
  assert.equal(foreign.text.replace('bob-1', 'ID'), unknown.text.replace('nope', 'ID'));

  const own = await get(s, '/v1/runs/bob-1', s.tokens.bob);
  assert.equal(own.status, 200);
  assert.equal((JSON.parse(own.text) as RunRecord).exitStatus, 3);
  assert.equal((await get(s, '/v1/runs/bob-1', s.tokens.admin)).status, 200);
  assert.equal((await get(s, '/v1/runs/alice-1', s.tokens.alice)).status, 200);
});

test('no token or a bad token is a 401 on every data endpoint', async (t) => {
  const s = await startDashboardServer(t);
  await seed(s);
  for (const path of ['/v1/runs', '/v1/runs/alice-1', '/metrics']) {
    for (const token of [undefined, 'not-a-token']) {
      const r = await get(s, path, token);
      assert.equal(r.status, 401, `${path} with ${token ?? 'no token'}`);
      assert.equal(JSON.parse(r.text).error.code, 'SWAY_AUTH');
    }
  }
});

test('/metrics: worker and admin tokens read Prometheus text, a user token is refused', async (t) => {
  const s = await startDashboardServer(t);
  s.metrics.recordRun({ state: 'exited', durationMs: 500, memoryHits: 1, diskHits: 2, serverFetches: 3, bytesFetched: 4 });

  const user = await get(s, '/metrics', s.tokens.alice);
  assert.equal(user.status, 403);
  assert.equal(JSON.parse(user.text).error.code, 'SWAY_FORBIDDEN');
  for (const token of [s.tokens.worker, s.tokens.admin]) {
    const r = await get(s, '/metrics', token);
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    assert.match(r.text, /^sway_worker_runs_total\{state="exited"\} 1$/m);
    assert.match(r.text, /^sway_worker_run_cache_hits_total\{level="server"\} 3$/m);
  }
});

test('the page and its files are public, locked down by CSP, and hold no token; other routes fall through', async (t) => {
  const s = await startDashboardServer(t);
  const page = await get(s, '/');
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-type']), /^text\/html/);
  const csp = String(page.headers['content-security-policy']);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(page.text, /<script>(?!<\/script>)/, 'no inline script');
  for (const tok of Object.values(s.tokens)) assert.ok(!page.text.includes(tok));

  const js = await get(s, '/dashboard/app.js');
  assert.equal(js.status, 200);
  assert.match(String(js.headers['content-type']), /javascript/);
  assert.equal((await get(s, '/dashboard/app.css')).status, 200);

  // POST /v1/runs belongs to the worker's run handler: this middleware must not answer it.
  const client = clientFor(s, s.tokens.alice);
  try {
    const res = await client.request('/v1/runs', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, okStatuses: [404, 405] });
    assert.equal(res.statusCode, 404, 'fell through to the app (no route), not 405');
    await res.body.dump();
  } finally {
    await client.close();
  }
});

test('sway runs prints the caller\'s runs as a table or JSON, and one line on errors', async (t) => {
  const s = await startDashboardServer(t);
  await seed(s);
  const env = { SWAY_WORKER: s.url, SWAY_TOKEN: s.tokens.alice, SWAY_CA: s.tls.caCertPath };

  const table = await runSway(['runs'], { env });
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^RUN\s+IMAGE\s+COMMAND\s+STATUS\s+STARTED\s+DURATION\s+MEM\/DISK\/SERVER\s+FETCHED$/);
  assert.equal(lines.length, 3);
  assert.match(lines[1]!, /^alice-2\s+alice\/app:latest\s+sh -c echo hi\s+running\s/);
  assert.match(lines[2]!, /^alice-1\s+alice\/app:latest\s+script c{12}\s+exit 0\s+\S+\s+1\.20s\s+4\/2\/1\s+2\.0KiB$/);
  assert.doesNotMatch(table.stdout, /bob/);

  const json = await runSway(['runs', '--json', '--limit', '1'], { env });
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as { runs: RunRecord[] };
  assert.deepEqual(parsed.runs.map((r) => r.id), ['alice-2']);

  const admin = await runSway(['runs'], { env: { ...env, SWAY_TOKEN: s.tokens.admin } });
  assert.equal(admin.code, 0, admin.stderr);
  assert.match(admin.stdout, /^RUN\s+USER\s+IMAGE/);
  assert.match(admin.stdout, /^bob-1\s+bob\s+bob\/app:latest.*exit 3/m);

  const badLimit = await runSway(['runs', '--limit', '0'], { env });
  assert.equal(badLimit.code, 125);
  assert.equal(badLimit.stderr.trim().split('\n').length, 1, badLimit.stderr);
  assert.match(badLimit.stderr, /invalid --limit/);

  const badToken = await runSway(['runs'], { env: { ...env, SWAY_TOKEN: 'wrong' } });
  assert.equal(badToken.code, 125);
  assert.equal(badToken.stderr.trim().split('\n').length, 1, badToken.stderr);
  assert.match(badToken.stderr, /^sway: worker: invalid token$/m);

  const empty = await runSway(['runs'], { env: { ...env, SWAY_TOKEN: s.tokens.worker } });
  assert.equal(empty.code, 0, empty.stderr);
  assert.equal(empty.stdout, 'no runs yet for scraper\n');

  for (const tok of Object.values(s.tokens)) assert.ok(!s.logLines.join('\n').includes(tok), 'token in request log');
});
