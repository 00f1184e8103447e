// Issue 6, isolation: users A (alice) and B (bob) against every route of the fileserver and
// of the worker, on a real installation (`sway up`: TLS, SQLite, FUSE, runc).
//
// For every route: no token → 401, a bad token → 401; B acting on each of A's objects (image
// names and ids, the manifest blob, file blobs, a loose blob, the script, runs) is refused,
// and the refusal is byte-for-byte the answer B gets for an object that does not exist (so
// it reveals neither the bytes nor the existence); A on its own objects is served. The route
// list is read from the code (every register* function of ts/fileserver/handlers/, the
// worker's registerWorkerRoutes and registerDashboardRoutes): a route added without a row
// here fails the first test.
// Also: "knowing a hash grants nothing" (B crafts a manifest that lists A's file hash and
// tries it on the fileserver and on the worker), `sync` never tells B what A holds and B
// must upload the bytes (proof of possession), and no token reaches either server's log.
// Deliberately does not: measure response times (the comparison is of answers, not timing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { randomBytes, randomUUID } from 'node:crypto';
import { request } from 'undici';
import { ServiceClient } from '../../ts/common/http-client.js';
import { ensureTlsMaterial } from '../../ts/common/tls.js';
import { FileserverClient } from '../../ts/common/fileserver-client.js';
import { Router, type Handler } from '../../ts/common/server.js';
import { sha256 } from '../../ts/common/hash.js';
import { decodeManifest, encodeManifest, emptyImageConfig } from '../../ts/common/manifest.js';
import { encodeFrameHeader } from '../../ts/common/protocol.js';
import { registerWorkerRoutes } from '../../ts/worker/server.js';
import { registerDashboardRoutes } from '../../ts/worker/dashboard/routes.js';
import { WorkerClient } from '../../ts/worker/client.js';
import { publishTree } from '../worker/publish.js';
import { removeTempDir } from '../helpers/tmp.js';
import { startFileserver } from '../../ts/fileserver/index.js';
import { LocalBlobStore } from '../../ts/fileserver/store/local-store.js';
import { CLUSTER_SKIP, startCluster, type Cluster } from './cluster.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const FILESERVER_HANDLERS = join(HERE, '../../ts/fileserver/handlers');

/** Records the routes a register function adds, without serving them. */
class RecordingRouter extends Router {
  readonly recorded: string[] = [];
  override add(method: string, pattern: string, handler: Handler): this {
    this.recorded.push(`${method.toUpperCase()} ${pattern}`);
    return super.add(method, pattern, handler);
  }
}

/** Every route the fileserver's handler modules register (each module's register* exports). */
async function fileserverRoutes(): Promise<string[]> {
  const router = new RecordingRouter();
  for (const file of readdirSync(FILESERVER_HANDLERS).filter((f) => f.endsWith('.js')).sort()) {
    const mod = await import(pathToFileURL(join(FILESERVER_HANDLERS, file)).href) as Record<string, unknown>;
    for (const [name, fn] of Object.entries(mod)) {
      if (name.startsWith('register') && typeof fn === 'function') (fn as (r: Router, fs: unknown) => void)(router, {});
    }
  }
  return router.recorded.sort();
}

function workerRoutes(): string[] {
  const router = new RecordingRouter();
  registerWorkerRoutes(router, () => {});
  registerDashboardRoutes(router, { runLog: { recent: () => [], get: () => undefined }, metrics: { metricsText: async () => '', contentType: 'text/plain' }, authenticate: async () => ({ user: 'x', role: 'user' }) });
  return router.recorded.sort();
}

// The routes this file covers, each with the test section that covers it.
const FILESERVER_MATRIX: Record<string, string> = {
  'GET /healthz': 'public: no token, no data',
  'GET /v1/whoami': 'each token sees only itself',
  'GET /v1/blobs/:hash': 'A\'s file, manifest, loose and script blobs; HEAD and Range too',
  'PUT /v1/blobs/:hash': 'B cannot write under A\'s hash without the bytes; 201 never tells B that A holds it',
  'POST /v1/blobs/fetch-batch': 'A\'s hashes come back "missing" for B, like absent ones',
  'POST /sync': 'B is asked to upload every hash of A\'s',
  'PUT /batch-upload': 'B cannot store A\'s hash without the bytes',
  'PUT /v1/images/*ref': 'B cannot move A\'s name, nor name A\'s id',
  'GET /v1/images/*ref': 'A\'s name and id are 404 for B',
  'GET /v1/manifests/*ref': 'A\'s manifest by name and id is 404 for B',
  'PUT /v1/scripts': 'writers only; B uploading proves possession',
  'GET /v1/scripts/:hash': 'A\'s script is 404 for B',
  'GET /fetch': 'A\'s files and listings are 404 for B',
  'GET /v1/profiles/:id': 'the caller\'s own start profile: A\'s image\'s is 404 for B, like an absent one; B\'s of a crafted manifest never tells A\'s hash from an absent one; a worker token has none',
  'PUT /v1/profiles/:id': 'B cannot write the profile of A\'s image, nor put A\'s hash in his own; a worker token cannot write one',
  'POST /v1/admin/gc': 'admin only',
};
const WORKER_MATRIX: Record<string, string> = {
  'GET /healthz': 'public: no token, no data',
  'GET /': 'public page: no data, no token',
  'GET /dashboard/app.js': 'public asset',
  'GET /dashboard/app.css': 'public asset',
  'POST /v1/runs': 'B cannot run A\'s image (name, id, crafted manifest) nor A\'s script; output goes to the caller only',
  'GET /v1/runs': 'B\'s list holds none of A\'s runs',
  'GET /v1/runs/:id': 'A\'s run is 404 for B, like an unknown id',
  'GET /metrics': 'admin and worker tokens only; no names, tokens, scripts or output in it',
};

