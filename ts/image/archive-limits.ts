// Bounds on what one image archive may make sway do, so a hostile archive (a gzip bomb,
// a million-entry layer, a path 100 000 components deep) ends with one clear
// ArchiveLimitError instead of filling the disk, the memory or the stack.
//
//   const budget = new ArchiveBudget(archiveLimitsFromEnv());   // one per archive
//   budget.addBytes(n, layerBytesSoFar, 'layer x');             // throws ArchiveLimitError
//
// Defaults are generous (no real image comes near them); each can be lowered with an
// environment variable (SWAY_ARCHIVE_MAX_LAYER_BYTES=1G and so on, see LIMIT_ENV).
//
// Deliberately does not: bound the compressed archive (it is a local file the user
// chose), or decide what is malformed (that is ImageFormatError, in tar-entries.ts).
import { ConfigError, SwayError } from '../common/errors.js';

/** A hostile or oversized archive exceeded one of sway's bounds (exit 125, one line). */
export class ArchiveLimitError extends SwayError {
  constructor(message: string) { super('SWAY_ARCHIVE_LIMIT', message, 413); this.name = 'ArchiveLimitError'; }
}

export interface ArchiveLimits {
  /** Uncompressed bytes of one layer tar. */
  maxLayerBytes: number;
  /** Uncompressed bytes of everything read from one archive (all layers together). */
  maxImageBytes: number;
  /** Tar entries in one archive: its own members plus every layer's entries. */
  maxEntries: number;
  /** Bytes of one path (Linux PATH_MAX). */
  maxPathBytes: number;
  /** Bytes of one path component (Linux NAME_MAX). */
  maxNameBytes: number;
  /** Components of one path. */
  maxPathDepth: number;
  /** Bytes of one symlink target (Linux PATH_MAX). */
  maxLinkTargetBytes: number;
  /** Bytes of small archive members (manifests, configs, small layers) kept in memory. */
  maxInMemoryBytes: number;
  /** Layers one image lists (a layer listed twice counts twice). */
  maxLayers: number;
  /** Bytes of one xattr value (Linux XATTR_SIZE_MAX). */
  maxXattrBytes: number;
  /** Bytes of entry metadata held in memory while reading (paths, link targets, xattrs). */
  maxMetadataBytes: number;
}

const GiB = 1024 ** 3;

export const DEFAULT_ARCHIVE_LIMITS: Readonly<ArchiveLimits> = Object.freeze({
  maxLayerBytes: 64 * GiB,
  maxImageBytes: 64 * GiB,
  maxEntries: 4_000_000,
  maxPathBytes: 4096,
  maxNameBytes: 255,
  maxPathDepth: 256,
  maxLinkTargetBytes: 4095,
  maxInMemoryBytes: 256 * 1024 * 1024,
  maxLayers: 1024,
  maxXattrBytes: 64 * 1024,
  maxMetadataBytes: 1 * GiB,
});

/** The environment variable that lowers (or raises) each limit. */
export const LIMIT_ENV: Readonly<Record<keyof ArchiveLimits, string>> = Object.freeze({
  maxLayerBytes: 'SWAY_ARCHIVE_MAX_LAYER_BYTES',
  maxImageBytes: 'SWAY_ARCHIVE_MAX_IMAGE_BYTES',
  maxEntries: 'SWAY_ARCHIVE_MAX_ENTRIES',
  maxPathBytes: 'SWAY_ARCHIVE_MAX_PATH_BYTES',
  maxNameBytes: 'SWAY_ARCHIVE_MAX_NAME_BYTES',
  maxPathDepth: 'SWAY_ARCHIVE_MAX_PATH_DEPTH',
  maxLinkTargetBytes: 'SWAY_ARCHIVE_MAX_LINK_TARGET_BYTES',
  maxInMemoryBytes: 'SWAY_ARCHIVE_MAX_IN_MEMORY_BYTES',
  maxLayers: 'SWAY_ARCHIVE_MAX_LAYERS',
  maxXattrBytes: 'SWAY_ARCHIVE_MAX_XATTR_BYTES',
  maxMetadataBytes: 'SWAY_ARCHIVE_MAX_METADATA_BYTES',
});

const SUFFIX: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: GiB, T: 1024 ** 4 };

/** "1048576", "64K", "1G", "2T" (binary units) → a positive integer. */
export function parseLimit(raw: string, name: string): number {
  const m = /^\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(raw);
  const n = m ? Number(m[1]) * SUFFIX[m[2]!.toUpperCase()]! : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new ConfigError(`${name} must be a positive number (optionally with K, M, G or T), not ${JSON.stringify(raw)}`);
  return n;
}

export function archiveLimitsFromEnv(env: NodeJS.ProcessEnv = process.env, base: Partial<ArchiveLimits> = {}): ArchiveLimits {
  const out: ArchiveLimits = { ...DEFAULT_ARCHIVE_LIMITS, ...base };
  for (const key of Object.keys(LIMIT_ENV) as (keyof ArchiveLimits)[]) {
    const raw = env[LIMIT_ENV[key]];
    if (raw !== undefined && raw !== '') out[key] = parseLimit(raw, LIMIT_ENV[key]);
  }
  return out;
}

