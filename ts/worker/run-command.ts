// What a run executes and with which environment, from the image config and the request:
//   - a command (`sway run --image X -- cmd args`): exactly that, plus args;
//   - a script: run with the interpreter the image's CMD/ENTRYPOINT uses. If the image's
//     command names a file with the script's name (CMD ["python3","app.py"], `app.py`),
//     that word becomes the script's path and what followed it is dropped; otherwise the
//     script goes after the ENTRYPOINT, or after CMD's first word (the interpreter), or
//     runs on its own (it then needs a #! line).
// Deliberately does not: look inside the image (the interpreter is resolved by runc
// through the container's PATH).
import { posix } from 'node:path';
import type { ImageConfig } from '../common/manifest.js';
import { BadRequestError } from '../common/errors.js';

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const SHELLS = new Set(['sh', 'bash', 'dash', 'ash']);

export function scriptPathIn(config: ImageConfig, scriptName: string): string {
  return posix.join(config.workingDir || '/', scriptName);
}

export function resolveArgs(config: ImageConfig, req: { command?: string[]; scriptName?: string; args?: string[] }): string[] {
  const extra = req.args ?? [];
  if (req.command && req.command.length) return [...req.command, ...extra];
  if (!req.scriptName) throw new BadRequestError('a run needs a script or a command');
  const scriptPath = scriptPathIn(config, req.scriptName);
  let imageCmd = [...(config.entrypoint ?? []), ...(config.cmd ?? [])];
  // Shell form (CMD python3 app.py → /bin/sh -c "python3 app.py"): look at the words.
  if (imageCmd.length === 3 && SHELLS.has(posix.basename(imageCmd[0]!)) && imageCmd[1] === '-c') {
    imageCmd = imageCmd[2]!.trim().split(/\s+/);
  }
  const named = imageCmd.findIndex((w, i) => i > 0 && (w === req.scriptName || posix.basename(w) === req.scriptName));
  if (named > 0) return [...imageCmd.slice(0, named), scriptPath, ...extra];
  if (config.entrypoint && config.entrypoint.length) return [...config.entrypoint, scriptPath, ...extra];
  if (imageCmd.length) return [imageCmd[0]!, scriptPath, ...extra];
  return [scriptPath, ...extra];
}

/** Image env, then HOME (if unset) and PATH (if unset), then the request's variables. */
export function buildEnv(imageEnv: string[], home: string, requested: Record<string, string> = {}): string[] {
  const map = new Map<string, string>();
  for (const kv of imageEnv) {
    const i = kv.indexOf('=');
    if (i > 0) map.set(kv.slice(0, i), kv.slice(i + 1));
  }
  if (!map.has('PATH')) map.set('PATH', DEFAULT_PATH.slice(5));
  if (!map.has('HOME')) map.set('HOME', home);
  for (const [k, v] of Object.entries(requested)) map.set(k, v);
  return [...map].map(([k, v]) => `${k}=${v}`);
}
