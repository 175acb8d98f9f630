// The error contract (docs/errors.md): every failure of every public entry point is a
// SandboxError with a code, naming what was wrong — never a TypeError, RangeError, raw errno
// or zlib error — and a failed call leaves nothing behind.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect } from 'vitest';
import { Image, Namespaces, Network, Sandbox, SandboxError, type SandboxErrorCode } from '../../src/index.js';
import { mountsMentioning, sandboxDirsUnder, stateRoot } from '../helpers/host.js';
import { it } from '../helpers/sandboxes.js';

type Call = (ctx: { dir: string; sandbox: () => Sandbox }) => unknown;
/** [what, code, field (SandboxOptionsError) or image reason, the call] */
type Row = [string, SandboxErrorCode, string | undefined, Call];

const bad = <T>(v: unknown) => v as T;

const constructorRows: Row[] = [
  ['options 5', 'ERR_SANDBOX_OPTIONS', 'options', () => new Sandbox(bad(5))],
  ['options null', 'ERR_SANDBOX_OPTIONS', 'options', () => new Sandbox(bad(null))],
  ["mounts: 'x'", 'ERR_SANDBOX_OPTIONS', 'mounts', () => new Sandbox({ mounts: bad('x') })],
  ['mounts: [5]', 'ERR_SANDBOX_OPTIONS', 'mounts[0]', () => new Sandbox({ mounts: bad([5]) })],
  [
    'mounts[0].source NUL',
    'ERR_SANDBOX_OPTIONS',
    'mounts[0].source',
    () => new Sandbox({ mounts: [{ source: '/e\0tc', target: '/x' }] }),
  ],
  ['env: 5', 'ERR_SANDBOX_OPTIONS', 'env', () => new Sandbox({ env: bad(5) })],
  ['env value 5', 'ERR_SANDBOX_OPTIONS', 'env.A', () => new Sandbox({ env: bad({ A: 5 }) })],
  ['cwd: 5', 'ERR_SANDBOX_OPTIONS', 'cwd', () => new Sandbox({ cwd: bad(5) })],
  ['hostname: 5', 'ERR_SANDBOX_OPTIONS', 'hostname', () => new Sandbox({ hostname: bad(5) })],
  ['network: 5', 'ERR_SANDBOX_OPTIONS', 'network', () => new Sandbox({ network: bad(5) })],
  [
    'network: { attach: 5 }',
    'ERR_SANDBOX_OPTIONS',
    'network.attach',
    () => new Sandbox({ network: bad({ attach: 5 }) }),
  ],
  ['image: 5', 'ERR_SANDBOX_OPTIONS', 'image', () => new Sandbox({ image: bad(5) })],
  ['namespaces: 5', 'ERR_SANDBOX_OPTIONS', 'namespaces', () => new Sandbox({ namespaces: bad(5) })],
  [
    'namespaces.pid: false',
    'ERR_SANDBOX_OPTIONS',
    'namespaces.pid',
    () => new Sandbox({ namespaces: bad({ pid: false }) }),
  ],
  [
    'namespaces.mount: false',
    'ERR_SANDBOX_OPTIONS',
    'namespaces.mount',
    () => new Sandbox({ namespaces: bad({ mount: false }) }),
  ],
  [
    "namespaces.ipc: 'no'",
    'ERR_SANDBOX_OPTIONS',
    'namespaces.ipc',
    () => new Sandbox({ namespaces: bad({ ipc: 'no' }) }),
  ],
  ['namespaces.time', 'ERR_SANDBOX_OPTIONS', 'namespaces.time', () => new Sandbox({ namespaces: bad({ time: true }) })],
  [
    'new Namespaces({ pid: false })',
    'ERR_SANDBOX_OPTIONS',
    'namespaces.pid',
    () => new Namespaces(bad({ pid: false })),
  ],
  ['stateDir: 5', 'ERR_SANDBOX_OPTIONS', 'stateDir', () => new Sandbox({ stateDir: bad(5) })],
  ["stateDir: 'rel'", 'ERR_SANDBOX_OPTIONS', 'stateDir', () => new Sandbox({ stateDir: 'rel' })],
  ['stateDir: a file', 'ERR_SANDBOX_OPTIONS', 'stateDir', ({ dir }) => new Sandbox({ stateDir: join(dir, 'file') })],
  [
    'stateDir: under a file',
    'ERR_SANDBOX_OPTIONS',
    'stateDir',
    ({ dir }) => new Sandbox({ stateDir: join(dir, 'file', 'x') }),
  ],
  ["stateDir: '/proc/x'", 'ERR_SANDBOX_OPTIONS', 'stateDir', () => new Sandbox({ stateDir: '/proc/x' })],
  ["stateDir: '/sys/x/y'", 'ERR_SANDBOX_OPTIONS', 'stateDir', () => new Sandbox({ stateDir: '/sys/x/y' })],
  ['limits: 5', 'ERR_SANDBOX_OPTIONS', 'limits', () => new Sandbox({ limits: bad(5) })],
  ["limits: 'x'", 'ERR_SANDBOX_OPTIONS', 'limits', () => new Sandbox({ limits: bad('x') })],
  ['limits.memory: 100', 'ERR_SANDBOX_OPTIONS', 'limits.memory', () => new Sandbox({ limits: { memory: 100 } })],
  ["limits.memory: '4k'", 'ERR_SANDBOX_OPTIONS', 'limits.memory', () => new Sandbox({ limits: { memory: '4k' } })],
  ['limits.memory: 1e300', 'ERR_SANDBOX_OPTIONS', 'limits.memory', () => new Sandbox({ limits: { memory: 1e300 } })],
  ['limits.memory: NaN', 'ERR_SANDBOX_OPTIONS', 'limits.memory', () => new Sandbox({ limits: { memory: Number.NaN } })],
  ['limits.memory: {}', 'ERR_SANDBOX_OPTIONS', 'limits.memory', () => new Sandbox({ limits: { memory: bad({}) } })],
  ['limits.pids: 1', 'ERR_SANDBOX_OPTIONS', 'limits.pids', () => new Sandbox({ limits: { pids: 1 } })],
  ["limits.pids: '64'", 'ERR_SANDBOX_OPTIONS', 'limits.pids', () => new Sandbox({ limits: { pids: bad('64') } })],
  [
    'limits.cpus: Infinity',
    'ERR_SANDBOX_OPTIONS',
    'limits.cpus',
    () => new Sandbox({ limits: { cpus: Number.POSITIVE_INFINITY } }),
  ],
  ['limits.ioWeight: 0', 'ERR_SANDBOX_OPTIONS', 'limits.ioWeight', () => new Sandbox({ limits: { ioWeight: 0 } })],
  ['limits.disk: 100', 'ERR_SANDBOX_OPTIONS', 'limits.disk', () => new Sandbox({ limits: { disk: 100 } })],
  ["limitFallback: 'x'", 'ERR_SANDBOX_OPTIONS', 'limitFallback', () => new Sandbox({ limitFallback: bad('x') })],
  ['security: 5', 'ERR_SANDBOX_OPTIONS', 'security', () => new Sandbox({ security: bad(5) })],
];

