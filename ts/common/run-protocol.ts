// The body of the worker's POST /v1/runs and the outcome its NDJSON stream ends with, as
// both clients send and read them: ts/worker/client.ts (WorkerClient, on undici) and
// ts/cli/worker-run.ts (`sway run`, on node:https). Types only: importing them costs nothing
// at run time. The worker's own validation is ts/worker/run-request.ts.

export interface RunRequestBody {
  image: string;
  /** content: the script's bytes, base64, for the worker to use instead of fetching them. */
  script?: { hash: string; name: string; content?: string };
  command?: string[];
  args?: string[];
  env?: Record<string, string>;
  limits?: { memoryMb?: number; pids?: number; cpus?: number; timeoutSec?: number };
  network?: boolean;
  keep?: boolean;
}

export interface RunOutcome { runId: string; exit: number; timedOut: boolean; durationMs?: number; keptUpper?: string }
