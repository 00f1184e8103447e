// The record `sway export` leaves in a directory: DIR/.sway/image = {"image", "id"}, so
// that `sway run` in the same directory knows which image to run.
//
// Deliberately does not: talk to the fileserver (the name may have moved since).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isHash } from '../common/hash.js';

export interface ExportedImage { image: string; id: string }

export function exportedImagePath(dir: string): string {
  return join(dir, '.sway', 'image');
}

/** The image last exported from `dir`, or null when there is none (or the file is damaged). */
export function readExportedImage(dir: string): ExportedImage | null {
  try {
    const doc = JSON.parse(readFileSync(exportedImagePath(dir), 'utf8')) as Partial<ExportedImage>;
    if (typeof doc.image === 'string' && doc.image && isHash(doc.id)) return { image: doc.image, id: doc.id };
  } catch { /* absent or unreadable: nothing exported here */ }
  return null;
}

export function writeExportedImage(dir: string, record: ExportedImage): void {
  mkdirSync(join(dir, '.sway'), { recursive: true });
  const path = exportedImagePath(dir);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(record) + '\n');
  renameSync(tmp, path);
}
