// The worker's metrics as Prometheus would read them: parse the text exposition and
// check the series a recorded run and a live counter source produce.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerMetrics } from '../../ts/worker/metrics.js';

/** `name{labels} value` lines → map of "name{labels}" → number (comments skipped). */
function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(m, `not an exposition line: ${line}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

test('recorded runs show up as counters and a duration histogram', async () => {
  const metrics = new WorkerMetrics({ processMetrics: false });
  const before = parseExposition(await metrics.metricsText());
  // Series exist before the first run, at zero.
  assert.equal(before.get('sway_worker_run_cache_hits_total{level="server"}'), 0);
  assert.equal(before.get('sway_worker_run_bytes_fetched_total'), 0);

  metrics.recordRun({ state: 'exited', durationMs: 1500, memoryHits: 7, diskHits: 3, serverFetches: 2, bytesFetched: 4096, eios: 1 });
  metrics.recordRun({ state: 'exited', durationMs: 200, memoryHits: 1, diskHits: 0, serverFetches: 0, bytesFetched: 0 });
  metrics.recordRun({ state: 'timeout', durationMs: 90_000, memoryHits: 0, diskHits: 0, serverFetches: 5, bytesFetched: 100 });
  const m = parseExposition(await metrics.metricsText());

  assert.equal(m.get('sway_worker_runs_total{state="exited"}'), 2);
  assert.equal(m.get('sway_worker_runs_total{state="timeout"}'), 1);
  assert.equal(m.get('sway_worker_run_cache_hits_total{level="memory"}'), 8);
  assert.equal(m.get('sway_worker_run_cache_hits_total{level="disk"}'), 3);
  assert.equal(m.get('sway_worker_run_cache_hits_total{level="server"}'), 7);
  assert.equal(m.get('sway_worker_run_bytes_fetched_total'), 4196);
  assert.equal(m.get('sway_worker_run_eios_total'), 1);
  assert.equal(m.get('sway_worker_run_duration_seconds_count{state="exited"}'), 2);
  assert.equal(m.get('sway_worker_run_duration_seconds_sum{state="exited"}'), 1.7);
  assert.equal(m.get('sway_worker_run_duration_seconds_bucket{le="1",state="exited"}'), 1);
  assert.equal(m.get('sway_worker_run_duration_seconds_bucket{le="2.5",state="exited"}'), 2);
  assert.equal(m.get('sway_worker_run_duration_seconds_bucket{le="60",state="timeout"}'), 0);
  assert.equal(m.get('sway_worker_run_duration_seconds_bucket{le="+Inf",state="timeout"}'), 1);
});

test('live filesystem counters are read at each scrape, summed over sources, never double counted', async () => {
  const metrics = new WorkerMetrics({ processMetrics: false });
  const live = { memoryHits: 5, diskHits: 2, serverFetches: 1, bytesFetched: 100, eios: 0 };
  metrics.onCollect(() => ({ ...live }));
  metrics.onCollect(async () => ({ memoryHits: 1, diskHits: 1, serverFetches: 1, bytesFetched: 1, eios: 2 }));

  let m = parseExposition(await metrics.metricsText());
  assert.equal(m.get('sway_worker_fuse_hits_total{level="memory"}'), 6);
  assert.equal(m.get('sway_worker_fuse_hits_total{level="disk"}'), 3);
  assert.equal(m.get('sway_worker_fuse_hits_total{level="server"}'), 2);
  assert.equal(m.get('sway_worker_fuse_bytes_fetched_total'), 101);
  assert.equal(m.get('sway_worker_fuse_eios_total'), 2);

  live.memoryHits = 50; live.bytesFetched = 1000;
  m = parseExposition(await metrics.metricsText());
  assert.equal(m.get('sway_worker_fuse_hits_total{level="memory"}'), 51);
  assert.equal(m.get('sway_worker_fuse_bytes_fetched_total'), 1001);
  // A third scrape with no change reads the same totals (reset + set, not accumulate).
  m = parseExposition(await metrics.metricsText());
  assert.equal(m.get('sway_worker_fuse_hits_total{level="memory"}'), 51);
});

test('two instances do not share a registry; process metrics are on by default', async () => {
  const a = new WorkerMetrics();
  const b = new WorkerMetrics({ processMetrics: false });
  a.recordRun({ state: 'failed', durationMs: null, memoryHits: 0, diskHits: 0, serverFetches: 0, bytesFetched: 0 });
  const ma = parseExposition(await a.metricsText());
  const mb = parseExposition(await b.metricsText());
  assert.equal(ma.get('sway_worker_runs_total{state="failed"}'), 1);
  assert.equal(mb.get('sway_worker_runs_total{state="failed"}'), undefined);
  assert.ok([...ma.keys()].some((k) => k.startsWith('sway_worker_process_cpu')), 'process metrics present');
  assert.ok(![...mb.keys()].some((k) => k.startsWith('sway_worker_process_cpu')));
  assert.match(a.contentType, /^text\/plain/);
});
