// Tell systemd a Type=notify service is ready, by running `systemd-notify --ready` when
// NOTIFY_SOCKET is set. Outside systemd this does nothing. A failure is logged, never
// fatal: the server works either way.
// Deliberately does not: speak the notify socket protocol itself, or send watchdog pings.
import { execFile } from 'node:child_process';

export function notifyReady(log: (line: string) => void = () => {}): Promise<void> {
  if (!process.env.NOTIFY_SOCKET) return Promise.resolve();
  return new Promise((resolve) => {
    execFile('systemd-notify', ['--ready', `--pid=${process.pid}`], (err) => {
      if (err) log(`systemd-notify --ready failed: ${err.message}`);
      resolve();
    });
  });
}
