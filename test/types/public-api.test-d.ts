// The public API's types as a user's editor sees them (src/index.ts): what compiles, what must
// not, and what each call hands back. Checked by tsc in vitest's typecheck mode; nothing runs.
import type { Readable } from 'node:stream';
import { describe, expectTypeOf, test } from 'vitest';
import {
  Image,
  type Namespaces,
  Sandbox,
  SandboxAbortedError,
  SandboxDestroyedError,
  SandboxDiedError,
  type SandboxError,
  SandboxFilesError,
  SandboxHelperError,
  SandboxImageError,
  SandboxLineTooLongError,
  SandboxNotReadyError,
  SandboxOptionsError,
  type SandboxProcess,
  SandboxSetupError,
  SandboxUnsupportedError,
  type Snapshot,
  parseBytes,
  parseDuration,
  type ByteSize,
  type Duration,
  type ImageErrorReason,
  type LimitName,
  type ProcessRef,
  type SandboxErrorCode,
  type SandboxEvents,
  type SandboxLimits,
  type SandboxOptions,
  type SandboxState,
  type SpawnLimits,
  type SpawnOptions,
  type SpawnResult,
  type SpawnStatus,
  SandboxPool,
  type SandboxPoolEvents,
  type SandboxPoolStats,
} from 'sandkit';

declare const sandbox: Sandbox;

describe('Sandbox options', () => {
  test('accepts every documented option', () => {
    expectTypeOf<{
      image: Image;
      network: 'none';
      hostname: string;
      namespaces: Namespaces;
      mounts: [{ source: '/data'; target: '/data'; readonly: true }];
      env: { LANG: 'C' };
      cwd: '/';
      stateDir: string;
      limits: { memory: '256M'; pids: 64; cpus: 0.5; disk: '1G' };
      limitFallback: 'rlimit';
      security: { noNewPrivs: true; capabilities: ['CAP_NET_BIND_SERVICE'] };
    }>().toExtend<SandboxOptions>();
    expectTypeOf<{ network: 'host' }>().toExtend<SandboxOptions>();
    expectTypeOf<{ limits: 'unlimited' }>().toExtend<SandboxOptions>();
    expectTypeOf<{ namespaces: { net: false } }>().toExtend<SandboxOptions>();
    expectTypeOf(Sandbox).toBeConstructibleWith();
    expectTypeOf(Sandbox).toBeConstructibleWith({});
  });

  test('rejects wrong types', () => {
    // @ts-expect-error hostname is a string
    new Sandbox({ hostname: 42 });
    // @ts-expect-error network is 'none', 'host' or an attachment
    new Sandbox({ network: 'bridge' });
    // @ts-expect-error limits is an object or 'unlimited'
    new Sandbox({ limits: 'none' });
    // @ts-expect-error memory is a ByteSize, not a boolean
    new Sandbox({ limits: { memory: true } });
    // @ts-expect-error limitFallback is 'error' or 'rlimit'
    new Sandbox({ limitFallback: 'ignore' });
    // @ts-expect-error env values are strings
    new Sandbox({ env: { N: 1 } });
    // @ts-expect-error mounts need a target
    new Sandbox({ mounts: [{ source: '/data' }] });
    // @ts-expect-error an unknown option is a typo
    new Sandbox({ hostnme: 'x' });
    expectTypeOf<{ image: string }>().not.toExtend<SandboxOptions>();
  });

  test('state is one of the documented states', () => {
    expectTypeOf(sandbox.state).toEqualTypeOf<SandboxState>();
    expectTypeOf<SandboxState>().toEqualTypeOf<
      'created' | 'starting' | 'running' | 'paused' | 'destroying' | 'destroyed' | 'failed'
    >();
    expectTypeOf(sandbox.id).toBeString();
    expectTypeOf(sandbox.pid).toEqualTypeOf<number | undefined>();
  });

  test('lifecycle calls are promises; the sandbox is async-disposable', () => {
    expectTypeOf(sandbox.waitForPort).returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf(sandbox.waitForLog).returns.toEqualTypeOf<Promise<string>>();
    expectTypeOf(sandbox.start).returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf(sandbox.start).toBeCallableWith({ signal: new AbortController().signal });
    expectTypeOf(sandbox.destroy).returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf(sandbox.pause).returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf(sandbox.snapshot).returns.toEqualTypeOf<Promise<Snapshot>>();
    expectTypeOf(sandbox).toExtend<AsyncDisposable>();
  });
});

