// One error class per failure, each with a stable `code` (the undici way), so callers
// branch on `err.code` and the CLI can print one clear line instead of a stack trace.

/** Exit status for sway's own failures (as docker/podman use 125). */
export const EXIT_SWAY_FAILURE = 125;

export class SwayError extends Error {
  readonly code: string;
  /** HTTP status a server answers with when this error escapes a handler. */
  readonly status: number;
  constructor(code: string, message: string, status = 500, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SwayError';
    this.code = code;
    this.status = status;
  }
}

export class UsageError extends SwayError {
  constructor(message: string) { super('SWAY_USAGE', message, 400); this.name = 'UsageError'; }
}
export class ConfigError extends SwayError {
  constructor(message: string) { super('SWAY_CONFIG', message, 500); this.name = 'ConfigError'; }
}
export class HashMismatchError extends SwayError {
  constructor(readonly expected: string, readonly actual: string, what = 'content') {
    super('SWAY_HASH_MISMATCH', `${what} hash mismatch: expected sha256 ${expected}, got ${actual}`, 400);
    this.name = 'HashMismatchError';
  }
}
export class NotFoundError extends SwayError {
  constructor(message: string) { super('SWAY_NOT_FOUND', message, 404); this.name = 'NotFoundError'; }
}
export class AuthError extends SwayError {
  constructor(message = 'missing or invalid token') { super('SWAY_AUTH', message, 401); this.name = 'AuthError'; }
}
export class ForbiddenError extends SwayError {
  constructor(message = 'not allowed') { super('SWAY_FORBIDDEN', message, 403); this.name = 'ForbiddenError'; }
}
export class LimitError extends SwayError {
  constructor(message: string, status = 413) { super('SWAY_LIMIT', message, status); this.name = 'LimitError'; }
}
/** Too many requests of a kind from one client (429): try again later. */
export class RateLimitError extends SwayError {
  constructor(message: string) { super('SWAY_RATE_LIMITED', message, 429); this.name = 'RateLimitError'; }
}
export class BadRequestError extends SwayError {
  constructor(message: string) { super('SWAY_BAD_REQUEST', message, 400); this.name = 'BadRequestError'; }
}
/** The server could not be reached at all (refused, DNS, TLS handshake). */
export class UnreachableError extends SwayError {
  constructor(what: string, url: string, cause?: unknown) {
    const detail = cause instanceof Error ? `: ${(cause as NodeJS.ErrnoException).code ?? cause.message}` : '';
    super('SWAY_UNREACHABLE', `${what} unreachable at ${url}${detail}`, 502, { cause });
    this.name = 'UnreachableError';
  }
}
/** The server answered with an error status; `status` is the remote one. */
export class RemoteError extends SwayError {
  constructor(readonly remoteCode: string, message: string, status: number) {
    super('SWAY_REMOTE', message, status);
    this.name = 'RemoteError';
  }
}
/** Malformed or hostile image input (archive, layer, manifest). */
export class ImageFormatError extends SwayError {
  constructor(message: string) { super('SWAY_IMAGE_FORMAT', message, 400); this.name = 'ImageFormatError'; }
}

/** Building an image (podman or docker build) failed, or its result cannot be read. */
export class BuildError extends SwayError {
  constructor(message: string) { super('SWAY_BUILD', message, 400); this.name = 'BuildError'; }
}

/** One line for a user: the message, never the stack. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
