// The roles a fileserver token can have. Kept apart from db.ts so that the CLI can name
// them in `--help` without loading SQLite.
export type Role = 'user' | 'admin' | 'worker';
export const ROLES: readonly Role[] = ['user', 'admin', 'worker'];
