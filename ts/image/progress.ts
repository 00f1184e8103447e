// Export progress for people: on a terminal one line redrawn in place (phase, a bar,
// files, bytes, rate); otherwise plain lines, one per phase change and at most one
// every few seconds. Writes to stderr so that stdout carries only the result (--json).
//
// Deliberately does not: compute anything (callers report counts).
import type { Writable } from 'node:stream';

export class Progress {
  private readonly start = Date.now();
  private lastPhase = '';
  private lastPlain = 0;
  private drawn = false;

  constructor(private readonly out: Writable & { isTTY?: boolean }, private readonly quiet = false) {}

  update(phase: string, o: { files?: number; totalFiles?: number; bytes?: number; totalBytes?: number } = {}): void {
    if (this.quiet) return;
    const secs = (Date.now() - this.start) / 1000;
    const mb = (o.bytes ?? 0) / 1e6;
    const parts = [phase.padEnd(8)];
    if (o.totalFiles !== undefined || o.totalBytes !== undefined) {
      const frac = o.totalBytes ? (o.bytes ?? 0) / o.totalBytes : o.totalFiles ? (o.files ?? 0) / o.totalFiles : 1;
      if (this.out.isTTY) parts.push(`[${'#'.repeat(Math.round(frac * 24)).padEnd(24, '.')}]`);
      parts.push(`${o.files ?? 0}/${o.totalFiles ?? '?'} files`, `${mb.toFixed(1)}/${((o.totalBytes ?? 0) / 1e6).toFixed(1)} MB`);
    } else if (o.files !== undefined || o.bytes !== undefined) {
      parts.push(`${o.files ?? 0} files`, `${mb.toFixed(1)} MB`);
    }
    if (o.bytes) parts.push(`${(mb / Math.max(secs, 0.001)).toFixed(1)} MB/s`);
    const line = parts.join('  ');
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[2K${line}`);
      this.drawn = true;
    } else if (phase !== this.lastPhase || Date.now() - this.lastPlain > 5000) {
      this.out.write(`${line}\n`);
      this.lastPlain = Date.now();
    }
    this.lastPhase = phase;
  }

  /** A line of its own (build output, warnings), above the redrawn one. */
  note(line: string): void {
    if (this.quiet) return;
    if (this.drawn) { this.out.write('\r\x1b[2K'); this.drawn = false; }
    this.out.write(`${line}\n`);
  }

  done(): void {
    if (this.drawn) { this.out.write('\n'); this.drawn = false; }
  }
}
