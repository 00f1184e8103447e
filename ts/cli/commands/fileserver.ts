// `sway fileserver` (run the server), `sway fileserver adduser NAME` (print a token) and
// `sway fileserver gc` (ask a running fileserver, with an admin token, to collect garbage).
// The server prints one line `fileserver listening on URL ca=PATH` on stdout once it
// accepts connections, tells systemd it is ready, and stops cleanly on SIGTERM/SIGINT.
import { Command, Option } from 'clipanion';
import { ClientCommand, SwayCommand } from '../base-command.js';
import { ServerCommand } from '../server-command.js';
import { DEFAULT_FILESERVER_PORT } from '../../common/protocol.js';
import { UsageError } from '../../common/errors.js';
import { notifyReady, takeNotifySocket } from '../../common/sd-notify.js';
import { ROLES, type Role } from '../../fileserver/roles.js';
// The server modules (koa, SQLite) and the client (undici) are imported where they are
// used: every `sway fileserver ...` invocation loads this file, and each needs one of them.

const DEFAULT_DATA_DIR = '/var/lib/sway/fileserver';

export class FileserverCommand extends ServerCommand {
  static override paths = [['fileserver']];
  static override usage = Command.Usage({
    description: 'Run the content-addressed fileserver (HTTPS)',
    details: `Stores blobs by SHA-256 under --data-dir and names/users in SQLite. On first start it creates its own CA and certificate: DATA_DIR/tls holds only ca.pem, what clients and workers trust; the keys are in DATA_DIR/tls-private, unless --tls-cert/--tls-key/--tls-ca are given.`,
    examples: [['Run on the default port', 'sway fileserver --data-dir /var/lib/sway/fileserver']],
  });

  dataDir = Option.String('--data-dir,--data', DEFAULT_DATA_DIR, { description: 'Data directory (blobs, database, TLS material)' });

  async perform(): Promise<number> {
    takeNotifySocket(); // before anything spawns (openssl, sync): the socket is the server's alone
    const { defaultLog } = await import('../../common/server.js');
    const { startFileserver } = await import('../../fileserver/index.js');
    const log = defaultLog('fileserver');
    const server = await startFileserver({
      dataDir: this.dataDir, ...this.listenOptions('SWAY_FILESERVER', DEFAULT_FILESERVER_PORT), log,
    });
    this.context.stdout.write(`fileserver listening on ${server.url} ca=${server.caCertPath}\n`);
    await notifyReady(log);
    await this.waitForStopSignal();
    await server.close();
    return 0;
  }
}

export class FileserverAddUserCommand extends SwayCommand {
  static override paths = [['fileserver', 'adduser']];
  static override usage = Command.Usage({
    description: 'Add a fileserver user and print its token (shown once; only its hash is stored)',
    examples: [['Add a user', 'sway fileserver adduser alice --data-dir /var/lib/sway/fileserver']],
  });

  name = Option.String({ required: true });
  role = Option.String('--role', 'user', { description: `One of ${ROLES.join(', ')}` });
  dataDir = Option.String('--data-dir,--data', DEFAULT_DATA_DIR, { description: 'Data directory of the fileserver' });

  async perform(): Promise<number> {
    if (!ROLES.includes(this.role as Role)) throw new UsageError(`invalid --role ${JSON.stringify(this.role)}: one of ${ROLES.join(', ')}`);
    const { addUser } = await import('../../fileserver/index.js');
    const token = addUser(this.dataDir, this.name, this.role as Role);
    this.context.stdout.write(`${token}\n`);
    return 0;
  }
}

export class FileserverRotateTokenCommand extends SwayCommand {
  static override paths = [['fileserver', 'rotate-token']];
  static override usage = Command.Usage({
    description: 'Give a user a new token and print it; the old token stops working at once',
    details: 'Workers remember a validation for 30 s, so a worker may accept the old token for that long; while the fileserver is unreachable, a worker accepts tokens it validated within the last hour.',
    examples: [['Rotate a leaked token', 'sway fileserver rotate-token alice --data-dir /var/lib/sway/fileserver']],
  });

  name = Option.String({ required: true });
  dataDir = Option.String('--data-dir,--data', DEFAULT_DATA_DIR, { description: 'Data directory of the fileserver' });

  async perform(): Promise<number> {
    const { rotateToken } = await import('../../fileserver/index.js');
    this.context.stdout.write(`${rotateToken(this.dataDir, this.name)}\n`);
    return 0;
  }
}

export class FileserverGcCommand extends ClientCommand {
  static override paths = [['fileserver', 'gc']];
  static override usage = Command.Usage({
    description: 'Delete blobs that no image or script references (needs an admin token)',
    details: 'Blobs uploaded, synced or published within the grace period are kept, so an export in progress loses nothing.',
    examples: [['Preview', 'sway fileserver gc --dry-run'], ['Collect, keeping the last hour', 'sway fileserver gc --grace 3600']],
  });

  grace = Option.String('--grace', { description: 'Keep blobs relied on within this many seconds (default 86400)' });
  dryRun = Option.Boolean('--dry-run', false, { description: 'Report only, delete nothing' });
  json = Option.Boolean('--json', false, { description: 'Print the report as JSON' });

  async perform(): Promise<number> {
    const graceSeconds = this.grace === undefined ? undefined : Number(this.grace);
    if (graceSeconds !== undefined && !(graceSeconds >= 0)) throw new UsageError(`invalid --grace ${JSON.stringify(this.grace)}: seconds, 0 or more`);
    const { FileserverClient } = await import('../../common/fileserver-client.js');
    const client = FileserverClient.fromConfig(this.clientConfig());
    try {
      const r = await client.gc({ graceSeconds, dryRun: this.dryRun });
      this.context.stdout.write(this.json ? JSON.stringify(r) + '\n'
        : `${r.dryRun ? 'would delete' : 'deleted'} ${r.deleted} blob(s), ${r.bytesFreed} bytes; ${r.scanned} scanned, ${r.referenced} referenced\n`);
      return 0;
    } finally {
      await client.close();
    }
  }
}
