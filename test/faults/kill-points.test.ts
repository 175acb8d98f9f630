import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { LayerStore, Network, Sandbox, SandboxError } from '../../src/index.js';
import { helperConnection } from '../../src/helper/helper-connection.js';
import { cgroupsFor } from '../../src/sandbox/runtime.js';
import { sessionFor } from '../../src/platform/sessions.js';
import { isSessionAlive } from '../../src/platform/session.js';
import { removeTreeSync } from '../../src/platform/remove-tree.js';
import { detectCgroups } from '../../src/cgroup/detect.js';
import { Cgroup, planCgroups } from '../../src/cgroup/cgroup.js';
import { SESSION_PREFIX } from '../../src/cgroup/cgroup-tree.js';
import { dist, repoRoot } from '../helpers/dist.js';
import {
  hostProcesses,
  mountsMentioning,
  pidNamespaceOf,
  sandboxDirsUnder,
  sandboxProcessesUsing,
  stateRoot,
  waitUntil,
} from '../helpers/host.js';
import { hostLinks } from '../helpers/network.js';
import { isRoot } from '../helpers/require-feature.js';
import { seededRandom } from '../helpers/seeded-random.js';

// kill -9 of Node, of the helper and of sandboxes' inits at random points of create, spawn,
// files, snapshot, network attach (root) and destroy. Seeded: the seed is printed, and
// SANDKIT_FAULT_SEED replays a run (SANDKIT_FAULT_TRIALS changes how many trials, 100 by default;
// SANDKIT_FAULT_ONLY picks some).
// Every trial has its own state root and ends with a leak check: no process, mount, directory,
// cgroup, store temp dir or network device left — after a crash of Node, once a new process's
// first start has swept.
const seed = Number(process.env.SANDKIT_FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
const total = Number(process.env.SANDKIT_FAULT_TRIALS ?? 100);
console.log(`fault injection: seed ${seed}, ${total} trials (replay with SANDKIT_FAULT_SEED=${seed})`);

type Victim = 'node' | 'helper' | 'init';
type Operation = 'create' | 'spawn' | 'files' | 'snapshot' | 'network' | 'destroy';
interface Trial {
  n: number;
  victim: Victim;
  op: Operation;
  delayMs: number;
  subnet: string;
}

const OPERATIONS: Operation[] = [
  'create',
  'spawn',
  'files',
  'snapshot',
  'destroy',
  ...(isRoot ? ['network' as const] : []),
];
const rand = seededRandom(seed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const trials: Trial[] = Array.from({ length: total }, (_, n) => ({
  n,
  // Node trials cost a Node start each: about a third of them.
  victim: n % 3 === 0 ? 'node' : n % 3 === 1 ? 'helper' : 'init',
  op: pick(OPERATIONS),
  delayMs: Math.floor(rand() * 400),
  subnet: `10.${150 + Math.floor(rand() * 50)}.${Math.floor(rand() * 250)}.0/24`,
}));
// SANDKIT_FAULT_ONLY=node:snapshot,init:spawn keeps only those trials (to chase one failure).
const only = process.env.SANDKIT_FAULT_ONLY?.split(',');
const selected = only ? trials.filter((t) => only.includes(`${t.victim}:${t.op}`)) : trials;
const label = (t: Trial) => `#${t.n} kill -9 of ${t.victim} ${t.delayMs} ms into ${t.op}`;

const CHILD = join(repoRoot, 'test', 'fixtures', 'fault-child.mjs');
const netName = (t: Trial) => `fault-${t.n}`;

function bridgeOf(root: string, name: string): string {
  return `skbr${createHash('sha256').update(`${root}\0${name}`).digest('hex').slice(0, 10)}`;
}

/** Processes of this trial still alive: in its sandboxes, or host tools working on its files. */
function processesOf(dir: string): string[] {
  const tools = hostProcesses().filter(
    (p) => p.pid !== process.pid && p.state !== 'Z' && p.cmdline.some((a) => a.includes(dir))
  );
  return [...tools, ...sandboxProcessesUsing(dir)].map((p) => `${p.pid} ${JSON.stringify(p.cmdline)}`);
}

/** Cgroups of sessions that lived under `dir` (their sandboxes' and spawns' cgroups inside). */
function sessionCgroups(ids: string[]): string[] {
  const layout = detectCgroups();
  const base = Cgroup.base(layout, planCgroups(layout));
  return ids.flatMap((id) => {
    const cg = base.child(SESSION_PREFIX + id);
    return [cg.v2Path, ...Object.values(cg.v1Paths)].filter((p): p is string => !!p && existsSync(p));
  });
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** What a trial left under its state root and on the host. */
async function leaks(dir: string, t: Trial, deadSessions: string[]): Promise<string[]> {
  const problems: string[] = [];
  if (!(await waitUntil(() => processesOf(dir).length === 0, 5000, 50)))
    problems.push(...processesOf(dir).map((p) => `process: ${p}`));
  problems.push(...mountsMentioning(dir).map((m) => `mount: ${m}`));
  problems.push(...sandboxDirsUnder(dir).map((d) => `sandbox directory: ${d}`));
  problems.push(...entries(join(dir, 'store', 'tmp')).map((d) => `store temp dir: ${d}`));
  problems.push(
    ...deadSessions.filter((id) => existsSync(join(dir, 'sessions', id))).map((id) => `session directory: ${id}`)
  );
  problems.push(...sessionCgroups(deadSessions).map((c) => `cgroup: ${c}`));
  if (t.op === 'network') {
    const bridge = bridgeOf(dir, netName(t));
    if (!(await waitUntil(() => !hostLinks().includes(bridge), 3000, 50))) problems.push(`bridge: ${bridge}`);
    problems.push(...entries(join(dir, 'networks')).map((n) => `network state: ${n}`));
  }
  return problems;
}

/** Our own session under a trial's state root: emptied, its cgroup removed, as Node's exit would. */
function closeOwnSession(dir: string): void {
  const cg = cgroupsFor(dir);
  if (cg.ok) cg.tree.session.removeSync();
  sessionFor(dir).removeSync();
}

/** A SandboxError, or success: anything else (a raw error, a hang) is a failure of the trial. */
async function settles(what: string, p: Promise<unknown>, problems: string[]): Promise<void> {
  const outcome = await Promise.race([
    p.then(
      () => 'ok',
      (e: unknown) => e
    ),
    sleep(20_000).then(() => 'hang'),
  ]);
  if (outcome === 'hang') problems.push(`${what} did not settle within 20 s`);
  else if (outcome !== 'ok' && !(outcome instanceof SandboxError))
    problems.push(`${what} failed with a non-SandboxError: ${String(outcome)}`);
}

async function nodeTrial(t: Trial): Promise<string[]> {
  const dir = mkdtempSync(join(stateRoot(), 'fault-'));
  const store = join(dir, 'store');
  const child = spawn(process.execPath, [CHILD, dist.index, t.op, store, netName(t), t.subnet], {
    env: { ...process.env, SANDKIT_STATE_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', () => resolve());
      exited.then(() => reject(new Error(`the child exited before it was ready: ${stderr}`)), reject);
      setTimeout(() => reject(new Error(`the child was not ready within 40 s: ${stderr}`)), 40_000).unref();
    });
    await sleep(t.delayMs);
    const sessions = entries(join(dir, 'sessions'));
    child.kill('SIGKILL');
    await exited;
    // Every process it started dies with it (host tools such as cp too), before any sweep.
    const orphans = (await waitUntil(() => processesOf(dir).length === 0, 3000, 20))
      ? []
      : processesOf(dir).map((p) => `orphan: ${p}`);
    // The rest is swept by the next process's first start.
    const next = new Sandbox({ stateDir: dir });
    expect((await next.run(['true'])).exitCode).toBe(0);
    await next.destroy();
    await new LayerStore(store).firstSweep();
    return [
      ...orphans,
      ...(await leaks(
        dir,
        t,
        sessions.filter((id) => !isSessionAlive(id))
      )),
    ];
  } finally {
    child.kill('SIGKILL');
    closeOwnSession(dir);
    removeTreeSync(dir);
  }
}

/** Kills the helper, or every init of it (its children in another pid namespace). */
function killVictim(victim: 'helper' | 'init'): void {
  const helper = helperConnection().pid;
  if (helper === undefined) return;
  if (victim === 'helper') {
    process.kill(helper, 'SIGKILL');
    return;
  }
  const ours = pidNamespaceOf('self');
  for (const p of hostProcesses()) {
    if (p.ppid === helper && pidNamespaceOf(p.pid) !== ours) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
  }
}

// The in-process trials share one state root (and so one session): each checks it is clean.
let sharedDir: string | undefined;

async function inProcessTrial(t: Trial): Promise<string[]> {
  const dir = (sharedDir ??= mkdtempSync(join(stateRoot(), 'fault-')));
  const store = join(dir, 'store');
  const made: Sandbox[] = [];
  const problems: string[] = [];
  const make = (o: ConstructorParameters<typeof Sandbox>[0] = {}) => {
    const sb = new Sandbox({ stateDir: dir, ...o });
    made.push(sb);
    return sb;
  };
  let net: Network | undefined;
  try {
    net = t.op === 'network' ? await Network.create({ name: netName(t), subnet: t.subnet, stateDir: dir }) : undefined;
    const base = make();
    await base.start();
    if (t.op === 'snapshot') await base.files.write('/data.bin', Buffer.alloc(8 << 20, 7));
    const once = async () => {
      switch (t.op) {
        case 'create':
          await make().start();
          break;
        case 'spawn':
          await Promise.all([base.run(['sh', '-c', 'echo x; sleep 0.02']), base.run(['true'])]);
          break;
        case 'files':
          await base.files.write('/f', 'x'.repeat(100_000));
          await base.files.read('/f');
          break;
        case 'snapshot':
          await base.snapshot({ store });
          break;
        case 'network': {
          const sb = make({ network: { attach: net! } });
          await sb.start();
          await sb.destroy();
          break;
        }
        case 'destroy': {
          const sb = make();
          await sb.run(['true']);
          await sb.destroy();
          break;
        }
      }
    };
    let fired = false;
    const fault = sleep(t.delayMs).then(() => {
      fired = true;
      killVictim(t.victim as 'helper' | 'init');
    });
    // Repeat the operation until the fault has fired, and once more after it.
    for (let after = 0; after < 2 && problems.length === 0;) {
      await settles(t.op, once(), problems);
      if (fired) after++;
    }
    await fault;
  } finally {
    for (const sb of made) await settles(`destroy of ${sb.id}`, sb.destroy(), problems);
    if (net) await settles('network destroy', net.destroy(), problems);
  }
  problems.push(...(await leaks(dir, t, [])));
  const cg = cgroupsFor(dir);
  if (cg.ok) {
    const own = [cg.tree.session.v2Path, ...Object.values(cg.tree.session.v1Paths)].filter(
      (p): p is string => !!p && existsSync(p)
    );
    for (const p of own)
      problems.push(
        ...readdirSync(p, { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => `cgroup: ${p}/${e.name}`)
      );
  }
  return problems;
}

describe(`kill -9 of Node (seed ${seed})`, () => {
  it.concurrent.for(selected.filter((t) => t.victim === 'node'))(
    '#$n: kill -9 of $victim $delayMs ms into $op',
    { timeout: 120_000 },
    async (t) => {
      expect(await nodeTrial(t), label(t)).toEqual([]);
    }
  );
});

describe(`kill -9 of the helper or an init (seed ${seed})`, () => {
  afterAll(() => {
    if (!sharedDir) return;
    closeOwnSession(sharedDir);
    removeTreeSync(sharedDir);
  });
  it.for(selected.filter((t) => t.victim !== 'node'))(
    '#$n: kill -9 of $victim $delayMs ms into $op',
    { timeout: 120_000 },
    async (t) => {
      expect(await inProcessTrial(t), label(t)).toEqual([]);
    }
  );
});
