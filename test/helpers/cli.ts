// Run the real `sway` command line (node bin/sway.js ...) from tests.
//
//   const r = await runSway(['export', '--json'], { cwd: dir, env: { SWAY_CONFIG: cfg } });
//   assert.equal(r.code, 0, r.stderr);
//
//   const server = startSway(['fileserver', '--data', dir]);   // a long-running daemon
//   await server.waitForOutput(/listening/);
//   t.after(() => server.stop());
//
// The child's environment is this process's without any SWAY_* variable (a developer's
// own settings never leak into a test), with SWAY_CONFIG pointing at a file that does not
// exist (so ~/.config/sway/config.json is never read), then `env` on top.
// Every child runs in its own process group and is killed with its group: a command
// that started podman, runc or a server leaves nothing behind when it times out.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './tmp.js';

export const SWAY_BIN = join(REPO_ROOT, 'bin', 'sway.js');

export interface SwayRunOptions {
  cwd?: string;
  /** Added to (or, with a value of undefined, removed from) the child's environment. */
  env?: Record<string, string | undefined>;
  /** Killed (SIGTERM, then SIGKILL 5 s later) after this long. Default 120 s. */
  timeoutMs?: number;
  /** Written to the child's stdin, which is then closed. */
  input?: string | Buffer;
}

export interface SwayResult {
  /** Exit status, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export function swayEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SWAY_') || k === 'SWAY_TEST_OUTPUT') env[k] = v;
  env.SWAY_CONFIG = '/nonexistent/sway-test/config.json';
  env.NO_COLOR = '1';
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Run `sway ARGS` to completion and collect its output and exit status. */
export function runSway(args: string[], opts: SwayRunOptions = {}): Promise<SwayResult> {
  return runCommand(process.execPath, [SWAY_BIN, ...args], opts);
}

/** Run any command the same way (own process group, timeout, collected output). */
export function runCommand(command: string, args: string[], opts: SwayRunOptions = {}): Promise<SwayResult> {
  const child = spawn(command, args, {
    cwd: opts.cwd ?? REPO_ROOT,
    env: swayEnv(opts.env),
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout!.on('data', (b: Buffer) => stdout.push(b));
  child.stderr!.on('data', (b: Buffer) => stderr.push(b));
  child.stdin!.on('error', () => {}); // the child may exit without reading its input
  child.stdin!.end(opts.input ?? '');
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child, 'SIGTERM');
    setTimeout(() => killGroup(child, 'SIGKILL'), 5000).unref();
  }, opts.timeoutMs ?? 120_000);
  return new Promise((resolvePromise, reject) => {
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({
        code,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        timedOut,
      });
    });
  });
}

export interface RunningSway {
  child: ChildProcess;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the match once stdout or stderr matches; rejects on exit or timeout. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit status when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM the process group, SIGKILL after graceMs (default 10 s); resolves on exit. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start `sway ARGS` as a long-running process (a daemon, a run to cancel). */
export function startSway(args: string[], opts: Omit<SwayRunOptions, 'timeoutMs' | 'input'> = {}): RunningSway {
  return startCommand(process.execPath, [SWAY_BIN, ...args], opts);
}

export function startCommand(command: string, args: string[], opts: Omit<SwayRunOptions, 'timeoutMs' | 'input'> = {}): RunningSway {
  const child = spawn(command, args, {
    cwd: opts.cwd ?? REPO_ROOT,
    env: swayEnv(opts.env),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((fn) => fn());
  child.stdout!.setEncoding('utf8').on('data', (s: string) => ((out += s), notify()));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => ((err += s), notify()));
  let hasExited = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.on('close', (code, signal) => {
      hasExited = true;
      notify();
      res({ code, signal });
    });
    child.on('error', () => {
      hasExited = true;
      notify();
      res({ code: null, signal: null });
    });
  });

  const waitForOutput = (pattern: RegExp, timeoutMs = 60_000) =>
    new Promise<RegExpMatchArray>((res, rej) => {
      const check = () => {
        const m = out.match(pattern) ?? err.match(pattern);
        if (m) return done(() => res(m));
        if (hasExited) done(() => rej(new Error(`${command} ${args.join(' ')} exited before printing ${pattern}\nstdout: ${out}\nstderr: ${err}`)));
      };
      const timer = setTimeout(
        () => done(() => rej(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}\nstdout: ${out}\nstderr: ${err}`))),
        timeoutMs,
      );
      const done = (fn: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        fn();
      };
      listeners.add(check);
      check();
    });

  const stop = async (graceMs = 10_000) => {
    if (!hasExited) {
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
      const status = await exited;
      clearTimeout(timer);
      // The leader is gone; make sure nothing it started outlives it.
      killGroup(child, 'SIGKILL');
      return status;
    }
    return exited;
  };

  return { child, stdout: () => out, stderr: () => err, waitForOutput, exited, stop };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}
