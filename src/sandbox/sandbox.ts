import { EventEmitter } from 'eventemitter3';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  SandboxAbortedError,
  SandboxDestroyedError,
  SandboxDiedError,
  SandboxError,
  SandboxOptionsError,
  SandboxHelperError,
  SandboxSetupError,
  SandboxUnsupportedError,
  type SetupFailure,
} from '../errors/sandbox-error.js';
import type { CreateConfig } from '../helper/protocol.js';
import { isErrorReply, setupFailureOf } from '../helper/setup-failure.js';
import { connection, sessionFor } from '../platform/sessions.js';
import { defaultStateDir } from '../platform/state-dir.js';
import type { Duration } from '../limits/units.js';
import { containerCause } from '../platform/container-limits.js';
import { setFrozen } from '../cgroup/freezer.js';
import {
  SandboxProcess,
  type AnySandboxProcess,
  type PreparedSpawn,
  type SpawnContext,
} from '../process/sandbox-process.js';
import { resolveSpawnOptions, type ResolvedSpawnOptions, type SpawnOptions } from '../process/spawn-options.js';
import type { SpawnResult } from '../process/spawn-result.js';
import { resolveUser } from '../process/user.js';
import type { SandboxEvents } from './events.js';
import { resolveSandboxOptions, type ResolvedSandboxOptions, type SandboxOptions } from './options.js';
import type { Image } from '../images/image.js';
import { checkSnapshotOptions, takeSnapshot, type SnapshotOptions } from '../snapshots/take-snapshot.js';
import type { Snapshot } from '../snapshots/snapshot.js';
import { SandboxFiles } from '../files/sandbox-files.js';
import { userSpecOf } from '../images/image-config.js';
import { resolveSecurity } from '../security/security-options.js';
import { NetworkLink } from '../network/network-link.js';
import { LoopbackPorts } from '../network/loopback-ports.js';
import { startUserNetwork } from '../network/user-network.js';
import { sweepLeftovers } from './runtime.js';
import { traceNow, traceSince } from '../platform/step-trace.js';
import { SandboxCgroups } from './sandbox-cgroups.js';
import { SandboxRoot } from './sandbox-root.js';
import { prepareSpawn } from './spawn-preparation.js';
import { type FirstSpawn, takeFirstSpawn } from './first-spawn.js';
import type { SandboxState } from './events.js';

export type { SandboxState } from './events.js';
import {
  waitForLog,
  waitForPort,
  type Waitable,
  type WaitForLogOptions,
  type WaitForPortOptions,
} from './readiness.js';
import { setLongTimeout } from '../limits/long-timeout.js';
import { readResourceStats, type ResourceStats } from '../cgroup/stats.js';
import { claimName, releaseName } from './control-names.js';
import { resolveTimeout } from './control-options.js';
import { LogRing } from './control-logs.js';
import { ControlServer } from './control-server.js';
import type { LogChunk, SandboxInfo } from './control-protocol.js';
import {
  connectSandbox,
  listSandboxes,
  type ConnectOptions,
  type ListOptions,
  type RemoteSandbox,
} from './control-client.js';

/**
 * A Linux sandbox: its own user, pid, mount, uts, ipc, net and cgroup namespaces, a root
 * filesystem of read-only image layers under a private writable layer, and sandkit's own PID 1.
 * It starts lazily on the first spawn; several programs may run in it at once and share its
 * files. Destroying it kills every process and removes every trace.
 *
 * @example
 * await using sandbox = new Sandbox({ image: Image.host(), network: 'none' });
 * const result = await sandbox.run(['sh', '-c', 'echo $$; hostname']);
 * console.log(result.stdout); // "2\nsandbox\n"
 *
 * @throws {SandboxOptionsError} from the constructor, when an option is invalid.
 */
export class Sandbox extends EventEmitter<SandboxEvents> implements AsyncDisposable {
  /** Unique id, also the name of its state directory. */
  readonly id: string;
  /** The options in force, with defaults applied. */
  readonly options: ResolvedSandboxOptions;
  /** Host pid of the sandbox's init once started. */
  pid: number | undefined;

