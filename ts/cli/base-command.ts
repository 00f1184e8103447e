// Base for every sway command: run `perform()`, and turn any failure into one line on
// stderr and exit status 125 (sway's own failure). A command that runs a container
// returns the container's status from perform() itself.
import { Command, Option } from 'clipanion';
import { EXIT_SWAY_FAILURE, SwayError, describeError } from '../common/errors.js';
import { resolveClientConfig, type ClientConfig } from '../common/config.js';

export abstract class SwayCommand extends Command {
  abstract perform(): Promise<number>;

  async execute(): Promise<number> {
    try {
      return await this.perform();
    } catch (err) {
      this.context.stderr.write(`sway: ${describeError(err)}\n`);
      if (process.env.SWAY_DEBUG && err instanceof Error && err.stack) this.context.stderr.write(err.stack + '\n');
      if (!(err instanceof SwayError) && !process.env.SWAY_DEBUG) {
        this.context.stderr.write('sway: (unexpected error; set SWAY_DEBUG=1 for details)\n');
      }
      return EXIT_SWAY_FAILURE;
    }
  }
}

/** Commands that talk to sway's servers share these flags. */
export abstract class ClientCommand extends SwayCommand {
  fileserver = Option.String('--fileserver', { description: 'Fileserver address, https://host:port (env SWAY_FILESERVER)' });
  worker = Option.String('--worker', { description: 'Worker address, https://host:port (env SWAY_WORKER)' });
  token = Option.String('--token', { description: 'Bearer token (env SWAY_TOKEN)' });
  ca = Option.String('--ca', { description: 'CA certificate (PEM) that signs the servers (env SWAY_CA)' });

  clientConfig(): ClientConfig {
    return resolveClientConfig({ fileserver: this.fileserver, worker: this.worker, token: this.token, ca: this.ca });
  }
}
