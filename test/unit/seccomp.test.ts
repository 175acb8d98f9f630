import { describe, expect, it } from 'vitest';
import { Seccomp, SandboxOptionsError } from '../../src/index.js';
import {
  ARCHES,
  AUDIT_ARCH_I386,
  compileRules,
  encodeProgram,
  BPF_JEQ_K,
  BPF_JGE_K,
  BPF_JGT_K,
  BPF_JMP_JA,
  BPF_JSET_K,
  BPF_LD_W_ABS,
  BPF_RET_K,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_USER_NOTIF,
  decodeProgram,
  type SeccompArch,
} from '../../src/security/seccomp-bpf.js';

// A classic-BPF interpreter over struct seccomp_data, enough for what the compiler emits; it
// refuses anything else, as the kernel's checker would.
interface Data {
  arch: number;
  nr: number;
  args?: number[];
}

function run(filter: Buffer, d: Data): number {
  const prog = decodeProgram(filter);
  const word = (off: number): number => {
    if (off === 0) return d.nr >>> 0;
    if (off === 4) return d.arch >>> 0;
    const i = (off - 16) / 8;
    if (Number.isInteger(i) && i >= 0 && i < 6)
      return Number(BigInt.asUintN(64, BigInt(d.args?.[i] ?? 0)) & 0xffffffffn);
    if (Number.isInteger((off - 20) / 8))
      return Number(BigInt.asUintN(64, BigInt(d.args?.[(off - 20) / 8] ?? 0)) >> 32n);
    throw new Error(`load from offset ${off}`);
  };
  let acc = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const { code, jt, jf, k } = prog[pc]!;
    switch (code) {
      case BPF_LD_W_ABS:
        acc = word(k);
        break;
      case BPF_JMP_JA:
        pc += k;
        break;
      case BPF_JEQ_K:
        pc += acc === k ? jt : jf;
        break;
      case BPF_JGT_K:
        pc += acc > k ? jt : jf;
        break;
      case BPF_JGE_K:
        pc += acc >= k ? jt : jf;
        break;
      case BPF_JSET_K:
        pc += (acc & k) !== 0 ? jt : jf;
        break;
      case BPF_RET_K:
        return k >>> 0;
      default:
        throw new Error(`opcode ${code.toString(16)} at ${pc}`);
    }
    if (pc + 1 > prog.length) throw new Error('jump past the end');
  }
  throw new Error('fell off the end');
}

const ALLOW = SECCOMP_RET_ALLOW;
const EPERM = (SECCOMP_RET_ERRNO | 1) >>> 0;
const ENOSYS = (SECCOMP_RET_ERRNO | 38) >>> 0;
const EAFNOSUPPORT = (SECCOMP_RET_ERRNO | 97) >>> 0;
const EPROTONOSUPPORT = (SECCOMP_RET_ERRNO | 93) >>> 0;
const KILL = SECCOMP_RET_USER_NOTIF; // 'kill': the reaper, holding the listener, kills the tree

function call(arch: SeccompArch, name: string, args: number[] = []): Data {
  const nr = ARCHES[arch].table[name];
  if (nr === undefined) throw new Error(`${name} is not a call of ${arch}`);
  return { arch: ARCHES[arch].audit, nr, args };
}

const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWNET = 0x40000000;
const THREAD_FLAGS = 0x3d0f00; // what glibc's pthread_create passes
const SIGCHLD = 17;