  private stateValue: SandboxState = 'created';
  private starting: Promise<void> | undefined;
  private destroying: Promise<void> | undefined;
  private root: SandboxRoot | undefined;
  private readonly running = new Set<AnySandboxProcess>();
  private spawnCount = 0;
  private failure: SandboxError | undefined;
  private cgroups: SandboxCgroups | undefined;
  private filesApi: SandboxFiles | undefined;
  private link: NetworkLink | undefined;
  private loopbackPorts: LoopbackPorts | undefined;
  /** The spawn that starts a not yet started sandbox: it goes to the helper with the create. */
  private firstSpawn: FirstSpawn | undefined;
  /** When the object was made, ms since the epoch. */
  private readonly createdAt = Date.now();
  private readonly logRing: LogRing | undefined;
  private control: ControlServer | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private timeoutAt: number | undefined;

  constructor(options: SandboxOptions = {}) {
    super();
    const t0 = traceNow();
    this.options = resolveSandboxOptions(options);
    traceSince('options', t0);
    this.id = `sb-${randomBytes(6).toString('hex')}`;
    const control = this.options.control;
    if (control.keepLogs > 0) this.logRing = new LogRing(control.keepLogs);
    if (control.name !== undefined) {
      // Named: reachable (and the name held) from now on, not only once started.
      claimName(this.stateRoot, control.name, sessionFor(this.options.stateDir).id, this.id);
      this.serveControl();
    }
    if (control.timeout !== undefined) this.armTimeout(control.timeout);
    // Listeners attached right after `new` still hear `created`, and always before `starting`.
    queueMicrotask(() => this.emitCreated());
  }

  /** Where the sandbox is in its life. */
  get state(): SandboxState {
    return this.stateValue;
  }

