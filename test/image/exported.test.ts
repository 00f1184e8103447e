// DIR/.sway/image (the record `sway run` reads) and export's default image names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readExportedImage, writeExportedImage, exportedImagePath } from '../../ts/image/exported.js';
import { sanitiseName } from '../../ts/cli/commands/export.js';
import { parseImageName } from '../../ts/common/protocol.js';
import { makeTempDir } from '../helpers/tmp.js';

test('the exported-image record round-trips and tolerates absence and damage', async (t) => {
  const dir = await makeTempDir(t, 'sway-exported-');
  assert.equal(readExportedImage(dir), null);
  const id = 'a'.repeat(64);
  writeExportedImage(dir, { image: 'alice/app:latest', id });
  assert.equal(exportedImagePath(dir), join(dir, '.sway', 'image'));
  assert.deepEqual(readExportedImage(dir), { image: 'alice/app:latest', id });
  writeFileSync(exportedImagePath(dir), '{"image": "x", "id": "not-a-hash"}');
  assert.equal(readExportedImage(dir), null);
  mkdirSync(join(dir, 'other', '.sway'), { recursive: true });
  writeFileSync(exportedImagePath(join(dir, 'other')), 'garbage');
  assert.equal(readExportedImage(join(dir, 'other')), null);
});

test('directory names become valid image names', () => {
  for (const [raw, want] of [['My App', 'my-app'], ['__x__', 'x__'], ['émoji✓dir', 'moji-dir'], ['...', 'image'], ['app.v2', 'app.v2']] as const) {
    const name = sanitiseName(raw);
    assert.equal(name, want, raw);
    assert.equal(parseImageName(name, 'alice').full, `alice/${want}:latest`);
  }
});
