// `sway up [--home DIR]`: the one-machine default. Starts a fileserver and a worker as
// background daemons on 127.0.0.1, with everything under one directory (default
// ~/.sway, or $SWAY_HOME):
//   fileserver/  worker/  tls/ca.pem + tls-private/ (one CA for both)  tokens/{user,worker} (0600)
//   logs/{fileserver,worker}.log  state.json ({fileserver,worker}: {pid, url})
// creates a first user and a worker token on first use, and writes the client config
// (ts/common/config.ts) so `sway export` and `sway run` need nothing else. Idempotent:
// when both daemons are running it only says so. `sway down` (down.ts) stops them.
// Deliberately does not: install system services (deploy/systemd does that).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, Option } from 'clipanion';
import { SwayCommand } from '../base-command.js';
import { configFilePath, writeConfigFile } from '../../common/config.js';
import { ConfigError, SwayError, UsageError } from '../../common/errors.js';
import { DEFAULT_FILESERVER_PORT, DEFAULT_WORKER_PORT } from '../../common/protocol.js';

const SWAY_BIN = resolve(fileURLToPath(new URL('../../../../bin/sway.js', import.meta.url)));
const START_TIMEOUT_MS = 120_000;

export type DaemonName = 'fileserver' | 'worker';
export interface DaemonState { pid: number; url: string }
export type UpState = Partial<Record<DaemonName, DaemonState>>;

export function defaultHome(): string {
  return process.env.SWAY_HOME ?? join(homedir(), '.sway');
}

export function readState(home: string): UpState {
  try { return JSON.parse(readFileSync(join(home, 'state.json'), 'utf8')) as UpState; } catch { return {}; }
}

export function writeState(home: string, state: UpState): void {
  const tmp = join(home, `state.json.tmp-${process.pid}`);
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, join(home, 'state.json'));
}

/** The daemon is alive and is still a sway process (not a recycled pid). */
export function isRunning(d: DaemonState | undefined): d is DaemonState {
  if (!d) return false;
  try {
    process.kill(d.pid, 0);
    return readFileSync(`/proc/${d.pid}/cmdline`, 'utf8').includes('sway');
  } catch {
    return false;
  }
}

export class UpCommand extends SwayCommand {
  static override paths = [['up']];
  static override usage = Command.Usage({
    description: 'Start a local fileserver and worker and configure this machine to use them',
    details: `Everything lives under --home (default ~/.sway or $SWAY_HOME). The client configuration is written to ${'$SWAY_CONFIG'} or ~/.config/sway/config.json. Running it again when everything is up changes nothing.`,
  });

  home = Option.String('--home', { description: 'Directory for data, TLS material, tokens and logs (default ~/.sway)' });
  user = Option.String('--user', { description: 'Name of the first user (default: your login name)' });
  fileserverPort = Option.String('--fileserver-port', { description: `Fileserver port (default ${DEFAULT_FILESERVER_PORT}; 0 picks a free one)` });
  workerPort = Option.String('--worker-port', { description: `Worker port (default ${DEFAULT_WORKER_PORT}; 0 picks a free one)` });

  async perform(): Promise<number> {
    const home = resolve(this.home ?? defaultHome());
    for (const d of ['', 'tokens', 'logs']) mkdirSync(join(home, d), { recursive: true, mode: 0o700 });
    const state = readState(home);
    const username = this.firstUserName();
    if (isRunning(state.fileserver) && isRunning(state.worker)) {
      this.writeClientConfig(home, state, username);
      this.context.stdout.write(`sway is already up: fileserver ${state.fileserver.url}, worker ${state.worker.url}\n`);
      return 0;
    }
    const fileserverData = join(home, 'fileserver');
    const tlsDir = join(home, 'tls');
    if (!isRunning(state.fileserver)) {
      await this.ensureTokens(home, fileserverData, username);
      state.fileserver = await startDaemon(home, 'fileserver', ['fileserver', '--data-dir', fileserverData, '--tls-dir', tlsDir,
        '--host', '127.0.0.1', '--port', port(this.fileserverPort, DEFAULT_FILESERVER_PORT)]);
      writeState(home, state);
    }
    if (!isRunning(state.worker)) {
      state.worker = await startDaemon(home, 'worker', ['worker', '--fileserver', state.fileserver.url, '--token-file', join(home, 'tokens', 'worker'),
        '--ca', join(tlsDir, 'ca.pem'), '--data-dir', join(home, 'worker'), '--tls-dir', tlsDir,
        '--host', '127.0.0.1', '--port', port(this.workerPort, DEFAULT_WORKER_PORT)]);
      writeState(home, state);
    }
    const configPath = this.writeClientConfig(home, state, username);
    this.context.stdout.write(`sway is up: fileserver ${state.fileserver.url}, worker ${state.worker!.url}; client config in ${configPath}\n`);
    return 0;
  }