test('the matrix covers every route the fileserver and the worker register', async () => {
  assert.deepEqual(await fileserverRoutes(), Object.keys(FILESERVER_MATRIX).sort(), 'a fileserver route was added or removed: add it to FILESERVER_MATRIX and test it below');
  assert.deepEqual(workerRoutes(), Object.keys(WORKER_MATRIX).sort(), 'a worker route was added or removed: add it to WORKER_MATRIX and test it below');
});

// ---------------------------------------------------------------------------------
// Probing: raw answers (status, headers, body) for any token, compared as a whole.
// ---------------------------------------------------------------------------------

interface Answer { status: number; headers: Record<string, string>; body: Buffer }
interface Req { method?: 'GET' | 'HEAD' | 'PUT' | 'POST'; path: string; body?: Buffer | string; json?: unknown; headers?: Record<string, string> }

const ALL_STATUSES = Array.from({ length: 200 }, (_, i) => 400 + i);

class Prober {
  private readonly clients = new Map<string, ServiceClient>();
  /** Assertions made, for the report. */
  checks = 0;
  readonly routesHit = new Set<string>();
  constructor(private readonly ca: string) {}

  async call(url: string, token: string | undefined, req: Req): Promise<Answer> {
    const key = `${url}\n${token ?? ''}`;
    let client = this.clients.get(key);
    if (!client) this.clients.set(key, (client = new ServiceClient({ url, token, caFile: this.ca, what: 'server' })));
    const headers = { ...(req.headers ?? {}) };
    let body = req.body;
    if (req.json !== undefined) { body = JSON.stringify(req.json); headers['content-type'] = 'application/json'; }
    const res = await client.request(req.path, { method: req.method ?? 'GET', body, headers, okStatuses: ALL_STATUSES });
    const buf = Buffer.from(await res.body.arrayBuffer());
    const flat: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) flat[k] = Array.isArray(v) ? v.join(', ') : String(v);
    return { status: res.statusCode, headers: flat, body: buf };
  }

  eq<T>(actual: T, expected: T, what: string): void { this.checks++; assert.deepEqual(actual, expected, what); }
  ok(cond: boolean, what: string): void { this.checks++; assert.ok(cond, what); }

  /** The answer must not contain `secret` (bytes or text). */
  hides(a: Answer, secret: Buffer | string, what: string): void {
    const s = typeof secret === 'string' ? Buffer.from(secret) : secret;
    this.checks++;
    assert.ok(s.length === 0 || (a.body.indexOf(s) < 0 && !Object.values(a.headers).some((v) => v.includes(s.toString('latin1')))), `${what}: the answer contains the secret`);
  }

  /** Two answers are the same once `refA`/`refB` are replaced: nothing tells one object from the other. */
  same(a: Answer, b: Answer, refA: string[], refB: string[], what: string): void {
    const norm = (x: Answer, refs: string[]) => {
      let body = x.body.toString('latin1');
      refs.forEach((r, i) => { body = body.split(r).join(`<REF${i}>`); });
      const headers = { ...x.headers };
      for (const h of ['date', 'content-length', 'connection', 'keep-alive']) delete headers[h];
      for (const [k, v] of Object.entries(headers)) refs.forEach((r, i) => { headers[k] = headers[k]!.split(r).join(`<REF${i}>`); void v; });
      return { status: x.status, headers, body };
    };
    this.eq(norm(a, refA), norm(b, refB), `${what}: the refusal differs from the answer for something that does not exist`);
  }

  async close(): Promise<void> { for (const c of this.clients.values()) await c.close(); }
}

function frames(files: { key: string; hash: string; content: Buffer }[]): Buffer {
  return Buffer.concat(files.flatMap((f) => [encodeFrameHeader({ key: f.key, hash: f.hash, size: f.content.length }), f.content]));
}

function randomHash(): string { return sha256(randomBytes(32)); }

