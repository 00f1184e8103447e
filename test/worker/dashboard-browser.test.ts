// The dashboard in a real browser: Debian's Chromium driven by playwright-core against the
// HTTPS fixture server. TLS stays verified: Chromium trusts exactly the server's key
// (--ignore-certificate-errors-spki-list), nothing else. Checks: a run just written to the
// run log shows in the table, the charts draw SVG, a run added later appears without a
// reload, other users' runs never show, the token leaves the address bar and never
// reaches the server in a URL, the empty state and a refused token read clearly, and the
// page raises no script or CSP error. Writes test-output/dashboard/dashboard.png.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { removeTempDir, testOutputDir } from '../helpers/tmp.js';
import { startDashboardServer, spkiHash } from './dashboard-server.js';

const CHROMIUM = '/usr/bin/chromium';
const WAIT_MS = 60_000;

async function launch(t: Parameters<typeof startDashboardServer>[0], certPath: string): Promise<BrowserContext> {
  // A fresh profile, removed only after the browser has exited (it writes until then).
  const profile = await mkdtemp(join(tmpdir(), 'dashboard-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 900 },
      timeout: WAIT_MS,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--no-proxy-server',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        `--ignore-certificate-errors-spki-list=${spkiHash(certPath)}`],
    });
  } catch (err) {
    await removeTempDir(profile);
    throw err;
  }
  t.after(async () => {
    await context.close();
    await removeTempDir(profile);
  });
  context.setDefaultTimeout(WAIT_MS);
  return context;
}

/** Console errors, page exceptions and CSP violations of a page, to assert none happened. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`console: ${msg.text()}`); });
  return errors;
}

test('the dashboard shows the user\'s runs, draws its charts and refreshes by itself', { skip: !existsSync(CHROMIUM) && `${CHROMIUM} missing (apt-get install chromium)`, timeout: 240_000 }, async (t) => {
  const s = await startDashboardServer(t);
  const now = Date.now();
  // Runs "just made" by this test, as the worker records them.
  s.addRun({ id: 'c0ffee01-aaaa-4bbb-8ccc-000000000001', user: 'alice', startedAt: now - 50_000 },
    { durationMs: 4200, exitStatus: 0, memoryHits: 3, diskHits: 1, serverFetches: 120, bytesFetched: 48_000_000 });
  s.addRun({ id: 'c0ffee02-aaaa-4bbb-8ccc-000000000002', user: 'alice', startedAt: now - 40_000, command: [], script: 'd'.repeat(64) },
    { durationMs: 900, exitStatus: 0, memoryHits: 90, diskHits: 30, serverFetches: 4, bytesFetched: 300_000 });
  s.addRun({ id: 'c0ffee03-aaaa-4bbb-8ccc-000000000003', user: 'alice', startedAt: now - 30_000, command: ['python3', 'app.py', '--fail'] },
    { durationMs: 1500, exitStatus: 3, memoryHits: 110, diskHits: 10, serverFetches: 0, bytesFetched: 0 });
  s.addRun({ id: 'b0b00001-aaaa-4bbb-8ccc-000000000001', user: 'bob', startedAt: now - 20_000 }, { durationMs: 700 });

  const context = await launch(t, s.tls.certPath);
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${s.url}/#token=${s.tokens.alice}`);

  await page.locator('tr[data-run-id="c0ffee03-aaaa-4bbb-8ccc-000000000003"]').waitFor();
  assert.equal(await page.locator('#runs tbody tr').count(), 3);
  assert.equal(await page.locator('tr[data-run-id^="b0b0"]').count(), 0, 'bob\'s run is not shown to alice');
  assert.match(await page.locator('tr[data-run-id="c0ffee03-aaaa-4bbb-8ccc-000000000003"]').innerText(), /exit 3/);
  assert.match(await page.locator('tr[data-run-id="c0ffee02-aaaa-4bbb-8ccc-000000000002"] td.cmd').innerText(), /^script d{12}$/);
  assert.match(await page.locator('#viewer').innerText(), /alice/);
  // Charts: one duration bar per finished run, one stacked column per run that read files.
  assert.equal(await page.locator('#chart-durations rect.bar').count(), 3);
  assert.equal(await page.locator('#chart-sources g.stack').count(), 3);
  assert.ok(await page.locator('#chart-sources rect.server').count() >= 2);
  assert.match(await page.locator('#summary').innerText(), /Cache hit ratio/);

  // The token left the address bar; the server never saw it in a URL.
  assert.equal(new URL(page.url()).hash, '');
  for (const tok of Object.values(s.tokens)) {
    assert.ok(!s.seen.some((line) => line.includes(tok)), 'token in a request URL');
    assert.ok(!s.logLines.some((line) => line.includes(tok)), 'token in the request log');
  }

  const shot = join(testOutputDir('dashboard'), 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  // Also at the top of test-output/ where the brief asks for it.
  copyFileSync(shot, join(testOutputDir(''), 'dashboard.png'));

  // A run that starts now appears by itself (the page polls), running, then finished.
  s.addRun({ id: 'c0ffee04-aaaa-4bbb-8ccc-000000000004', user: 'alice', startedAt: Date.now() });
  const fresh = page.locator('tr[data-run-id="c0ffee04-aaaa-4bbb-8ccc-000000000004"]');
  await fresh.waitFor();
  assert.match(await fresh.innerText(), /running/);
  s.runLog.finish('c0ffee04-aaaa-4bbb-8ccc-000000000004', { durationMs: 2500, exitStatus: 0, state: 'exited', memoryHits: 5, diskHits: 5, serverFetches: 0, bytesFetched: 0 });
  await page.locator('#chart-durations rect.bar[data-run-id="c0ffee04-aaaa-4bbb-8ccc-000000000004"]').waitFor();

  // Reloading keeps the session (sessionStorage), without the token in the URL.
  await page.reload();
  await fresh.waitFor();
  assert.deepEqual(errors, []);
});

test('the dashboard: empty state for a user without runs, and a refused token asks again', { skip: !existsSync(CHROMIUM) && `${CHROMIUM} missing (apt-get install chromium)`, timeout: 240_000 }, async (t) => {
  const s = await startDashboardServer(t);
  s.addRun({ id: 'b0b00001-aaaa-4bbb-8ccc-000000000001', user: 'bob', startedAt: Date.now() }, { durationMs: 700 });
  const context = await launch(t, s.tls.certPath);

  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${s.url}/#token=${s.tokens.alice}`);
  await page.locator('#empty').waitFor({ state: 'visible' });
  assert.match(await page.locator('#empty').innerText(), /No runs yet/);
  assert.equal(await page.locator('#runs').isVisible(), false);
  assert.match(await page.locator('#chart-durations').textContent() ?? '', /No finished runs yet/);
  await page.screenshot({ path: join(testOutputDir('dashboard'), 'dashboard-empty.png'), fullPage: true });
  assert.deepEqual(errors, []);

  // No token at all: the form; a wrong one: refused with a message; then a right one works.
  const other = await context.newPage();
  await other.goto(`${s.url}/`);
  await other.locator('#login').waitFor({ state: 'visible' });
  await other.locator('#token-input').fill('not-a-token');
  await other.locator('#login button[type=submit]').click();
  await other.locator('#login-error').filter({ hasText: /refused/ }).waitFor();
  await other.locator('#token-input').fill(s.tokens.bob);
  await other.locator('#login button[type=submit]').click();
  await other.locator('tr[data-run-id="b0b00001-aaaa-4bbb-8ccc-000000000001"]').waitFor();
});
