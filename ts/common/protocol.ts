// The wire protocol shared by the fileserver, the worker and the CLI: paths, headers,
// limits and the framing of batch bodies. docs/ARCHITECTURE.md documents each endpoint.
import { ImageFormatError } from './errors.js';

export const DEFAULT_FILESERVER_PORT = 8443;
export const DEFAULT_WORKER_PORT = 8444;

export const LIMITS = {
  /** Files in one PUT /batch-upload. */
  maxFilesPerBatch: 3000,
  /** Bytes of one request body (single blob or batch). */
  maxBodyBytes: 2 * 1024 * 1024 * 1024,
  /** Bytes of one JSON request body (sync, image names, run requests). */
  maxJsonBytes: 64 * 1024 * 1024,
  /** Characters of one path or key. */
  maxPathLength: 4096,
  /** Hashes in one batch fetch. */
  maxHashesPerFetch: 10000,
} as const;

export const HEADERS = {
  imageId: 'sway-image-id',
  meta: 'sway-meta',
} as const;

export const CONTENT_TYPES = {
  frames: 'application/x-sway-frames',
  ndjson: 'application/x-ndjson',
} as const;

/** Image names: user/name:tag, lowercase like OCI references. */
export const IMAGE_NAME_RE = /^([a-z0-9][a-z0-9_.-]{0,63})\/([a-z0-9][a-z0-9_.-]{0,127}):([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$/;

export interface ParsedImageName { user: string; name: string; tag: string; full: string }

/** Parse `user/name[:tag]`, filling in user and the `latest` tag where missing. */
export function parseImageName(ref: string, defaultUser?: string): ParsedImageName {
  let r = ref;
  if (!r.includes('/') && defaultUser) r = `${defaultUser}/${r}`;
  if (!/:[^/]*$/.test(r)) r = `${r}:latest`;
  const m = IMAGE_NAME_RE.exec(r);
  if (!m) throw new ImageFormatError(`invalid image name ${JSON.stringify(ref)}: expected user/name:tag in lowercase letters, digits, '.', '_' and '-'`);
  return { user: m[1]!, name: m[2]!, tag: m[3]!, full: r };
}

// ---------------------------------------------------------------------------------
// Frames: the body of PUT /batch-upload and of POST /v1/blobs/fetch-batch responses.
//   frame := u32be headerLength, header (UTF-8 JSON with a `size`), `size` content bytes
// A header is a JSON object; uploads carry {key, hash, size, ...metadata}; fetch
// responses carry {hash, size} or {hash, missing: true} with no content.
// ---------------------------------------------------------------------------------

export interface FrameHeader { hash: string; size: number; [k: string]: unknown }

export function encodeFrameHeader(header: FrameHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const out = Buffer.allocUnsafe(4 + json.length);
  out.writeUInt32BE(json.length, 0);
  json.copy(out, 4);
  return out;
}

const MAX_FRAME_HEADER = 64 * 1024;

/**
 * Incremental frame parser: push chunks, get callbacks for headers and content slices.
 * Content is delivered in pieces as it arrives, never buffered whole.
 */
export class FrameParser {
  private pending: Buffer = Buffer.alloc(0);
  private remaining = 0;
  private inContent = false;
  constructor(private readonly handlers: {
    header: (h: FrameHeader) => void;
    content: (chunk: Buffer) => void;
    end: () => void;
  }) {}

  push(chunk: Buffer): void {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    while (buf.length > 0) {
      if (this.inContent) {
        const n = Math.min(this.remaining, buf.length);
        if (n > 0) this.handlers.content(buf.subarray(0, n));
        this.remaining -= n;
        buf = buf.subarray(n);
        if (this.remaining === 0) { this.inContent = false; this.handlers.end(); }
        continue;
      }
      if (buf.length < 4) break;
      const len = buf.readUInt32BE(0);
      if (len === 0 || len > MAX_FRAME_HEADER) throw new ImageFormatError(`frame header length ${len} out of range`);
      if (buf.length < 4 + len) break;
      let header: FrameHeader;
      try { header = JSON.parse(buf.subarray(4, 4 + len).toString('utf8')) as FrameHeader; }
      catch { throw new ImageFormatError('frame header is not JSON'); }
      if (typeof header !== 'object' || header === null || !Number.isSafeInteger(header.size) || header.size < 0) {
        throw new ImageFormatError('frame header has no valid size');
      }
      buf = buf.subarray(4 + len);
      this.handlers.header(header);
      this.remaining = header.size;
      this.inContent = true;
      if (this.remaining === 0) { this.inContent = false; this.handlers.end(); }
    }
    if (buf.length) this.pending = Buffer.from(buf);
  }

  /** True when the stream stopped exactly at a frame boundary. */
  get complete(): boolean { return !this.inContent && this.pending.length === 0; }
}
