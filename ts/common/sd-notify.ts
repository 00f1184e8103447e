// Tell systemd a Type=notify service is ready, by running `systemd-notify --ready` when
// the service manager gave us NOTIFY_SOCKET. Outside systemd this does nothing. A
// failure is logged, never fatal: the server works either way.
//
// The socket is for this process alone: takeNotifySocket() removes NOTIFY_SOCKET from
// process.env at start, so no child inherits it. runc, given it, bind-mounts a relay
// socket into the container (NOTIFY_SOCKET=/run/notify/notify.sock) and forwards the
// container's READY=1 with MAINPID=<the container's init>: a container could then tell
// systemd a new main pid for the worker (the unit needs NotifyAccess=all).
// Deliberately does not: speak the notify socket protocol itself, or send watchdog pings.
import { execFile } from 'node:child_process';

let taken: { socket: string | undefined } | undefined;

/** NOTIFY_SOCKET as the process was started with, removed from process.env (first call). */
export function takeNotifySocket(): string | undefined {
  if (!taken) {
    taken = { socket: process.env.NOTIFY_SOCKET || undefined };
    delete process.env.NOTIFY_SOCKET;
  }
  return taken.socket;
}

export function notifyReady(log: (line: string) => void = () => {}): Promise<void> {
  const socket = takeNotifySocket();
  if (!socket) return Promise.resolve();
  return new Promise((resolve) => {
    execFile('systemd-notify', ['--ready', `--pid=${process.pid}`], { env: { ...process.env, NOTIFY_SOCKET: socket } }, (err) => {
      if (err) log(`systemd-notify --ready failed: ${err.message}`);
      resolve();
    });
  });
}
