// Run a command to completion and time it: when a "ready line" first appears on its
// stdout (the app's own signal that it has started and done its work) and when it exits.
// The child gets its own process group and is killed with it on timeout, so nothing it
// started (runc, a CLI) outlives a benchmark that gave up on it.
import { spawn } from 'node:child_process';
import { swayEnv } from '../../test/helpers/cli.js';

export interface TimedResult {
  /** Wall-clock time of the spawn (ms since the epoch), to line up with other logs. */
  spawnedAt: number;
  /** Milliseconds from spawn to the first stdout chunk containing the ready pattern. */
  readyMs: number;
  /** Milliseconds from spawn to exit. */
  exitMs: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

export function timedCommand(command: string, args: string[], opts: { ready: RegExp; env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number }): Promise<TimedResult> {
  const spawnedAt = Date.now();
  const started = performance.now();
  const child = spawn(command, args, { cwd: opts.cwd, env: swayEnv(opts.env), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let readyMs = NaN;
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
    if (Number.isNaN(readyMs) && opts.ready.test(stdout)) readyMs = performance.now() - started;
  });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };
  const timer = setTimeout(() => {
    killGroup('SIGTERM');
    setTimeout(() => killGroup('SIGKILL'), 5000).unref();
  }, opts.timeoutMs ?? 600_000);
  return new Promise((resolve, reject) => {
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ spawnedAt, readyMs, exitMs: performance.now() - started, code, stdout, stderr });
    });
  });
}
