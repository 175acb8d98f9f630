import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Image } from '../images/image.js';
import type { ImportProgress } from '../images/image-import.js';
import { legacyCommand } from './command.js';
import type { PullProgress } from '../images/registry/pull.js';
import type { PushProgress } from '../images/registry/push.js';
import { looksLikeReference } from '../images/registry/reference.js';
import { SandboxImageError } from '../errors/sandbox-error.js';

/**
 * `--image <ref>`: a rootfs directory, an image archive or layout, a name/id in the store, or
 * a registry reference (`python:3.12-slim`), pulled when the store does not have it yet.
 */
export async function resolveImageRef(ref: string | undefined, progress = false): Promise<Image> {
  if (!ref) return Image.host();
  if (existsSync(ref)) {
    const st = statSync(ref);
    const isLayout =
      st.isDirectory() && (existsSync(join(ref, 'oci-layout')) || existsSync(join(ref, 'manifest.json')));
    if (st.isDirectory() && !isLayout) return Image.fromDirectory(ref);
    return Image.fromOCI(ref, progress ? { onProgress: printProgress } : {});
  }
  try {
    return Image.fromStore(ref);
  } catch (err) {
    // Docker's habit: a reference not in the store yet is pulled.
    if (!(err instanceof SandboxImageError && err.reason === 'not-found') || !looksLikeReference(ref)) throw err;
    if (progress) process.stderr.write(`pulling ${ref}\n`);
    const board = progress ? new ProgressBoard() : undefined;
    try {
      return await Image.pull(ref, board ? { onProgress: (p) => board.pull(p) } : {});
    } finally {
      board?.finish();
    }
  }
}

/**
 * Per-layer progress on stderr: on a terminal one bar per layer (bytes, rate), redrawn in
 * place at most 10 times a second; otherwise one plain line per layer when it is done.
 */
export class ProgressBoard {
  private readonly rows: Array<{ id: string; bytes: number; total: number; state: string; started: number }> = [];
  private drawn = 0;
  private lastDraw = 0;
  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly tty = process.stderr.isTTY === true
  ) {}

  pull(p: PullProgress): void {
    const state = p.cached ? 'already present' : p.done ? 'done' : p.phase === 'unpack' ? 'unpacking' : 'downloading';
    this.update(p.layer, p.layers, p.blob, p.bytes, p.totalBytes, state, p.done);
  }

  push(p: PushProgress): void {
    const state =
      p.phase === 'exists'
        ? 'already in the registry'
        : p.phase === 'mounted'
          ? 'mounted'
          : p.done
            ? 'pushed'
            : p.phase === 'tar'
              ? 'writing'
              : 'uploading';
    this.update(p.layer, p.layers, p.blob ?? '', p.bytes, p.totalBytes, state, p.done);
  }

  private update(i: number, n: number, id: string, bytes: number, total: number, state: string, done: boolean): void {
    while (this.rows.length < n) this.rows.push({ id: '', bytes: 0, total: 0, state: 'waiting', started: Date.now() });
    const row = this.rows[i]!;
    if (row.state === 'waiting' || (bytes === 0 && !done)) row.started = Date.now();
    Object.assign(row, { id: id.replace(/^sha256:/, '').slice(0, 12) || row.id, bytes, total, state });
    if (!this.tty) {
      if (done) this.out.write(`${this.line(i)}\n`);
      return;
    }
    if (!done && Date.now() - this.lastDraw < 100) return;
    this.draw();
  }

  private line(i: number): string {
    const r = this.rows[i]!;
    const mib = (x: number) => (x / 1048576).toFixed(1);
    const head = `layer ${String(i + 1).padStart(String(this.rows.length).length)}/${this.rows.length} ${r.id.padEnd(12)}`;
    if (
      r.state === 'waiting' ||
      r.state === 'already present' ||
      r.state === 'already in the registry' ||
      r.state === 'mounted'
    )
      return `${head} ${r.state}`;
    const width = 24;
    const frac = r.total > 0 ? Math.min(1, r.bytes / r.total) : 0;
    const bar = this.tty ? ` [${'#'.repeat(Math.round(frac * width)).padEnd(width, '.')}]` : '';
    const secs = Math.max(0.001, (Date.now() - r.started) / 1000);
    return `${head}${bar} ${mib(r.bytes)}/${mib(r.total)} MiB ${mib(r.bytes / secs)} MiB/s ${r.state}`;
  }

  private draw(): void {
    this.lastDraw = Date.now();
    let text = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (let i = 0; i < this.rows.length; i++) text += `\r\x1b[K${this.line(i)}\n`;
    this.drawn = this.rows.length;
    this.out.write(text);
  }

  /** Draws the final state (on a terminal). */
  finish(): void {
    if (this.tty && this.rows.length > 0) this.draw();
  }
}