describe.each(['x86_64', 'aarch64'] as const)('Seccomp.default() on %s', (arch) => {
  const filter = Seccomp.default().compile(arch);
  const killing = Seccomp.default().onViolation('kill').compile(arch);

  it.each([
    ['read', [], ALLOW],
    ['openat', [], ALLOW],
    ['execve', [], ALLOW],
    ['wait4', [], ALLOW],
    ['clone', [SIGCHLD], ALLOW],
    ['clone', [THREAD_FLAGS], ALLOW],
    ['clone', [SIGCHLD | CLONE_NEWUSER], EPERM],
    ['clone', [CLONE_NEWNET], EPERM],
    ['clone3', [], ENOSYS],
    ['unshare', [0x200], EPERM],
    ['setns', [], EPERM],
    ['mount', [], EPERM],
    ['umount2', [], EPERM],
    ['pivot_root', [], EPERM],
    ['chroot', [], EPERM],
    ['fsopen', [], EPERM],
    ['move_mount', [], EPERM],
    ['open_tree', [], EPERM],
    ['mount_setattr', [], EPERM],
    ['keyctl', [], EPERM],
    ['add_key', [], EPERM],
    ['bpf', [], EPERM],
    ['perf_event_open', [], EPERM],
    ['userfaultfd', [], EPERM],
    ['io_uring_setup', [], ENOSYS],
    ['kexec_load', [], EPERM],
    ['finit_module', [], EPERM],
    ['delete_module', [], EPERM],
    ['open_by_handle_at', [], EPERM],
    ['name_to_handle_at', [], EPERM],
    ['ptrace', [], EPERM],
    ['process_vm_readv', [], EPERM],
    ['process_vm_writev', [], EPERM],
    ['reboot', [], EPERM],
    ['swapon', [], EPERM],
    ['acct', [], EPERM],
    ['settimeofday', [], EPERM],
    ['clock_settime', [], EPERM],
    ['clock_adjtime', [], EPERM],
    ['syslog', [], EPERM],
    ['quotactl', [], EPERM],
    ['personality', [0], ALLOW],
    ['personality', [0x8], ALLOW],
    ['personality', [0xffffffff], ALLOW],
    ['personality', [0x0040000 /* ADDR_NO_RANDOMIZE */], EPERM],
    ['socket', [2 /* AF_INET */], ALLOW],
    ['socket', [1 /* AF_UNIX */], ALLOW],
    ['socket', [10 /* AF_INET6 */, 0x80801 /* SOCK_STREAM|CLOEXEC|NONBLOCK */], ALLOW],
    ['socket', [16 /* AF_NETLINK */, 3 /* SOCK_RAW */, 0 /* NETLINK_ROUTE */], ALLOW],
    ['socket', [16, 0x80003, 9 /* NETLINK_AUDIT */], EPROTONOSUPPORT],
    ['socket', [16, 3, 15 /* NETLINK_KOBJECT_UEVENT */], EPROTONOSUPPORT],
    ['socket', [16, 3, 6 /* NETLINK_XFRM */], EPROTONOSUPPORT],
    ['socket', [16, 3, 4 /* NETLINK_SOCK_DIAG */], EPROTONOSUPPORT],
    ['socket', [16, 3, 16 /* NETLINK_GENERIC */], EPROTONOSUPPORT],
    ['socket', [0 /* AF_UNSPEC */], EAFNOSUPPORT],
    ['socket', [17 /* AF_PACKET */, 3, 0x300], EAFNOSUPPORT],
    ['socket', [15 /* AF_KEY */, 3, 2], EAFNOSUPPORT],
    ['socket', [31 /* AF_BLUETOOTH */, 3, 1], EAFNOSUPPORT],
    ['socket', [40 /* AF_VSOCK */], EAFNOSUPPORT],
    ['socket', [38 /* AF_ALG */], EAFNOSUPPORT],
    ['socket', [44 /* AF_XDP */], EAFNOSUPPORT],
    ['socket', [0x100000002 /* AF_INET with junk in the high half: the kernel reads an int */], ALLOW],
    ['socketpair', [1 /* AF_UNIX */, 1], ALLOW],
    ['socketpair', [40], EAFNOSUPPORT],
    ['socketpair', [16, 3, 0], EAFNOSUPPORT],
    ['socketpair', [2, 1, 0], EAFNOSUPPORT],
    ['fchmodat', [-100, 0, 0o755], ALLOW],
    ['fchmodat', [-100, 0, 0o4755], EPERM],
    ['fchmodat', [-100, 0, 0o2755], EPERM],
    ['fchmod', [3, 0o1777], ALLOW],
    ['fchmod', [3, 0o6755], EPERM],
    ['openat', [-100, 0, 0o101 /* O_CREAT|O_WRONLY */, 0o644], ALLOW],
    ['openat', [-100, 0, 0o101, 0o4755], EPERM],
    ['openat', [-100, 0, 0o102 /* O_CREAT|O_RDWR */, 0o2700], EPERM],
    ['openat', [-100, 0, 0o20200002 /* O_TMPFILE|O_RDWR (x86_64 value) */, 0o4755], EPERM],
    ['openat', [-100, 0, 0o20040002 /* O_TMPFILE|O_RDWR (aarch64 value) */, 0o4755], EPERM],
    ['openat', [-100, 0, 0o20000002 /* __O_TMPFILE bit alone */, 0o6000], EPERM],
    // Without O_CREAT or O_TMPFILE the kernel ignores the mode: whatever is in the register passes.
    ['openat', [-100, 0, 0 /* O_RDONLY */, 0o4755], ALLOW],
    ['openat', [-100, 0, 0o200000 /* O_DIRECTORY (x86_64) */, 0xdeadbeef], ALLOW],
    ['openat', [-100, 0, 0o1101 /* O_WRONLY|O_TRUNC|O_CREAT */, 0o644], ALLOW],
    ['mknodat', [-100, 0, 0o104755 /* S_IFREG */, 0], EPERM],
    ['openat2', [], ENOSYS],
    ['ioctl', [1, 0x5401 /* TCGETS */], ALLOW],
    ['ioctl', [1, 0x5412 /* TIOCSTI */], EPERM],
    ['ioctl', [1, 0x541c /* TIOCLINUX */], EPERM],
  ] as Array<[string, number[], number]>)('%s(%j) → %d', (name, args, want) => {
    expect(run(filter, call(arch, name, args))).toBe(want);
  });

  it('x86-only calls are denied where they exist', () => {
    for (const name of ['iopl', 'ioperm', 'uselib', '_sysctl', 'nfsservctl']) {
      if (ARCHES[arch].table[name] !== undefined) expect(run(filter, call(arch, name)), name).toBe(EPERM);
    }
  });

  it('open() (where the arch has it) tests the mode only when the flags create', () => {
    if (ARCHES[arch].table.open === undefined) return;
    expect(run(filter, call(arch, 'open', [0, 0 /* O_RDONLY */, 0xffffffff]))).toBe(ALLOW);
    expect(run(killing, call(arch, 'open', [0, 0, 0o6777]))).toBe(ALLOW);
    expect(run(filter, call(arch, 'open', [0, 0o101, 0o4755]))).toBe(EPERM);
    expect(run(killing, call(arch, 'open', [0, 0o101, 0o2755]))).toBe(KILL);
    expect(run(filter, call(arch, 'open', [0, 0o101, 0o755]))).toBe(ALLOW);
    expect(run(filter, call(arch, 'creat', [0, 0o4755]))).toBe(EPERM); // creat always creates
  });

  it('refuses a foreign architecture (i386 through int 0x80)', () => {
    expect(run(filter, { arch: AUDIT_ARCH_I386, nr: 20 /* getpid */ })).toBe(EPERM);
    expect(run(killing, { arch: AUDIT_ARCH_I386, nr: 20 })).toBe(KILL);
  });

  it('answers ENOSYS for numbers newer than its table', () => {
    const max = Math.max(...Object.values(ARCHES[arch].table));
    expect(run(filter, { arch: ARCHES[arch].audit, nr: max + 1 })).toBe(ENOSYS);
    expect(run(killing, { arch: ARCHES[arch].audit, nr: max + 1 })).toBe(ENOSYS);
  });

  it("onViolation('kill') kills on denials but keeps the ENOSYS fallbacks", () => {
    expect(run(killing, call(arch, 'mount'))).toBe(KILL);
    expect(run(killing, call(arch, 'clone', [CLONE_NEWUSER]))).toBe(KILL);
    expect(run(killing, call(arch, 'clone', [THREAD_FLAGS]))).toBe(ALLOW);
    expect(run(killing, call(arch, 'clone3'))).toBe(ENOSYS);
    expect(run(killing, call(arch, 'io_uring_setup'))).toBe(ENOSYS);
    expect(run(killing, call(arch, 'getpid'))).toBe(ALLOW);
  });

  it('fits the kernel limit and every call table entry is allowed or decided', () => {
    expect(filter.length % 8).toBe(0);
    expect(filter.length / 8).toBeLessThan(4096);
    for (const name of Object.keys(ARCHES[arch].table)) {
      expect([ALLOW, EPERM, ENOSYS, EAFNOSUPPORT]).toContain(run(filter, call(arch, name)));
    }
  });
});

