// `sway run SCRIPT [ARGS...]`: run the script on the worker in the image exported from
// this directory (or --image), print its stdout and stderr live, exit with its status.
// A script up to 1 MiB travels inside the run request (verified by its hash on the
// worker): one TLS connection, one request, no fileserver round trip. A bigger one is
// uploaded to the fileserver first (content-addressed: skipped when it is already there).
// `sway run --image NAME -- COMMAND [ARGS...]` runs any command instead.
// Ctrl-C closes the connection; the worker then kills the container.
// Start-up matters here (every run pays it): only light modules are imported at the top;
// the fileserver client (undici) only for a big script.
// Deliberately does not: export images (`sway export`) or retry a failed run.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { Command, Option } from 'clipanion';
import { ClientCommand } from '../base-command.js';
import { requireSetting, type ClientConfig } from '../../common/config.js';
import { sha256 } from '../../common/hash.js';
import { ConfigError, RemoteError, UnreachableError, UsageError } from '../../common/errors.js';
import { readExportedImage } from '../../image/exported.js';
import { streamRun, type RunRequestBody } from '../worker-run.js';

/** Scripts up to this size are sent inside the run request; bigger ones go through the fileserver. */
export const INLINE_SCRIPT_MAX_BYTES = 1024 * 1024;

export class RunCommand extends ClientCommand {
  static override paths = [['run']];
  static override usage = Command.Usage({
    description: 'Run a script (or, after --, a command) in a container on the worker',
    details: `The image is the one \`sway export\` recorded for the current directory (.sway/image), or --image. The script is placed in the image's WORKDIR and run with the interpreter of the image's CMD/ENTRYPOINT. The exit status is the container's (128+N for signal N); 125 means sway itself failed.`,
    examples: [
      ['Run app.py in this directory\'s image', 'sway run app.py --epochs 3'],
      ['Run a command', 'sway run --image alice/app -- python3 -c "import scipy; print(scipy.__version__)"'],
    ],
  });

  image = Option.String('--image', { description: 'Image name (user/name:tag, or name for your own) instead of this directory\'s' });
  memory = Option.String('--memory', { description: 'Memory limit in MB (default 1024)' });
  cpus = Option.String('--cpus', { description: 'CPU limit, e.g. 0.5 or 2 (default 1)' });
  pids = Option.String('--pids', { description: 'Process limit (default 512)' });
  timeout = Option.String('--timeout', { description: 'Wall-clock limit in seconds (default 600)' });
  env = Option.Array('--env,-e', [], { description: 'KEY=VALUE for the container (repeatable)' });
  network = Option.Boolean('--network', false, { description: 'Give the container the host\'s network (default: none)' });
  keep = Option.Boolean('--keep', false, { description: 'Keep the container\'s written files on the worker' });
  /** The script, or (after `--`) the command. */
  target = Option.String({ required: true, name: 'script' });
  /** Everything after it, options included: they belong to the script or command. */
  targetArgs = Option.Proxy({ name: 'args' });

  async perform(): Promise<number> {
    const config = this.clientConfig();
    const rest = [this.target, ...this.targetArgs];
    const commandMode = isCommandMode(process.argv.slice(2), rest);
    const body: RunRequestBody = { image: this.image ?? readExportedImageRef(process.cwd()), ...this.options() };
    const token = requireSetting(config, 'token');
    const worker = { url: requireSetting(config, 'worker'), token, caFile: config.ca };
    if (commandMode) {
      body.command = rest;
      return this.stream(worker, body);
    }
    const content = await readScript(this.target);
    const hash = sha256(content);
    body.args = this.targetArgs;
    if (content.length > INLINE_SCRIPT_MAX_BYTES) {
      body.script = { hash: await uploadScript(config, content, hash), name: basename(this.target) };
      return this.stream(worker, body);
    }
    body.script = { hash, name: basename(this.target), content: content.toString('base64') };
    try {
      return await this.stream(worker, body);
    } catch (err) {
      // A worker from before inline scripts ignores script.content and asks its fileserver:
      // upload the script there and run again.
      if (!(err instanceof RemoteError && err.status === 404 && err.message.includes(`script ${hash} not found`))) throw err;
      body.script = { hash: await uploadScript(config, content, hash), name: basename(this.target) };
      return this.stream(worker, body);
    }
  }

  private async stream(worker: { url: string; token: string; caFile?: string }, body: RunRequestBody): Promise<number> {
    const cancel = new AbortController();
    const onSigint = () => cancel.abort();
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigint);
    try {
      const outcome = await streamRun(body, {
        ...worker,
        onStdout: (b) => this.context.stdout.write(b),
        onStderr: (b) => this.context.stderr.write(b),
        signal: cancel.signal,
      });
      if (outcome.timedOut) this.context.stderr.write(`sway: run ${outcome.runId} stopped: its time limit passed\n`);
      if (outcome.keptUpper) this.context.stderr.write(`sway: files written by run ${outcome.runId} kept on the worker in ${outcome.keptUpper}\n`);
      return outcome.exit;
    } catch (err) {
      if (cancel.signal.aborted) {
        this.context.stderr.write('sway: cancelled; the container was stopped\n');
        return 130;
      }
      throw err;
    } finally {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
    }
  }

  private options(): Omit<RunRequestBody, 'image'> {
    const env: Record<string, string> = {};
    for (const kv of this.env) {
      const i = kv.indexOf('=');
      if (i <= 0) throw new UsageError(`--env ${JSON.stringify(kv)} must be KEY=VALUE`);
      env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    const limits: NonNullable<RunRequestBody['limits']> = {};
    if (this.memory !== undefined) limits.memoryMb = num('--memory', this.memory);
    if (this.cpus !== undefined) limits.cpus = num('--cpus', this.cpus);
    if (this.pids !== undefined) limits.pids = num('--pids', this.pids);
    if (this.timeout !== undefined) limits.timeoutSec = num('--timeout', this.timeout);
    return { env, limits, network: this.network, keep: this.keep };
  }
}

/** `--` right before the first positional: a command, not a script. */
export function isCommandMode(argv: string[], rest: string[]): boolean {
  const dd = argv.indexOf('--');
  return dd >= 0 && rest.length > 0 && argv[dd + 1] === rest[0] && !argv.slice(0, dd).includes(rest[0]!);
}

async function readScript(path: string): Promise<Buffer> {
  try { return await readFile(path); } catch (err) {
    throw new UsageError(`script ${path} cannot be read: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

/** Make sure the fileserver has the script (content-addressed: uploaded only when absent). */
async function uploadScript(config: ClientConfig, content: Buffer, hash: string): Promise<string> {
  const { FileserverClient } = await import('../../common/fileserver-client.js');
  const fileserver = FileserverClient.fromConfig(config);
  try {
    if (!(await fileserver.hasScript(hash))) await fileserver.uploadScript(content);
  } catch (err) {
    // The fileserver is down: the worker may still know this script from an earlier run.
    if (!(err instanceof UnreachableError)) throw err;
  } finally {
    await fileserver.close();
  }
  return hash;
}

/** The image `sway export` recorded for `dir` (ts/image/exported.ts owns the format). */
function readExportedImageRef(dir: string): string {
  const exported = readExportedImage(dir);
  if (!exported) throw new ConfigError(`no image exported for ${dir}: run \`sway export\` here first, or pass --image NAME`);
  return exported.image;
}

function num(flag: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`invalid ${flag} ${JSON.stringify(raw)}: a positive number`);
  return n;
}