describe('spawn() and run()', () => {
  test('spawn() returns a SandboxProcess, thenable to a SpawnResult', async () => {
    const proc = sandbox.spawn(['echo', 'hi']);
    expectTypeOf(proc).toEqualTypeOf<SandboxProcess<string>>();
    expectTypeOf(proc).toExtend<PromiseLike<SpawnResult<string>>>();
    expectTypeOf(proc.catch(() => null)).toEqualTypeOf<Promise<SpawnResult<string> | null>>();
    expectTypeOf(proc.finally(() => {})).toEqualTypeOf<Promise<SpawnResult<string>>>();
    expectTypeOf(proc).toExtend<AsyncIterable<string>>();
    expectTypeOf(await proc).toEqualTypeOf<SpawnResult<string>>();
    expectTypeOf(proc.pid).toEqualTypeOf<number | undefined>();
    expectTypeOf(proc.kill).toBeCallableWith('SIGKILL');
    expectTypeOf(proc.kill).toBeCallableWith(9);
    expectTypeOf(proc.kill).returns.toBeBoolean();
  });

  test("encoding: 'buffer' gives Buffer output", async () => {
    const proc = sandbox.spawn(['cat'], { encoding: 'buffer' });
    expectTypeOf(proc).toEqualTypeOf<SandboxProcess<Buffer>>();
    expectTypeOf((await proc).stdout).toEqualTypeOf<Buffer>();
    expectTypeOf(sandbox.run(['true'])).toEqualTypeOf<Promise<SpawnResult<string>>>();
    expectTypeOf(sandbox.run(['true'], { encoding: 'buffer' })).toEqualTypeOf<Promise<SpawnResult<Buffer>>>();
  });

  test('the result names its units and its verdict', () => {
    expectTypeOf<SpawnResult>().toHaveProperty('status').toEqualTypeOf<SpawnStatus>();
    expectTypeOf<SpawnResult>().toHaveProperty('exitCode').toEqualTypeOf<number | null>();
    expectTypeOf<SpawnResult>().toHaveProperty('signal').toEqualTypeOf<NodeJS.Signals | null>();
    expectTypeOf<SpawnResult>().toHaveProperty('wallTimeMs').toBeNumber();
    expectTypeOf<SpawnResult>().toHaveProperty('memoryPeakBytes').toEqualTypeOf<number | null>();
    expectTypeOf<SpawnResult>().toHaveProperty('maxRssBytes').toBeNumber();
    expectTypeOf<SpawnResult>().toHaveProperty('limitExceeded').toEqualTypeOf<LimitName | null>();
    expectTypeOf<SpawnResult>().toHaveProperty('stdout').toBeString();
    expectTypeOf<'ok'>().toExtend<SpawnStatus>();
    expectTypeOf<'time-limit'>().toExtend<SpawnStatus>();
    expectTypeOf<'memory-limit'>().toExtend<SpawnStatus>();
    expectTypeOf<'timeout'>().not.toExtend<SpawnStatus>();
  });

  test('spawn options accept the documented forms and reject others', () => {
    expectTypeOf<{
      stdin: 'ignore';
      stdout: 'pipe';
      stderr: { path: '/tmp/err'; append: true };
    }>().toExtend<SpawnOptions>();
    expectTypeOf<{ stdin: Readable }>().toExtend<SpawnOptions>();
    expectTypeOf<{ stdin: Uint8Array }>().toExtend<SpawnOptions>();
    expectTypeOf<{ user: 1000 }>().toExtend<SpawnOptions>();
    expectTypeOf<{ user: { uid: 1000; gid: 1000 } }>().toExtend<SpawnOptions>();
    // @ts-expect-error the command is an array of strings
    sandbox.spawn('echo hi');
    // @ts-expect-error encoding is 'utf8' or 'buffer'
    sandbox.spawn(['true'], { encoding: 'latin1' });
    // @ts-expect-error stdout cannot be a string path: use { path }
    sandbox.spawn(['true'], { stdout: '/tmp/out' });
    // @ts-expect-error a spawn's cpuTime is a Duration, not a boolean
    sandbox.spawn(['true'], { limits: { cpuTime: true } });
  });
});