const spawnRows: Row[] = [
  ['command 5', 'ERR_SANDBOX_OPTIONS', 'command', ({ sandbox }) => sandbox().spawn(bad(5))],
  ['command []', 'ERR_SANDBOX_OPTIONS', 'command', ({ sandbox }) => sandbox().spawn([])],
  ['command [5]', 'ERR_SANDBOX_OPTIONS', 'command[0]', ({ sandbox }) => sandbox().spawn(bad([5]))],
  ['options 5', 'ERR_SANDBOX_OPTIONS', 'options', ({ sandbox }) => sandbox().spawn(['true'], bad(5))],
  ['env 5', 'ERR_SANDBOX_OPTIONS', 'env', ({ sandbox }) => sandbox().spawn(['true'], { env: bad(5) })],
  ['cwd 5', 'ERR_SANDBOX_OPTIONS', 'cwd', ({ sandbox }) => sandbox().spawn(['true'], { cwd: bad(5) })],
  ['stdin 5', 'ERR_SANDBOX_OPTIONS', 'stdin', ({ sandbox }) => sandbox().spawn(['true'], { stdin: bad(5) })],
  ["stdout 'x'", 'ERR_SANDBOX_OPTIONS', 'stdout', ({ sandbox }) => sandbox().spawn(['true'], { stdout: bad('x') })],
  ['user -1', 'ERR_SANDBOX_OPTIONS', 'user', ({ sandbox }) => sandbox().spawn(['true'], { user: -1 })],
  ['user {}', 'ERR_SANDBOX_OPTIONS', 'user.uid', ({ sandbox }) => sandbox().spawn(['true'], { user: bad({}) })],
  ['signal 5', 'ERR_SANDBOX_OPTIONS', 'signal', ({ sandbox }) => sandbox().spawn(['true'], { signal: bad(5) })],
  ['maxBuffer 1.5', 'ERR_SANDBOX_OPTIONS', 'maxBuffer', ({ sandbox }) => sandbox().spawn(['true'], { maxBuffer: 1.5 })],
  ['limits 5', 'ERR_SANDBOX_OPTIONS', 'limits', ({ sandbox }) => sandbox().spawn(['true'], { limits: bad(5) })],
  [
    'limits.wallTime -1',
    'ERR_SANDBOX_OPTIONS',
    'limits.wallTime',
    ({ sandbox }) => sandbox().spawn(['true'], { limits: { wallTime: -1 } }),
  ],
  [
    'limits.wallTime 1e300',
    'ERR_SANDBOX_OPTIONS',
    'limits.wallTime',
    ({ sandbox }) => sandbox().spawn(['true'], { limits: { wallTime: 1e300 } }),
  ],
  [
    'limits.memory 100',
    'ERR_SANDBOX_OPTIONS',
    'limits.memory',
    ({ sandbox }) => sandbox().spawn(['true'], { limits: { memory: 100 } }),
  ],
  [
    'limits.cpuTime {}',
    'ERR_SANDBOX_OPTIONS',
    'limits.cpuTime',
    ({ sandbox }) => sandbox().spawn(['true'], { limits: { cpuTime: bad({}) } }),
  ],
  [
    'limits.pids 1',
    'ERR_SANDBOX_OPTIONS',
    'limits.pids',
    ({ sandbox }) => sandbox().spawn(['true'], { limits: { pids: 1 } }),
  ],
  [
    'limits.fileSize 1e300',
    'ERR_SANDBOX_OPTIONS',
    'limits.fileSize',
    ({ sandbox }) => sandbox().spawn(['true'], { limits: { fileSize: 1e300 } }),
  ],
  [
    'limits.stack 1e300',
    'ERR_SANDBOX_OPTIONS',
    'limits.stack',
    ({ sandbox }) => sandbox().spawn(['true'], { limits: { stack: 1e300 } }),
  ],
  [
    'limits.output -1',
    'ERR_SANDBOX_OPTIONS',
    'limits.output',
    ({ sandbox }) => sandbox().spawn(['true'], { limits: { output: -1 } }),
  ],
  ['run() with env 5 rejects', 'ERR_SANDBOX_OPTIONS', 'env', ({ sandbox }) => sandbox().run(['true'], { env: bad(5) })],
  [
    'argv over the request size',
    'ERR_SANDBOX_OPTIONS',
    'command',
    ({ sandbox }) => sandbox().run(['true', ...Array.from({ length: 24 }, () => 'x'.repeat(100_000))]),
  ],
  [
    "kill('SIGBOGUS')",
    'ERR_SANDBOX_OPTIONS',
    undefined,
    ({ sandbox }) => sandbox().spawn(['true']).kill(bad('SIGBOGUS')),
  ],
  ['start({ signal: 5 })', 'ERR_SANDBOX_OPTIONS', 'signal', ({ sandbox }) => sandbox().start(bad({ signal: 5 }))],
  [
    'start() aborted',
    'ERR_SANDBOX_ABORTED',
    undefined,
    ({ sandbox }) => sandbox().start({ signal: AbortSignal.abort() }),
  ],
  ['snapshot(5)', 'ERR_SANDBOX_OPTIONS', 'options', ({ sandbox }) => sandbox().snapshot(bad(5))],
  ["snapshot({ store: 'rel' })", 'ERR_SANDBOX_OPTIONS', 'store', ({ sandbox }) => sandbox().snapshot({ store: 'rel' })],
  ['snapshot({ name: 5 })', 'ERR_SANDBOX_OPTIONS', 'name', ({ sandbox }) => sandbox().snapshot(bad({ name: 5 }))],
  ['snapshot({ bogus })', 'ERR_SANDBOX_OPTIONS', 'bogus', ({ sandbox }) => sandbox().snapshot(bad({ bogus: 1 }))],
  [
    'snapshot() aborted',
    'ERR_SANDBOX_ABORTED',
    undefined,
    async ({ sandbox, dir }) => {
      const sb = sandbox();
      await sb.run(['true']);
      return sb.snapshot({ store: join(dir, 'store'), signal: AbortSignal.abort() });
    },
  ],
];

