// The dashboard's browser script, as a string served at /dashboard/app.js (assets.ts).
// Plain ES2020 for the browser, not compiled by tsc (Node's types, not the DOM's, are in
// scope here), so keep it small and check changes in test/worker/dashboard.test.ts, which
// runs it in Chromium. It must contain no backtick and no dollar-brace (it lives in a
// template literal).
//
// What it does: takes the token from the URL fragment (#token=…, never sent to a server)
// or a form, keeps it in sessionStorage, removes it from the address bar, then every few
// seconds fetches GET /v1/runs with an Authorization header and redraws the summary,
// two SVG charts and the table. All text goes in with textContent: run data (script
// names, commands) can never become markup.
// Deliberately does not: load anything from another origin, or use a charting library.
export const PAGE_SCRIPT = String.raw`(function () {
  'use strict';
  var REFRESH_MS = 5000;
  var RUNS_LIMIT = 100;
  var CHART_RUNS = 40;
  var TOKEN_KEY = 'sway.token';
  var SVG_NS = 'http://www.w3.org/2000/svg';
  var timer = null;
  var currentToken = null;

  function $(id) { return document.getElementById(id); }

  // --- token -------------------------------------------------------------------------
  function loadToken() {
    var m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (m) {
      try { currentToken = decodeURIComponent(m[1]); } catch (e) { currentToken = m[1]; }
      // Out of the address bar, history and any screenshot.
      history.replaceState(null, '', location.pathname + location.search);
      try { sessionStorage.setItem(TOKEN_KEY, currentToken); } catch (e) { /* private mode: memory only */ }
      return;
    }
    try { currentToken = sessionStorage.getItem(TOKEN_KEY); } catch (e) { currentToken = null; }
  }
  function forgetToken() {
    currentToken = null;
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing stored */ }
  }
  function showLogin(message) {
    clearTimeout(timer);
    $('content').hidden = true;
    $('sign-out').hidden = true;
    $('viewer').textContent = '';
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    setStatus('', false);
  }

  // --- formatting --------------------------------------------------------------------
  function fmtDuration(ms) {
    if (ms === null || ms === undefined) return '';
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
    var s = Math.round(ms / 1000);
    return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  }
  function fmtBytes(n) {
    if (!n) return '0 B';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(n) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
  }
  function fmtRatio(x) { return x === null ? '\u2013' : (x * 100).toFixed(x >= 0.995 || x === 0 ? 0 : 1) + '%'; }
  function fmtTime(ms) {
    var d = new Date(ms);
    var today = new Date().toDateString() === d.toDateString();
    return today ? d.toLocaleTimeString() : d.toLocaleString();
  }
  // A script run may carry no command of its own: show which script it ran.
  function commandText(r) {
    if (r.command.length) return r.command.join(' ');
    return r.script ? 'script ' + r.script.slice(0, 12) : '';
  }
  function reads(r) { return r.memoryHits + r.diskHits + r.serverFetches; }
  function hitRatio(r) { var t = reads(r); return t ? (r.memoryHits + r.diskHits) / t : null; }
  function stateClass(r) {
    if (r.state === 'running') return 'running';
    if (r.state === 'exited') return r.exitStatus === 0 ? 'ok' : 'bad';
    if (r.state === 'failed') return 'bad';
    return 'other';
  }
  function stateText(r) {
    if (r.state === 'exited') return 'exit ' + r.exitStatus;
    return r.state;
  }
  function median(xs) {
    if (!xs.length) return null;
    var s = xs.slice().sort(function (a, b) { return a - b; });
    var mid = Math.floor(s.length / 2);
    return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  }

  // --- DOM helpers -------------------------------------------------------------------
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svgEl(tag, attrs, text) {
    var e = document.createElementNS(SVG_NS, tag);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function setStatus(text, isError) {
    var s = $('status');
    s.textContent = text;
    s.className = isError ? 'error' : '';
  }

  // --- rendering ---------------------------------------------------------------------
  function renderSummary(runs) {
    var box = $('summary');
    clear(box);
    var finished = runs.filter(function (r) { return r.durationMs !== null; });
    var ok = runs.filter(function (r) { return r.state === 'exited' && r.exitStatus === 0; }).length;
    var totals = { m: 0, d: 0, s: 0, bytes: 0 };
    finished.forEach(function (r) { totals.m += r.memoryHits; totals.d += r.diskHits; totals.s += r.serverFetches; totals.bytes += r.bytesFetched; });
    var allReads = totals.m + totals.d + totals.s;
    var cards = [
      ['Runs shown', String(runs.length)],
      ['Exit 0', finished.length ? ok + ' of ' + finished.length : '\u2013'],
      ['Median duration', finished.length ? fmtDuration(median(finished.map(function (r) { return r.durationMs; }))) : '\u2013'],
      ['Cache hit ratio', fmtRatio(allReads ? (totals.m + totals.d) / allReads : null)],
      ['Served from memory', fmtRatio(allReads ? totals.m / allReads : null)],
      ['Fetched from server', fmtBytes(totals.bytes)],
    ];
    cards.forEach(function (c) {
      var card = el('div', 'card');
      card.appendChild(el('div', 'label', c[0]));
      card.appendChild(el('div', 'value', c[1]));
      box.appendChild(card);
    });
  }

  var W = 640, H = 220, PAD_L = 52, PAD_R = 10, PAD_T = 12, PAD_B = 24;

  function chartFrame(svg, yLabelTop, yLabelBottom) {
    clear(svg);
    svg.appendChild(svgEl('line', { class: 'axis', x1: PAD_L, y1: H - PAD_B, x2: W - PAD_R, y2: H - PAD_B }));
    svg.appendChild(svgEl('line', { class: 'axis', x1: PAD_L, y1: PAD_T, x2: PAD_L, y2: H - PAD_B }));
    svg.appendChild(svgEl('text', { x: PAD_L - 6, y: PAD_T + 4, 'text-anchor': 'end' }, yLabelTop));
    svg.appendChild(svgEl('text', { x: PAD_L - 6, y: H - PAD_B + 4, 'text-anchor': 'end' }, yLabelBottom));
  }
  function chartEmpty(svg, message) {
    clear(svg);
    svg.appendChild(svgEl('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty-chart' }, message));
  }
  function slots(n) {
    var inner = W - PAD_L - PAD_R;
    var step = inner / Math.max(n, 1);
    return { step: step, bar: Math.max(2, Math.min(28, step * 0.7)) };
  }
  function xLabels(svg, runs) {
    svg.appendChild(svgEl('text', { x: PAD_L, y: H - 6 }, fmtTime(runs[0].startedAt)));
    if (runs.length > 1) svg.appendChild(svgEl('text', { x: W - PAD_R, y: H - 6, 'text-anchor': 'end' }, fmtTime(runs[runs.length - 1].startedAt)));
  }

  function renderDurations(runs) {
    var svg = $('chart-durations');
    var shown = runs.filter(function (r) { return r.durationMs !== null; }).slice(0, CHART_RUNS).reverse();
    if (!shown.length) { chartEmpty(svg, 'No finished runs yet'); return; }
    var max = Math.max.apply(null, shown.map(function (r) { return r.durationMs; })) || 1;
    chartFrame(svg, fmtDuration(max), '0');
    var s = slots(shown.length);
    var inner = H - PAD_T - PAD_B;
    shown.forEach(function (r, i) {
      var h = Math.max(1, (r.durationMs / max) * inner);
      var bar = svgEl('rect', {
        class: 'bar ' + stateClass(r), 'data-run-id': r.id,
        x: (PAD_L + i * s.step + (s.step - s.bar) / 2).toFixed(1), y: (H - PAD_B - h).toFixed(1),
        width: s.bar.toFixed(1), height: h.toFixed(1),
      });
      bar.appendChild(svgEl('title', {}, r.id.slice(0, 8) + ': ' + fmtDuration(r.durationMs) + ', ' + stateText(r)));
      svg.appendChild(bar);
    });
    xLabels(svg, shown);
  }

  function renderSources(runs) {
    var svg = $('chart-sources');
    var legend = $('sources-legend');
    clear(legend);
    var shown = runs.filter(function (r) { return r.durationMs !== null && reads(r) > 0; }).slice(0, CHART_RUNS).reverse();
    var t = { memory: 0, disk: 0, server: 0, bytes: 0 };
    shown.forEach(function (r) { t.memory += r.memoryHits; t.disk += r.diskHits; t.server += r.serverFetches; t.bytes += r.bytesFetched; });
    var all = t.memory + t.disk + t.server;
    [['memory', 'memory'], ['disk', 'disk cache'], ['server', 'fileserver']].forEach(function (k) {
      legend.appendChild(el('span', 'key ' + k[0]));
      legend.appendChild(document.createTextNode(k[1] + ' ' + t[k[0]] + (all ? ' (' + fmtRatio(t[k[0]] / all) + ')' : '')));
    });
    legend.appendChild(document.createTextNode(' \u00b7 ' + fmtBytes(t.bytes) + ' fetched'));
    if (!shown.length) { chartEmpty(svg, 'No reads recorded yet'); return; }
    chartFrame(svg, '100%', '0%');
    var s = slots(shown.length);
    var inner = H - PAD_T - PAD_B;
    shown.forEach(function (r, i) {
      var total = reads(r);
      var x = PAD_L + i * s.step + (s.step - s.bar) / 2;
      var y = H - PAD_B;
      var g = svgEl('g', { class: 'stack', 'data-run-id': r.id });
      [['memory', r.memoryHits], ['disk', r.diskHits], ['server', r.serverFetches]].forEach(function (part) {
        if (!part[1]) return;
        var h = (part[1] / total) * inner;
        y -= h;
        g.appendChild(svgEl('rect', { class: part[0], x: x.toFixed(1), y: y.toFixed(1), width: s.bar.toFixed(1), height: h.toFixed(1) }));
      });
      g.appendChild(svgEl('title', {}, r.id.slice(0, 8) + ': memory ' + r.memoryHits + ', disk ' + r.diskHits + ', server ' + r.serverFetches + ' (' + fmtBytes(r.bytesFetched) + ')'));
      svg.appendChild(g);
    });
    xLabels(svg, shown);
  }

  function renderTable(runs) {
    var tbody = document.querySelector('#runs tbody');
    clear(tbody);
    $('empty').hidden = runs.length > 0;
    $('runs').hidden = runs.length === 0;
    runs.forEach(function (r) {
      var tr = el('tr');
      tr.dataset.runId = r.id;
      var idCell = el('td', 'id', r.id.slice(0, 8));
      idCell.title = r.id;
      tr.appendChild(idCell);
      tr.appendChild(el('td', '', r.user));
      var img = el('td', '', r.image);
      img.title = r.imageId;
      tr.appendChild(img);
      var cmd = el('td', 'code cmd', commandText(r));
      cmd.title = (r.script ? 'script sha256 ' + r.script + '\n' : '') + r.command.join(' ');
      tr.appendChild(cmd);
      tr.appendChild(el('td', 'state-' + stateClass(r), stateText(r)));
      tr.appendChild(el('td', '', fmtTime(r.startedAt)));
      tr.appendChild(el('td', 'num', fmtDuration(r.durationMs)));
      tr.appendChild(el('td', 'num', r.memoryHits));
      tr.appendChild(el('td', 'num', r.diskHits));
      tr.appendChild(el('td', 'num', r.serverFetches));
      tr.appendChild(el('td', 'num', fmtBytes(r.bytesFetched)));
      tr.appendChild(el('td', 'num', fmtRatio(hitRatio(r))));
      tbody.appendChild(tr);
    });
  }

  function render(data) {
    $('login').hidden = true;
    $('content').hidden = false;
    $('sign-out').hidden = false;
    $('viewer').textContent = data.viewer.user + (data.viewer.role === 'admin' ? ' (admin: every user\u2019s runs)' : '');
    renderSummary(data.runs);
    renderDurations(data.runs);
    renderSources(data.runs);
    renderTable(data.runs);
  }

  // --- refresh loop ------------------------------------------------------------------
  async function errorMessage(res) {
    try { var body = await res.json(); if (body && body.error && body.error.message) return body.error.message; } catch (e) { /* not JSON */ }
    return 'HTTP ' + res.status;
  }

  async function refresh() {
    clearTimeout(timer);
    if (!currentToken) { showLogin(''); return; }
    if (document.hidden) { timer = setTimeout(refresh, REFRESH_MS); return; }
    try {
      var res = await fetch('/v1/runs?limit=' + RUNS_LIMIT, { headers: { authorization: 'Bearer ' + currentToken }, cache: 'no-store' });
      if (res.status === 401) { forgetToken(); showLogin('The worker refused that token. Paste a valid one.'); return; }
      if (!res.ok) throw new Error(await errorMessage(res));
      render(await res.json());
      setStatus('updated ' + new Date().toLocaleTimeString() + ', every ' + (REFRESH_MS / 1000) + ' s', false);
      document.body.dataset.refreshed = String(Date.now());
    } catch (e) {
      setStatus('cannot refresh: ' + (e && e.message ? e.message : String(e)), true);
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }

  $('login').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var value = $('token-input').value.trim();
    if (!value) return;
    currentToken = value;
    try { sessionStorage.setItem(TOKEN_KEY, value); } catch (e) { /* memory only */ }
    $('token-input').value = '';
    refresh();
  });
  $('sign-out').addEventListener('click', function () { forgetToken(); showLogin(''); });
  document.addEventListener('visibilitychange', function () { if (!document.hidden && currentToken) refresh(); });

  loadToken();
  refresh();
})();
`;
