// Run a helper program (mount, umount, runc kill/delete/list) as an async child process
// and collect its output. Async only: the worker serves the FUSE mount from this
// process, so it must never block its main thread on a program that may need the mount.
// Deliberately does not: stream output (runner.ts spawns `runc run` itself).
import { spawn } from 'node:child_process';

export interface ChildResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

export function runChild(command: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (err) => { clearTimeout(timer); resolve({ code: 127, signal: null, stdout, stderr: stderr + err.message }); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

/** First line of a child's stderr, for one-line errors. */
export function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}