test('users A and B against every route: 401 without a valid token, B refused on A\'s objects exactly as on absent ones, A served', { skip: CLUSTER_SKIP, timeout: 600_000 }, async (t) => {
  const cluster: Cluster = await startCluster(t);
  const tokens = {
    alice: cluster.addUser('alice'),
    bob: cluster.addUser('bob'),
    admin: cluster.addUser('root-admin', 'admin'),
    worker: cluster.workerToken,
  };
  const BAD = `sway_${randomBytes(32).toString('base64url')}`;
  const p = new Prober(cluster.ca);
  const closers: (() => Promise<void>)[] = [() => p.close()];
  t.after(async () => { for (const c of closers) await c(); });
  const fsc = (token: string) => { const c = new FileserverClient({ url: cluster.fileserverUrl, token, caFile: cluster.ca }); closers.push(() => c.close()); return c; };
  const FS = cluster.fileserverUrl, W = cluster.workerUrl;

  // --- A's objects ---------------------------------------------------------------
  const secretText = `alice-file-secret-${randomUUID()}\n`;
  const aliceRoot = join(cluster.dir, 'alice-rootfs');
  await mkdir(aliceRoot);
  const { execFileSync } = await import('node:child_process');
  execFileSync('cp', ['-a', `${cluster.rootfs}/.`, aliceRoot]);
  await writeFile(join(aliceRoot, 'app', 'secret.txt'), secretText);
  const alice = fsc(tokens.alice), bob = fsc(tokens.bob);
  const aliceImage = await publishTree(alice, aliceRoot, 'alice/bb:latest', { workingDir: '/app', cmd: ['sh', 'main.sh'] });
  const bobImage = await publishTree(bob, cluster.rootfs, 'bob/bb:latest', { workingDir: '/app', cmd: ['sh', 'main.sh'] });
  const manifestBytes = (await alice.getManifest(aliceImage.id)).blob;
  const fileBlob = { hash: sha256(Buffer.from(secretText)), content: Buffer.from(secretText) };
  const manifestBlob = { hash: aliceImage.id, content: manifestBytes };
  const looseContent = Buffer.from(`alice-loose-${randomUUID()}`);
  const looseBlob = { hash: sha256(looseContent), content: looseContent };
  await alice.putBlob(looseBlob.hash, looseContent, looseContent.length);
  const scriptContent = Buffer.from(`echo "alice-script-secret-${randomUUID()}"; cat /app/secret.txt\n`);
  const scriptBlob = { hash: await alice.uploadScript(scriptContent), content: scriptContent };
  const blobs = { file: fileBlob, manifest: manifestBlob, loose: looseBlob, script: scriptBlob };
  // Two more of A's blobs, kept only for the upload probes (B proves possession on them).
  const probeContent = Buffer.from(`alice-probe-${randomUUID()}`);
  const probeBlob = { hash: sha256(probeContent), content: probeContent };
  await alice.putBlob(probeBlob.hash, probeContent, probeContent.length);

  // One run of A's, which prints the file and the script's secret.
  const aliceWorker = new WorkerClient({ url: W, token: tokens.alice, caFile: cluster.ca });
  closers.push(() => aliceWorker.close());
  let aliceOut = '';
  const aliceRun = await aliceWorker.run({ image: 'alice/bb:latest', script: { hash: scriptBlob.hash, name: 'main.sh' } }, { onStdout: (b) => { aliceOut += b.toString(); } });
  assert.equal(aliceRun.exit, 0);
  assert.ok(aliceOut.includes(secretText.trim()), aliceOut);

  // Every non-public request is refused without a token and with a bad one.
  const unauthenticated = async (url: string, req: Req, secrets: (Buffer | string)[], what: string) => {
    for (const [label, token] of [['no token', undefined], ['bad token', BAD]] as const) {
      const a = await p.call(url, token, req);
      p.eq(a.status, 401, `${what} with ${label}`);
      for (const s of secrets) p.hides(a, s, `${what} with ${label}`);
    }
  };

  // --- fileserver --------------------------------------------------------------------
  // GET /healthz: public, and holds nothing.
  {
    const a = await p.call(FS, undefined, { path: '/healthz' });
    p.eq([a.status, JSON.parse(a.body.toString())], [200, { ok: true }], 'fileserver /healthz');
  }
  // GET /v1/whoami: each token learns only itself.
  await unauthenticated(FS, { path: '/v1/whoami' }, [], 'whoami');
  for (const [name, token] of [['alice', tokens.alice], ['bob', tokens.bob]] as const) {
    const a = await p.call(FS, token, { path: '/v1/whoami' });
    p.eq(JSON.parse(a.body.toString()), { user: name, role: 'user' }, `whoami as ${name}`);
  }

  // GET/HEAD /v1/blobs/:hash, plain, with Range and with If-None-Match.
  for (const [kind, blob] of Object.entries(blobs)) {
    const other = randomHash();
    for (const variant of [{}, { range: 'bytes=0-3' }, { 'if-none-match': `"${blob.hash}"` }] as Record<string, string>[]) {
      for (const method of ['GET', 'HEAD'] as const) {
        const what = `${method} A's ${kind} blob ${JSON.stringify(variant)}`;
        const req = (h: string): Req => ({ method, path: `/v1/blobs/${h}`, headers: Object.fromEntries(Object.entries(variant).map(([k, v]) => [k, v.replace(blob.hash, h)])) });
        await unauthenticated(FS, req(blob.hash), [blob.content], what);
        const b = await p.call(FS, tokens.bob, req(blob.hash));
        p.eq(b.status, 404, `${what} as B`);
        p.hides(b, blob.content, `${what} as B`);
        p.same(b, await p.call(FS, tokens.bob, req(other)), [blob.hash], [other], `${what} as B`);
        const a = await p.call(FS, tokens.alice, req(blob.hash));
        const expected = variant['if-none-match'] ? 304 : variant.range ? 206 : 200;
        p.eq(a.status, expected, `${what} as A`);
        if (method === 'GET' && expected === 200) p.ok(a.body.equals(blob.content), `${what} as A: the bytes`);
        const w = await p.call(FS, tokens.worker, req(blob.hash));
        p.eq(w.status, expected, `${what} as the worker`);
      }
    }
  }

  // PUT /v1/blobs/:hash: B claiming A's hash with other bytes is refused and gains nothing.
  {
    const req: Req = { method: 'PUT', path: `/v1/blobs/${probeBlob.hash}`, body: Buffer.from('not alice\'s bytes') };
    await unauthenticated(FS, req, [], 'PUT A\'s hash');
    const b = await p.call(FS, tokens.bob, req);
    p.eq(b.status, 400, 'PUT A\'s hash with wrong bytes as B');
    const fresh = randomHash();
    p.same(b, await p.call(FS, tokens.bob, { ...req, path: `/v1/blobs/${fresh}` }), [probeBlob.hash], [fresh], 'PUT A\'s hash with wrong bytes as B');
    p.eq((await p.call(FS, tokens.bob, { path: `/v1/blobs/${probeBlob.hash}` })).status, 404, 'after a refused PUT, B still cannot read A\'s blob');
    p.eq((await p.call(FS, tokens.worker, { method: 'PUT', path: `/v1/blobs/${probeBlob.hash}`, body: probeContent })).status, 403, 'a worker token writes nothing');
    p.eq((await p.call(FS, tokens.alice, { method: 'PUT', path: `/v1/blobs/${probeBlob.hash}`, body: probeContent })).status, 200, 'A re-uploads her own blob: 200');
  }

  // POST /v1/blobs/fetch-batch: A's hashes are "missing" for B, exactly like absent ones.
  {
    const mine = Object.values(blobs).map((b) => b.hash);
    const absent = mine.map(() => randomHash());
    const req = (hashes: string[]): Req => ({ method: 'POST', path: '/v1/blobs/fetch-batch', json: { hashes } });
    await unauthenticated(FS, req(mine), Object.values(blobs).map((b) => b.content), 'fetch-batch');
    const b = await p.call(FS, tokens.bob, req(mine));
    p.eq(b.status, 200, 'fetch-batch as B');
    for (const blob of Object.values(blobs)) p.hides(b, blob.content, 'fetch-batch as B');
    p.same(b, await p.call(FS, tokens.bob, req(absent)), mine, absent, 'fetch-batch as B');
    const a = await p.call(FS, tokens.alice, req(mine));
    for (const blob of Object.values(blobs)) p.ok(a.body.indexOf(blob.content) >= 0, 'fetch-batch as A has her bytes');
  }

  // POST /sync: B is asked to upload every hash of A's, exactly as for absent ones.
  {
    const items = Object.entries(blobs).map(([key, b]) => ({ key, hash: b.hash }));
    const req = (list: { key: string; hash: string }[]): Req => ({ method: 'POST', path: '/sync', json: list });
    await unauthenticated(FS, req(items), [], 'sync');
    const b = await p.call(FS, tokens.bob, req(items));
    p.eq(JSON.parse(b.body.toString()), { upload: Object.keys(blobs) }, 'sync as B asks for all of A\'s blobs');
    const absent = items.map((i) => ({ key: i.key, hash: randomHash() }));
    p.same(b, await p.call(FS, tokens.bob, req(absent)), [], [], 'sync as B');
    p.eq(JSON.parse((await p.call(FS, tokens.alice, req(items))).body.toString()), { upload: [] }, 'sync as A asks for nothing');
  }

  // PUT /batch-upload: B cannot store under A's hash without A's bytes.
  {
    const req = (hash: string, content: Buffer): Req => ({ method: 'PUT', path: '/batch-upload', body: frames([{ key: 'k', hash, content }]) });
    await unauthenticated(FS, req(probeBlob.hash, probeContent), [], 'batch-upload');
    const b = await p.call(FS, tokens.bob, req(probeBlob.hash, Buffer.from('forged')));
    p.eq(b.status, 400, 'batch-upload of A\'s hash with wrong bytes as B');
    const fresh = randomHash();
    p.same(b, await p.call(FS, tokens.bob, req(fresh, Buffer.from('forged'))), [probeBlob.hash], [fresh], 'batch-upload with wrong bytes as B');
    p.eq((await p.call(FS, tokens.bob, { path: `/v1/blobs/${probeBlob.hash}` })).status, 404, 'after a refused batch, B still cannot read A\'s blob');
    p.eq((await p.call(FS, tokens.worker, req(probeBlob.hash, probeContent))).status, 403, 'batch-upload as a worker');
    p.eq((await p.call(FS, tokens.alice, req(probeBlob.hash, probeContent))).status, 200, 'batch-upload as A');
  }

  // Image names and manifests, by name and by id; /fetch by file and listing.
  {
    const refPairs: [string, string][] = [['alice/bb:latest', 'alice/nope:latest'], [aliceImage.id, randomHash()]];
    for (const [ref, absent] of refPairs) {
      for (const route of ['/v1/images/', '/v1/manifests/']) for (const method of ['GET', 'HEAD'] as const) {
        const what = `${method} ${route}${ref === aliceImage.id ? '<A\'s id>' : ref}`;
        await unauthenticated(FS, { method, path: route + ref }, [manifestBytes, aliceImage.id], what);
        const b = await p.call(FS, tokens.bob, { method, path: route + ref });
        p.eq(b.status, 404, `${what} as B`);
        p.hides(b, manifestBytes, `${what} as B`);
        if (ref !== aliceImage.id) p.hides(b, aliceImage.id, `${what} as B`);
        p.same(b, await p.call(FS, tokens.bob, { method, path: route + absent }), [ref], [absent], `${what} as B`);
        const a = await p.call(FS, tokens.alice, { method, path: route + ref });
        p.eq(a.status, 200, `${what} as A`);
        if (method === 'HEAD') p.eq(a.headers['sway-image-id'] ?? aliceImage.id, aliceImage.id, `${what} as A: the id`);
        else if (route === '/v1/manifests/') p.ok(a.body.equals(manifestBytes), `${what} as A: the manifest`);
        else p.eq(JSON.parse(a.body.toString()).id, aliceImage.id, `${what} as A: the id`);
      }
    }
    for (const [path, absent] of [['alice/bb:latest/app/secret.txt', 'alice/nope:latest/app/secret.txt'], ['alice/bb:latest/app/', 'alice/nope:latest/app/']]) {
      const req = (fp: string): Req => ({ path: `/fetch?filepath=${encodeURIComponent(fp)}` });
      await unauthenticated(FS, req(path), [secretText], `/fetch ${path}`);
      const b = await p.call(FS, tokens.bob, req(path));
      p.eq(b.status, 404, `/fetch ${path} as B`);
      p.hides(b, secretText, `/fetch ${path} as B`);
      p.hides(b, 'secret.txt', `/fetch ${path} as B`);
      p.same(b, await p.call(FS, tokens.bob, req(absent)), ['alice/bb:latest'], ['alice/nope:latest'], `/fetch ${path} as B`);
      const a = await p.call(FS, tokens.alice, req(path));
      p.eq(a.status, 200, `/fetch ${path} as A`);
      p.ok(a.body.includes(path.endsWith('/') ? 'secret.txt' : secretText), `/fetch ${path} as A`);
    }
    // B can neither move A's name nor put a name of his own on A's id.
    const move: Req = { method: 'PUT', path: '/v1/images/alice/bb:latest', json: { id: bobImage.id } };
    await unauthenticated(FS, move, [], 'PUT A\'s name');
    p.eq((await p.call(FS, tokens.bob, move)).status, 403, 'B moving A\'s name');
    p.eq((await p.call(FS, tokens.worker, move)).status, 403, 'a worker moving a name');
    const steal = await p.call(FS, tokens.bob, { method: 'PUT', path: '/v1/images/bob/stolen:latest', json: { id: aliceImage.id } });
    p.eq(steal.status, 409, 'B naming A\'s id');
    const absentId = randomHash();
    p.same(steal, await p.call(FS, tokens.bob, { method: 'PUT', path: '/v1/images/bob/stolen:latest', json: { id: absentId } }), [aliceImage.id], [absentId], 'B naming A\'s id');
    p.eq((await p.call(FS, tokens.bob, { path: '/v1/images/bob/stolen:latest' })).status, 404, 'no name was made');
    p.eq(JSON.parse((await p.call(FS, tokens.alice, { path: '/v1/images/alice/bb:latest' })).body.toString()).id, aliceImage.id, 'A\'s name did not move');
    p.eq((await p.call(FS, tokens.alice, { ...move, json: { id: aliceImage.id } })).status, 200, 'A points her own name');
  }

  // Scripts.
  {
    const put: Req = { method: 'PUT', path: '/v1/scripts', body: 'echo hi\n' };
    await unauthenticated(FS, put, [], 'PUT /v1/scripts');
    p.eq((await p.call(FS, tokens.worker, put)).status, 403, 'a worker uploading a script');
    p.eq((await p.call(FS, tokens.alice, put)).status, 201, 'A uploading a script');
    const absent = randomHash();
    for (const method of ['GET', 'HEAD'] as const) {
      const req: Req = { method, path: `/v1/scripts/${scriptBlob.hash}` };
      await unauthenticated(FS, req, [scriptContent], `${method} A's script`);
      const b = await p.call(FS, tokens.bob, req);
      p.eq(b.status, 404, `${method} A's script as B`);
      p.hides(b, scriptContent, `${method} A's script as B`);
      p.same(b, await p.call(FS, tokens.bob, { method, path: `/v1/scripts/${absent}` }), [scriptBlob.hash], [absent], `${method} A's script as B`);
      p.eq((await p.call(FS, tokens.alice, req)).status, 200, `${method} A's script as A`);
      p.eq((await p.call(FS, tokens.worker, req)).status, 200, `${method} A's script as the worker`);
    }
    // A blob of A's that is not a script is not one for A either.
    p.eq((await p.call(FS, tokens.alice, { path: `/v1/scripts/${looseBlob.hash}` })).status, 404, 'a loose blob is not a script');
  }

  // Start profiles of A's image: which of its files her runs read. The worker stored hers
  // after A's run above, with her token; B neither reads nor writes it, and his 404 is an
  // absent image's. A worker token has no profiles: it uses the run user's token.
  {
    const path = `/v1/profiles/${aliceImage.id}`;
    const absentPath = `/v1/profiles/${randomHash()}`;
    const put = (to: string): Req => ({ method: 'PUT', path: to, json: { hashes: [fileBlob.hash] } });
    await unauthenticated(FS, { path }, [fileBlob.hash], 'GET A\'s profile');
    await unauthenticated(FS, put(path), [], 'PUT A\'s profile');
    const b = await p.call(FS, tokens.bob, { path });
    p.eq(b.status, 404, 'GET A\'s profile as B');
    p.hides(b, fileBlob.hash, 'GET A\'s profile as B');
    p.same(b, await p.call(FS, tokens.bob, { path: absentPath }), [aliceImage.id], [absentPath.slice('/v1/profiles/'.length)], 'GET A\'s profile as B');
    const bPut = await p.call(FS, tokens.bob, put(path));
    p.eq(bPut.status, 404, 'PUT A\'s profile as B');
    p.same(bPut, await p.call(FS, tokens.bob, put(absentPath)), [aliceImage.id], [absentPath.slice('/v1/profiles/'.length)], 'PUT A\'s profile as B');
    p.eq((await p.call(FS, tokens.alice, put(path))).status, 200, 'A writes her image\'s profile');
    const a = await p.call(FS, tokens.alice, { path });
    p.eq(a.status, 200, 'A reads her image\'s profile');
    p.ok(JSON.parse(a.body.toString()).hashes.includes(fileBlob.hash), 'A\'s profile holds what she wrote');
    p.eq((await p.call(FS, tokens.worker, { path })).status, 403, 'a worker token reads no profile');
    p.eq((await p.call(FS, tokens.worker, put(path))).status, 403, 'a worker token writes no profile');
  }

  // POST /v1/admin/gc: admins only (dry run: nothing is deleted here).
  {
    const req: Req = { method: 'POST', path: '/v1/admin/gc', json: { dryRun: true } };
    await unauthenticated(FS, req, [], 'gc');
    for (const who of ['alice', 'bob', 'worker'] as const) p.eq((await p.call(FS, tokens[who], req)).status, 403, `gc as ${who}`);
    p.eq((await p.call(FS, tokens.admin, req)).status, 200, 'gc as an admin');
  }

  // --- knowing a hash grants nothing: B crafts a manifest listing A's file -------------
  {
    // B's own busybox image (every blob his) plus one entry: A's file, by its hash only.
    const bobManifest = decodeManifest((await bob.getManifest(bobImage.id)).blob);
    const crafted = encodeManifest({ ...bobManifest, entries: [
      ...bobManifest.entries,
      { path: 'stolen.txt', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: fileBlob.content.length, hash: fileBlob.hash },
    ] });
    const craftedId = sha256(crafted);
    p.eq((await p.call(FS, tokens.bob, { method: 'PUT', path: `/v1/blobs/${craftedId}`, body: crafted })).status, 201, 'B uploads a manifest of his own');
    for (const route of ['/v1/images/', '/v1/manifests/']) {
      const absent = randomHash();
      const b = await p.call(FS, tokens.bob, { path: route + craftedId });
      p.eq(b.status, 404, `${route}<crafted id> as B`);
      p.same(b, await p.call(FS, tokens.bob, { path: route + absent }), [craftedId], [absent], `${route}<crafted id> as B`);
    }
    p.eq((await p.call(FS, tokens.bob, { method: 'PUT', path: '/v1/images/bob/crafted:latest', json: { id: craftedId } })).status, 409, 'B cannot name the crafted manifest');
    // B's start profile of it: A's hash is answered exactly like a hash nobody holds (listed
    // in a twin of the manifest with the same size), so it tells neither its size nor existence.
    const nobodys = randomHash();
    const twin = encodeManifest({ ...bobManifest, entries: [
      ...bobManifest.entries,
      { path: 'stolen.txt', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: fileBlob.content.length, hash: nobodys },
    ] });
    const twinId = sha256(twin);
    p.eq((await p.call(FS, tokens.bob, { method: 'PUT', path: `/v1/blobs/${twinId}`, body: twin })).status, 201, 'B uploads a twin manifest');
    const putB = await p.call(FS, tokens.bob, { method: 'PUT', path: `/v1/profiles/${craftedId}`, json: { hashes: [fileBlob.hash] } });
    p.eq(putB.status, 400, 'B puts A\'s hash in his profile of the crafted manifest');
    p.same(putB, await p.call(FS, tokens.bob, { method: 'PUT', path: `/v1/profiles/${twinId}`, json: { hashes: [nobodys] } }), [craftedId, fileBlob.hash], [twinId, nobodys], 'B puts A\'s hash in his profile');
    const getB = await p.call(FS, tokens.bob, { path: `/v1/profiles/${craftedId}` });
    p.hides(getB, fileBlob.hash, 'B\'s profile of the crafted manifest');
    p.same(getB, await p.call(FS, tokens.bob, { path: `/v1/profiles/${twinId}` }), [craftedId], [twinId], 'B\'s profile of the crafted manifest');
    // The worker reads blobs with its own token: the run must be refused before that.
    const runReq = (image: string): Req => ({ method: 'POST', path: '/v1/runs', json: { image, command: ['cat', '/stolen.txt'] } });
    const absent = randomHash();
    const b = await p.call(W, tokens.bob, runReq(craftedId));
    p.eq(b.status, 404, 'B runs the crafted manifest by id');
    p.hides(b, secretText, 'B runs the crafted manifest');
    p.same(b, await p.call(W, tokens.bob, runReq(absent)), [craftedId], [absent], 'B runs the crafted manifest');
  }

  // --- worker --------------------------------------------------------------------------
  for (const path of ['/healthz', '/', '/dashboard/app.js', '/dashboard/app.css']) {
    const a = await p.call(W, undefined, { path });
    p.eq(a.status, 200, `worker ${path} is public`);
    for (const s of [aliceRun.runId, 'alice/bb', ...cluster.tokens(), secretText]) p.hides(a, s, `worker ${path}`);
  }

  // POST /v1/runs: A's image by name and id, A's script; all refused like absent ones.
  {
    const body = { image: 'alice/bb:latest', command: ['cat', '/app/secret.txt'] };
    await unauthenticated(W, { method: 'POST', path: '/v1/runs', json: body }, [secretText], 'POST /v1/runs');
    p.eq((await p.call(W, tokens.worker, { method: 'POST', path: '/v1/runs', json: body })).status, 403, 'a worker token starts no run');
    const cases: [unknown, unknown, string[], string[], string][] = [
      [body, { ...body, image: 'alice/nope:latest' }, ['alice/bb:latest'], ['alice/nope:latest'], 'A\'s image by name'],
      [{ ...body, image: aliceImage.id }, { ...body, image: absentHash(aliceImage.id) }, [aliceImage.id], [absentHash(aliceImage.id)], 'A\'s image by id'],
      [{ image: 'bob/bb:latest', script: { hash: scriptBlob.hash, name: 'x.sh' } }, { image: 'bob/bb:latest', script: { hash: absentHash(scriptBlob.hash), name: 'x.sh' } }, [scriptBlob.hash], [absentHash(scriptBlob.hash)], 'A\'s script'],
    ];
    for (const [mine, absent, refA, refB, what] of cases) {
      const b = await p.call(W, tokens.bob, { method: 'POST', path: '/v1/runs', json: mine });
      p.eq(b.status, 404, `B runs ${what}`);
      p.hides(b, secretText, `B runs ${what}`);
      p.hides(b, scriptContent, `B runs ${what}`);
      p.same(b, await p.call(W, tokens.bob, { method: 'POST', path: '/v1/runs', json: absent }), refA, refB, `B runs ${what}`);
    }
    const a = await p.call(W, tokens.alice, { method: 'POST', path: '/v1/runs', json: body });
    p.eq(a.status, 200, 'A runs her image');
    p.ok(a.body.toString().split('\n').some((l) => l.includes('"stdout"') && Buffer.from(JSON.parse(l).data, 'base64').toString() === secretText), 'A sees her own output');
  }

  // GET /v1/runs and /v1/runs/:id.
  {
    await unauthenticated(W, { path: '/v1/runs' }, [aliceRun.runId], 'GET /v1/runs');
    const b = await p.call(W, tokens.bob, { path: '/v1/runs' });
    p.eq(b.status, 200, 'B lists runs');
    p.hides(b, aliceRun.runId, 'B\'s run list');
    p.hides(b, 'alice', 'B\'s run list');
    p.eq(JSON.parse(b.body.toString()).runs.every((r: { user: string }) => r.user === 'bob'), true, 'B lists only his runs');
    const a = await p.call(W, tokens.alice, { path: '/v1/runs' });
    p.ok(a.body.includes(aliceRun.runId), 'A lists her run');
    const w = await p.call(W, tokens.worker, { path: '/v1/runs' });
    p.eq([w.status, JSON.parse(w.body.toString()).runs], [200, []], 'a worker token lists no user\'s runs');
    const one: Req = { path: `/v1/runs/${aliceRun.runId}` };
    await unauthenticated(W, one, [aliceRun.runId], 'GET /v1/runs/:id');
    const other = randomUUID();
    const br = await p.call(W, tokens.bob, one);
    p.eq(br.status, 404, 'A\'s run as B');
    p.hides(br, scriptBlob.hash, 'A\'s run as B');
    p.same(br, await p.call(W, tokens.bob, { path: `/v1/runs/${other}` }), [aliceRun.runId], [other], 'A\'s run as B');
    const ar = await p.call(W, tokens.alice, one);
    p.eq([ar.status, JSON.parse(ar.body.toString()).user], [200, 'alice'], 'A\'s run as A');
    p.eq((await p.call(W, tokens.admin, one)).status, 200, 'A\'s run as an admin');
  }

  // GET /metrics: admin and worker tokens; worker-wide figures only.
  {
    await unauthenticated(W, { path: '/metrics' }, [], '/metrics');
    for (const who of ['alice', 'bob'] as const) p.eq((await p.call(W, tokens[who], { path: '/metrics' })).status, 403, `/metrics as ${who}`);
    for (const who of ['admin', 'worker'] as const) {
      const m = await p.call(W, tokens[who], { path: '/metrics' });
      p.eq(m.status, 200, `/metrics as ${who}`);
      p.ok(m.body.includes('sway_worker_runs_total'), '/metrics has the run counter');
      for (const s of ['alice', 'bob/', aliceRun.runId, scriptBlob.hash, fileBlob.hash, aliceImage.id, secretText.trim(), scriptContent.toString().slice(0, 30), ...cluster.tokens()]) p.hides(m, s, `/metrics as ${who}`);
    }
  }

  // --- proof of possession: with the bytes, B may hold A's blob too ---------------------
  {
    const bobSync = await bob.sync([{ key: 'loose', hash: looseBlob.hash }]);
    p.eq(bobSync, ['loose'], 'sync asks B for the bytes');
    const fresh = Buffer.from(`bob-fresh-${randomUUID()}`);
    const newStatus = (await p.call(FS, tokens.bob, { method: 'PUT', path: `/v1/blobs/${sha256(fresh)}`, body: fresh })).status;
    const dupStatus = (await p.call(FS, tokens.bob, { method: 'PUT', path: `/v1/blobs/${looseBlob.hash}`, body: looseContent })).status;
    p.eq([dupStatus, newStatus], [201, 201], 'a PUT answers B the same whether or not A holds the bytes');
    p.ok((await p.call(FS, tokens.bob, { path: `/v1/blobs/${looseBlob.hash}` })).body.equals(looseContent), 'having uploaded the bytes, B reads them');
    p.eq(await bob.sync([{ key: 'loose', hash: looseBlob.hash }]), [], 'and sync no longer asks');
  }

  // TLS on both servers: plain HTTP gets no answer; a client trusting another CA is refused
  // before any request is sent (so its token never leaves it).
  const otherCa = ensureTlsMaterial(join(cluster.dir, 'other-ca')).caCertPath;
  for (const [name, url] of [['fileserver', FS], ['worker', W]] as const) {
    await assert.rejects(request(`${url.replace('https://', 'http://')}/healthz`, { headersTimeout: 20_000, bodyTimeout: 20_000 }).then((r) => r.body.text()), `${name}: plain HTTP must fail`);
    p.checks++;
    const wrong = new ServiceClient({ url, token: tokens.alice, caFile: otherCa, what: name });
    closers.push(() => wrong.close());
    await assert.rejects(wrong.request('/v1/runs'), (err: Error & { cause?: { code?: string } }) => err.name === 'UnreachableError' && /CERT|SIGNATURE|ISSUER/i.test(String(err.cause?.code)), `${name}: a client trusting another CA must be refused`);
    p.checks++;
  }

  // No token of anyone's in either server's log.
  const logs = ['fileserver', 'worker'].map((n) => readFileSync(join(cluster.home, 'logs', `${n}.log`), 'utf8'));
  for (const token of [...cluster.tokens(), BAD]) for (const log of logs) p.ok(!log.includes(token), 'a token is in a server log');

  t.diagnostic(`matrix: ${Object.keys(FILESERVER_MATRIX).length} fileserver + ${Object.keys(WORKER_MATRIX).length} worker routes; actors none, bad token, A, B, worker, admin; ${p.checks} assertions`);
});

