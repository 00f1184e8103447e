// `sway runs [--limit N] [--json]`: the caller's recent runs from the worker's run log
// (GET /v1/runs; an admin token lists every user's runs), newest first, as a table, or
// as the worker's JSON ({viewer, runs}) for scripts.
// Deliberately does not: read the SQLite file directly (the worker may be on another host)
// or follow new runs (the dashboard refreshes by itself).
import { Command, Option } from 'clipanion';
import { ClientCommand } from '../base-command.js';
import { requireSetting } from '../../common/config.js';
import { UsageError } from '../../common/errors.js';
import type { RunRecord } from '../../worker/run-log.js';

/** The worker's ceiling (MAX_RECENT in ts/worker/run-log.ts, which imports SQLite: too heavy
 *  to load for a constant; test/cli/commands.test.ts checks the two agree). */
export const MAX_RUNS_LISTED = 1000;

export interface RunsAnswer { viewer: { user: string; role: string }; runs: RunRecord[] }

export class RunsCommand extends ClientCommand {
  static override paths = [['runs']];
  static override usage = Command.Usage({
    description: 'List your recent runs (from the worker\'s run log)',
    details: 'Newest first. Cache figures count file reads served from memory, the disk cache and the fileserver. An admin token lists every user\'s runs.',
    examples: [['The last 20 runs', 'sway runs'], ['For a script', 'sway runs --limit 100 --json']],
  });

  limit = Option.String('--limit,-n', '20', { description: `How many runs (1-${MAX_RUNS_LISTED}, default 20)` });
  json = Option.Boolean('--json', false, { description: 'Print the worker\'s answer as JSON' });

  async perform(): Promise<number> {
    const limit = Number(this.limit);
    if (!/^\d+$/.test(this.limit) || limit < 1 || limit > MAX_RUNS_LISTED) {
      throw new UsageError(`invalid --limit ${JSON.stringify(this.limit)}: a whole number from 1 to ${MAX_RUNS_LISTED}`);
    }
    const config = this.clientConfig();
    const { ServiceClient } = await import('../../common/http-client.js');
    const client = new ServiceClient({
      url: requireSetting(config, 'worker'), token: requireSetting(config, 'token'), caFile: config.ca, what: 'worker',
    });
    try {
      const answer = await client.json<RunsAnswer>(`/v1/runs?limit=${limit}`);
      this.context.stdout.write(this.json ? JSON.stringify(answer) + '\n' : formatRunsTable(answer));
      return 0;
    } finally {
      await client.close();
    }
  }
}

/** A plain-text table, one run a line; the USER column only when the list spans users. */
export function formatRunsTable(answer: RunsAnswer, now = Date.now()): string {
  if (answer.runs.length === 0) return `no runs yet for ${answer.viewer.user}\n`;
  const showUser = answer.viewer.role === 'admin';
  const header = ['RUN', ...(showUser ? ['USER'] : []), 'IMAGE', 'COMMAND', 'STATUS', 'STARTED', 'DURATION', 'MEM/DISK/SERVER', 'FETCHED'];
  const rows = answer.runs.map((r) => [
    r.id.slice(0, 8),
    ...(showUser ? [r.user] : []),
    r.image,
    clip(r.command.length ? r.command.join(' ') : r.script ? `script ${r.script.slice(0, 12)}` : '-', 40),
    r.state === 'exited' ? `exit ${r.exitStatus}` : r.state,
    formatStarted(r.startedAt, now),
    r.durationMs === null ? '-' : formatDuration(r.durationMs),
    `${r.memoryHits}/${r.diskHits}/${r.serverFetches}`,
    formatBytes(r.bytesFetched),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd() + '\n';
  return line(header) + rows.map(line).join('');
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v}B` : `${v.toFixed(v < 10 ? 1 : 0)}${units[i]}`;
}

/** Local time; the date only when it is not today. */
function formatStarted(ms: number, now: number): string {
  const d = new Date(ms);
  const pad = (x: number) => String(x).padStart(2, '0');
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return new Date(now).toDateString() === d.toDateString() ? time : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + '…';
}
