// Runs a command in a child process (the only way tests touch a mount they serve).
import { spawn } from 'node:child_process';

export interface ChildResult { code: number | null; signal: string | null; stdout: string; stderr: string }

/** Run `argv` in a child; resolves with its exit code, stdout and stderr (never rejects). */
export function runChild(argv: string[], timeoutMs = 120_000): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