const imageRows: Row[] = [
  ['fromDirectory(5)', 'ERR_SANDBOX_OPTIONS', 'path', () => Image.fromDirectory(bad(5))],
  ["fromDirectory('')", 'ERR_SANDBOX_OPTIONS', 'path', () => Image.fromDirectory('')],
  ['fromDirectory(a file)', 'ERR_SANDBOX_OPTIONS', 'image', ({ dir }) => Image.fromDirectory(join(dir, 'file'))],
  ['fromStore(5)', 'ERR_SANDBOX_OPTIONS', 'ref', () => Image.fromStore(bad(5))],
  ["fromStore('x', { store: 5 })", 'ERR_SANDBOX_OPTIONS', 'store', () => Image.fromStore('x', bad({ store: 5 }))],
  ["fromStore('x', { store: 'rel' })", 'ERR_SANDBOX_OPTIONS', 'store', () => Image.fromStore('x', { store: 'rel' })],
  [
    "fromStore('x', { store: '/proc/x' })",
    'ERR_SANDBOX_OPTIONS',
    'store',
    () => Image.fromStore('x', { store: '/proc/x' }),
  ],
  [
    'fromStore(unknown)',
    'ERR_SANDBOX_IMAGE',
    'not-found',
    ({ dir }) => Image.fromStore('no-such-image', { store: join(dir, 'store') }),
  ],
  ['list(5)', 'ERR_SANDBOX_OPTIONS', 'options', () => Image.list(bad(5))],
  ['remove(5)', 'ERR_SANDBOX_OPTIONS', 'ref', () => Image.remove(bad(5))],
  ['gc(5)', 'ERR_SANDBOX_OPTIONS', 'options', () => Image.gc(bad(5))],
  ['fromOCI(5)', 'ERR_SANDBOX_OPTIONS', 'path', () => Image.fromOCI(bad(5))],
  ['fromOCI(path, 5)', 'ERR_SANDBOX_OPTIONS', 'options', ({ dir }) => Image.fromOCI(join(dir, 'file'), bad(5))],
  [
    'fromOCI(path, { name: 5 })',
    'ERR_SANDBOX_OPTIONS',
    'name',
    ({ dir }) => Image.fromOCI(join(dir, 'file'), bad({ name: 5 })),
  ],
  [
    'fromOCI(path, { onProgress: 5 })',
    'ERR_SANDBOX_OPTIONS',
    'onProgress',
    ({ dir }) => Image.fromOCI(join(dir, 'file'), bad({ onProgress: 5 })),
  ],
  [
    'fromOCI(path, { maxBytes: -1 })',
    'ERR_SANDBOX_OPTIONS',
    'maxBytes',
    ({ dir }) => Image.fromOCI(join(dir, 'file'), { maxBytes: -1 }),
  ],
  [
    "fromOCI(path, { maxEntries: 'x' })",
    'ERR_SANDBOX_OPTIONS',
    'maxEntries',
    ({ dir }) => Image.fromOCI(join(dir, 'file'), bad({ maxEntries: 'x' })),
  ],
  [
    "fromTar(path, { store: 'rel' })",
    'ERR_SANDBOX_OPTIONS',
    'store',
    ({ dir }) => Image.fromTar(join(dir, 'file'), { store: 'rel' }),
  ],
  [
    'fromDocker(missing)',
    'ERR_SANDBOX_IMAGE',
    'not-found',
    ({ dir }) => Image.fromDocker(join(dir, 'missing.tar'), { store: join(dir, 'store') }),
  ],
  [
    'fromTar(empty file)',
    'ERR_SANDBOX_IMAGE',
    'format',
    ({ dir }) => Image.fromTar(join(dir, 'empty.tar'), { store: join(dir, 'store') }),
  ],
  [
    'fromTar(/dev/null)',
    'ERR_SANDBOX_IMAGE',
    'format',
    ({ dir }) => Image.fromTar('/dev/null', { store: join(dir, 'store') }),
  ],
  [
    'fromTar(a FIFO)',
    'ERR_SANDBOX_IMAGE',
    'format',
    ({ dir }) => Image.fromTar(join(dir, 'fifo'), { store: join(dir, 'store') }),
  ],
  [
    'fromTar(corrupt .tar.gz)',
    'ERR_SANDBOX_IMAGE',
    'format',
    ({ dir }) => Image.fromTar(join(dir, 'corrupt.tar.gz'), { store: join(dir, 'store') }),
  ],
  [
    'fromOCI(corrupt layout)',
    'ERR_SANDBOX_IMAGE',
    'format',
    ({ dir }) => Image.fromOCI(join(dir, 'layout'), { store: join(dir, 'store') }),
  ],
  [
    'fromTar() aborted',
    'ERR_SANDBOX_ABORTED',
    undefined,
    ({ dir }) => Image.fromTar(join(dir, 'good.tar.gz'), { store: join(dir, 'store'), signal: AbortSignal.abort() }),
  ],
  [
    'new LayerStore in /proc (via fromOCI)',
    'ERR_SANDBOX_OPTIONS',
    'store',
    ({ dir }) => Image.fromOCI(join(dir, 'good.tar.gz'), { store: '/proc/1/x' }),
  ],
  ['Network.create(5)', 'ERR_SANDBOX_OPTIONS', 'options', () => Network.create(bad(5))],
  [
    "Network.create({ stateDir: 'rel' })",
    'ERR_SANDBOX_OPTIONS',
    'stateDir',
    () => Network.create({ subnet: '10.200.0.0/24', stateDir: 'rel' }),
  ],
  [
    'Network.create({ bogus })',
    'ERR_SANDBOX_OPTIONS',
    'bogus',
    () => Network.create(bad({ subnet: '10.200.0.0/24', bogus: 1 })),
  ],
];

