import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { detectCgroups } from '../../src/cgroup/detect.js';
import { Cgroup, planCgroups } from '../../src/cgroup/cgroup.js';
import { parseFlatKeyed, parseNumber } from '../../src/cgroup/cgroup-fs.js';

const fixture = (name: string) => join(__dirname, '..', 'fixtures', 'cgroup', name);

describe('cgroup layout and plan', () => {
  it('hybrid host: limits on v1, freeze/kill/cpu.stat on the core v2 tree', () => {
    const layout = detectCgroups(fixture('hybrid.mountinfo'), fixture('hybrid.cgroup'));
    expect(layout.v2Mount).toBe('/sys/fs/cgroup/unified');
    expect(layout.v2Own).toBe('/');
    expect(layout.v1.get('memory')).toEqual({ mount: '/sys/fs/cgroup/memory', own: '/jobs/abc', options: 'memory' });
    // The fixture's v2 controllers are read from the real host: hugetlb at most, never memory here.
    const plan = planCgroups({ ...layout, v2Controllers: new Set(['hugetlb']) });
    expect(plan.controllers).toEqual({ memory: 'v1', pids: 'v1', cpu: 'v1', io: null });
    expect(plan.v2).toBe(true);
    // cpuacct too: what runtimes inside a spawn look for beside memory and cpu (no cpuset here).
    expect(plan.v1.sort()).toEqual(['cpu', 'cpuacct', 'memory', 'pids']);
    expect(plan.cpuset).toBeNull();
    expect(plan.v1Options?.cpuacct).toBe('cpuacct');
    const withCpuset = new Map(layout.v1).set('cpuset', {
      mount: '/sys/fs/cgroup/cpuset',
      own: '/',
      options: 'cpuset',
    });
    const plan2 = planCgroups({ ...layout, v1: withCpuset, v2Controllers: new Set() });
    expect(plan2.cpuset).toBe('v1');
    expect(plan2.v1).toContain('cpuset');
    const spawn = Cgroup.base(layout, plan).child('sandkit-1').child('sb').child('2');
    expect(spawn.v2Path).toBe('/sys/fs/cgroup/unified/sandkit-1/sb/2');
    expect(spawn.v1Paths.memory).toBe('/sys/fs/cgroup/memory/jobs/abc/sandkit-1/sb/2');
    expect(spawn.file('memory', 'memory.limit_in_bytes')).toBe(
      '/sys/fs/cgroup/memory/jobs/abc/sandkit-1/sb/2/memory.limit_in_bytes'
    );
    expect(spawn.file('core', 'cgroup.freeze')).toBe('/sys/fs/cgroup/unified/sandkit-1/sb/2/cgroup.freeze');
    expect(spawn.v1ProcsFiles()).toContain('/sys/fs/cgroup/pids/sandkit-1/sb/2/cgroup.procs');
  });

  it('pure v2 host: everything on v2', () => {
    const layout = {
      v2Mount: '/sys/fs/cgroup',
      v2Own: '/',
      v2Controllers: new Set(['cpuset', 'cpu', 'io', 'memory', 'pids']),
      v1: new Map(),
    };
    const plan = planCgroups(layout);
    expect(plan.controllers).toEqual({ memory: 'v2', pids: 'v2', cpu: 'v2', io: 'v2' });
    expect(plan.v1).toEqual([]);
    expect(plan.cpuset).toBe('v2');
    const cg = Cgroup.base(layout, plan).child('sandkit-1');
    expect(cg.file('memory', 'memory.max')).toBe('/sys/fs/cgroup/sandkit-1/memory.max');
    expect(cg.v1ProcsFiles()).toEqual([]);
  });

  it('v1-only host: cpuacct and freezer from v1, comounted hierarchies understood', () => {
    const layout = detectCgroups(fixture('v1only.mountinfo'), fixture('v1only.cgroup'));
    expect(layout.v2Mount).toBeNull();
    expect(layout.v1.get('cpuacct')).toEqual({ mount: '/sys/fs/cgroup/cpu,cpuacct', own: '/', options: 'cpu,cpuacct' });
    const plan = planCgroups(layout);
    expect(plan.controllers).toEqual({ memory: 'v1', pids: null, cpu: 'v1', io: null });
    expect(plan.v1.sort()).toEqual(['cpu', 'cpuacct', 'freezer', 'memory']);
    expect(plan.v1Options?.cpu).toBe('cpu,cpuacct');
    expect(Cgroup.base(layout, plan).v1Paths.freezer).toBe('/sys/fs/cgroup/freezer/x');
  });

  it('parses cgroup files', () => {
    expect(parseFlatKeyed('low 0\nhigh 2\nmax 0\noom 1\noom_kill 1\n')).toEqual({
      low: 0,
      high: 2,
      max: 0,
      oom: 1,
      oom_kill: 1,
    });
    expect(parseNumber('max\n')).toBe(Infinity);
    expect(parseNumber('4096\n')).toBe(4096);
    expect(parseNumber(undefined)).toBeUndefined();
  });
});
