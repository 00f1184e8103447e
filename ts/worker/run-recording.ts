// Connects runs to the run log and the metrics: a RunHooks that writes the start row,
// then the finish row with the run's state and cache figures, and counts the run.
// A run that failed before its container started gets both rows at once.
// Deliberately does not: decide anything about the run; a hook failure is only logged.
import type { RunHooks } from './handlers/runs.js';
import type { RunLog, FinishedState } from './run-log.js';
import type { WorkerMetrics } from './metrics.js';

export function recordingHooks(runLog: RunLog, metrics?: WorkerMetrics): RunHooks {
  const started = new Map<string, number>();
  return {
    started({ runId, user, request, image }) {
      const startedAt = Date.now();
      started.set(runId, startedAt);
      runLog.start({ id: runId, user: user.name, image: image.ref, imageId: image.id, script: request.script?.hash ?? null, command: request.command ?? [], startedAt });
    },
    finished({ runId, user, image, result, error, request }) {
      if (!started.has(runId)) {
        runLog.start({ id: runId, user: user.name, image: image.ref, imageId: image.id, script: request.script?.hash ?? null, command: request.command ?? [], startedAt: Date.now() });
      }
      started.delete(runId);
      const state: FinishedState = error ? 'failed' : result!.timedOut ? 'timeout' : result!.cancelled ? 'cancelled' : 'exited';
      const c = result?.counters ?? { memoryHits: 0, diskHits: 0, serverFetches: 0, bytesFetched: 0, eios: 0 };
      const durationMs = result?.durationMs ?? 0;
      runLog.finish(runId, { durationMs, exitStatus: result ? result.exit : null, state, ...c });
      metrics?.recordRun({ durationMs, state, ...c });
    },
  };
}