function human(n: number): string {
  for (const [s, f] of [['TiB', 1024 ** 4], ['GiB', GiB], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) if (n >= f && n % f === 0) return `${n / f} ${s}`;
  return `${n} bytes`;
}

/** The running totals of one archive read, checked against its limits. */
export class ArchiveBudget {
  imageBytes = 0;
  entries = 0;
  appliedEntries = 0;
  metadataBytes = 0;
  inMemoryBytes = 0;

  constructor(readonly limits: ArchiveLimits = archiveLimitsFromEnv()) {}

  /** `n` more uncompressed bytes of a layer that has now `layerBytes` in all. */
  addBytes(n: number, layerBytes: number, what: string): void {
    this.imageBytes += n;
    if (layerBytes > this.limits.maxLayerBytes) {
      throw new ArchiveLimitError(`${what} decompresses to more than ${human(this.limits.maxLayerBytes)} (limit ${LIMIT_ENV.maxLayerBytes}; a compression bomb?)`);
    }
    if (this.imageBytes > this.limits.maxImageBytes) {
      throw new ArchiveLimitError(`image archive decompresses to more than ${human(this.limits.maxImageBytes)} (limit ${LIMIT_ENV.maxImageBytes}; a compression bomb?)`);
    }
  }

  /** A tar header claims `size` bytes: refuse at once what could never fit. */
  checkEntrySize(size: number, path: string): void {
    if (size > this.limits.maxLayerBytes) {
      throw new ArchiveLimitError(`archive entry ${JSON.stringify(path)} claims ${size} bytes, more than a layer may hold (${human(this.limits.maxLayerBytes)}, ${LIMIT_ENV.maxLayerBytes})`);
    }
  }

  addEntry(what: string): void {
    if (++this.entries > this.limits.maxEntries) {
      throw new ArchiveLimitError(`${what} has more than ${this.limits.maxEntries} entries (limit ${LIMIT_ENV.maxEntries})`);
    }
  }

  /** The image lists `layers` layers whose changes, applied, add up to `changes`. */
  checkLayers(layers: number): void {
    if (layers > this.limits.maxLayers) throw new ArchiveLimitError(`image lists ${layers} layers (limit ${this.limits.maxLayers}, ${LIMIT_ENV.maxLayers})`);
  }

  /** Applying a layer listed many times repeats its work: bound the total applied. */
  addAppliedEntries(n: number): void {
    this.appliedEntries += n;
    if (this.appliedEntries > this.limits.maxEntries) {
      throw new ArchiveLimitError(`image layers add up to more than ${this.limits.maxEntries} entries (limit ${LIMIT_ENV.maxEntries})`);
    }
  }

  /** May `n` more bytes of small members be kept in memory? */
  reserveMemory(n: number): boolean {
    if (this.inMemoryBytes + n > this.limits.maxInMemoryBytes) return false;
    this.inMemoryBytes += n;
    return true;
  }

  /** Path length, component length and depth of a clean relative path. */
  checkPath(path: string, raw: string, what: string): void {
    const shown = JSON.stringify(raw.length > 60 ? `${raw.slice(0, 60)}...` : raw);
    const bytes = Buffer.byteLength(path);
    if (bytes > this.limits.maxPathBytes) {
      throw new ArchiveLimitError(`${what} ${shown} is ${bytes} bytes long (limit ${this.limits.maxPathBytes}, ${LIMIT_ENV.maxPathBytes})`);
    }
    if (path === '') return;
    const parts = path.split('/');
    if (parts.length > this.limits.maxPathDepth) {
      throw new ArchiveLimitError(`${what} ${shown} is ${parts.length} directories deep (limit ${this.limits.maxPathDepth}, ${LIMIT_ENV.maxPathDepth})`);
    }
    for (const p of parts) {
      if (Buffer.byteLength(p) > this.limits.maxNameBytes) {
        throw new ArchiveLimitError(`${what} ${shown} has a name of ${Buffer.byteLength(p)} bytes (limit ${this.limits.maxNameBytes}, ${LIMIT_ENV.maxNameBytes})`);
      }
    }
  }

  /** An entry's path, link target and xattrs, held in memory until the image is built. */
  addMetadata(bytes: number, path: string): void {
    this.metadataBytes += bytes;
    if (this.metadataBytes > this.limits.maxMetadataBytes) {
      throw new ArchiveLimitError(`archive entries up to ${JSON.stringify(path.slice(0, 60))} hold more than ${human(this.limits.maxMetadataBytes)} of names, link targets and xattrs (limit ${LIMIT_ENV.maxMetadataBytes})`);
    }
  }

  checkXattr(name: string, valueBytes: number, path: string): void {
    if (valueBytes > this.limits.maxXattrBytes) {
      throw new ArchiveLimitError(`archive entry ${JSON.stringify(path.slice(0, 60))} has an xattr ${JSON.stringify(name.slice(0, 60))} of ${valueBytes} bytes (limit ${this.limits.maxXattrBytes}, ${LIMIT_ENV.maxXattrBytes})`);
    }
  }

  checkLinkTarget(target: string, path: string): void {
    const bytes = Buffer.byteLength(target);
    if (bytes > this.limits.maxLinkTargetBytes) {
      throw new ArchiveLimitError(`symlink ${JSON.stringify(path)} has a target of ${bytes} bytes (limit ${this.limits.maxLinkTargetBytes}, ${LIMIT_ENV.maxLinkTargetBytes})`);
    }
  }
}
