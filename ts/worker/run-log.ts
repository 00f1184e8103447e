// The worker's run log: one SQLite row per run (better-sqlite3, WAL), written when a run
// starts and completed when it ends, read by `GET /v1/runs`, the dashboard and `sway runs`.
//
// Rows left 'running' by a crashed worker are marked 'interrupted' at the next start
// (markInterrupted), so the log never shows a run as live that nothing is running.
// The schema evolves by `PRAGMA user_version`: add a migration to MIGRATIONS, never edit one.
// synchronous=NORMAL: a power cut may lose the last few rows, never corrupt the file; a
// run log is not worth an fsync per run.
// Deliberately does not: decide who may see which run (dashboard/routes.ts), or prune old
// rows (a later retention setting; rows are ~200 bytes).
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { BadRequestError, SwayError } from '../common/errors.js';

export type RunState = 'running' | 'exited' | 'failed' | 'cancelled' | 'timeout' | 'interrupted';
export type FinishedState = 'exited' | 'failed' | 'cancelled' | 'timeout';
export const FINISHED_STATES: readonly FinishedState[] = ['exited', 'failed', 'cancelled', 'timeout'];

export interface RunStart {
  id: string;
  user: string;
  /** The image as the user named it. */
  image: string;
  /** The image id (manifest hash). */
  imageId: string;
  /** Hash of the script run, or null for a plain command. */
  script: string | null;
  command: string[];
  /** ms since the epoch. */
  startedAt: number;
}

export interface RunFinish {
  durationMs: number;
  /** The container's exit status (signals as 128+N); null when there was none. */
  exitStatus: number | null;
  state: FinishedState;
  memoryHits: number;
  diskHits: number;
  serverFetches: number;
  bytesFetched: number;
  /** Reads that failed with EIO during the run (optional for callers without the figure). */
  eios?: number;
}

export interface RunRecord extends RunStart {
  state: RunState;
  durationMs: number | null;
  exitStatus: number | null;
  memoryHits: number;
  diskHits: number;
  serverFetches: number;
  bytesFetched: number;
  eios: number;
}

/** Most rows one `recent()` call returns. */
export const MAX_RECENT = 1000;

const MIGRATIONS: string[] = [
  // 1: the runs table.
  `CREATE TABLE runs (
     id TEXT PRIMARY KEY,
     user TEXT NOT NULL,
     image TEXT NOT NULL,
     image_id TEXT NOT NULL,
     script TEXT,
     command TEXT NOT NULL,          -- JSON array
     started_at INTEGER NOT NULL,    -- ms since the epoch
     state TEXT NOT NULL,
     duration_ms INTEGER,
     exit_status INTEGER,
     memory_hits INTEGER NOT NULL DEFAULT 0,
     disk_hits INTEGER NOT NULL DEFAULT 0,
     server_fetches INTEGER NOT NULL DEFAULT 0,
     bytes_fetched INTEGER NOT NULL DEFAULT 0,
     eios INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX runs_by_time ON runs (started_at DESC);
   CREATE INDEX runs_by_user_time ON runs (user, started_at DESC);
   CREATE INDEX runs_running ON runs (state) WHERE state = 'running';`,
];

interface Row {
  id: string; user: string; image: string; image_id: string; script: string | null; command: string;
  started_at: number; state: RunState; duration_ms: number | null; exit_status: number | null;
  memory_hits: number; disk_hits: number; server_fetches: number; bytes_fetched: number; eios: number;
}

export class RunLog {
  private readonly db: Database.Database;
  private readonly q;

  constructor(dbPath: string) {
    mkdirSync(dirname(dbPath), { recursive: true, mode: 0o700 });
    this.db = new Database(dbPath);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 10000');
    migrate(this.db);
    this.q = {
      insert: this.db.prepare(`INSERT INTO runs (id, user, image, image_id, script, command, started_at, state)
                               VALUES (@id, @user, @image, @imageId, @script, @command, @startedAt, 'running')`),
      finish: this.db.prepare(`UPDATE runs SET state = @state, duration_ms = @durationMs, exit_status = @exitStatus,
                                 memory_hits = @memoryHits, disk_hits = @diskHits, server_fetches = @serverFetches,
                                 bytes_fetched = @bytesFetched, eios = @eios
                               WHERE id = @id`),
      recentAll: this.db.prepare<[number], Row>('SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?'),
      recentOfUser: this.db.prepare<[string, number], Row>('SELECT * FROM runs WHERE user = ? ORDER BY started_at DESC, rowid DESC LIMIT ?'),
      get: this.db.prepare<[string], Row>('SELECT * FROM runs WHERE id = ?'),
      interrupt: this.db.prepare(`UPDATE runs SET state = 'interrupted' WHERE state = 'running'`),
    };
  }

  /** Record a run that has just started (state 'running'). A duplicate id is a bug: throws. */
  start(rec: RunStart): void {
    this.q.insert.run({ ...rec, command: JSON.stringify(rec.command) });
  }

  /** Complete a run's row; an unknown id is a NotFound-style SwayError. */
  finish(id: string, fin: RunFinish): void {
    if (!FINISHED_STATES.includes(fin.state)) throw new BadRequestError(`invalid run state ${JSON.stringify(fin.state)}`);
    const changed = this.q.finish.run({
      id,
      state: fin.state,
      durationMs: Math.round(fin.durationMs),
      exitStatus: fin.exitStatus,
      memoryHits: fin.memoryHits,
      diskHits: fin.diskHits,
      serverFetches: fin.serverFetches,
      bytesFetched: fin.bytesFetched,
      eios: fin.eios ?? 0,
    }).changes;
    if (changed === 0) throw new SwayError('SWAY_RUN_UNKNOWN', `run ${id} is not in the run log`, 404);
  }

  /** Newest first; only `user`'s runs when given. `limit` is clamped to 1..MAX_RECENT. */
  recent(limit: number, user?: string): RunRecord[] {
    const n = Math.max(1, Math.min(MAX_RECENT, Math.floor(Number.isFinite(limit) ? limit : 50)));
    const rows = user === undefined ? this.q.recentAll.all(n) : this.q.recentOfUser.all(user, n);
    return rows.map(toRecord);
  }

  get(id: string): RunRecord | undefined {
    const row = this.q.get.get(id);
    return row ? toRecord(row) : undefined;
  }

  /** At start-up: runs a crashed predecessor left 'running' become 'interrupted'. Returns how many. */
  markInterrupted(): number {
    return this.q.interrupt.run().changes;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new SwayError('SWAY_RUN_LOG_VERSION', `run log schema version ${current} is newer than this sway knows (${MIGRATIONS.length}); upgrade sway`, 500);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

function toRecord(r: Row): RunRecord {
  return {
    id: r.id,
    user: r.user,
    image: r.image,
    imageId: r.image_id,
    script: r.script,
    command: JSON.parse(r.command) as string[],
    startedAt: r.started_at,
    state: r.state,
    durationMs: r.duration_ms,
    exitStatus: r.exit_status,
    memoryHits: r.memory_hits,
    diskHits: r.disk_hits,
    serverFetches: r.server_fetches,
    bytesFetched: r.bytes_fetched,
    eios: r.eios,
  };
}
