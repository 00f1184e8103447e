// The dashboard's static files, served by routes.ts: the HTML shell, its styles and its
// script (page-script.ts). They hold no data and no token: the script asks the JSON API
// with the token the user brings (URL fragment or a form, kept in sessionStorage).
// Everything is same-origin and the CSP forbids inline script and any other origin
// (the machines this runs on may have no network, and a token must never leave).
// Deliberately does not: template data into HTML (the script builds the DOM with textContent).
import { PAGE_SCRIPT } from './page-script.js';

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sway worker</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/app.css">
<script src="/dashboard/app.js" defer></script>
</head>
<body>
<header>
  <h1>sway worker</h1>
  <span id="viewer"></span>
  <span id="status" role="status"></span>
  <button id="sign-out" type="button" hidden>Forget token</button>
</header>
<form id="login" hidden>
  <p>Paste your sway token to see your runs. It stays in this tab (sessionStorage) and is sent only to this worker.</p>
  <label>Token <input id="token-input" type="password" autocomplete="off" required></label>
  <button type="submit">Show runs</button>
  <p id="login-error" class="error"></p>
</form>
<main id="content" hidden>
  <section id="summary" class="cards" aria-label="Summary"></section>
  <section class="charts">
    <figure>
      <figcaption>Run durations, oldest to newest</figcaption>
      <svg id="chart-durations" viewBox="0 0 640 220" role="img" aria-label="Run durations"></svg>
      <div class="legend"><span class="key ok"></span>exit 0 <span class="key bad"></span>non-zero / failed <span class="key other"></span>timeout / cancelled / interrupted</div>
    </figure>
    <figure>
      <figcaption>Where each run's reads were served from</figcaption>
      <svg id="chart-sources" viewBox="0 0 640 220" role="img" aria-label="Reads by source"></svg>
      <div class="legend" id="sources-legend"></div>
    </figure>
  </section>
  <section>
    <h2>Recent runs</h2>
    <p id="empty" class="empty" hidden>No runs yet. Start one with <code>sway run app.py</code>; it appears here within a few seconds.</p>
    <table id="runs">
      <thead><tr>
        <th>Run</th><th>User</th><th>Image</th><th>Script / command</th><th>Status</th><th>Started</th>
        <th class="num">Duration</th><th class="num">Memory</th><th class="num">Disk</th><th class="num">Server</th>
        <th class="num">Fetched</th><th class="num">Hit ratio</th>
      </tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
</body>
</html>
`;

const PAGE_STYLES = `
:root { --ok: #2f855a; --bad: #c53030; --other: #b7791f; --memory: #3182ce; --disk: #805ad5; --server: #dd6b20;
        --fg: #1a202c; --muted: #718096; --line: #e2e8f0; --bg: #f7fafc; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1em; align-items: baseline; padding: 0.8em 1.5em; background: #1a202c; color: #fff; }
header h1 { font-size: 1.2em; margin: 0; }
#viewer { color: #cbd5e0; }
#status { margin-left: auto; color: #a0aec0; font-size: 0.9em; }
#status.error { color: #feb2b2; }
main, form { padding: 1em 1.5em; }
form input { width: 28em; max-width: 100%; padding: 0.3em; }
.error { color: var(--bad); }
.cards { display: flex; flex-wrap: wrap; gap: 1em; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 0.6em 1em; min-width: 10em; }
.card .label { color: var(--muted); font-size: 0.85em; }
.card .value { font-size: 1.5em; font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; margin-top: 1em; }
figure { flex: 1 1 420px; margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 0.6em; }
figcaption { font-weight: 600; margin-bottom: 0.3em; }
figure svg { width: 100%; height: auto; display: block; }
svg text { font: 11px system-ui, sans-serif; fill: var(--muted); }
svg .axis { stroke: var(--line); }
svg .ok { fill: var(--ok); } svg .bad { fill: var(--bad); } svg .other { fill: var(--other); }
svg .memory { fill: var(--memory); } svg .disk { fill: var(--disk); } svg .server { fill: var(--server); }
.legend { color: var(--muted); font-size: 0.85em; margin-top: 0.3em; }
.key { display: inline-block; width: 0.8em; height: 0.8em; margin: 0 0.3em 0 0.8em; vertical-align: -0.05em; border-radius: 2px; }
.key.ok { background: var(--ok); } .key.bad { background: var(--bad); } .key.other { background: var(--other); }
.key.memory { background: var(--memory); } .key.disk { background: var(--disk); } .key.server { background: var(--server); }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { padding: 0.35em 0.6em; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { background: #edf2f7; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.id, td.code { font-family: ui-monospace, monospace; font-size: 0.9em; }
td.cmd { max-width: 22em; overflow: hidden; text-overflow: ellipsis; }
.state-ok { color: var(--ok); } .state-bad { color: var(--bad); } .state-other { color: var(--other); } .state-running { color: var(--memory); }
.empty { padding: 1.5em; background: #fff; border: 1px dashed var(--line); border-radius: 6px; color: var(--muted); }
`;

export interface Asset { type: string; body: string }

/** Path → file. */
export const DASHBOARD_ASSETS: Record<string, Asset | undefined> = {
  '/': { type: 'text/html; charset=utf-8', body: PAGE_HTML },
  '/dashboard/app.css': { type: 'text/css; charset=utf-8', body: PAGE_STYLES },
  '/dashboard/app.js': { type: 'text/javascript; charset=utf-8', body: PAGE_SCRIPT },
};
