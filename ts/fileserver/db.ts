// The fileserver's metadata in SQLite (better-sqlite3, WAL): users and their token
// hashes, who owns which blob, image names, scripts.
//
// Ownership is the access model: a user may read a blob only if they uploaded it
// (proving they had the bytes), and may publish an image only when they own every blob
// it references, so "referenced by an image they own" never widens access. Knowing a
// hash grants nothing. Only the SHA-256 of a token is stored.
// Deliberately does not: touch blob bytes (store/), or decide HTTP statuses (handlers).
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { sha256 } from '../common/hash.js';
import { NotFoundError, UsageError, SwayError } from '../common/errors.js';

import { ROLES, type Role } from './roles.js';
import { mergeChunkRuns, type ChunkRuns } from '../common/start-profile.js';
export { ROLES, type Role };
export const USER_NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

export interface User { name: string; role: Role }

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  name TEXT PRIMARY KEY,
  token_sha256 TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('user', 'admin', 'worker')),
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS blob_owners (
  user TEXT NOT NULL,
  hash TEXT NOT NULL,
  -- Last upload, sync hit or publish that relied on it (ms): GC spares recent ones.
  touched_at INTEGER NOT NULL,
  PRIMARY KEY (user, hash)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blob_owners_by_hash ON blob_owners (hash);
CREATE TABLE IF NOT EXISTS images (
  name TEXT PRIMARY KEY,          -- user/name:tag
  user TEXT NOT NULL,
  id TEXT NOT NULL,               -- manifest blob hash
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS images_by_id ON images (id);
CREATE TABLE IF NOT EXISTS scripts (
  user TEXT NOT NULL,
  hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (user, hash)
) WITHOUT ROWID;
`;

export class FileserverDb {
  private readonly db: Database.Database;
  private readonly q;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // FULL: a committed name or ownership row survives power loss, like the blobs do.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 10000');
    this.db.exec(SCHEMA);
    this.migrate();
    this.q = {
      userByToken: this.db.prepare<[string], { name: string; role: Role }>('SELECT name, role FROM users WHERE token_sha256 = ?'),
      insertUser: this.db.prepare('INSERT INTO users (name, token_sha256, role, created_at) VALUES (?, ?, ?, ?)'),
      replaceToken: this.db.prepare('UPDATE users SET token_sha256 = ? WHERE name = ?'),
      owns: this.db.prepare<[string, string], { one: number }>('SELECT 1 AS one FROM blob_owners WHERE user = ? AND hash = ?'),
      own: this.db.prepare('INSERT INTO blob_owners (user, hash, touched_at) VALUES (?, ?, ?) ON CONFLICT(user, hash) DO UPDATE SET touched_at = excluded.touched_at'),
      // Many hashes per statement (a JSON array through json_each): a batch of 2000 is one
      // statement, not 2000 (those were ~0.8 s of the fileserver's CPU in a first export).
      touchMany: this.db.prepare<[number, string, string], { hash: string }>('UPDATE blob_owners SET touched_at = ? WHERE user = ? AND hash IN (SELECT value FROM json_each(?)) RETURNING hash'),
      ownedOf: this.db.prepare<[string, string], { hash: string }>('SELECT hash FROM blob_owners WHERE user = ? AND hash IN (SELECT value FROM json_each(?))'),
      ownMany: this.db.prepare('INSERT INTO blob_owners (user, hash, touched_at) SELECT ?, value, ? FROM json_each(?) WHERE true ON CONFLICT(user, hash) DO UPDATE SET touched_at = excluded.touched_at'),
      recentOwner: this.db.prepare<[string, number], { one: number }>('SELECT 1 AS one FROM blob_owners WHERE hash = ? AND touched_at >= ? LIMIT 1'),
      forget: this.db.prepare('DELETE FROM blob_owners WHERE hash = ?'),
      imageIds: this.db.prepare<[], { id: string }>('SELECT DISTINCT id FROM images'),
      scriptHashes: this.db.prepare<[], { hash: string }>('SELECT DISTINCT hash FROM scripts'),
      setImage: this.db.prepare('INSERT INTO images (name, user, id, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET id = excluded.id, updated_at = excluded.updated_at'),
      getImage: this.db.prepare<[string], { user: string; id: string }>('SELECT user, id FROM images WHERE name = ?'),
      nameForId: this.db.prepare<[string, string], { name: string }>('SELECT name FROM images WHERE user = ? AND id = ? ORDER BY updated_at DESC LIMIT 1'),
      addScript: this.db.prepare('INSERT OR IGNORE INTO scripts (user, hash, created_at) VALUES (?, ?, ?)'),
      hasScript: this.db.prepare<[string, string], { one: number }>('SELECT 1 AS one FROM scripts WHERE user = ? AND hash = ?'),
    };
  }

  /** Bring a data directory made by an earlier version up to this schema. */
  private migrate(): void {
    const columns = this.db.prepare<[], { name: string }>('PRAGMA table_info(blob_owners)').all().map((c) => c.name);
    // touched_at arrived with GC; 0 = "long ago", and GC still keeps anything referenced.
    if (!columns.includes('touched_at')) this.db.exec('ALTER TABLE blob_owners ADD COLUMN touched_at INTEGER NOT NULL DEFAULT 0');
  }

  /** Create a user; returns the token (shown once, stored only as its hash). */
  addUser(name: string, role: Role = 'user'): string {
    if (!USER_NAME_RE.test(name)) throw new UsageError(`invalid user name ${JSON.stringify(name)}: lowercase letters, digits, '.', '_' and '-', at most 64`);
    if (!ROLES.includes(role)) throw new UsageError(`invalid role ${JSON.stringify(role)}: one of ${ROLES.join(', ')}`);
    const token = newToken();
    try {
      this.q.insertUser.run(name, sha256(token), role, Date.now());
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new SwayError('SWAY_USER_EXISTS', `user ${name} already exists`, 409);
      throw err;
    }
    return token;
  }

  /** Give a user a new token; the old one stops working at once. Returns the new token. */
  rotateToken(name: string): string {
    const token = newToken();
    if (this.q.replaceToken.run(sha256(token), name).changes === 0) throw new NotFoundError(`no user ${name}`);
    return token;
  }

  userByToken(token: string): User | undefined {
    return this.q.userByToken.get(sha256(token));
  }

  ownsBlob(user: string, hash: string): boolean {
    return this.q.owns.get(user, hash) !== undefined;
  }

  /** Does `user` own every one of `hashes`? Read-only (marks nothing as relied upon). */
  ownsAll(user: string, hashes: Iterable<string>): boolean {
    return this.db.transaction(() => {
      for (const h of hashes) if (this.q.owns.get(user, h) === undefined) return false;
      return true;
    })();
  }

  /**
   * The hashes of `hashes` this user does not own (in order, deduplicated). The ones
   * they do own are marked as just relied upon (an export is about to use them), which
   * keeps GC off them.
   */
  notOwned(user: string, hashes: Iterable<string>): string[] {
    const asked = [...new Set(hashes)];
    if (asked.length === 0) return [];
    const owned = new Set(this.q.touchMany.all(Date.now(), user, JSON.stringify(asked)).map((r) => r.hash));
    return asked.filter((h) => !owned.has(h));
  }

  /** The hashes of `hashes` this user owns, in one statement. Read-only, like ownsAll. */
  ownedOf(user: string, hashes: Iterable<string>): Set<string> {
    const asked = [...new Set(hashes)];
    return new Set(asked.length ? this.q.ownedOf.all(user, JSON.stringify(asked)).map((r) => r.hash) : []);
  }

  recordOwnership(user: string, hashes: Iterable<string>): void {
    const list = [...hashes];
    if (list.length) this.q.ownMany.run(user, Date.now(), JSON.stringify(list));
  }

  // --- garbage collection -------------------------------------------------------

  /** Image ids any name points at, and script hashes: the roots GC keeps. */
  gcRoots(): { imageIds: string[]; scripts: string[] } {
    return { imageIds: this.q.imageIds.all().map((r) => r.id), scripts: this.q.scriptHashes.all().map((r) => r.hash) };
  }

  /** Did anyone upload, sync or publish `hash` at or after `cutoff` (ms)? */
  reliedOnSince(hash: string, cutoff: number): boolean {
    return this.q.recentOwner.get(hash, cutoff) !== undefined;
  }

  /**
   * Atomically: if nobody relied on `hash` since `cutoff` (ms), drop every ownership of
   * it (and, were it an image's manifest, that image's start profile) and return true (the
   * caller then deletes the bytes); else change nothing.
   */
  forgetBlobIfStale(hash: string, cutoff: number): boolean {
    this.ensureProfiles();
    return this.db.transaction(() => {
      if (this.q.recentOwner.get(hash, cutoff)) return false;
      this.forgetBlob(hash);
      return true;
    })();
  }

  /** Drop every ownership of `hash` (and its start profile). */
  forgetBlob(hash: string): void {
    this.ensureProfiles();
    this.db.transaction(() => {
      this.q.forget.run(hash);
      // Start profiles are kept by image id (one per owner): they go with its manifest blob.
      this.db.prepare('DELETE FROM image_profiles WHERE image_id = ?').run(hash);
    })();
  }

  setImage(name: string, user: string, id: string): void {
    this.q.setImage.run(name, user, id, Date.now());
  }

  getImage(name: string): { user: string; id: string } | undefined {
    return this.q.getImage.get(name);
  }

  /** The most recently set name of this user's that points at `id`. */
  nameForId(user: string, id: string): string | undefined {
    return this.q.nameForId.get(user, id)?.name;
  }

  addScript(user: string, hash: string): void {
    this.db.transaction(() => {
      this.q.addScript.run(user, hash, Date.now());
      this.q.own.run(user, hash, Date.now());
    })();
  }

  hasScript(user: string, hash: string): boolean {
    return this.q.hasScript.get(user, hash) !== undefined;
  }

  // --- start profiles (ts/fileserver/handlers/profiles.ts) ---------------------------
  // Kept in their own table, created here so this stays additive to the schema above.
  // One profile per (image, owner): users who export the same image never share one.

  /** `owner`'s start profile of an image (blob hashes in first-access order, chunk runs), if stored. */
  getProfile(imageId: string, owner: string): { hashes: string[]; chunks: ChunkRuns[]; updatedAt: number } | undefined {
    this.ensureProfiles();
    const row = this.db.prepare<[string, string], { hashes: string; chunks: string; updated_at: number }>('SELECT hashes, chunks, updated_at FROM image_profiles WHERE image_id = ? AND owner = ?').get(imageId, owner);
    return row ? { hashes: JSON.parse(row.hashes) as string[], chunks: JSON.parse(row.chunks) as ChunkRuns[], updatedAt: row.updated_at } : undefined;
  }

  /**
   * Merge `hashes` and `chunks` into `owner`'s profile of an image in one transaction: the
   * stored order first, then new blobs in the order given; at most `caps.hashes` hashes and
   * `caps.chunkRuns` chunk runs in all. Returns what is stored.
   */
  mergeProfile(imageId: string, owner: string, hashes: string[], chunks: ChunkRuns[], caps: { hashes: number; chunkRuns: number }): { hashes: string[]; chunks: ChunkRuns[] } {
    this.ensureProfiles();
    return this.db.transaction(() => {
      const stored = this.getProfile(imageId, owner);
      const merged = [...new Set([...(stored?.hashes ?? []), ...hashes])].slice(0, caps.hashes);
      const mergedChunks: ChunkRuns[] = [];
      let runs = 0;
      for (const entry of mergeChunkRuns(stored?.chunks ?? [], chunks)) {
        if (runs + entry.runs.length > caps.chunkRuns) break;
        runs += entry.runs.length;
        mergedChunks.push(entry);
      }
      this.db.prepare('INSERT INTO image_profiles (image_id, owner, hashes, chunks, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(image_id, owner) DO UPDATE SET hashes = excluded.hashes, chunks = excluded.chunks, updated_at = excluded.updated_at')
        .run(imageId, owner, JSON.stringify(merged), JSON.stringify(mergedChunks), Date.now());
      return { hashes: merged, chunks: mergedChunks };
    })();
  }

  private profilesReady = false;
  private ensureProfiles(): void {
    if (this.profilesReady) return;
    this.db.transaction(() => {
      // A table of an earlier version kept one profile per image, shared by every user who
      // exported it and mostly written by workers, so its rows name no owner: they are
      // dropped (a profile is an optimisation; each owner's next run records one again).
      const columns = this.db.prepare<[], { name: string }>('PRAGMA table_info(image_profiles)').all();
      if (columns.length && !columns.some((c) => c.name === 'owner')) this.db.exec('DROP TABLE image_profiles');
      this.db.exec(`CREATE TABLE IF NOT EXISTS image_profiles (
        image_id TEXT NOT NULL,      -- manifest blob hash
        owner TEXT NOT NULL,         -- the user whose runs it records (users.name)
        hashes TEXT NOT NULL,        -- JSON array of blob hashes, first access first
        chunks TEXT NOT NULL,        -- JSON [{hash, runs: [[first, count], …]}], files read by chunk
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (image_id, owner)
      ) WITHOUT ROWID`);
    })();
    this.profilesReady = true;
  }

  close(): void { this.db.close(); }
}

/** A bearer token: 256 random bits; only its SHA-256 is ever stored. */
function newToken(): string {
  return `sway_${randomBytes(32).toString('base64url')}`;
}