  /**
   * Builds the sandbox now instead of on the first spawn. Idempotent.
   * `signal`: aborting before the sandbox is up destroys it and rejects with `SandboxAbortedError`.
   * @throws {SandboxSetupError} naming the step that failed; {@link SandboxHelperError}; {@link SandboxAbortedError}.
   */
  start(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (typeof options !== 'object' || options === null)
      return Promise.reject(new SandboxOptionsError('options', 'expected { signal? }'));
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal))
      return Promise.reject(new SandboxOptionsError('signal', 'expected an AbortSignal'));
    if (this.stateValue === 'destroying' || this.stateValue === 'destroyed')
      return Promise.reject(new SandboxDestroyedError('start'));
    if (this.failure) return Promise.reject(this.failure);
    this.starting ??= this.create();
    return signal ? this.abortable(this.starting, signal, 'start') : this.starting;
  }

  /** `work`, unless `signal` aborts first: then the sandbox is destroyed and the call rejects. */
  private abortable<T>(work: Promise<T>, signal: AbortSignal, operation: string): Promise<T> {
    const aborted = () => new SandboxAbortedError(`${operation}: aborted`, { cause: signal.reason });
    // A teardown failure rejects the caller's own destroy(); unhandled here it would end Node.
    if (signal.aborted) {
      this.destroy().catch(() => {});
      return Promise.reject(aborted());
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        this.destroy().catch(() => {});
        reject(aborted());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /**
   * Starts a program and returns its handle at once.
   * @throws {SandboxOptionsError} synchronously, when the command or an option is invalid.
   */
  spawn(command: readonly string[], options: SpawnOptions & { encoding: 'buffer' }): SandboxProcess<Buffer>;
  spawn(command: readonly string[], options?: SpawnOptions): SandboxProcess;
  spawn(command: readonly string[], options: SpawnOptions = {}): AnySandboxProcess {
    return this.spawnResolved(resolveSpawnOptions(command, withImageUser(options, this.options.image), 'pipe'));
  }

  /**
   * Runs a program to completion and returns its result. stdin is empty unless given.
   * @throws {SandboxOptionsError} when an option is invalid; rejects with {@link SandboxSetupError} when the sandbox cannot run it.
   */
  run(command: readonly string[], options: SpawnOptions & { encoding: 'buffer' }): Promise<SpawnResult<Buffer>>;
  run(command: readonly string[], options?: SpawnOptions): Promise<SpawnResult>;
  async run(command: readonly string[], options: SpawnOptions = {}): Promise<SpawnResult<string | Buffer>> {
    return this.spawnResolved(resolveSpawnOptions(command, withImageUser(options, this.options.image), 'ignore'));
  }

  /**
   * Freezes every process of the sandbox (cgroup freezer). Wall time keeps counting, CPU time
   * does not. Idempotent.
   * @throws {SandboxUnsupportedError} when the host has no usable freezer.
   */
  async pause(): Promise<void> {
    await this.start();
    if (this.stateValue === 'paused') return;
    const cgroup = this.cgroups?.freezable();
    if (!cgroup)
      throw new SandboxUnsupportedError(['cgroup freezer'], 'pause needs cgroups (root or a delegated cgroup)');
    await setFrozen(cgroup, true);
    this.stateValue = 'paused';
    this.emit('paused', { id: this.id });
  }

  /** Thaws a paused sandbox. Idempotent. */
  async resume(): Promise<void> {
    const cgroup = this.cgroups?.cgroup;
    if (this.stateValue !== 'paused' || !cgroup) return;
    await setFrozen(cgroup, false);
    this.stateValue = 'running';
    this.emit('resumed', { id: this.id });
  }

  /**
   * Freezes the sandbox's files into an immutable {@link Snapshot}: its writable layer is
   * copied into a new layer of the store (cost grows with what was written, not with the
   * image), stacked over the image's layers. The sandbox is paused meanwhile when it has a
   * cgroup freezer; without one it must have no program running. Files in `/tmp` and `/run`
   * (tmpfs) are not part of it.
   * @example const snap = await build.snapshot(); await new Sandbox({ image: snap }).run(['/src/a.out']);
   * @throws {SandboxUnsupportedError} when programs run and there is no freezer; {@link SandboxImageError} when copying fails.
   */
  async snapshot(options: SnapshotOptions = {}): Promise<Snapshot> {
    checkSnapshotOptions(options);
    if (this.stateValue === 'destroying' || this.stateValue === 'destroyed')
      throw new SandboxDestroyedError('snapshot');
    await this.starting?.catch(() => {});
    const cgroup = this.pid !== undefined ? this.cgroups?.freezable() : undefined;
    const pausedByUser = this.stateValue === 'paused';
    const upperDir = this.pid !== undefined ? this.root?.upperDir(connection().pid) : undefined;
    if (this.pid !== undefined && upperDir === undefined) {
      throw new SandboxUnsupportedError(
        ['writable layer'],
        'snapshot: the helper did not hand over the limits.disk tmpfs'
      );
    }
    const t0 = performance.now();
    const snapshot = await takeSnapshot(
      {
        image: this.options.image,
        upperDir,
        running: this.running.size,
        freeze: cgroup
          ? async (frozen) => {
              if (!pausedByUser) await setFrozen(cgroup, frozen);
            }
          : undefined,
      },
      options
    );
    this.emit('snapshot', { id: this.id, snapshot, durationMs: performance.now() - t0 });
    return snapshot;
  }

  /**
   * The sandbox's files, read and written through the helper inside the sandbox's own root:
   * a symlink or `..` planted by a program resolves inside the sandbox, never on the host.
   * Usable before the first spawn (it starts the sandbox), while programs run and between runs.
   * @example await sandbox.files.write('/src/main.c', code); const out = await sandbox.files.read('/out.txt');
   */
  get files(): SandboxFiles {
    this.filesApi ??= new SandboxFiles({
      id: this.id,
      start: () => this.start(),
      closing: () => this.stateValue === 'destroying' || this.stateValue === 'destroyed',
      resolveUser: (spec) => resolveUser(spec, this.root!.passwdSources()),
    });
    return this.filesApi;
  }

  /**
   * Kills every process, tears the sandbox down and removes its directories. Idempotent.
   * Resolves once every process of the sandbox is dead and its mounts and directory are gone;
   * the rmdir of its emptied cgroup and the removal of a written writable layer (already
   * renamed away) finish in the background, before Node exits.
   */
  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  /**
   * The host port that forwards to `port` of the sandbox (published with
   * `network: { attach, publish: [{ sandbox: port }] }`); connect to it on 127.0.0.1 (or the
   * mapping's `hostAddress`). Starts the sandbox if needed: the proxies listen once it exists.
   * @throws {SandboxOptionsError} when `port` is not published with that protocol.
   * @example
   * const port = await db.publishedPort(6379);
   * net.connect(port, '127.0.0.1');
   */
  async publishedPort(port: number, protocol: 'tcp' | 'udp' = 'tcp'): Promise<number> {
    const net = this.options.network;
    if (typeof net !== 'object' || !net.publish.some((m) => m.sandbox === port && m.protocol === protocol)) {
      throw new SandboxOptionsError(
        'port',
        `${port}/${protocol} is not published (network: { attach, publish: [{ sandbox: ${port} }] })`
      );
    }
    await this.start();
    const hostPort = this.link?.publishedPort(port, protocol) ?? this.loopbackPorts?.publishedPort(port, protocol);
    if (hostPort === undefined) throw new SandboxDestroyedError('publishedPort');
    return hostPort;
  }

  /**
   * Resolves once a program in the sandbox listens on `port` (TCP, or a bound UDP socket with
   * `protocol: 'udp'`), whatever the sandbox's network: it reads the kernel's socket tables
   * of the sandbox's network namespace, so it never connects to the program. Starts the
   * sandbox if needed.
   * @example sandbox.spawn(['redis-server', '--port', '6379']); await sandbox.waitForPort(6379, { timeout: 10_000 });
   * @throws {SandboxNotReadyError} when `timeout` passes first, with the programs' last output;
   * {@link SandboxAbortedError} when `signal` aborts; the sandbox's own error when it fails or is destroyed.
   */
  waitForPort(port: number, options?: WaitForPortOptions): Promise<void> {
    return waitForPort(this.waitable, port, options);
  }

  /**
   * Resolves with the first line a program writes from now on that matches `pattern` (a
   * substring or a RegExp), on stdout, stderr or both. Call it right after `spawn()`: output
   * written before the call is not seen.
   * @example const proc = sandbox.spawn(['python3', 'server.py']); await sandbox.waitForLog(/listening on/, { process: proc });
   * @throws {SandboxNotReadyError} on timeout or (with `process`) when that program ends first, with the last output;
   * {@link SandboxAbortedError}; the sandbox's own error when it fails or is destroyed.
   */
  waitForLog(pattern: RegExp | string, options?: WaitForLogOptions): Promise<string> {
    return waitForLog(this.waitable, pattern, options);
  }

  private readonly waitable: Waitable = (() => {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- read by a getter, which cannot be an arrow function
    const self = this;
    return {
      get pid() {
        return self.pid;
      },
      on: this.on.bind(this),
      off: this.off.bind(this),
      start: () => this.start(),
      ended: () =>
        this.failure ??
        (this.stateValue === 'destroying' || this.stateValue === 'destroyed'
          ? new SandboxDestroyedError('wait')
          : undefined),
    };
  })();

  /**
   * What the sandbox uses now, from its cgroup (its programs together): memory current and
   * peak, CPU time, tasks, block I/O. A figure the host cannot give is null (rootless without
   * cgroups: all of them); before the first spawn's cgroup exists, every figure is null too.
   * @example const { memory, cpu } = await sandbox.stats(); console.log(memory.peak, cpu.user);
   */
  stats(): Promise<ResourceStats> {
    return Promise.resolve(this.currentStats());
  }

  /** Reading a cgroup's few small files is quick: done in step, also by the `stats` timer. */
  private currentStats(): ResourceStats {
    return readResourceStats(this.pid !== undefined ? this.cgroups?.cgroup : undefined);
  }

  /** Id, name, labels, state, owner and timeout of the sandbox, as `Sandbox.list()` gives them. */
  info(): SandboxInfo {
    const c = this.options.control;
    return {
      id: this.id,
      name: c.name ?? null,
      labels: { ...c.labels },
      state: this.stateValue,
      createdAt: new Date(this.createdAt).toISOString(),
      ownerPid: process.pid,
      pid: this.pid ?? null,
      image: this.options.image.id ?? this.options.image.kind,
      running: this.running.size,
      timeoutAt: this.timeoutAt === undefined ? null : new Date(this.timeoutAt).toISOString(),
      keepLogs: c.keepLogs,
    };
  }

  /** The last output of its programs, oldest first, when made with `keepLogs`; else empty. */
  logs(): LogChunk[] {
    return this.logRing?.snapshot() ?? [];
  }

  /**
   * Destroys the sandbox `timeout` from now (`'5m'`, 30000), emitting `timeout` first; replaces
   * any earlier timeout (to extend or shorten it). `null` removes it.
   * @throws {SandboxOptionsError} naming `timeout` for a bad duration; {@link SandboxDestroyedError} once destroying.
   */
  setTimeout(timeout: Duration | null): void {
    if (this.stateValue === 'destroying' || this.stateValue === 'destroyed')
      throw new SandboxDestroyedError('setTimeout');
    if (timeout === null) {
      clearTimeout(this.timeoutTimer);
      this.timeoutAt = undefined;
      return;
    }
    this.armTimeout(resolveTimeout(timeout));
  }

  /**
   * The live sandboxes of this user in a state directory, from every process that owns some
   * (each owner answers on its control socket); `labels` keeps those carrying all of them.
   * Sandboxes of other users are never listed: their state directories are private.
   * @example const mine = await Sandbox.list({ labels: { job: '42' } });
   */
  static list(options?: ListOptions): Promise<SandboxInfo[]> {
    return listSandboxes(options);
  }

  /**
   * A handle on a live sandbox of this user, owned by this or another process, by id or name:
   * it can spawn, use files, read stats and logs, and ask the owner to stop it.
   * @example const sb = await Sandbox.connect('judge-1'); await sb.run(['ls', '/']);
   * @throws {SandboxNotFoundError} when no live sandbox has that id or name.
   */
  static connect(idOrName: string, options?: ConnectOptions): Promise<RemoteSandbox> {
    return connectSandbox(idOrName, options);
  }

  private get stateRoot(): string {
    return this.options.stateDir ?? defaultStateDir();
  }

  /** Makes the sandbox reachable on this session's control socket. */
  private serveControl(): void {
    if (this.control) return;
    this.control = ControlServer.for(sessionFor(this.options.stateDir));
    this.control.add(this);
  }

  private armTimeout(ms: number): void {
    clearTimeout(this.timeoutTimer);
    this.timeoutAt = Date.now() + ms;
    this.timeoutTimer = setLongTimeout(() => {
      if (this.stateValue === 'destroying' || this.stateValue === 'destroyed') return;
      this.timeoutAt = undefined;
      this.emit('timeout', { id: this.id, timeoutMs: ms });
      this.destroy().catch(() => {}); // a failing teardown also rejects the owner's own destroy()
    }, ms);
    this.timeoutTimer.unref(); // the timeout ends the sandbox, it does not keep Node alive for it
  }

  private startStatsTimer(): void {
    const every = this.options.control.statsInterval;
    if (every === undefined) return;
    this.statsTimer = setInterval(() => {
      if (this.stateValue !== 'running' && this.stateValue !== 'paused') return;
      this.emit('stats', { id: this.id, stats: this.currentStats() });
    }, every);
    this.statsTimer.unref();
  }

  /** `await using` support: {@link Sandbox.destroy}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy();
  }

  private spawnResolved(options: ResolvedSpawnOptions): AnySandboxProcess {
    if (this.stateValue === 'destroying' || this.stateValue === 'destroyed') throw new SandboxDestroyedError('spawn');
    resolveSecurity(options.security, 'security', this.options.security); // throws now, not at start
    const proc: AnySandboxProcess = new SandboxProcess<string | Buffer>(
      `${this.id}.${++this.spawnCount}`,
      options.argv,
      options,
      this.spawnContext
    );
    this.running.add(proc);
    return proc;
  }

  private async create(): Promise<void> {
    const t0 = performance.now();
    this.emitCreated();
    this.stateValue = 'starting';
    this.emit('starting', { id: this.id });
    this.serveControl();
    const conn = connection();
    conn.watchSandbox(this.id, {
      onStep: (step) => this.emit('step', { id: this.id, step }),
      onSandboxExit: (ev) => this.markFailed(this.diedError(ev.signal, ev.exitCode)),
      onHelperDied: (err) => this.markFailed(err),
    });
    try {
      let t = traceNow();
      await sweepLeftovers(this.options.stateDir);
      traceSince('create.sweep', t);
      t = traceNow();
      const cgroups = (this.cgroups = SandboxCgroups.decide(this.options));
      traceSince('create.cgroups-decide', t);
      t = traceNow();
      const root = (this.root = SandboxRoot.prepare(this.id, this.options));
      traceSince('create.root-prepare', t);
      await this.attachNetwork(root.config);
      t = traceNow();
      const first = this.firstSpawn && takeFirstSpawn(this.firstSpawn, this.spawnPreparation());
      this.firstSpawn = undefined;
      traceSince('create.first-spawn-prepare', t);
      t = traceNow();
      const sent = first?.request && conn.createAndSpawn({ sandbox: this.id, config: root.config }, first.request);
      const created = sent ? sent.created : conn.request('create', { sandbox: this.id, config: root.config });
      first?.sent(sent ? sent.spawned : undefined);
      // Only spawns live in the sandbox's cgroup, not its init: make it while the helper builds
      // (a first spawn's needed it made already, for the spawn's own cgroup inside it).
      let cgroupFailure: { error: unknown } | undefined;
      const tc = traceNow();
      try {
        if (!first) cgroups.createSandboxCgroup(this.id);
      } catch (err) {
        cgroupFailure = { error: err };
      }
      traceSince('create.sandbox-cgroup', tc);
      const reply = await created.catch((err: unknown) => {
        first?.abandon(); // the spawn never ran: the host file of its stdin is ours to remove
        throw err;
      });
      traceSince('create.request-to-created', t);
      this.pid = reply.pid;
      root.created(reply.upperFd);
      if (cgroupFailure) throw cgroupFailure.error;
      await this.link?.publish();
      await this.publishIntoLoopback();
      if (this.stateValue === 'starting') this.stateValue = 'running'; // destroy() may have begun
      this.emit('started', { id: this.id, pid: reply.pid, setupMs: performance.now() - t0 });
      traceSince('create.total', t0);
      this.startStatsTimer();
    } catch (err) {
      const error = isErrorReply(err) ? setupErrorOf(setupFailureOf(err)) : toSandboxError(err);
      this.firstSpawn?.reject(error);
      this.firstSpawn = undefined;
      this.markFailed(error);
      if (this.pid !== undefined) await conn.request('destroy', { sandbox: this.id }).catch(() => {});
      await this.link?.close();
      await this.loopbackPorts?.close();
      await this.cgroups?.remove();
      await this.root?.remove();
      throw error;
    }
  }

  /**
   * Loopback only with published ports, or a user-mode network: once the sandbox exists and
   * before any program runs, its egress policy and pasta, then the published ports' listeners.
   */
  private async publishIntoLoopback(): Promise<void> {
    const net = this.options.network;
    if (typeof net !== 'object' || net.network) return;
    if (net.user) await startUserNetwork(this.id, net.user, net.egress);
    if (net.publish.length > 0) this.loopbackPorts = await LoopbackPorts.open(this.id, net.publish);
  }

  /** Whether the start has work between the create and the first program (see publishIntoLoopback). */
  private setupAfterCreate(): boolean {
    const net = this.options.network;
    return typeof net === 'object' && !net.network && net.user !== undefined;
  }

  /** On a network: lease an address, load its nft rules, then the create request gets `net`. */
  private async attachNetwork(config: CreateConfig): Promise<void> {
    const net = this.options.network;
    if (typeof net !== 'object' || !net.network) return;
    const conn = connection();
    this.link = await NetworkLink.open({
      attach: net,
      sandbox: this.id,
      hostname: net.hostname ?? this.options.hostname,
      listed: net.hostname !== undefined,
      nft: (script) => conn.request('nft', { script }),
    });
    config.net = this.link.createConfig();
    config.binds.push(this.link.hostsBind());
  }

  private readonly spawnContext: SpawnContext = {
    connection: connection(),
    prepare: async (id, o) => {
      // The first spawn of a sandbox nobody started yet travels with its create, unless the
      // sandbox needs a step between its create and its first program (a user-mode network's
      // egress rules and pasta): then it waits for the start like any other.
      const first =
        this.starting === undefined && this.stateValue === 'created' && !this.failure && !this.setupAfterCreate();
      let prepared: Promise<PreparedSpawn> | undefined;
      if (first) prepared = new Promise((resolve, reject) => (this.firstSpawn = { id, options: o, resolve, reject }));
      prepared?.catch(() => {}); // a failing create rejects start() below, which is what the spawn reports
      await this.start();
      if (this.stateValue === 'destroying' || this.stateValue === 'destroyed') throw new SandboxDestroyedError('spawn');
      if (prepared) return prepared;
      const t = traceNow();
      const spawn = prepareSpawn(this.spawnPreparation(), id, o);
      traceSince('spawn.prepare', t);
      return spawn;
    },
    release: (_proc, cgroup) => {
      if (cgroup) cgroup.remove().catch(() => {}); // the sandbox's removal retries
    },
    onLimit: (proc, limit) => this.emit('limit', { process: ref(proc), limit }),
    onOom: (proc) => this.emit('oom', { process: ref(proc) }),
    onSpawned: (proc, pid) => this.emit('spawn', { process: ref(proc), pid }),
    onOutput: (proc, fd, data) => {
      this.logRing?.push(fd, data);
      this.emit(fd === 1 ? 'stdout' : 'stderr', { process: ref(proc), data });
    },
    onExit: (proc, result) => {
      this.running.delete(proc);
      this.emit('exit', { process: ref(proc), result });
    },
    onFailed: (proc, error) => {
      this.running.delete(proc);
      // A spawn that fails because its sandbox did is covered by the sandbox's own `failed`;
      // the helper dying takes the whole sandbox down, whichever of the two hears of it first.
      if (error instanceof SandboxHelperError) this.markFailed(error);
      if (this.failure && (error === this.failure || error.cause === this.failure)) return;
      this.emit('failed', { id: this.id, process: ref(proc), error });
    },
    sandboxDied: (signal) => {
      this.markFailed(this.diedError(signal, null));
      return new SandboxDiedError(
        `spawn: the sandbox died under the program (its init was ${signal ? `killed by ${signal}` : 'gone'})`,
        signal,
        { cause: this.failure }
      );
    },
    wantsOutputEvents: (fd) => this.logRing !== undefined || this.listenerCount(fd === 1 ? 'stdout' : 'stderr') > 0,
    closing: () => this.stateValue === 'destroying' || this.stateValue === 'destroyed',
  };

  private spawnPreparation() {
    return { sandbox: this.id, options: this.options, root: this.root!, cgroups: this.cgroups! };
  }

  private async teardown(): Promise<void> {
    const t0 = traceNow();
    const wasStarted = this.starting !== undefined;
    this.emitCreated();
    this.stateValue = 'destroying';
    this.emit('destroying', { id: this.id });
    clearInterval(this.statsTimer);
    clearTimeout(this.timeoutTimer);
    this.timeoutAt = undefined;
    if (wasStarted) {
      await this.starting!.catch(() => {});
      if (this.pid !== undefined) {
        const t = traceNow();
        await connection()
          .request('destroy', { sandbox: this.id })
          .catch(() => {
            // the helper died: the sandbox died with it
          });
        traceSince('destroy.request-to-destroyed', t);
      }
    }
    connection().unwatchSandbox(this.id);
    this.filesApi?.closeAll();
    await Promise.allSettled(
      [...this.running].map((p) =>
        p.then(
          () => {},
          () => {}
        )
      )
    );
    await this.link?.close();
    await this.loopbackPorts?.close();
    this.cgroups?.removeSoon(); // emptied by the init's death: no need to wait for its rmdir
    const t = traceNow();
    await this.root?.remove();
    traceSince('destroy.root-remove', t);
    this.control?.remove(this.id);
    if (this.options.control.name !== undefined) releaseName(this.stateRoot, this.options.control.name, this.id);
    this.stateValue = 'destroyed';
    this.emit('destroyed', { id: this.id });
    traceSince('destroy.total', t0);
  }

  private createdEmitted = false;
  private emitCreated(): void {
    if (this.createdEmitted) return;
    this.createdEmitted = true;
    this.emit('created', { id: this.id });
  }

  /** The sandbox's death from outside, as its failure (spawns in it fail with it as cause). */
  private diedError(signal: string | null, exitCode: number | null): SandboxDiedError {
    return new SandboxDiedError(
      `sandbox ${this.id}: its init died (${signal ?? `exit ${exitCode}`}); every program in it was killed`,
      signal
    );
  }

  /** The sandbox failed: the first failure is kept and reported once (`failed` without a process). */
  private markFailed(error: SandboxError): void {
    if (this.stateValue === 'destroying' || this.stateValue === 'destroyed' || this.failure) return;
    this.failure = error;
    this.stateValue = 'failed';
    this.emit('failed', { id: this.id, error });
  }
}

function ref(proc: AnySandboxProcess) {
  return { id: proc.id, command: proc.command };
}

function toSandboxError(err: unknown): SandboxError {
  if (err instanceof SandboxError) return err;
  return new SandboxHelperError(`start: ${(err as Error)?.message ?? String(err)}`);
}

/** The image config's User is the default user of spawns that name none. */
function withImageUser(options: SpawnOptions, image: Image): SpawnOptions {
  const user = userSpecOf(image.config.user);
  return options.user === undefined && user !== undefined ? { ...options, user } : options;
}

/** A failed start step as a typed error: the container setting to change when that explains it. */
function setupErrorOf(failure: SetupFailure): SandboxError {
  const cause = containerCause(failure);
  const setup = new SandboxSetupError('start', failure);
  return cause ? new SandboxUnsupportedError([cause[0]], cause[1], { cause: setup }) : setup;
}