  private firstUserName(): string {
    const raw = this.user ?? process.env.SUDO_USER ?? safeLoginName() ?? 'me';
    const name = raw.toLowerCase().replace(/[^a-z0-9_.-]/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 64) || 'me';
    return name;
  }

  /** Tokens are created once, before the fileserver starts (it then owns its database). */
  private async ensureTokens(home: string, dataDir: string, username: string): Promise<void> {
    // Imported here, not at the top: SQLite is only needed the first time.
    const { addUser } = await import('../../fileserver/index.js');
    const userFile = join(home, 'tokens', 'user');
    const workerFile = join(home, 'tokens', 'worker');
    if (!existsSync(userFile)) writeSecret(userFile, JSON.stringify({ user: username, token: addUser(dataDir, username, 'user') }));
    if (!existsSync(workerFile)) writeSecret(workerFile, addUser(dataDir, 'worker', 'worker'));
  }

  private writeClientConfig(home: string, state: UpState, fallbackUser: string): string {
    const first = JSON.parse(readFileSync(join(home, 'tokens', 'user'), 'utf8')) as { user: string; token: string };
    const path = configFilePath();
    writeConfigFile(path, {
      fileserver: state.fileserver!.url, worker: state.worker!.url, token: first.token,
      ca: join(home, 'tls', 'ca.pem'), username: first.user || fallbackUser,
    });
    return path;
  }
}

function safeLoginName(): string | undefined {
  try { return userInfo().username; } catch { return undefined; }
}

function writeSecret(path: string, content: string): void {
  writeFileSync(path, content + '\n', { mode: 0o600 });
}

function port(raw: string | undefined, dflt: number): string {
  if (raw === undefined) return String(dflt);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`invalid port ${JSON.stringify(raw)}`);
  return String(n);
}

/**
 * Start `sway ARGS` detached (own session, output appended to logs/NAME.log) and wait
 * for its `NAME listening on URL` line. A daemon that exits first fails `up` with the
 * last line of its log.
 */
async function startDaemon(home: string, name: DaemonName, args: string[]): Promise<DaemonState> {
  const logPath = join(home, 'logs', `${name}.log`);
  const start = existsSync(logPath) ? readFileSync(logPath).length : 0;
  const fd = openSync(logPath, 'a', 0o600);
  const env = { ...process.env };
  delete env.SWAY_TOKEN; delete env.SWAY_WORKER_TOKEN; // the daemons get what they need explicitly
  const child = spawn(process.execPath, [SWAY_BIN, ...args], { detached: true, stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  let exited: number | null | undefined;
  child.on('exit', (code) => { exited = code; });
  child.unref();
  const deadline = Date.now() + START_TIMEOUT_MS;
  const re = new RegExp(`^${name} listening on (https://\\S+)`, 'm');
  for (;;) {
    const text = readFileSync(logPath).subarray(start).toString('utf8');
    const m = re.exec(text);
    if (m) return { pid: child.pid!, url: m[1]! };
    if (exited !== undefined) {
      const last = text.trim().split('\n').filter((l) => l.startsWith('sway:')).pop() ?? text.trim().split('\n').pop() ?? '';
      throw new SwayError('SWAY_DAEMON', `the ${name} did not start (${last.replace(/^sway: /, '')}); see ${logPath}`);
    }
    if (Date.now() > deadline) {
      try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone */ }
      throw new ConfigError(`the ${name} did not report ready within ${START_TIMEOUT_MS / 1000} s; see ${logPath}`);
    }
    await sleep(100);
  }
}