describe('events', () => {
  test('event names are exactly the documented ones, without an error event', () => {
    expectTypeOf<keyof SandboxEvents>().toEqualTypeOf<
      | 'created'
      | 'starting'
      | 'started'
      | 'step'
      | 'spawn'
      | 'stdout'
      | 'stderr'
      | 'limit'
      | 'oom'
      | 'paused'
      | 'resumed'
      | 'snapshot'
      | 'exit'
      | 'stats'
      | 'timeout'
      | 'destroying'
      | 'destroyed'
      | 'failed'
    >();
    expectTypeOf<'error'>().not.toExtend<keyof SandboxEvents>();
    // @ts-expect-error there is no 'error' event: failures reject, observers listen to 'failed'
    sandbox.on('error', () => {});
  });

  test('listeners get typed payloads', () => {
    sandbox.on('started', (e) => {
      expectTypeOf(e).toEqualTypeOf<{ id: string; pid: number; setupMs: number }>();
    });
    sandbox.on('exit', (e) => {
      expectTypeOf(e.process).toEqualTypeOf<ProcessRef>();
      expectTypeOf(e.result).toEqualTypeOf<SpawnResult<string | Buffer>>();
    });
    sandbox.on('stdout', (e) => expectTypeOf(e.data).toEqualTypeOf<Buffer>());
    sandbox.on('limit', (e) => expectTypeOf(e.limit).toEqualTypeOf<LimitName>());
    sandbox.on('failed', (e) => {
      expectTypeOf(e.error).toEqualTypeOf<SandboxError>();
      expectTypeOf(e.process).toEqualTypeOf<ProcessRef | undefined>();
    });
    sandbox.on('snapshot', (e) => expectTypeOf(e.snapshot).toEqualTypeOf<Snapshot>());
    // @ts-expect-error 'started' carries { id, pid, setupMs }, not a string
    sandbox.on('started', (e: string) => e);
  });
});

describe('errors', () => {
  test('every error class is a SandboxError with a code from the list', () => {
    for (const cls of [
      SandboxOptionsError,
      SandboxSetupError,
      SandboxUnsupportedError,
      SandboxHelperError,
      SandboxAbortedError,
      SandboxDestroyedError,
      SandboxImageError,
      SandboxFilesError,
      SandboxLineTooLongError,
      SandboxDiedError,
      SandboxNotReadyError,
    ])
      expectTypeOf(cls.prototype).toExtend<SandboxError>();
    expectTypeOf<SandboxError>().toExtend<Error>();
    expectTypeOf<SandboxError['code']>().toEqualTypeOf<SandboxErrorCode>();
    expectTypeOf<'ERR_SANDBOX_SETUP'>().toExtend<SandboxErrorCode>();
    expectTypeOf<'ERR_SANDBOX_TIMEOUT'>().not.toExtend<SandboxErrorCode>();
  });

  test('subclasses carry their own fields', () => {
    expectTypeOf<SandboxOptionsError['field']>().toBeString();
    expectTypeOf<SandboxUnsupportedError['missing']>().toEqualTypeOf<string[]>();
    expectTypeOf<SandboxHelperError['stderr']>().toBeString();
    expectTypeOf<SandboxImageError['reason']>().toEqualTypeOf<ImageErrorReason>();
    expectTypeOf<SandboxFilesError['path']>().toBeString();
    expectTypeOf<SandboxFilesError['errnoCode']>().toEqualTypeOf<string | null>();
    expectTypeOf<SandboxDiedError['signal']>().toEqualTypeOf<string | null>();
    expectTypeOf<SandboxLineTooLongError['maxLength']>().toBeNumber();
    expectTypeOf<SandboxNotReadyError['reason']>().toEqualTypeOf<'timeout' | 'exited'>();
    expectTypeOf<SandboxNotReadyError['code']>().toEqualTypeOf<SandboxErrorCode>();
    expectTypeOf<'ERR_SANDBOX_NOT_READY'>().toExtend<SandboxErrorCode>();
    expectTypeOf<'ERR_SANDBOX_REGISTRY'>().toExtend<SandboxErrorCode>();
    expectTypeOf<SandboxSetupError>().toHaveProperty('step');
    expectTypeOf<SandboxSetupError>().toHaveProperty('errnoCode');
  });
});