/** A hash that differs from `h` (same length), for "the same request on an absent object". */
function absentHash(h: string): string {
  return sha256(`absent:${h}`);
}

// "Timing-independent": rather than time answers (noisy, and a test must not assert a
// timing), show that B's request on A's object and on an absent one run the same code
// against the store: every call the fileserver makes to its blob store is recorded, and
// the two recordings must be equal, hashes aside. For reads, B's refusal is decided from
// B's ownership rows alone, before the store is touched at all.
test('B\'s requests on A\'s objects touch the blob store exactly as requests on absent ones (none for reads)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sway-security-store-'));
  t.after(() => removeTempDir(dir));
  const calls: string[] = [];
  const local = new LocalBlobStore(dir);
  const recording = new Proxy(local, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return (...args: unknown[]) => {
        calls.push(`${prop}(${args.map((a) => (typeof a === 'string' ? a : typeof a)).join(',')})`);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  const server = await startFileserver({ dataDir: dir, port: 0, log: () => {}, store: recording });
  const p = new Prober(server.caCertPath);
  t.after(async () => { await p.close(); await server.close(); });
  const alice = server.addUser('alice'), bob = server.addUser('bob');
  const aliceClient = new FileserverClient({ url: server.url, token: alice, caFile: server.caCertPath });
  t.after(() => aliceClient.close());
  const content = Buffer.from(`alice-${randomUUID()}`);
  const hash = sha256(content);
  await aliceClient.putBlob(hash, content, content.length);
  const script = await aliceClient.uploadScript(Buffer.from(`echo ${randomUUID()}\n`));
  const manifest = encodeManifest({ version: 1, config: emptyImageConfig(), entries: [
    { path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
    { path: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: content.length, hash },
  ] });
  const id = sha256(manifest);
  await aliceClient.putBlob(id, manifest, manifest.length);
  await aliceClient.setImage('alice/img:latest', id);

  const recordFor = async (req: Req, refs: string[]): Promise<{ answer: Answer; calls: string[] }> => {
    calls.length = 0;
    const answer = await p.call(server.url, bob, req);
    return { answer, calls: calls.map((c) => refs.reduce((s, r, i) => s.split(r).join(`<REF${i}>`), c)) };
  };
  const cases: [string, (h: string) => Req, string][] = [
    ['GET blob', (h) => ({ path: `/v1/blobs/${h}` }), hash],
    ['HEAD blob', (h) => ({ method: 'HEAD', path: `/v1/blobs/${h}` }), hash],
    ['Range blob', (h) => ({ path: `/v1/blobs/${h}`, headers: { range: 'bytes=0-1' } }), hash],
    ['fetch-batch', (h) => ({ method: 'POST', path: '/v1/blobs/fetch-batch', json: { hashes: [h] } }), hash],
    ['sync', (h) => ({ method: 'POST', path: '/sync', json: [{ key: 'k', hash: h }] }), hash],
    ['script', (h) => ({ path: `/v1/scripts/${h}` }), script],
    ['image by id', (h) => ({ path: `/v1/images/${h}` }), id],
    ['manifest by id', (h) => ({ path: `/v1/manifests/${h}` }), id],
    ['publish A\'s id', (h) => ({ method: 'PUT', path: '/v1/images/bob/x:latest', json: { id: h } }), id],
  ];
  for (const [what, req, ref] of cases) {
    const absent = randomHash();
    const onA = await recordFor(req(ref), [ref]);
    const onAbsent = await recordFor(req(absent), [absent]);
    p.same(onA.answer, onAbsent.answer, [ref], [absent], what);
    p.eq(onA.calls, onAbsent.calls, `${what}: the store is used differently for A's object than for an absent one`);
    p.eq(onA.calls, [], `${what}: B's refusal touched the store`);
  }
  // A PUT of bytes A holds and of new bytes: the same calls (inside commit, an existing
  // blob is unlinked instead of renamed: see SECURITY.md, not covered).
  const fresh = Buffer.from(`bob-${randomUUID()}`);
  const putA = await recordFor({ method: 'PUT', path: `/v1/blobs/${hash}`, body: content }, [hash]);
  const putNew = await recordFor({ method: 'PUT', path: `/v1/blobs/${sha256(fresh)}`, body: fresh }, [sha256(fresh)]);
  p.eq([putA.answer.status, putA.calls], [putNew.answer.status, putNew.calls], 'PUT of A\'s bytes and of new bytes');
  p.ok(putNew.calls.some((c) => c.startsWith('commit(')), 'the recorder sees store calls');
  t.diagnostic(`store-call comparison: ${p.checks} assertions`);
});
