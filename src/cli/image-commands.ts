import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Image } from '../images/image.js';
import type { ImportProgress } from '../images/image-import.js';
import { legacyCommand } from './command.js';

/** `--image <ref>`: a rootfs directory, an image archive or layout, or a name/id in the store. */
export async function resolveImageRef(ref: string | undefined, progress = false): Promise<Image> {
  if (!ref) return Image.host();
  if (existsSync(ref)) {
    const st = statSync(ref);
    const isLayout =
      st.isDirectory() && (existsSync(join(ref, 'oci-layout')) || existsSync(join(ref, 'manifest.json')));
    if (st.isDirectory() && !isLayout) return Image.fromDirectory(ref);
    return Image.fromOCI(ref, progress ? { onProgress: printProgress } : {});
  }
  return Image.fromStore(ref);
}

/** One progress line on stderr, rewritten in place on a terminal. */
function printProgress(p: ImportProgress): void {
  const mib = (n: number) => (n / 1048576).toFixed(1);
  const line = `layer ${p.layer + 1}/${p.layers} ${p.digest?.slice(7, 19) ?? ''} ${p.cached ? 'already present' : `${mib(p.bytes)}/${mib(p.totalBytes)} MiB`}${p.done ? ' done' : ''}`;
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}${p.done && p.layer + 1 === p.layers ? '\n' : ''}`);
  else if (p.done) process.stderr.write(`${line}\n`);
}

/** `sandkit image import|ls|rm|gc`. */
export async function imageCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { name: { type: 'string' }, json: { type: 'boolean' } },
  });
  switch (sub) {
    case 'import': {
      if (positionals.length !== 1)
        return usage('sandkit image import <archive|layout dir|rootfs.tar[.gz]> [--name NAME]');
      const img = await Image.fromOCI(positionals[0]!, {
        onProgress: printProgress,
        ...(values.name ? { name: values.name } : {}),
      });
      console.log(img.id);
      return 0;
    }
    case 'ls': {
      const records = Image.list();
      if (values.json) console.log(JSON.stringify(records, null, 2));
      else
        for (const r of records)
          console.log(
            `${r.kind.padEnd(8)} ${r.id.replace(/^sha256:/, '').slice(0, 16)}  ${String(r.layers.length).padStart(3)} layers  ${r.names.join(', ')}`
          );
      return 0;
    }
    case 'rm': {
      if (positionals.length === 0) return usage('sandkit image rm <name|id>...');
      let status = 0;
      for (const ref of positionals) {
        if (!Image.remove(ref)) {
          console.error(`sandkit image rm: no image ${ref}`);
          status = 1;
        }
      }
      const removed = await Image.gc();
      if (removed.length) console.error(`removed ${removed.length} unused layer(s)`);
      return status;
    }
    case 'gc':
      console.log(`removed ${(await Image.gc()).length} unused layer(s)`);
      return 0;
    default:
      return usage('sandkit image import|ls|rm|gc');
  }
}

function usage(text: string): number {
  console.error(`Usage: ${text}`);
  return 2;
}

/** `sandkit image ...` in the command table (it reads its own arguments; these give its help). */
export const imageCommands = legacyCommand('image', 'import, list and remove images and snapshots', imageCommand, {
  subcommands: [
    {
      name: 'import',
      summary: 'import an OCI/docker archive, OCI layout or rootfs tarball',
      usage: 'FILE|DIR [--name NAME]',
    },
    { name: 'ls', summary: 'list images and snapshots', usage: '[--json]' },
    { name: 'rm', summary: 'remove images and snapshots, then unused layers', usage: 'REF...' },
    { name: 'gc', summary: 'remove layers no image uses' },
  ],
});
