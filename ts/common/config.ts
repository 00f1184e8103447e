// Client configuration: where the fileserver and worker are, who the user is, which CA
// to trust. Resolution order, strongest first: command-line flags, environment
// variables (SWAY_*), the config file ($SWAY_CONFIG or ~/.config/sway/config.json).
// Nothing here has a built-in address: an unset fileserver is an error a user can act on.
import { readFileSync, existsSync, mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from './errors.js';

export interface ClientConfig {
  /** https://host:port of the fileserver. */
  fileserver?: string;
  /** https://host:port of the worker. */
  worker?: string;
  token?: string;
  /** Path of the PEM CA certificate that signs the servers' certificates. */
  ca?: string;
  username?: string;
}

export const ENV_VARS: Record<keyof ClientConfig, string> = {
  fileserver: 'SWAY_FILESERVER',
  worker: 'SWAY_WORKER',
  token: 'SWAY_TOKEN',
  ca: 'SWAY_CA',
  username: 'SWAY_USERNAME',
};

export function configFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.SWAY_CONFIG ?? join(env.HOME ?? homedir(), '.config', 'sway', 'config.json');
}

export function readConfigFile(path: string): ClientConfig {
  if (!existsSync(path)) return {};
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as ClientConfig;
    if (parsed.ca) parsed.ca = resolve(dirname(path), parsed.ca);
    return parsed;
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Atomically write the config file (mode 0600: it holds a token). */
export function writeConfigFile(path: string, config: ClientConfig): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
}

export function resolveClientConfig(flags: ClientConfig = {}, env: NodeJS.ProcessEnv = process.env): ClientConfig {
  const file = readConfigFile(configFilePath(env));
  const out: ClientConfig = { ...file };
  for (const key of Object.keys(ENV_VARS) as (keyof ClientConfig)[]) {
    const v = env[ENV_VARS[key]];
    if (v) out[key] = v;
    const f = flags[key];
    if (f) out[key] = f;
  }
  return out;
}

/** The value or a ConfigError that tells the user how to set it. */
export function requireSetting(config: ClientConfig, key: keyof ClientConfig): string {
  const v = config[key];
  if (!v) {
    throw new ConfigError(`no ${key} configured: pass --${key}, set ${ENV_VARS[key]}, or run \`sway up\` to write ${configFilePath()}`);
  }
  return v;
}
