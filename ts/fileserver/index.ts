// The fileserver's public surface for other parts and their tests.
export { startFileserver, addUser, rotateToken, databasePath, type FileserverOptions, type RunningFileserver } from './server.js';
export type { Role } from './db.js';
export { DEFAULT_LIMITS, type FileserverLimits } from './context.js';
