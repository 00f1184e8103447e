// `sway export [DIR]`: build DIR's Dockerfile (podman, or docker buildx when a Docker
// engine answers) or take `--image-archive FILE`, turn the image into a sway manifest
// (ts/image/), upload what the fileserver lacks and point the name at it. The name is
// recorded in DIR/.sway/image for `sway run`. Any bad input ends with one line and
// exit 125 before anything is published.
//
// Deliberately does not: run the image or push to registries.
import { Command, Option } from 'clipanion';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ClientCommand } from '../base-command.js';
import { FileserverClient } from '../../common/fileserver-client.js';
import { requireSetting } from '../../common/config.js';
import { UsageError } from '../../common/errors.js';
import { parseImageName } from '../../common/protocol.js';
import { readImageArchive, type ImageRead } from '../../image/archive.js';
import { ContentStore, defaultCacheDir } from '../../image/content-store.js';
import { LayerCache } from '../../image/layer-cache.js';
import { buildImage, inspectStoreImage, pickBuilder, saveImage, type StoreLayer } from '../../image/podman.js';
import { readStoreImage } from '../../image/store-image.js';
import { publishImage } from '../../image/upload.js';
import { EarlyUploader } from '../../image/early-upload.js';
import { writeExportedImage } from '../../image/exported.js';
import { Progress } from '../../image/progress.js';

/** A directory or file name as an image name component: lowercase, [a-z0-9._-]. */
export function sanitiseName(raw: string): string {
  const s = raw.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 128);
  return s || 'image';
}

function roundPhases(phases: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(v * 1000) / 1000]));
}

export class ExportCommand extends ClientCommand {
  static override paths = [['export']];
  static override usage = Command.Usage({
    description: 'Build a Dockerfile (or read an image archive) and publish it to the fileserver',
    details: `Builds DIR/Dockerfile for linux/amd64 with podman (or docker buildx when a Docker engine answers), reads the image's layers from podman's store, uploads only the files the fileserver lacks and names the image (default: USER/DIRNAME:latest). The name is recorded in DIR/.sway/image for \`sway run\`. With --image-archive, a docker-archive or OCI archive is exported instead.`,
    examples: [['Export the current directory', 'sway export'], ['Export an archive', 'sway export --image-archive app.tar --tag app:v1']],
  });

  dir = Option.String({ required: false, name: 'DIR' });
  tag = Option.String('--tag', { description: 'Image name: NAME, NAME:TAG or USER/NAME:TAG' });
  imageArchive = Option.String('--image-archive', { description: 'Export this docker-archive or OCI archive instead of building' });
  json = Option.Boolean('--json', false, { description: 'Print a machine-readable summary' });
  runtime = Option.String('--runtime', 'runc', { description: 'OCI runtime for podman build RUN steps' });
  platform = Option.String('--platform', 'linux/amd64', { description: 'Build platform' });
  username = Option.String('--username', { description: 'Your user name on the fileserver (env SWAY_USERNAME; default: asked from the fileserver)' });

