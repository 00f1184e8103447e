// Errors of the FUSE layer, each with a stable code (see ts/common/errors.ts).
import { SwayError } from '../../common/errors.js';

/** The filesystem could not be mounted (no /dev/fuse, not root, busy mountpoint). */
export class FuseMountError extends SwayError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SWAY_FUSE_MOUNT', message, 500, options);
    this.name = 'FuseMountError';
  }
}

/** A blob could not be fetched within the deadline; the reader got EIO. */
export class BlobFetchError extends SwayError {
  /** Why the last attempt failed: integrity (wrong bytes), rejected (4xx), unavailable. */
  readonly kind: 'integrity' | 'rejected' | 'unavailable';
  constructor(readonly hash: string, message: string, options?: { cause?: unknown; kind?: 'integrity' | 'rejected' | 'unavailable' }) {
    super('SWAY_BLOB_FETCH', message, 502, options);
    this.name = 'BlobFetchError';
    this.kind = options?.kind ?? 'unavailable';
  }
}

/** The filesystem was used after unmount(). */
export class FuseClosedError extends SwayError {
  constructor() {
    super('SWAY_FUSE_CLOSED', 'the lazy filesystem is unmounted', 500);
    this.name = 'FuseClosedError';
  }
}