/** One progress line on stderr, rewritten in place on a terminal. */
function printProgress(p: ImportProgress): void {
  const mib = (n: number) => (n / 1048576).toFixed(1);
  const line = `layer ${p.layer + 1}/${p.layers} ${p.digest?.slice(7, 19) ?? ''} ${p.cached ? 'already present' : `${mib(p.bytes)}/${mib(p.totalBytes)} MiB`}${p.done ? ' done' : ''}`;
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}${p.done && p.layer + 1 === p.layers ? '\n' : ''}`);
  else if (p.done) process.stderr.write(`${line}\n`);
}

/** `sandkit image import|pull|push|ls|rm|gc`. */
export async function imageCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      json: { type: 'boolean' },
      platform: { type: 'string' },
      insecure: { type: 'boolean' },
      compression: { type: 'string' },
    },
  });
  switch (sub) {
    case 'pull': {
      if (positionals.length !== 1)
        return usage('sandkit image pull <ref> [--platform os/arch[/variant]] [--insecure] [--name NAME]');
      const board = new ProgressBoard();
      try {
        const img = await Image.pull(positionals[0]!, {
          onProgress: (p) => board.pull(p),
          ...(values.platform ? { platform: values.platform } : {}),
          ...(values.insecure ? { insecure: true } : {}),
          ...(values.name ? { name: values.name } : {}),
        });
        board.finish();
        console.log(img.id);
      } catch (err) {
        board.finish();
        throw err;
      }
      return 0;
    }
    case 'push': {
      if (positionals.length !== 2)
        return usage('sandkit image push <name|id> <ref> [--insecure] [--compression gzip|none]');
      const board = new ProgressBoard();
      try {
        const res = await Image.fromStore(positionals[0]!).push(positionals[1]!, {
          onProgress: (p) => board.push(p),
          ...(values.insecure ? { insecure: true } : {}),
          ...(values.compression ? { compression: values.compression as 'gzip' | 'none' } : {}),
        });
        board.finish();
        console.log(`${res.ref}@${res.digest}`);
      } catch (err) {
        board.finish();
        throw err;
      }
      return 0;
    }
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
      return usage('sandkit image import|pull|push|ls|rm|gc');
  }
}

function usage(text: string): number {
  console.error(`Usage: ${text}`);
  return 2;
}

/** `sandkit image ...` in the command table (it reads its own arguments; these give its help). */
export const imageCommands = legacyCommand(
  'image',
  'import, pull, push, list and remove images and snapshots',
  imageCommand,
  {
    subcommands: [
      {
        name: 'import',
        summary: 'import an OCI/docker archive, OCI layout or rootfs tarball',
        usage: 'FILE|DIR [--name NAME]',
      },
      {
        name: 'pull',
        summary: 'pull an image from a registry (python:3.12-slim, ghcr.io/org/app@sha256:...)',
        usage: 'REF [--platform OS/ARCH[/VARIANT]] [--insecure] [--name NAME]',
      },
      {
        name: 'push',
        summary: 'push an image or snapshot of the store to a registry',
        usage: 'NAME|ID REF [--insecure] [--compression gzip|none]',
      },
      { name: 'ls', summary: 'list images and snapshots', usage: '[--json]' },
      { name: 'rm', summary: 'remove images and snapshots, then unused layers', usage: 'REF...' },
      { name: 'gc', summary: 'remove layers no image uses' },
    ],
  }
);