/** Files the image rows read: a plain file, an empty one, a corrupt gzip, a broken OCI layout. */
function fixtures(dir: string): void {
  writeFileSync(join(dir, 'file'), 'not a directory\n');
  writeFileSync(join(dir, 'empty.tar'), '');
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  const gz = gzipSync(Buffer.alloc(64 * 1024, 'x'));
  gz.fill(0x55, 20, gz.length - 8); // a valid header over garbage: zlib fails mid-stream
  writeFileSync(join(dir, 'corrupt.tar.gz'), gz);
  writeFileSync(join(dir, 'good.tar.gz'), gzipSync(Buffer.alloc(1024)));
  mkdirSync(join(dir, 'layout'));
  writeFileSync(join(dir, 'layout', 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'layout', 'index.json'), '{"manifests": [');
}

async function failureOf(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('every failure is a SandboxError naming what was wrong, and leaves nothing', () => {
  it.for([...constructorRows, ...spawnRows, ...imageRows])(
    '%s → %s %s',
    async ([, code, detail, call], { tempDir }) => {
      const dir = tempDir();
      fixtures(dir);
      const dirsBefore = sandboxDirsUnder(stateRoot()).length;
      const made: Sandbox[] = [];
      const err = await failureOf(() => call({ dir, sandbox: () => made[made.push(new Sandbox()) - 1]! }));
      await Promise.all(made.map((sb) => sb.destroy()));
      expect(err, 'the call must fail').toBeDefined();
      expect(err, `${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`).toBeInstanceOf(SandboxError);
      expect((err as SandboxError).code).toBe(code);
      if (code === 'ERR_SANDBOX_OPTIONS' && detail !== undefined) expect(err).toMatchObject({ field: detail });
      if (code === 'ERR_SANDBOX_IMAGE') expect(err).toMatchObject({ reason: detail });
      expect((err as Error).message.length).toBeGreaterThan(10);
      // Nothing leaked: no new sandbox directory, no mount, no store temp directory.
      expect(sandboxDirsUnder(stateRoot()).length).toBe(dirsBefore);
      expect(mountsMentioning(dir)).toEqual([]);
      const storeTmp = join(dir, 'store', 'tmp');
      expect(readdirSyncOrEmpty(storeTmp)).toEqual([]);
    }
  );
});

describe('a refused option leaves no state directory behind', () => {
  it('is checked after every other option', ({ tempDir }) => {
    const stateDir = join(tempDir(), 'state');
    expect(() => new Sandbox({ stateDir, limits: { memory: 1 } })).toThrow(/limits\.memory/);
    expect(existsSync(stateDir)).toBe(false);
  });
});

function readdirSyncOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