describe('x86_64 specifics', () => {
  it('refuses x32 calls (nr | 0x40000000)', () => {
    const f = Seccomp.default().compile('x86_64');
    expect(run(f, { arch: ARCHES.x86_64.audit, nr: 0x40000000 | 39 /* getpid */ })).toBe(EPERM);
    expect(run(f, { arch: ARCHES.x86_64.audit, nr: 39 })).toBe(ALLOW);
  });
});

describe('argument tests that must all match', () => {
  const arch = 'x86_64';
  const nr = ARCHES[arch].table.ioctl!;
  const filter = encodeProgram(
    compileRules(
      arch,
      [
        {
          nr,
          test: [
            { arg: 0, op: 'in', values: [1, 2, 3] },
            { arg: 1, op: 'notIn', values: [7, 8] },
            { arg: 2, op: 'maskAny', mask: 4 },
          ],
          action: { errno: 1 },
        },
      ],
      { errno: 1 },
      38
    )
  );
  it.each([
    [[1, 0, 4], EPERM],
    [[3, 9, 0xff], EPERM],
    [[2, 0, 12], EPERM],
    [[4, 0, 4], ALLOW],
    [[0, 0, 4], ALLOW],
    [[1, 7, 4], ALLOW],
    [[2, 8, 4], ALLOW],
    [[1, 0, 3], ALLOW],
  ] as Array<[number[], number]>)('ioctl(%j) → %d', (args, want) => {
    expect(run(filter, { arch: ARCHES[arch].audit, nr, args })).toBe(want);
  });
});

