// The body of POST /v1/runs, validated, with limits' defaults and ceilings applied.
// Deliberately does not: authenticate or look up the image (the handler does).
import { BadRequestError } from '../common/errors.js';
import { isHash } from '../common/hash.js';
import type { RunLimits } from './oci/spec.js';

export interface RunRequest {
  image: string;
  script?: { hash: string; name: string };
  command?: string[];
  args: string[];
  env: Record<string, string>;
  limits: RunLimits & { timeoutSec: number };
  network: boolean;
  keep: boolean;
}

export const DEFAULT_LIMITS = { memoryMb: 1024, pids: 512, cpus: 1, timeoutSec: 600 } as const;
export const MAX_LIMITS = { memoryMb: 64 * 1024, pids: 32768, cpus: 64, timeoutSec: 24 * 3600 } as const;
/** Script file names: one path component, no hidden or odd characters. */
const SCRIPT_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._+-]{0,254}$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseRunRequest(body: unknown): RunRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequestError('run request must be a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b.image !== 'string' || !b.image) throw new BadRequestError('run request needs an image');
  const out: RunRequest = {
    image: b.image,
    args: stringArray(b.args, 'args') ?? [],
    env: {},
    limits: { ...DEFAULT_LIMITS },
    network: b.network === true,
    keep: b.keep === true,
  };
  if (b.script !== undefined && b.script !== null) {
    const s = b.script as Record<string, unknown>;
    if (typeof s !== 'object' || !isHash(s.hash)) throw new BadRequestError('script.hash must be a sha256 hash');
    if (typeof s.name !== 'string' || !SCRIPT_NAME_RE.test(s.name)) throw new BadRequestError(`script.name ${JSON.stringify(s.name)} must be a plain file name`);
    out.script = { hash: s.hash, name: s.name };
  }
  const command = stringArray(b.command, 'command');
  if (command && command.length) out.command = command;
  if (!out.script === !out.command) throw new BadRequestError('a run needs exactly one of script or command');
  if (b.env !== undefined) {
    if (typeof b.env !== 'object' || b.env === null || Array.isArray(b.env)) throw new BadRequestError('env must be an object of strings');
    for (const [k, v] of Object.entries(b.env)) {
      if (!ENV_NAME_RE.test(k) || typeof v !== 'string' || v.includes('\0')) throw new BadRequestError(`env ${JSON.stringify(k)} is not a valid variable`);
      out.env[k] = v;
    }
  }
  if (b.limits !== undefined) {
    if (typeof b.limits !== 'object' || b.limits === null) throw new BadRequestError('limits must be an object');
    const l = b.limits as Record<string, unknown>;
    for (const key of Object.keys(DEFAULT_LIMITS) as (keyof typeof DEFAULT_LIMITS)[]) {
      const v = l[key];
      if (v === undefined) continue;
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > MAX_LIMITS[key]) {
        throw new BadRequestError(`limits.${key} must be a number in (0, ${MAX_LIMITS[key]}]`);
      }
      out.limits[key] = key === 'pids' ? Math.max(1, Math.floor(v)) : v;
    }
  }
  return out;
}

function stringArray(v: unknown, name: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string' && !s.includes('\0'))) throw new BadRequestError(`${name} must be an array of strings`);
  return v as string[];
}
