// Property-based fuzzing (fast-check) of the archive reader, in process: every input, be
// it a structured-but-wrong archive (hostile names, types, sizes, PAX records, links,
// whiteouts, wrong digests, broken JSON, gzip or not, docker or OCI) or a byte mutation
// of a valid archive (bit flips, truncations, inserted blocks, overwritten ranges), must
// end within a time bound in success (and then a manifest the codec accepts) or in one
// of sway's input errors (ImageFormatError, ArchiveLimitError) with a one-line message.
// Any other exception, a hang, an unhandled rejection or an uncaught exception fails.
//
// Bounded for CI: each property stops after SWAY_FUZZ_RUNS runs (default 3000) or
// SWAY_FUZZ_SECONDS seconds (default 30), whichever comes first. The seed is printed
// (and is fixed unless SWAY_FUZZ_SEED is set), so a failure replays with
//   SWAY_FUZZ_SEED=<seed> node --test dist/test/image/archive-fuzz.test.js
// and a longer run is SWAY_FUZZ_SECONDS=3600 SWAY_FUZZ_RUNS=10000000.
//
// Deliberately does not: run the CLI or a fileserver (malicious-archives.test.ts does, on
// the named corpus), or fuzz podman's store reader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readImageArchive } from '../../ts/image/archive.js';
import { ContentStore } from '../../ts/image/content-store.js';
import { ArchiveLimitError, DEFAULT_ARCHIVE_LIMITS, type ArchiveLimits } from '../../ts/image/archive-limits.js';
import { ImageFormatError } from '../../ts/common/errors.js';
import { decodeManifest, encodeManifest, isCleanRelativePath } from '../../ts/common/manifest.js';
import { makeDockerArchive, makeOciArchive, makeTar } from '../fixtures/image-archives.js';
import { dockerArchive, ociArchive, rawTar, type RawEntry } from '../fixtures/malicious-archives.js';
import { makeTempDir, testOutputDir } from '../helpers/tmp.js';

const SEED = process.env.SWAY_FUZZ_SEED ? Number(process.env.SWAY_FUZZ_SEED) : 20261129;
const RUNS = Number(process.env.SWAY_FUZZ_RUNS ?? 3000);
const SECONDS = Number(process.env.SWAY_FUZZ_SECONDS ?? 30);
/** A correctness bound, far above the few milliseconds an input takes. */
const PER_INPUT_TIMEOUT_MS = 20_000;
/** Lowered so that a mutation that turns into a bomb ends fast; everything else default. */
const LIMITS: ArchiveLimits = { ...DEFAULT_ARCHIVE_LIMITS, maxImageBytes: 64 * 1024 * 1024, maxLayerBytes: 64 * 1024 * 1024, maxEntries: 20_000 };

// --- structured-but-wrong archives -------------------------------------------------------

const component = fc.constantFrom('..', '.', '', 'a', 'b', 'etc', '.wh.', '.wh..', '.wh...', '.wh.a', '.wh..wh..opq', 'x'.repeat(300), '\0', 'é', 'PaxHeaders');
const tarPath = fc.array(component, { minLength: 0, maxLength: 5 }).chain((parts) =>
  fc.constantFrom('', '/', './', '//').map((prefix) => prefix + parts.join('/')));
const typeflag = fc.constantFrom('0', '0', '0', '5', '5', '2', '2', '1', '1', '3', '6', '7', 'S', 'V', 'x', 'g', 'L', 'K', 'Z', '\0');
const paxValue = fc.oneof(fc.constantFrom('', '-1', '0', '1e400', 'abc', '99999999999999999999', '1700000000.5', '../../x', '/etc/passwd', 'a\0b', 'y/'.repeat(2100)), fc.string({ maxLength: 20 }));
const paxKey = fc.constantFrom('path', 'linkpath', 'size', 'mtime', 'uid', 'gid', 'GNU.sparse.major', 'GNU.sparse.realsize', 'SCHILY.xattr.user.a', 'LIBARCHIVE.xattr.security.capability', 'comment');

const rawEntry: fc.Arbitrary<RawEntry> = fc.record({
  name: tarPath,
  type: typeflag,
  content: fc.oneof(fc.constant(''), fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 1500 }).map((a) => Buffer.from(a))),
  linkname: fc.option(fc.oneof(tarPath, fc.constantFrom('/etc/shadow', '../../../', '.', 'a', 'b')), { nil: undefined }),
  headerSize: fc.option(fc.constantFrom(0, 1, 511, 513, 4096, 2 ** 33 - 1), { nil: undefined }),
  base256Size: fc.option(fc.constantFrom(-1n, -2n, -512n, 1n << 70n, 5n), { nil: undefined }),
  mode: fc.option(fc.constantFrom(0, 0o4755, 0o7777, 0o777777), { nil: undefined }),
  uid: fc.option(fc.constantFrom(0, 65534, 0o7777777), { nil: undefined }),
  pax: fc.option(fc.dictionary(paxKey, paxValue, { maxKeys: 3 }), { nil: undefined }),
  checksumDelta: fc.option(fc.constantFrom(1, -1), { freq: 20, nil: undefined }),
}, { requiredKeys: ['name'] });

