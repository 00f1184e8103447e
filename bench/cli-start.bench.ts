// CLI start-up and `sway run` overhead (issue 5: the ~220 ms every sway start spends in
// the CLI and its round trips): this checkout's CLI against a baseline checkout's, in
// the same run, rotating the order, against one local fileserver + worker (`sway up` from this
// checkout; its run endpoint still serves the old protocol, so both CLIs talk to it).
//
//   node dist/bench/cli-start.bench.js [--baseline-ref REF] [--runs N] [--out FILE] [--append]
//
// REF (default: main) is extracted with `git archive` into a temp dir and its TypeScript
// compiled there (node_modules linked from this checkout). Contenders, each timed from
// spawn to exit: `node -e 0` (the floor), `sway --version`, `sway run app.sh` (a one-line
// script, fresh bytes each repeat so nothing is cached by hash) and `sway run -- true`;
// "unbundled" is the current checkout with SWAY_CLI_NO_BUNDLE=1 (the bundle's share).
// For the runs, "outside" = wall time minus the worker's own durationMs from the run log:
// the CLI's start-up, its round trips and the worker's preparation of the run.
// Writes FILE (default bench/results/cli-start.txt; --append adds this run after the ones there). Needs root, runc, /dev/fuse and the
// built addon (as `sway up` does). Figures only: it never passes or fails on a time.
import { spawn, execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT, removeTempDir } from '../test/helpers/tmp.js';
import { swayEnv } from '../test/helpers/cli.js';
import { makeBusyboxRootfs } from '../test/worker/fixtures.js';
import { publishTree } from '../test/worker/publish.js';
import { FileserverClient } from '../ts/common/fileserver-client.js';
import { summarize, formatMs, formatRatio } from './lib/stats.js';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';

const { values } = parseArgs({
  options: {
    'baseline-ref': { type: 'string', default: 'main' },
    runs: { type: 'string', default: '10' },
    out: { type: 'string', default: join(REPO_ROOT, 'bench', 'results', 'cli-start.txt') },
    append: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const BIN = join(REPO_ROOT, 'bin', 'sway.js');

function timed(args: string[], cwd: string, env: Record<string, string | undefined>): Promise<{ ms: number; code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { cwd, env: swayEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b; });
    child.stderr.on('data', (b: Buffer) => { out += b; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: performance.now() - started, code, out }));
  });
}

