// copyIn against generated hostile archives (seeded): symlink/dir/hardlink permutations, '..',
// absolute names, long names, set-id modes and bombs. Whatever the archive, copyIn either
// succeeds with everything beneath the destination or fails with a SandboxError and leaves
// nothing; a canary tree inside the sandbox and one on the host (bound read-write) never change.
// SANDKIT_FUZZ_SEED and SANDKIT_FUZZ_TRIALS pick the run.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect } from 'vitest';
import { Image, SandboxError, type Sandbox } from '../../src/index.js';
import { tarEnd, tarHeader, tarPadding, type TarWriteEntry } from '../../src/archive/tar-writer.js';
import { busyboxRootfs } from '../helpers/images.js';
import { it } from '../helpers/sandboxes.js';
import { seededRandom } from '../helpers/seeded-random.js';

const SEED = Number(process.env.SANDKIT_FUZZ_SEED ?? 20261201);
const TRIALS = Number(process.env.SANDKIT_FUZZ_TRIALS ?? 40);

const NAMES = [
  'a',
  'b',
  'a/b',
  'a/b/c',
  'b/x',
  'x',
  './a',
  'a//b',
  'a/./c',
  '..',
  '../x',
  'a/../../x',
  '/abs',
  '/etc/cron.d/x',
  '/canary/a',
  'l',
  'l/x',
  'l/l2/x',
  `${'n'.repeat(300)}`,
  `${'d/'.repeat(60)}deep`,
  `${'m'.repeat(250)}/${'m'.repeat(250)}`,
  'esc',
  'esc/profile.d/x.sh',
];
const TARGETS = [
  '/',
  '/etc',
  '/canary',
  '/canary/a',
  '/host',
  '/host/canary.txt',
  '..',
  '../..',
  '../../..',
  'a',
  'a/b',
  '.',
  '/proc/self/root',
  '/proc/1/root/etc',
  'l',
  'esc',
];
const MODES = [0o644, 0o755, 0o6755, 0o4777, 0o2775, 0o1777, 0o000, 0o500];

type Gen = { entries: TarWriteEntry[]; data: Map<number, Buffer>; options: Record<string, unknown>; gzip: boolean };

function archive(next: () => number): Gen {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!;
  const entries: TarWriteEntry[] = [];
  const data = new Map<number, Buffer>();
  const options: Record<string, unknown> = {};
  const bomb = next();
  const count = bomb < 0.05 ? 400 : 1 + Math.floor(next() * 12);
  if (bomb < 0.05) options.maxFiles = 100;
  for (let i = 0; i < count; i++) {
    const path = pick(NAMES) + (next() < 0.2 ? `/${i}` : '');
    const base = { path, uid: Math.floor(next() * 3) * 1000, gid: 0, mtime: 1_700_000_000, mode: pick(MODES) };
    const kind = next();
    if (kind < 0.3) {
      const size = bomb > 0.95 ? 64 * 1024 : Math.floor(next() * 200);
      entries.push({ ...base, type: 'file', size });
      data.set(entries.length - 1, Buffer.alloc(size, 'x'));
    } else if (kind < 0.5) entries.push({ ...base, type: 'dir', path: `${path}/` });
    else if (kind < 0.8) entries.push({ ...base, type: 'symlink', mode: 0o777, linkname: pick(TARGETS) });
    else if (kind < 0.93)
      entries.push({
        ...base,
        type: 'link',
        linkname:
          next() < 0.5 && entries.length
            ? entries[Math.floor(next() * entries.length)]!.path
            : pick([...TARGETS, ...NAMES]),
      });
    else if (kind < 0.97) entries.push({ ...base, type: 'fifo' });
    else entries.push({ ...base, type: 'char', devmajor: 1, devminor: 3 });
  }
  if (bomb > 0.95) options.maxBytes = 100 * 1024;
  return { entries, data, options, gzip: next() < 0.3 };
}

function tarOf(g: Gen): Buffer {
  const parts: Buffer[] = [];
  g.entries.forEach((e, i) => {
    parts.push(tarHeader(e));
    const d = g.data.get(i);
    if (d) parts.push(d, tarPadding(d.length));
  });
  parts.push(tarEnd());
  const tar = Buffer.concat(parts);
  return g.gzip ? gzipSync(tar) : tar;
}

/** Every path of the canary trees with its type, mode, size and content digest-ish. */
async function canaries(sb: Sandbox, host: string): Promise<string> {
  const inside = await sb.run([
    '/bin/sh',
    '-c',
    'find /canary /etc /bin -exec stat -c "%n %F %a %s %u" {} + | sort; cat /canary/a /canary/c/d',
  ]);
  const outside = readdirSync(host)
    .filter((n) => !n.startsWith('dst'))
    .sort()
    .map((n) => {
      const st = statSync(join(host, n));
      return `${n} ${st.mode.toString(8)} ${st.size} ${st.isFile() ? readFileSync(join(host, n), 'utf8') : ''}`;
    });
  return `${inside.stdout}${inside.stderr}\n${outside.join('\n')}`;
}

describe('copyIn fuzz: generated hostile archives', () => {
  it(`${TRIALS} archives from seed ${SEED}: typed errors only, nothing outside the destination, no leftovers`, async ({
    sandbox,
    tempDir,
  }) => {
    const host = join(tempDir(), 'host');
    mkdirSync(host, { mode: 0o777 });
    writeFileSync(join(host, 'canary.txt'), 'host canary', { mode: 0o644 });
    const sb = sandbox({
      image: Image.fromDirectory(busyboxRootfs(tempDir())),
      mounts: [{ source: host, target: '/host', readonly: false }],
    });
    await sb.run([
      '/bin/sh',
      '-c',
      'mkdir -p /canary/c && echo A > /canary/a && echo D > /canary/c/d && chmod 600 /canary/a',
    ]);
    const baseline = await canaries(sb, host);
    const next = seededRandom(SEED);
    const outcomes = { ok: 0, refused: 0 };
    for (let trial = 0; trial < TRIALS; trial++) {
      const g = archive(next);
      const dest = next() < 0.5 ? `/dst${trial}` : `/host/dst${trial}`;
      const what = `trial ${trial} (seed ${SEED}) into ${dest}: ${JSON.stringify(g.entries.map((e) => [e.type, e.path.slice(0, 40), e.linkname?.slice(0, 40)]))}`;
      const err = await sb.files.copyIn(Readable.from([tarOf(g)]), dest, g.options).then(
        () => undefined,
        (e: unknown) => e
      );
      if (err) {
        outcomes.refused++;
        expect(err, `${what}: ${String(err)}`).toBeInstanceOf(SandboxError);
        expect(await sb.files.exists(dest), `${what}: left ${dest} behind`).toBe(false);
      } else {
        outcomes.ok++;
        const modes = await sb.run(['/bin/sh', '-c', `find ${dest} ! -type l -exec stat -c "%a %n" {} +`]);
        for (const line of modes.stdout.trim().split('\n'))
          expect(Number.parseInt(line, 8) & 0o6000, `${what}: ${line}`).toBe(0);
        await sb.files.remove(dest, { recursive: true });
      }
      expect(await canaries(sb, host), what).toBe(baseline);
    }
    console.log(`copyIn fuzz seed ${SEED}: ${outcomes.ok} extracted, ${outcomes.refused} refused`);
    expect(outcomes.ok + outcomes.refused).toBe(TRIALS);
  });
});