  async perform(): Promise<number> {
    const started = Date.now();
    // Seconds spent in each phase, in the --json summary: where an export's time goes.
    const phases: Record<string, number> = {};
    let phase = 'start'; let phaseStart = started;
    const enter = (next: string) => {
      if (next === phase) return;
      const now = Date.now();
      phases[phase] = (phases[phase] ?? 0) + (now - phaseStart) / 1000;
      phase = next; phaseStart = now;
    };
    const config = this.clientConfig();
    if (this.username) config.username = this.username;
    requireSetting(config, 'fileserver');
    const progress = new Progress(this.context.stderr as NodeJS.WriteStream, false);
    const dir = resolve(this.dir ?? '.');
    const cacheDir = defaultCacheDir();

    const client = FileserverClient.fromConfig(config);
    try {
      const user = config.username ?? (await client.whoami()).user;
      const defaultBase = this.imageArchive && !this.dir ? basename(this.imageArchive).replace(/\.(tar|tar\.gz|tgz|oci)$/i, '') : basename(dir);
      const name = parseImageName(this.tag ?? sanitiseName(defaultBase), user);
      if (name.user !== user) throw new UsageError(`cannot export to ${name.full}: you are ${user}`);

      let image: ImageRead;
      let podmanImage: string | undefined;
      let earlyUpload: EarlyUploader | undefined;
      const onLayer = (i: { bytes: number; files: number; cached?: boolean }) =>
        progress.update(i.cached ? 'cached' : 'read', { files: i.files, bytes: i.bytes });
      if (this.imageArchive) {
        if (!existsSync(this.imageArchive) || !statSync(this.imageArchive).isFile()) throw new UsageError(`no image archive at ${this.imageArchive}`);
        progress.update('read');
        enter('read');
        image = await readImageArchive(createReadStream(this.imageArchive, { highWaterMark: 1024 * 1024 }), {
          store: new ContentStore(join(cacheDir, 'content')), warn: (m) => progress.note(`warning: ${m}`), onLayer,
        });
      } else {
        const dockerfile = ['Dockerfile', 'Containerfile'].map((f) => join(dir, f)).find((f) => existsSync(f));
        if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`no directory ${dir}`);
        if (!dockerfile) throw new UsageError(`no Dockerfile in ${dir} (or pass --image-archive FILE)`);
        const builder = pickBuilder();
        podmanImage = `localhost/sway-export/${name.user}-${name.name}:${name.tag}`;
        progress.update('build');
        enter('build');
        await buildImage(builder, {
          dir, dockerfile, tag: podmanImage, runtime: this.runtime, platform: this.platform,
          onLine: (l) => { if (!this.json) progress.note(l); },
        });
        const stored = builder === 'podman' ? inspectStoreImage(podmanImage) : null;
        enter('read');
        if (stored?.layers) {
          // Contents go to the fileserver while the layers are still being read.
          earlyUpload = new EarlyUploader(client);
          try {
            image = await readStoreImage({ ...stored, layers: stored.layers as StoreLayer[] }, {
              cache: new LayerCache(cacheDir), warn: (m) => progress.note(`warning: ${m}`), onLayer, earlyUpload,
            });
            await earlyUpload.finish();
          } catch (err) {
            await earlyUpload.settle();
            throw err;
          }
        } else {
          progress.update('save');
          image = await readImageArchive(saveImage(builder, podmanImage), {
            store: new ContentStore(join(cacheDir, 'content')), warn: (m) => progress.note(`warning: ${m}`), onLayer,
          });
        }
      }

      const result = await publishImage(client, {
        manifest: image.manifest, contents: image.contents, name: name.full, ...(image.chunks ? { chunks: image.chunks } : {}),
        ...(earlyUpload ? { earlyUploaded: { blobs: earlyUpload.blobsUploaded, bytes: earlyUpload.bytesUploaded } } : {}),
        onProgress: (p) => { enter(p.phase); progress.update(p.phase, p.phase === 'upload' ? p : {}); },
      });
      enter('done');
      progress.done();
      if (!this.imageArchive || this.dir) writeExportedImage(dir, { image: result.image, id: result.id });
      const seconds = (Date.now() - started) / 1000;
      if (this.json) {
        this.context.stdout.write(JSON.stringify({ ...result, seconds, phases: roundPhases(phases), ...(podmanImage ? { podmanImage } : {}), warnings: image.warnings.length }) + '\n');
      } else {
        this.context.stdout.write(`exported ${result.image} ${result.id} (${result.files} files, ${(result.bytes / 1e6).toFixed(1)} MB; uploaded ${result.blobsUploaded} blobs, ${(result.bytesUploaded / 1e6).toFixed(1)} MB) in ${seconds.toFixed(1)} s\n`);
      }
      return 0;
    } finally {
      progress.done();
      await client.close();
    }
  }
}
