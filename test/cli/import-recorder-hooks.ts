// ESM loader hooks for test/cli/start-up.test.ts: append every resolved module URL to the
// file named by SWAY_TEST_IMPORT_LOG. Registered by import-recorder.ts (node --import).
import { appendFileSync } from 'node:fs';

type Next = (specifier: string, context: unknown) => Promise<{ url: string }>;

export async function resolve(specifier: string, context: unknown, next: Next): Promise<{ url: string }> {
  const result = await next(specifier, context);
  const log = process.env.SWAY_TEST_IMPORT_LOG;
  if (log) appendFileSync(log, result.url + '\n');
  return result;
}