const dir = await mkdtemp(join(tmpdir(), 'sway-cli-bench-'));
const home = join(dir, 'home');
const config = join(dir, 'config.json');
const env = { SWAY_CONFIG: config, SWAY_HOME: home };
let up = false;
try {
  // The baseline: REF's sources, compiled (the CLI needs no native addon).
  const base = join(dir, 'baseline');
  mkdirSync(base);
  const rev = execFileSync('git', ['-C', REPO_ROOT, 'rev-parse', '--short', values['baseline-ref']!], { encoding: 'utf8' }).trim();
  execFileSync('sh', ['-c', `git -C "$1" archive "$2" | tar -x -C "$3"`, 'sh', REPO_ROOT, rev, base]);
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(base, 'node_modules'));
  execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(base, 'tsconfig.json')], { stdio: 'inherit' });
  const head = execFileSync('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['-C', REPO_ROOT, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() ? '+changes' : '';

  const upRun = await timed([BIN, 'up', '--home', home, '--user', 'bench', '--fileserver-port', '0', '--worker-port', '0'], dir, env);
  if (upRun.code !== 0) throw new Error(`sway up failed: ${upRun.out}`);
  up = true;
  const cfg = JSON.parse(readFileSync(config, 'utf8')) as { fileserver: string; worker: string; token: string; ca: string };
  const files = new FileserverClient({ url: cfg.fileserver, token: cfg.token, caFile: cfg.ca });
  const image = await publishTree(files, await makeBusyboxRootfs(join(dir, 'rootfs')), 'bench/bb:latest', { workingDir: '/app', cmd: ['sh', 'app.sh'] });
  await files.close();
  const project = join(dir, 'project');
  mkdirSync(join(project, '.sway'), { recursive: true });
  writeFileSync(join(project, '.sway', 'image'), JSON.stringify({ image: image.name, id: image.id }));

  const contenders = {
    baseline: { bin: join(base, 'bin', 'sway.js'), env },
    current: { bin: BIN, env },
    unbundled: { bin: BIN, env: { ...env, SWAY_CLI_NO_BUNDLE: '1' } },
  } as const;
  type Name = keyof typeof contenders;
  const names = Object.keys(contenders) as Name[];
  const series: Record<string, number[]> = {};
  const add = (key: string, v: number) => (series[key] ??= []).push(v);
  const runOrder: { key: string; wall: number }[] = [];
  // One warm-up of each (page cache, the worker's first run of the image), not counted.
  for (const name of names) {
    writeFileSync(join(project, 'app.sh'), `echo warm-${name}\n`);
    const w = await timed([contenders[name].bin, 'run', 'app.sh'], project, contenders[name].env);
    if (w.code !== 0) throw new Error(`${name} sway run failed: ${w.out}`);
  }
  for (let i = 0; i < RUNS; i++) {
    add('node -e 0', (await timed(['-e', '0'], dir, env)).ms);
    // Rotate which contender goes first, so drift on a shared machine hits all alike.
    const order = names.slice(i % names.length).concat(names.slice(0, i % names.length));
    for (const name of order) {
      const { bin, env: cenv } = contenders[name];
      const v = await timed([bin, '--version'], dir, cenv);
      if (v.code !== 0) throw new Error(`${name} --version: ${v.out}`);
      add(`${name} --version`, v.ms);
      writeFileSync(join(project, 'app.sh'), `echo run-${i}-${name}-${Math.random()}\n`);
      const r = await timed([bin, 'run', 'app.sh'], project, cenv);
      if (r.code !== 0 || !r.out.includes(`run-${i}-${name}`)) throw new Error(`${name} run app.sh: ${r.out}`);
      add(`${name} run app.sh`, r.ms);
      runOrder.push({ key: `${name} run app.sh`, wall: r.ms });
      const c = await timed([bin, 'run', '--image', image.name, '--', 'true'], project, cenv);
      if (c.code !== 0) throw new Error(`${name} run -- true: ${c.out}`);
      add(`${name} run -- true`, c.ms);
      runOrder.push({ key: `${name} run -- true`, wall: c.ms });
    }
  }
  // The worker's own duration of each run, from its run log (newest first).
  const listed = await timed([BIN, 'runs', '--limit', String(runOrder.length), '--json'], dir, env);
  const runs = (JSON.parse(listed.out) as { runs: { durationMs: number | null }[] }).runs.reverse();
  if (runs.length !== runOrder.length) throw new Error(`run log has ${runs.length} runs, expected ${runOrder.length}`);
  runOrder.forEach((r, i) => {
    add(r.key.replace(' run ', ' worker-run '), runs[i]!.durationMs ?? NaN);
    add(r.key.replace(' run ', ' outside-run '), r.wall - (runs[i]!.durationMs ?? NaN));
  });

  const s = (key: string) => summarize(series[key] ?? []);
  const lines: string[] = [];
  lines.push(`# sway CLI start-up and sway run overhead (bench/cli-start.bench.ts)`);
  lines.push(`# ${new Date().toISOString()}  baseline ${values['baseline-ref']} (${rev})  current ${head}${dirty}  ${RUNS} repeats, rotating the order`);
  lines.push(`# ms: median (min-max), wall clock from spawn to exit; local fileserver + worker from \`sway up\` (current code)`);
  lines.push(`# outside-run = wall - the worker's durationMs of that run (run log): CLI start-up + round trips + the worker's preparation`);
  lines.push(`node -e 0                          ${formatMs(s('node -e 0'))}`);
  for (const what of ['--version', 'run app.sh', 'outside-run app.sh', 'worker-run app.sh', 'run -- true', 'outside-run -- true', 'worker-run -- true']) {
    const b = s(`baseline ${what}`), c = s(`current ${what}`), u = s(`unbundled ${what}`);
    lines.push(`${what.padEnd(20)} baseline ${formatMs(b).padEnd(17)} current ${formatMs(c).padEnd(17)} unbundled ${formatMs(u).padEnd(17)} current/baseline ${formatRatio(c.median / b.median)}  current/unbundled ${formatRatio(c.median / u.median)}`);
  }
  const floor = s('node -e 0').median;
  lines.push(`above node -e 0 (--version): baseline ${Math.round(s('baseline --version').median - floor)} ms, current ${Math.round(s('current --version').median - floor)} ms`);
  const text = lines.join('\n') + '\n';
  process.stdout.write(text);
  if (values.append) appendFileSync(values.out!, '\n' + text);
  else writeFileSync(values.out!, text);
} finally {
  if (up) await timed([BIN, 'down', '--home', home], dir, env);
  await removeTempDir(dir);
}
