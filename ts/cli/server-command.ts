// Base for the commands that run a daemon (`sway fileserver`, `sway worker`): the
// listening and TLS flags they share, and the wait for SIGTERM/SIGINT that ends them.
// Each daemon keeps its own --data-dir (different defaults and meanings).
import { Option } from 'clipanion';
import { SwayCommand } from './base-command.js';
import { UsageError } from '../common/errors.js';
import { DEFAULT_FILESERVER_PORT, DEFAULT_WORKER_PORT } from '../common/protocol.js';

export interface ListenOptions {
  host: string;
  port: number;
  sans: string[];
  tlsDir?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

export abstract class ServerCommand extends SwayCommand {
  host = Option.String('--host', { description: 'Address to bind (default 0.0.0.0)' });
  port = Option.String('--port', { description: `Port (default ${DEFAULT_FILESERVER_PORT} for the fileserver, ${DEFAULT_WORKER_PORT} for the worker; 0 picks a free one)` });
  sans = Option.Array('--san', [], { description: 'Extra DNS name or IP for the generated certificate (repeatable)' });
  tlsDir = Option.String('--tls-dir', { description: 'Directory of the generated CA and certificate (default DATA_DIR/tls)' });
  tlsCert = Option.String('--tls-cert', { description: 'Server certificate (PEM) to use instead of generating one' });
  tlsKey = Option.String('--tls-key', { description: 'Private key (PEM) of --tls-cert' });
  tlsCa = Option.String('--tls-ca', { description: 'CA certificate (PEM) clients should trust' });

  /** Flags first, then `${envPrefix}_HOST` / `${envPrefix}_PORT`, then the defaults. */
  protected listenOptions(envPrefix: string, defaultPort: number): ListenOptions {
    return {
      host: this.host ?? process.env[`${envPrefix}_HOST`] ?? '0.0.0.0',
      port: parsePort(this.port ?? process.env[`${envPrefix}_PORT`], defaultPort),
      sans: this.sans,
      tlsDir: this.tlsDir, tlsCert: this.tlsCert, tlsKey: this.tlsKey, tlsCa: this.tlsCa,
    };
  }

  /** Resolves at the first SIGTERM or SIGINT: the daemon then stops cleanly. */
  protected waitForStopSignal(): Promise<void> {
    return new Promise<void>((resolve) => {
      process.once('SIGTERM', () => resolve());
      process.once('SIGINT', () => resolve());
    });
  }
}

function parsePort(raw: string | undefined, defaultPort: number): number {
  if (raw === undefined) return defaultPort;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`invalid --port ${JSON.stringify(raw)}`);
  return n;
}