const layerBlob = fc.record({
  entries: fc.array(rawEntry, { maxLength: 8 }),
  end: fc.boolean(),
  gzip: fc.boolean(),
  cut: fc.option(fc.nat({ max: 4000 }), { freq: 5, nil: undefined }),
}).map(({ entries, end, gzip, cut }) => {
  let b = rawTar(entries, { end });
  if (gzip) b = gzipSync(b);
  return cut !== undefined && cut < b.length ? b.subarray(0, cut) : b;
});

const badJson = fc.constantFrom('null', '[]', '{}', '[null]', '{"manifests":[null]}', '{"layers":[null],"config":{}}', '"x"', '{', '[{"Config":1,"Layers":[2]}]');

const structuredArchive: fc.Arbitrary<Buffer> = fc.record({
  format: fc.constantFrom('docker', 'oci'),
  layers: fc.array(layerBlob, { minLength: 0, maxLength: 3 }),
  wrongDiffIds: fc.boolean(),
  brokenJson: fc.option(badJson, { freq: 4, nil: undefined }),
  extra: fc.array(rawEntry, { maxLength: 2 }),
}).map(({ format, layers, wrongDiffIds, brokenJson, extra }) => {
  const diffIds = wrongDiffIds ? layers.map(() => `sha256:${'0'.repeat(64)}`) : undefined;
  if (format === 'docker') return dockerArchive({ layers, diffIds, extra, ...(brokenJson ? { manifestRaw: brokenJson } : {}) });
  return ociArchive({ layers, diffIds, ...(brokenJson ? { indexRaw: brokenJson } : {}) });
});

// --- mutations of valid archives -----------------------------------------------------------

