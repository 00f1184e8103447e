// `sway down [--home DIR]`: stop what `sway up` started: the worker first (it cancels
// its runs and unmounts its filesystem on SIGTERM), then the fileserver. Waits for each
// to exit; one that does not within 60 s is killed (the next worker start clears what it
// left). Saying it is not up is not an error.
// Deliberately does not: delete data, tokens or the client config.
import { join, resolve } from 'node:path';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, Option } from 'clipanion';
import { SwayCommand } from '../base-command.js';
import { defaultHome, isRunning, readState, writeState, type DaemonName, type DaemonState } from './up.js';

const STOP_TIMEOUT_MS = 60_000;

export class DownCommand extends SwayCommand {
  static override paths = [['down']];
  static override usage = Command.Usage({ description: 'Stop the local fileserver and worker started by `sway up`' });

  home = Option.String('--home', { description: 'The directory given to `sway up` (default ~/.sway)' });

  async perform(): Promise<number> {
    const home = resolve(this.home ?? defaultHome());
    const state = readState(home);
    let stopped = 0;
    for (const name of ['worker', 'fileserver'] as DaemonName[]) {
      const d = state[name];
      if (isRunning(d)) {
        await stop(d);
        stopped++;
        this.context.stdout.write(`stopped the ${name} (pid ${d.pid})\n`);
      }
      delete state[name];
      writeState(home, state);
    }
    rmSync(join(home, 'state.json'), { force: true });
    this.context.stdout.write(stopped ? 'sway is down\n' : 'sway is not up\n');
    return 0;
  }
}

async function stop(d: DaemonState): Promise<void> {
  try { process.kill(d.pid, 'SIGTERM'); } catch { return; }
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (isRunning(d)) {
    if (Date.now() > deadline) {
      try { process.kill(d.pid, 'SIGKILL'); } catch { /* gone */ }
      return;
    }
    await sleep(100);
  }
}
