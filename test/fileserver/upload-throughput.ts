// Measurement, not a test: batch-upload throughput of a real `sway fileserver` child
// process over HTTPS on loopback, with a file-size mix like a Python image (most files
// under 30 KB, one in ten 100-400 KB), in batches of 3000, several in flight.
//   node dist/test/fileserver/upload-throughput.js [FILES=9000] [IN_FLIGHT=3]
// Prints files, MB, seconds, MB/s and files/s. Cleans up its server and data dir.
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSway } from '../helpers/cli.js';
import { addUser } from '../../ts/fileserver/index.js';
import { FileserverClient, type UploadFile } from '../../ts/common/fileserver-client.js';
import { sha256 } from '../../ts/common/hash.js';

const count = Number(process.argv[2] ?? 9000);
const inFlight = Number(process.argv[3] ?? 3);
const dataDir = mkdtempSync(join(tmpdir(), 'sway-fs-throughput-'));
const server = startSway(['fileserver', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0']);
try {
  const token = addUser(dataDir, 'bench');
  const m = await server.waitForOutput(/listening on (https:\/\/\S+) ca=(\S+)/, 120_000);
  const client = new FileserverClient({ url: m[1]!, token, caFile: m[2]! });
  const pool = randomBytes(4 * 1024 * 1024);
  const files: UploadFile[] = [];
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const size = randomInt(10) === 0 ? randomInt(100_000, 400_000) : randomInt(0, 30_000);
    const off = randomInt(0, pool.length - size);
    const content = Buffer.concat([Buffer.from(`${i}:`), pool.subarray(off, off + size)]);
    bytes += content.length;
    files.push({ key: `f${i}`, hash: sha256(content), size: content.length, open: () => content });
  }
  const batches: UploadFile[][] = [];
  for (let i = 0; i < files.length; i += 3000) batches.push(files.slice(i, i + 3000));
  const start = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => { while (next < batches.length) await client.batchUpload(batches[next++]!); }));
  const seconds = (performance.now() - start) / 1000;
  console.log(`${count} files, ${(bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)} s: ${(bytes / 1e6 / seconds).toFixed(1)} MB/s, ${(count / seconds).toFixed(0)} files/s (${inFlight} batches in flight)`);
  await client.close();
} finally {
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
