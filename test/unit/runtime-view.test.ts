import { describe, expect, it } from 'vitest';
import { formatCpuList, parseCpuList } from '../../src/limits/cpu-list.js';
import { checkCpuset, pickCpus } from '../../src/cgroup/cpuset.js';
import { cpuinfoFor, meminfoFor, statFor } from '../../src/sandbox/proc-view.js';
import { SandboxOptionsError } from '../../src/errors/sandbox-error.js';

const HOST_MEMINFO =
  'MemTotal:       24683548 kB\nMemFree:        22958108 kB\nMemAvailable:   23836632 kB\nBuffers:           34736 kB\nSwapTotal:       1048576 kB\nHugePages_Total:       0\nHugepagesize:       2048 kB\n';
const HOST_CPUINFO = [0, 1, 2, 3]
  .map((n) => `processor\t: ${n}\nvendor_id\t: GenuineIntel\nsiblings\t: 4\ncpu cores\t: 4\ncore id\t\t: ${n}`)
  .join('\n\n');
const HOST_STAT =
  'cpu  40 0 40 400 0 0 0 0 0 0\ncpu0 10 0 10 100 0 0 0 0 0 0\ncpu1 11 0 11 101 0 0 0 0 0 0\ncpu2 12 0 12 102 0 0 0 0 0 0\ncpu3 13 0 13 103 0 0 0 0 0 0\nintr 123 4 5\nctxt 999\nbtime 1700000000\nprocesses 77\n';

describe('CPU lists', () => {
  it('parses the kernel form and arrays, sorted and distinct', () => {
    expect(parseCpuList('0-2,5', 'f')).toEqual([0, 1, 2, 5]);
    expect(parseCpuList(' 3 , 1 ', 'f')).toEqual([1, 3]);
    expect(parseCpuList([2, 0, 2], 'f')).toEqual([0, 2]);
    expect(formatCpuList([0, 1, 2, 5, 7, 8])).toBe('0-2,5,7-8');
  });
  it.each([
    ['', 'f'],
    ['1-', 'f'],
    ['a', 'f'],
    ['2-1', 'f'],
    [[-1], 'f'],
    [[1.5], 'f'],
    [[], 'f'],
    [7, 'f'],
    ['0-5000', 'f'],
  ])('rejects %j naming the field', (value, field) => {
    expect(() => parseCpuList(value, field)).toThrow(SandboxOptionsError);
  });
  it('checks against the CPUs this process may use', () => {
    expect(() => checkCpuset([0, 1], 'limits.cpuset', [0, 1, 2])).not.toThrow();
    expect(() => checkCpuset([3], 'limits.cpuset', [0, 1, 2])).toThrow(/limits\.cpuset.*CPU 3 is not one/);
  });
  it('picks ceil(cpus) CPUs, spreading sandboxes over the host', () => {
    const host = [0, 1, 2, 3];
    const a = pickCpus(1.5, host);
    const b = pickCpus(1.5, host);
    expect(a).toHaveLength(2);
    expect(b).toHaveLength(2);
    expect(a).not.toEqual(b);
    expect(pickCpus(0.01, host)).toHaveLength(1);
    expect(pickCpus(64, host)).toEqual(host);
  });
});

describe('/proc files for limits', () => {
  it('meminfo: MemTotal is the limit, free what is left, no swap, the rest 0', () => {
    const m = meminfoFor(256 * 2 ** 20, 2 ** 20, HOST_MEMINFO);
    expect(m).toMatch(/^MemTotal:\s+262144 kB$/m);
    expect(m).toMatch(/^MemFree:\s+261120 kB$/m);
    expect(m).toMatch(/^MemAvailable:\s+261120 kB$/m);
    expect(m).toMatch(/^SwapTotal:\s+0 kB$/m);
    expect(m).toMatch(/^Buffers:\s+0 kB$/m);
    expect(m).toMatch(/^HugePages_Total:\s+0$/m);
    expect(m).toMatch(/^Hugepagesize:\s+2048 kB$/m);
    expect(meminfoFor(2 ** 20, 5 * 2 ** 20, HOST_MEMINFO)).toMatch(/^MemFree:\s+0 kB$/m);
  });
  it('cpuinfo: only the CPUs given, numbered from 0', () => {
    const c = cpuinfoFor([1, 3], HOST_CPUINFO);
    expect(c.match(/^processor\s*: (\d+)$/gm)).toEqual(['processor\t: 0', 'processor\t: 1']);
    expect(c).toMatch(/^core id\t\t: 1$/m);
    expect(c).toMatch(/^core id\t\t: 3$/m);
    expect(c).toMatch(/^siblings\t: 2$/m);
  });
  it('stat: the CPUs given, renumbered and summed, btime the sandbox start', () => {
    const s = statFor([1, 3], HOST_STAT, 1800000000);
    expect(s).toMatch(/^cpu {2}24 0 24 204 0 0 0 0 0 0$/m);
    expect(s).toMatch(/^cpu0 11 0 11 101/m);
    expect(s).toMatch(/^cpu1 13 0 13 103/m);
    expect(s).not.toMatch(/^cpu2/m);
    expect(s).toMatch(/^btime 1800000000$/m);
    expect(statFor([0], HOST_STAT)).toMatch(/^btime 1700000000$/m);
  });
});
