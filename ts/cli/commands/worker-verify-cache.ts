// `sway worker verify-cache`: re-hash every blob in a stopped worker's disk cache and
// remove the ones whose bytes do not match their name (bit rot, a power cut between
// write and rename on a filesystem that reorders them, a hand edit). Temp files of
// interrupted fetches and foreign files are removed as the cache index is rebuilt.
// Deliberately refuses to run beside a live worker: the worker's in-memory index would
// still list a removed blob, and its readers would get EIO instead of a re-fetch.
import { resolve, join } from 'node:path';
import { Command, Option } from 'clipanion';
import { SwayCommand } from '../base-command.js';
import { SwayError } from '../../common/errors.js';
import { DEFAULT_WORKER_DATA_DIR } from './worker.js';

export class WorkerRunningError extends SwayError {
  constructor(message: string) { super('SWAY_WORKER_RUNNING', message, 409); this.name = 'WorkerRunningError'; }
}

export class WorkerVerifyCacheCommand extends SwayCommand {
  static override paths = [['worker', 'verify-cache']];
  static override usage = Command.Usage({
    description: 'Re-hash a stopped worker\'s blob cache and remove every entry that does not match its hash',
    details: 'Run it with the worker stopped (it refuses while the worker\'s FUSE mount is present). Removed blobs are fetched again, and verified, when a container next reads them.',
    examples: [['Check the default worker\'s cache', 'sway worker verify-cache --data-dir /var/lib/sway/worker']],
  });

  dataDir = Option.String('--data-dir,--data', DEFAULT_WORKER_DATA_DIR, { description: 'Data directory of the worker' });
  json = Option.Boolean('--json', false, { description: 'Print the result as JSON' });

  async perform(): Promise<number> {
    const dataDir = resolve(this.dataDir);
    const { isMounted } = await import('../../worker/overlay.js');
    const mountpoint = join(dataDir, 'mnt');
    if (isMounted(mountpoint)) throw new WorkerRunningError(`the worker of ${dataDir} is running or left its mount at ${mountpoint}: stop it (or start and stop it once to clear the mount) first`);
    const { DiskCache } = await import('../../worker/fuse/disk-cache.js');
    const started = Date.now();
    // The cap does not matter here: nothing is added or evicted.
    const cache = await DiskCache.open(join(dataDir, 'cache'), Number.MAX_SAFE_INTEGER);
    const { ChunkCache } = await import('../../worker/fuse/chunk-cache.js');
    const partial = await ChunkCache.open(join(dataDir, 'cache')); // partly fetched blobs: their present chunks
    const bytes = cache.totalBytes + partial.totalBytes;
    const whole = await cache.verify();
    const chunked = await partial.verify();
    const checked = whole.checked + chunked.checked;
    const removed = whole.removed + chunked.removed;
    const seconds = (Date.now() - started) / 1000;
    if (this.json) this.context.stdout.write(`${JSON.stringify({ checked, removed, bytes, seconds })}\n`);
    else this.context.stdout.write(`checked ${checked} blobs (${(bytes / 1e6).toFixed(1)} MB) in ${seconds.toFixed(1)} s; removed ${removed} that did not match their hash\n`);
    return 0;
  }
}