const validLayers = [
  makeTar([{ name: './', type: 'dir' }, { name: 'etc/', type: 'dir' }, { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' }, { name: 'bin', type: 'symlink', linkname: 'usr/bin' }]),
  makeTar([{ name: 'etc/.wh.passwd' }, { name: 'etc/hosts', content: '127.0.0.1 localhost\n' }, { name: 'etc/hosts2', type: 'link', linkname: 'etc/hosts' }, { name: 'usr/bin/tool', content: 'x'.repeat(3000), mode: 0o755 }]),
];
const SEEDS: Buffer[] = [
  makeDockerArchive(validLayers),
  makeDockerArchive(validLayers, { gzip: true, manifestFirst: true }),
  makeOciArchive(validLayers),
  makeOciArchive(validLayers, { gzip: true }),
];

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; block: 'zero' | 'random' | 'header'; bytes: Uint8Array }
  | { kind: 'overwrite'; at: number; bytes: Uint8Array };

const position = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.nat({ max: 7 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: position }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: position, block: fc.constantFrom('zero' as const, 'random' as const, 'header' as const), bytes: fc.uint8Array({ minLength: 512, maxLength: 512 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('overwrite' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
);

function mutate(seed: Buffer, mutations: Mutation[]): Buffer {
  let b = Buffer.from(seed);
  for (const m of mutations) {
    const at = Math.floor(m.at * b.length);
    if (m.kind === 'flip') { if (b.length) b[at] = b[at]! ^ (1 << m.bit); }
    else if (m.kind === 'truncate') b = b.subarray(0, at);
    else if (m.kind === 'overwrite') { b = Buffer.from(b); Buffer.from(m.bytes).copy(b, at); }
    else {
      const aligned = at - (at % 512);
      const block = m.block === 'zero' ? Buffer.alloc(512) : m.block === 'header' ? b.subarray(0, 512) : Buffer.from(m.bytes);
      b = Buffer.concat([b.subarray(0, aligned), block, b.subarray(aligned)]);
    }
  }
  return b;
}

const mutatedArchive: fc.Arbitrary<Buffer> = fc.record({
  seed: fc.nat({ max: SEEDS.length - 1 }),
  mutations: fc.array(mutation, { minLength: 1, maxLength: 4 }),
}).map(({ seed, mutations }) => mutate(SEEDS[seed]!, mutations));

// --- the property ----------------------------------------------------------------------------

/** An archive that prints as its size and hash in fast-check's report (not 10 000 numbers). */
interface Sample { bytes: Buffer; [fc.toStringMethod](): string }
const sample = (bytes: Buffer): Sample => ({
  bytes,
  [fc.toStringMethod]: () => `archive(${bytes.length} bytes, sha256 ${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}...)`,
});

function chunked(b: Buffer, size: number): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) chunks.push(b.subarray(i, i + size));
  return Readable.from(chunks);
}

type Outcome = 'published' | 'ImageFormatError' | 'ArchiveLimitError';

async function checkOne(store: ContentStore, archive: Buffer, chunkSize: number): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'hang'>((resolve) => { timer = setTimeout(() => resolve('hang'), PER_INPUT_TIMEOUT_MS); });
  const read = readImageArchive(chunked(archive, chunkSize), { store, limits: LIMITS }).then(
    (image) => ({ image }),
    (error: unknown) => ({ error }),
  );
  const outcome = await Promise.race([read, timeout]);
  clearTimeout(timer);
  if (outcome === 'hang') assert.fail(`no answer within ${PER_INPUT_TIMEOUT_MS} ms`);
  if ('error' in outcome) {
    const err = outcome.error;
    assert.ok(err instanceof ImageFormatError || err instanceof ArchiveLimitError, `not a sway input error: ${err instanceof Error ? err.stack : String(err)}`);
    assert.ok(!(err as Error).message.includes('\n'), `one line: ${(err as Error).message}`);
    return err instanceof ArchiveLimitError ? 'ArchiveLimitError' : 'ImageFormatError';
  }
  const { manifest } = outcome.image;
  decodeManifest(encodeManifest(manifest)); // what the fileserver would accept
  for (const e of manifest.entries) assert.ok(isCleanRelativePath(e.path), `path ${JSON.stringify(e.path)} inside the root`);
  return 'published';
}

test('archive reader fuzz: structured-but-wrong archives and mutations of valid ones end in success or a sway input error', { timeout: (SECONDS * 2 + 120) * 1000 }, async (t) => {
  const store = new ContentStore(await makeTempDir(t, 'sway-fuzz-content-'));
  const stray: unknown[] = [];
  const onStray = (err: unknown) => { stray.push(err); };
  process.on('unhandledRejection', onStray);
  process.on('uncaughtException', onStray);
  t.after(() => { process.off('unhandledRejection', onStray); process.off('uncaughtException', onStray); });

  // The mutations start from archives the reader accepts: check that first.
  for (const s of SEEDS) await readImageArchive(chunked(s, 4096), { store, limits: LIMITS });

  for (const [name, arb] of [['structured', structuredArchive.map(sample)], ['mutated', mutatedArchive.map(sample)]] as const) {
    const started = Date.now();
    const outcomes: Record<Outcome, number> = { published: 0, ImageFormatError: 0, ArchiveLimitError: 0 };
    const details = await fc.check(
      fc.asyncProperty(arb, fc.constantFrom(7, 512, 65536, 1 << 20), async ({ bytes }, chunkSize) => {
        outcomes[await checkOne(store, bytes, chunkSize)]++;
        assert.deepEqual(stray, [], 'no unhandled rejection or uncaught exception');
      }),
      { seed: SEED, numRuns: RUNS, interruptAfterTimeLimit: SECONDS * 1000, markInterruptAsFailure: false },
    );
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const line = `fuzz ${name}: seed ${SEED}, ${details.numRuns} runs in ${seconds} s${details.interrupted ? ' (time limit)' : ''}, rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB; outcomes ${JSON.stringify(outcomes)}`;
    t.diagnostic(line);
    if (details.failed) {
      const file = join(testOutputDir('archive-fuzz'), `counterexample-${name}-${SEED}.tar`);
      writeFileSync(file, (details.counterexample![0] as Sample).bytes);
      assert.fail(`${fc.defaultReportMessage(details) ?? 'failed'}\ncounterexample written to ${file}; replay: SWAY_FUZZ_SEED=${SEED}`);
    }
    assert.ok(details.numRuns >= Math.min(RUNS, 50), `only ${details.numRuns} runs`);
    // The generators reach both ends: some inputs are published, some refused.
    if (details.numRuns >= 200) assert.ok(outcomes.published > 0 && outcomes.ImageFormatError > 0, JSON.stringify(outcomes));
  }
  // Bounded memory: nothing the reader was fed is kept (a leak over thousands of inputs shows here).
  assert.ok(process.memoryUsage().rss < 2 * 2 ** 30, `rss ${process.memoryUsage().rss}`);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(stray, [], 'no unhandled rejection or uncaught exception after the runs');
});
