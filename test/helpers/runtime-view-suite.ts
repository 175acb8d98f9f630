import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, SandboxOptionsError, type SpawnResult } from '../../src/index.js';
import { cgroupsFor } from '../../src/sandbox/runtime.js';
import { hostCpus } from '../../src/cgroup/cpuset.js';
import { timeNamespaceSupported } from '../../src/namespaces/time.js';
import { requireFeature } from './require-feature.js';

const MiB = 2 ** 20;
const JAVA = '/usr/bin/java';
// Java starts slowly, and compiling the test program inside a one-CPU sandbox slower still
// (minutes in the cgroup-v2 VM): compile it once here with the host's javac where there is one.
const JAVA_WALL = process.env.SANDKIT_IN_VM ? '280s' : '120s';

/** Garbage.class compiled on the host, or undefined (then the source launcher compiles it inside). */
function compileGarbage(): Buffer | undefined {
  if (!existsSync('/usr/bin/javac')) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'sandkit-java-'));
  try {
    writeFileSync(join(dir, 'Garbage.java'), GARBAGE_JAVA);
    const r = spawnSync('/usr/bin/javac', ['-d', dir, join(dir, 'Garbage.java')], { encoding: 'utf8' });
    return r.status === 0 ? readFileSync(join(dir, 'Garbage.class')) : undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A Java program that allocates 1 GiB of garbage, 1 MiB at a time, keeping 8 MiB alive. */
const GARBAGE_JAVA = `
public class Garbage {
  public static void main(String[] a) {
    System.out.println("processors=" + Runtime.getRuntime().availableProcessors());
    System.out.println("maxMemory=" + Runtime.getRuntime().maxMemory());
    byte[][] keep = new byte[8][];
    long sum = 0;
    for (int i = 0; i < 1024; i++) { byte[] b = new byte[1 << 20]; b[i % b.length] = 1; keep[i % 8] = b; sum += b.length; }
    System.out.println("allocated=" + sum);
  }
}
`;

function sh(sandbox: Sandbox, script: string, limits: Record<string, unknown> = {}): Promise<SpawnResult> {
  return sandbox.run(['/bin/sh', '-c', script], { limits: { wallTime: '60s', ...limits } });
}

function field(out: string, name: string): string | undefined {
  return new RegExp(`^${name}=(.*)$`, 'm').exec(out)?.[1]?.trim();
}

/** The memory limit a program reads from its cgroup files: v2 memory.max or v1 limit_in_bytes. */
const CGROUP_MEMORY = 'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes';

/**
 * What runtimes read inside a sandbox under limits (docs/limits.md "What programs see"): the
 * cgroup files, a limit-aware /proc, CPU affinity and a time namespace, checked with the real
 * programs (OpenJDK, Node, Python, coreutils). `where` names the cgroup setup it runs on.
 */
export function defineRuntimeViewSuite(where: 'host' | 'v2'): void {
  const avail = cgroupsFor();
  const memory = avail.ok && avail.tree.plan.controllers.memory !== null;
  const cpu = avail.ok && avail.tree.plan.controllers.cpu !== null;
  const why = avail.ok ? 'this host has no cgroup memory/cpu controller' : avail.reason;

  describe(`runtime view (${where}): memory 256M, cpus 1`, () => {
    let sandbox: Sandbox;
    beforeAll(async () => {
      // Rootless without cgroups: the CPU rows still hold through the affinity of one CPU.
      sandbox = new Sandbox({ limits: memory && cpu ? { memory: '256M', cpus: 1 } : { cpuset: [0] } });
      await sandbox.start();
    });
    afterAll(() => sandbox?.destroy());

    it('nproc, Node and Python count one CPU; /proc/cpuinfo and /proc/stat list one', async () => {
      const r = await sh(
        sandbox,
        `echo nproc=$(nproc); echo cpuinfo=$(grep -c ^processor /proc/cpuinfo); echo stat=$(grep -c '^cpu[0-9]' /proc/stat)
         python3 -c 'import os; print("python=%d,%d" % (os.cpu_count(), len(os.sched_getaffinity(0))))'
         node -e 'const os = require("os"); console.log("node=" + os.cpus().length + "," + os.availableParallelism())'`
      );
      expect(r.status, r.stderr).toBe('ok');
      expect(field(r.stdout, 'nproc')).toBe('1');
      expect(field(r.stdout, 'cpuinfo')).toBe('1');
      expect(field(r.stdout, 'stat')).toBe('1');
      expect(field(r.stdout, 'python')).toBe('1,1');
      expect(field(r.stdout, 'node')).toBe('1,1');
    });

    it('/proc/uptime counts from the sandbox start (time namespace)', async (ctx) => {
      requireFeature(ctx, timeNamespaceSupported(), 'this kernel has no time namespaces (Linux 5.6+, CONFIG_TIME_NS)');
      const r = await sh(
        sandbox,
        'cat /proc/uptime; python3 -c "import time; print(time.clock_gettime(time.CLOCK_BOOTTIME))"'
      );
      const [uptime, boottime] = r.stdout.trim().split(/\s+/).map(Number);
      expect(uptime).toBeLessThan(120);
      expect(r.stdout.trim().split('\n')[1]!.length).toBeGreaterThan(0);
      expect(Number(r.stdout.trim().split('\n')[1])).toBeLessThan(120);
      expect(boottime).toBeGreaterThanOrEqual(0);
    });

    it('MemTotal is the limit, swap is empty, and the cgroup files say 256M', async (ctx) => {
      requireFeature(ctx, memory, `no memory limit here: ${why}`);
      const r = await sh(
        sandbox,
        `grep MemTotal /proc/meminfo; grep -c . /proc/swaps; echo cg=$(${CGROUP_MEMORY})
         node -e 'console.log("node=" + require("os").totalmem() + "," + process.constrainedMemory())'`
      );
      expect(r.stdout).toMatch(/^MemTotal:\s+262144 kB$/m);
      expect(field(r.stdout, 'node')).toBe(`${256 * MiB},${256 * MiB}`);
      expect(r.stdout).toMatch(/^0$/m); // no swap, not even the header
      expect(field(r.stdout, 'cg')).toBe(String(256 * MiB));
    });

    it('OpenJDK sizes its heap and processors for the limits, and garbage in a loop finishes', async (ctx) => {
      requireFeature(ctx, memory && cpu, `no memory/cpu limit here: ${why}`);
      requireFeature(ctx, existsSync(JAVA), `${JAVA} is not installed (Debian default-jdk-headless)`);
      const compiled = compileGarbage();
      if (compiled) await sandbox.files.write('/tmp/Garbage.class', compiled);
      else await sandbox.files.write('/tmp/Garbage.java', GARBAGE_JAVA);
      const r = await sh(
        sandbox,
        // One JVM: the flags as it sized them, then the program.
        `java -XX:+PrintFlagsFinal -XX:TieredStopAtLevel=1 ${compiled ? '-cp /tmp Garbage' : '/tmp/Garbage.java'} |
           awk '$2 == "MaxHeapSize" { print "maxHeap=" $4 } /=/ && !/[{]/ { print }'`,
        { wallTime: JAVA_WALL }
      );
      expect(r.status, r.stderr).toBe('ok');
      // Under 512M OpenJDK takes MinRAMPercentage (50%) of the limit, above it MaxRAMPercentage (25%).
      expect(Number(field(r.stdout, 'maxHeap'))).toBeLessThanOrEqual(128 * MiB);
      expect(field(r.stdout, 'processors')).toBe('1');
      expect(field(r.stdout, 'allocated')).toBe(String(1024 * MiB));
    }, 300_000);
  });

  describe(`runtime view (${where}): effective limits and opt-out`, () => {
    it('a spawn limit below the sandbox one is what the spawn reads; OpenJDK takes a quarter of 1G', async (ctx) => {
      requireFeature(ctx, memory, `no memory limit here: ${why}`);
      // A CPU limit too: on hybrid hosts only then are spawns in the v1 cpu, cpuacct and cpuset
      // hierarchies OpenJDK 17 needs before it reads a v1 memory limit (docs/limits.md).
      const sandbox = new Sandbox({ limits: { memory: '1G', cpus: 2 } });
      try {
        await sandbox.start();
        const own = await sh(sandbox, `grep MemTotal /proc/meminfo; echo cg=$(${CGROUP_MEMORY})`, { memory: '128M' });
        expect(own.stdout).toMatch(/^MemTotal:\s+131072 kB$/m);
        expect(field(own.stdout, 'cg')).toBe(String(128 * MiB));
        const whole = await sh(sandbox, `echo cg=$(${CGROUP_MEMORY})`);
        expect(field(whole.stdout, 'cg')).toBe(String(1024 * MiB));
        if (!existsSync(JAVA)) return;
        const java = await sh(
          sandbox,
          `java -XX:+PrintFlagsFinal -version 2>/dev/null | awk '$2 == "MaxHeapSize" { print "maxHeap=" $4 }'`,
          { wallTime: JAVA_WALL }
        );
        expect(Number(field(java.stdout, 'maxHeap'))).toBeLessThanOrEqual(256 * MiB);
      } finally {
        await sandbox.destroy();
      }
    }, 300_000);

    it("procView: 'host' shows the host's meminfo, CPUs and uptime", async () => {
      const sandbox = new Sandbox({ procView: 'host', limits: memory ? { memory: '256M' } : {} });
      try {
        await sandbox.start();
        const r = await sh(
          sandbox,
          'grep MemTotal /proc/meminfo; echo cpus=$(grep -c ^processor /proc/cpuinfo); cat /proc/uptime'
        );
        const host = /^MemTotal:.*$/m.exec(readFileSync('/proc/meminfo', 'utf8'))![0];
        expect(r.stdout).toContain(host);
        expect(field(r.stdout, 'cpus')).toBe(
          String(readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm)!.length)
        );
        const hostUptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
        expect(Math.abs(Number(r.stdout.trim().split('\n').at(-1)!.split(' ')[0]) - hostUptime)).toBeLessThan(30);
      } finally {
        await sandbox.destroy();
      }
    });
  });

  describe(`limits.cpuset (${where})`, () => {
    const cpus = hostCpus();
    const last = cpus.at(-1)!;

    it('pins programs to the CPUs given, as a list or an array', async () => {
      const sandbox = new Sandbox({ limits: { cpuset: String(last) } });
      try {
        await sandbox.start();
        const r = await sh(
          sandbox,
          `python3 -c 'import os; print("affinity=" + ",".join(map(str, sorted(os.sched_getaffinity(0)))))'; echo nproc=$(nproc)
           echo cg=$(cat /sys/fs/cgroup/cpuset.cpus 2>/dev/null || cat /sys/fs/cgroup/cpuset/cpuset.cpus 2>/dev/null)`
        );
        expect(field(r.stdout, 'affinity')).toBe(String(last));
        expect(field(r.stdout, 'nproc')).toBe('1');
        const plan = avail.ok ? avail.tree.plan : undefined;
        if (plan?.cpuset) expect(field(r.stdout, 'cg')).toBe(String(last));
      } finally {
        await sandbox.destroy();
      }
    });

    it.each([
      ['0-99999', /expected CPU numbers/],
      ['3-1', /runs backwards/],
      ['zero', /expected a CPU list/],
      [[0.5], /expected CPU numbers/],
      [[], /names no CPU/],
      [[last + 1], /not one this process may use/],
    ])('rejects cpuset %j with a SandboxOptionsError naming limits.cpuset', (cpuset, message) => {
      let caught: unknown;
      try {
        new Sandbox({ limits: { cpuset: cpuset as string } });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(SandboxOptionsError);
      expect((caught as SandboxOptionsError).field).toBe('limits.cpuset');
      expect((caught as Error).message).toMatch(message);
    });
  });
}
