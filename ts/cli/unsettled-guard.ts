// When the CLI's command promise never settles and nothing else keeps node alive (a
// stream whose 'end' never comes, a promise nobody resolves), node simply runs out of
// work and exits 0: a silent success with nothing done. This guard turns that into
// sway's own failure, one line and exit 125. Servers are unaffected: their listening
// sockets keep the event loop busy until they finish.
import { EXIT_SWAY_FAILURE } from '../common/errors.js';

/** Await `work`; if the event loop empties before it settles, fail with exit 125. */
export async function awaitOrFailIfStalled<T>(work: Promise<T>): Promise<T> {
  let settled = false;
  const onBeforeExit = () => {
    if (settled) return;
    process.stderr.write('sway: internal error: the command stopped before it finished (it was left waiting on nothing); please report it\n');
    process.exit(EXIT_SWAY_FAILURE);
  };
  process.on('beforeExit', onBeforeExit);
  try {
    return await work;
  } finally {
    settled = true;
    process.off('beforeExit', onBeforeExit);
  }
}