describe('images and snapshots', () => {
  test('static constructors: sync for local roots, async for imports', () => {
    expectTypeOf(Image.host).returns.toEqualTypeOf<Image>();
    expectTypeOf(Image.fromDirectory).returns.toEqualTypeOf<Image>();
    expectTypeOf(Image.fromStore).returns.toEqualTypeOf<Image>();
    expectTypeOf(Image.fromOCI).returns.toEqualTypeOf<Promise<Image>>();
    expectTypeOf(Image.fromDocker).returns.toEqualTypeOf<Promise<Image>>();
    expectTypeOf(Image.fromTar).returns.toEqualTypeOf<Promise<Image>>();
    expectTypeOf(Image.gc).returns.toEqualTypeOf<Promise<string[]>>();
    // @ts-expect-error fromDirectory takes a path
    Image.fromDirectory();
  });

  test('a Snapshot is an Image: it can be the root of a new sandbox', () => {
    expectTypeOf<Snapshot>().toExtend<Image>();
    expectTypeOf<{ image: Snapshot }>().toExtend<SandboxOptions>();
  });
});

describe('limits and units', () => {
  test('sizes and durations take numbers or strings with units', () => {
    expectTypeOf<ByteSize>().toEqualTypeOf<number | string>();
    expectTypeOf<Duration>().toEqualTypeOf<number | string>();
    expectTypeOf(parseBytes).parameters.toEqualTypeOf<[field: string, value: unknown]>();
    expectTypeOf(parseBytes).returns.toBeNumber();
    expectTypeOf(parseDuration).returns.toBeNumber();
    expectTypeOf<SandboxLimits['memory']>().toEqualTypeOf<ByteSize | undefined>();
    expectTypeOf<SandboxLimits['pids']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<SpawnLimits['cpuTime']>().toEqualTypeOf<Duration | undefined>();
    expectTypeOf<SpawnLimits['wallTime']>().toEqualTypeOf<Duration | undefined>();
    expectTypeOf<SpawnLimits['output']>().toEqualTypeOf<ByteSize | undefined>();
    expectTypeOf<{ cpuTime: '2s'; wallTime: 5000; memory: '64M'; output: '1M' }>().toExtend<SpawnLimits>();
    // @ts-expect-error pids is a count, not a size string
    new Sandbox({ limits: { pids: '64' } });
  });
});

describe('SandboxPool', () => {
  test('takes sandbox options plus its own, and hands back typed results', () => {
    const pool = new SandboxPool({ size: 2, refillConcurrency: 2, image: Image.host(), network: 'none' });
    expectTypeOf(pool.acquire({ signal: AbortSignal.timeout(10) })).toEqualTypeOf<Promise<Sandbox>>();
    expectTypeOf(pool.run(['true'])).toEqualTypeOf<Promise<SpawnResult>>();
    expectTypeOf(pool.run(['true'], { encoding: 'buffer' })).toEqualTypeOf<Promise<SpawnResult<Buffer>>>();
    expectTypeOf(pool.stats()).toEqualTypeOf<SandboxPoolStats>();
    expectTypeOf<SandboxPoolEvents['failed'][0]['phase']>().toEqualTypeOf<'refill' | 'destroy'>();
    pool.on('refill', (e) => expectTypeOf(e.setupMs).toBeNumber());
    // @ts-expect-error size is required
    new SandboxPool({ image: Image.host() });
    // @ts-expect-error there is no 'error' event
    pool.on('error', () => {});
  });
});
