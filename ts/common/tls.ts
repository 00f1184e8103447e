// TLS material for sway's servers: a private CA and server certificates signed by it.
//
// On first use `ensureTlsMaterial(dir)` creates a CA and a server certificate for
// localhost, 127.0.0.1, ::1 plus the given SANs. `dir` holds only ca.pem, the public
// certificate clients and workers trust, so it can be shared or copied as a whole; every
// private key (ca-key.pem, which can sign certificates for any name, and the servers')
// and the server certificates live in the sibling `<dir>-private/` (mode 0700). A
// directory of earlier versions, keys beside ca.pem, is moved over at start: same CA, so
// existing clients keep trusting it. Clients verify against ca.pem; verification is never
// turned off anywhere in sway. Later calls reuse everything. Server certificates are named
// by their SAN set (server-<digest>.crt + .key), so
// two servers sharing one directory (fileserver and worker in `sway up`) with different
// SANs each get their own certificate from the one CA instead of overwriting each other;
// a changed SAN set simply issues a new one.
//
// Uses Debian's `openssl` CLI synchronously: this runs once at server start. A lock file
// serialises processes that start at the same moment on one directory.
// Deliberately does not: rotate or revoke certificates, or load given material (see
// `useGivenTlsMaterial`, which only checks the files exist).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError } from './errors.js';

export interface TlsMaterial {
  /** PEM CA certificate clients must trust. */
  caCertPath: string;
  /** PEM server certificate (leaf, signed by the CA). */
  certPath: string;
  /** PEM private key of the server certificate (mode 0600). */
  keyPath: string;
}

const DEFAULT_SANS = ['localhost', '127.0.0.1', '::1'];
const CA_DAYS = 3650;
const SERVER_DAYS = 825;
const LOCK_WAIT_MS = 60_000;
const STALE_LOCK_MS = 120_000;

/** Create (first call) or reuse the CA and a server certificate in `dir`. */
export function ensureTlsMaterial(dir: string, opts: { sans?: string[] } = {}): TlsMaterial {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const priv = privateTlsDir(dir);
  mkdirSync(priv, { recursive: true, mode: 0o700 });
  chmodSync(priv, 0o700);
  const sans = normaliseSans([...DEFAULT_SANS, ...(opts.sans ?? [])]);
  const caCertPath = join(dir, 'ca.pem');
  const caKeyPath = join(priv, 'ca-key.pem');
  const digest = createHash('sha256').update(sans.join(',')).digest('hex').slice(0, 12);
  const certPath = join(priv, `server-${digest}.crt`);
  const keyPath = join(priv, `server-${digest}.key`);

  // Fast path without the lock: everything exists (files appear only by rename), nothing to move.
  if (existsSync(caCertPath) && existsSync(caKeyPath) && existsSync(certPath) && existsSync(keyPath) && legacyFiles(dir).length === 0) {
    return { caCertPath, certPath, keyPath };
  }
  return withLock(join(priv, '.tls.lock'), () => {
    for (const name of legacyFiles(dir)) moveInto(join(dir, name), join(priv, name));
    if (!existsSync(caCertPath) || !existsSync(caKeyPath)) createCa(priv, caCertPath, caKeyPath);
    if (!existsSync(certPath) || !existsSync(keyPath)) createServerCert(priv, sans, caCertPath, caKeyPath, certPath, keyPath);
    return { caCertPath, certPath, keyPath };
  });
}

/** Where the keys of the TLS directory `dir` live: the sibling `<dir>-private`. */
export function privateTlsDir(dir: string): string {
  const abs = resolve(dir);
  return join(dirname(abs), `${basename(abs)}-private`);
}

/** Keys and server certificates an earlier version kept beside ca.pem. */
function legacyFiles(dir: string): string[] {
  return readdirSync(dir).filter((n) => n === 'ca-key.pem' || /^server-[0-9a-f]+\.(crt|key)$/.test(n));
}

/** Move a file (a copy, then unlink, across filesystems); a copy already there wins. */
function moveInto(from: string, to: string): void {
  if (existsSync(to)) { unlinkSync(from); return; }
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    const tmp = `${to}.tmp-${process.pid}`;
    copyFileSync(from, tmp);
    chmodSync(tmp, 0o600);
    renameSync(tmp, to);
    unlinkSync(from);
  }
}

