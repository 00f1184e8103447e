// Test-side handle on a mount-helper child: start it, send commands, read answers, and
// always leave no mount behind (stop() unmounts, kill() is the crash case).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HELPER = fileURLToPath(new URL('./mount-helper.js', import.meta.url));

/**
 * Sanitizer runs: SWAY_FUSE_SANITIZED_ADDON names the ASan+UBSan build of the addon and
 * SWAY_FUSE_SANITIZER_PRELOAD the runtimes to preload; only mount helpers get them (the
 * test process and the readers stay uninstrumented). A sanitizer report on a helper's
 * stderr fails stop().
 */
function sanitizerEnv(): NodeJS.ProcessEnv {
  const addon = process.env.SWAY_FUSE_SANITIZED_ADDON;
  if (!addon) return {};
  return {
    SWAY_FUSE_ADDON: addon,
    LD_PRELOAD: process.env.SWAY_FUSE_SANITIZER_PRELOAD ?? '',
    // Node itself is not built for leak checking; the filesystem's memory errors are what we look for.
    ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=0',
    UBSAN_OPTIONS: 'print_stacktrace=1',
  };
}
const SANITIZER_REPORT = /ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer/;

export interface HelperOptions {
  mountpoint: string;
  cacheDir: string;
  serverUrl: string;
  fileserver?: { url: string; token: string; caFile: string };
  images: { id: string; manifestFile: string; aliases?: string[] }[];
  fetchTimeoutMs?: number;
  retries?: number;
  cacheMaxBytes?: number;
  threads?: number;
  /** Open-less files (LazyFilesystem's noOpen: true, false, or 'auto', the default). */
  noOpen?: boolean | 'auto';
}

export class MountHelper {
  private readonly answers: ((line: string) => void)[] = [];
  private readonly lines: Interface;
  readonly exited: Promise<number | null>;
  stderr = '';

  private constructor(readonly child: ChildProcess) {
    this.lines = createInterface({ input: child.stdout! });
    this.lines.on('line', (line) => this.answers.shift()?.(line));
    child.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  /** Start a helper and wait for its mount; `workDir` holds the config file. */
  static async start(workDir: string, opts: HelperOptions, env: NodeJS.ProcessEnv = {}): Promise<MountHelper> {
    const configFile = join(workDir, `helper-${Date.now()}-${Math.random().toString(16).slice(2)}.json`);
    await writeFile(configFile, JSON.stringify(opts));
    const child = spawn(process.execPath, [HELPER, configFile], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...sanitizerEnv(), ...env } });
    const helper = new MountHelper(child);
    const first = await Promise.race([
      helper.nextLine(),
      helper.exited.then((code) => JSON.stringify({ error: `helper exited with ${code}: ${helper.stderr}` })),
    ]);
    const msg = JSON.parse(first) as { ready?: boolean; error?: string };
    if (!msg.ready) { child.kill('SIGKILL'); throw new Error(`mount helper failed: ${msg.error}`); }
    return helper;
  }

  private nextLine(): Promise<string> {
    return new Promise((resolve) => this.answers.push(resolve));
  }

  async command<T = Record<string, unknown>>(cmd: Record<string, unknown>): Promise<T> {
    const answer = this.nextLine();
    this.child.stdin!.write(JSON.stringify(cmd) + '\n');
    const line = await Promise.race([answer, this.exited.then((code) => JSON.stringify({ error: `helper exited with ${code}` }))]);
    const msg = JSON.parse(line) as T & { error?: string };
    if (msg.error) throw new Error(msg.error);
    return msg;
  }

  async stats(id?: string): Promise<Record<string, number>> {
    return (await this.command<{ stats: Record<string, number> }>({ cmd: 'stats', id })).stats;
  }

  /** Requests the kernel sent on the mount's connection so far, by FUSE opcode ("OPEN": n). */
  async requests(): Promise<Record<string, number>> {
    return (await this.command<{ requests: Record<string, number> }>({ cmd: 'requests' })).requests;
  }

  /** Clean unmount, then wait for the process to exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) { this.checkSanitizer(); return; }
    try { await this.command({ cmd: 'unmount' }); } catch { /* exited already */ }
    await this.exited;
    this.checkSanitizer();
  }

  /** Throws if the helper printed a sanitizer report. */
  checkSanitizer(): void {
    const m = SANITIZER_REPORT.exec(this.stderr);
    if (m) throw new Error(`sanitizer report from the mount helper:\n${this.stderr.slice(Math.max(0, m.index - 200), m.index + 4000)}`);
  }

  /** The crash case: SIGKILL, leaving the mount behind. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
    this.checkSanitizer();
  }
}