describe('composing policies', () => {
  const arch = 'x86_64';

  it('allow() lifts every rule of a call', () => {
    const f = Seccomp.default().allow('ptrace', 'clone').compile(arch);
    expect(run(f, call(arch, 'ptrace'))).toBe(ALLOW);
    expect(run(f, call(arch, 'clone', [CLONE_NEWUSER]))).toBe(ALLOW);
    expect(run(f, call(arch, 'mount'))).toBe(EPERM);
  });

  it('deny() adds a call with an errno, replacing conditional rules', () => {
    const f = Seccomp.default().deny('socket').deny(['connect'], { errno: 'EACCES' }).compile(arch);
    expect(run(f, call(arch, 'socket', [2]))).toBe(EPERM);
    expect(run(f, call(arch, 'connect'))).toBe((SECCOMP_RET_ERRNO | 13) >>> 0);
  });

  it('Seccomp.empty() denies only foreign ABIs', () => {
    const f = Seccomp.empty().compile(arch);
    expect(run(f, call(arch, 'mount'))).toBe(ALLOW);
    expect(run(f, { arch: AUDIT_ARCH_I386, nr: 1 })).toBe(EPERM);
  });

  it('kept capabilities lift the rules Docker ties to them', () => {
    const f = Seccomp.default().compile(arch, ['CAP_SYS_PTRACE', 'CAP_SYS_ADMIN']);
    expect(run(f, call(arch, 'ptrace'))).toBe(ALLOW);
    expect(run(f, call(arch, 'mount'))).toBe(ALLOW);
    expect(run(f, call(arch, 'clone3'))).toBe(ALLOW);
    expect(run(f, call(arch, 'kexec_load'))).toBe(EPERM);
  });

  it('policies are immutable values', () => {
    const base = Seccomp.default();
    const more = base.allow('ptrace');
    expect(base.rules.some((r) => r.syscall === 'ptrace')).toBe(true);
    expect(more.rules.some((r) => r.syscall === 'ptrace')).toBe(false);
    expect(base.onViolation('kill').violation).toBe('kill');
    expect(base.violation).toBe('errno');
  });

  it.each([
    [() => Seccomp.default().allow('no_such_call'), 'seccomp.allow[0]'],
    [() => Seccomp.default().deny(['read', 'nope']), 'seccomp.deny[1]'],
    [() => Seccomp.default().deny('read', { errno: 0 }), 'seccomp.deny.errno'],
    [() => Seccomp.default().onViolation('log' as never), 'seccomp.onViolation'],
  ] as Array<[() => unknown, string]>)('bad input names %s', (fn, field) => {
    expect(fn).toThrowError(SandboxOptionsError);
    try {
      fn();
    } catch (err) {
      expect((err as SandboxOptionsError).field).toBe(field);
    }
  });
});