/** Given material from --tls-cert/--tls-key/--tls-ca: check it is readable, use it as is. */
export function useGivenTlsMaterial(given: { cert: string; key: string; ca: string }): TlsMaterial {
  for (const [flag, path] of [['--tls-cert', given.cert], ['--tls-key', given.key], ['--tls-ca', given.ca]] as const) {
    try { readFileSync(path); } catch (err) {
      throw new ConfigError(`cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return { caCertPath: given.ca, certPath: given.cert, keyPath: given.key };
}

/**
 * Server flags → material: all three given files, or none (then generated in `dir`).
 * A partial set is a usage mistake worth one clear line.
 */
export function resolveServerTls(dir: string, flags: { tlsCert?: string; tlsKey?: string; tlsCa?: string; sans?: string[] }): TlsMaterial {
  const given = [flags.tlsCert, flags.tlsKey, flags.tlsCa].filter(Boolean).length;
  if (given === 3) return useGivenTlsMaterial({ cert: flags.tlsCert!, key: flags.tlsKey!, ca: flags.tlsCa! });
  if (given !== 0) throw new ConfigError('pass all of --tls-cert, --tls-key and --tls-ca, or none of them (then sway creates its own CA)');
  return ensureTlsMaterial(dir, { sans: flags.sans });
}

function normaliseSans(sans: string[]): string[] {
  const out = new Set<string>();
  for (const raw of sans) {
    const s = raw.trim().replace(/^\[|\]$/g, '');
    if (!s) continue;
    if (!isIP(s) && !/^[A-Za-z0-9*]([A-Za-z0-9.*-]{0,252})$/.test(s)) throw new ConfigError(`invalid --san ${JSON.stringify(raw)}: expected an IP address or a DNS name`);
    out.add(isIP(s) ? s : s.toLowerCase());
  }
  return [...out].sort();
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new ConfigError('openssl not found: install the openssl package to let sway create its TLS certificates');
    throw new ConfigError(`openssl ${args[0]} failed: ${e.stderr?.toString().trim().split('\n')[0] ?? e.message}`);
  }
}

function createCa(dir: string, caCertPath: string, caKeyPath: string): void {
  const tmpKey = join(dir, `.ca-key.pem.tmp-${process.pid}`);
  // Beside its final name: the public directory may be another filesystem (a shared mount).
  const tmpCert = join(dirname(caCertPath), `.ca.pem.tmp-${process.pid}`);
  try {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', tmpKey, '-out', tmpCert, '-days', String(CA_DAYS), '-sha256',
      '-subj', `/CN=sway CA ${new Date().toISOString().slice(0, 10)}`,
      '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
    chmodSync(tmpKey, 0o600);
    // Key first: the certificate's presence is what marks the pair complete.
    renameSync(tmpKey, caKeyPath);
    renameSync(tmpCert, caCertPath);
  } finally {
    rmSync(tmpKey, { force: true });
    rmSync(tmpCert, { force: true });
  }
}

function createServerCert(dir: string, sans: string[], caCertPath: string, caKeyPath: string, certPath: string, keyPath: string): void {
  const base = join(dir, `.server.tmp-${process.pid}`);
  const tmpKey = `${base}-key.pem`, csr = `${base}.csr`, ext = `${base}.ext`, tmpCert = `${base}.pem`;
  const altNames = sans.map((s) => (isIP(s) ? `IP:${s}` : `DNS:${s}`)).join(',');
  try {
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', tmpKey, '-out', csr, '-subj', '/CN=sway server'], dir);
    chmodSync(tmpKey, 0o600);
    writeFileSync(ext, [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${altNames}`,
    ].join('\n') + '\n');
    openssl(['x509', '-req', '-in', csr, '-CA', caCertPath, '-CAkey', caKeyPath, '-set_serial', `0x${randomSerial()}`,
      '-days', String(SERVER_DAYS), '-sha256', '-extfile', ext, '-out', tmpCert], dir);
    renameSync(tmpKey, keyPath);
    renameSync(tmpCert, certPath);
  } finally {
    for (const f of [tmpKey, csr, ext, tmpCert]) rmSync(f, { force: true });
  }
}

function randomSerial(): string {
  return createHash('sha256').update(`${process.pid}-${Date.now()}-${Math.random()}`).digest('hex').slice(0, 30);
}

/** Run `fn` holding an exclusive lock file; waits for another process, breaks stale locks. */
function withLock<T>(lockPath: string, fn: () => T): T {
  const deadline = Date.now() + LOCK_WAIT_MS;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      closeSync(openSync(lockPath, 'wx', 0o600));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(lockPath).mtimeMs > STALE_LOCK_MS) { unlinkSync(lockPath); continue; }
      } catch { continue; }
      if (Date.now() > deadline) throw new ConfigError(`timed out waiting for TLS lock ${lockPath}; remove it if no sway server is starting`);
      Atomics.wait(sleeper, 0, 0, 50);
    }
  }
  try { return fn(); } finally { rmSync(lockPath, { force: true }); }
}
