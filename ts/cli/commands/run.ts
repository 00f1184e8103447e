// `sway run SCRIPT [ARGS...]`: upload the script (content-addressed: skipped when the
// fileserver already has it), run it on the worker in the image exported from this
// directory (or --image), print its stdout and stderr live, exit with its status.
// `sway run --image NAME -- COMMAND [ARGS...]` runs any command instead.
// Ctrl-C closes the connection; the worker then kills the container.
// Deliberately does not: export images (`sway export`) or retry a failed run.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { Command, Option } from 'clipanion';
import { ClientCommand } from '../base-command.js';
import { FileserverClient } from '../../common/fileserver-client.js';
import { requireSetting } from '../../common/config.js';
import { sha256 } from '../../common/hash.js';
import { ConfigError, UnreachableError, UsageError } from '../../common/errors.js';
import { WorkerClient, type RunBody } from '../../worker/client.js';
import { readExportedImage } from '../../image/exported.js';

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
    const body: RunBody = { image: this.image ?? readExportedImageRef(process.cwd()), ...this.options() };
    const token = requireSetting(config, 'token');
    const fileserver = commandMode ? undefined : FileserverClient.fromConfig(config);
    const worker = new WorkerClient({ url: requireSetting(config, 'worker'), token, caFile: config.ca });
    try {
      if (commandMode) {
        body.command = rest;
      } else {
        body.script = { hash: await uploadScript(fileserver!, this.target), name: basename(this.target) };
        body.args = this.targetArgs;
      }
      return await this.stream(worker, body);
    } finally {
      await worker.close();
      await fileserver?.close();
    }
  }

  private async stream(worker: WorkerClient, body: RunBody): Promise<number> {
    const cancel = new AbortController();
    const onSigint = () => cancel.abort();
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigint);
    try {
      const outcome = await worker.run(body, {
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

  private options(): Omit<RunBody, 'image'> {
    const env: Record<string, string> = {};
    for (const kv of this.env) {
      const i = kv.indexOf('=');
      if (i <= 0) throw new UsageError(`--env ${JSON.stringify(kv)} must be KEY=VALUE`);
      env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    const limits: NonNullable<RunBody['limits']> = {};
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

async function uploadScript(fileserver: FileserverClient, path: string): Promise<string> {
  let content: Buffer;
  try { content = await readFile(path); } catch (err) {
    throw new UsageError(`script ${path} cannot be read: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const hash = sha256(content);
  try {
    if (!(await fileserver.hasScript(hash))) await fileserver.uploadScript(content);
  } catch (err) {
    // The fileserver is down: the worker may still know this script from an earlier run.
    if (!(err instanceof UnreachableError)) throw err;
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
