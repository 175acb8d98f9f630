import { SandboxOptionsError } from '../errors/sandbox-error.js';
import type { CapabilityName } from './capabilities.js';
import {
  ARCHES,
  compileRules,
  encodeProgram,
  hostArch,
  type ArgTests,
  type BpfRule,
  type SeccompArch,
} from './seccomp-bpf.js';

/** An errno a denied call fails with. */
export type SeccompErrno = 'EPERM' | 'EACCES' | 'ENOSYS' | 'EINVAL' | 'ENOENT' | 'EOPNOTSUPP' | 'EAFNOSUPPORT';

const ERRNOS: Record<SeccompErrno, number> = {
  EPERM: 1,
  ENOENT: 2,
  EACCES: 13,
  EINVAL: 22,
  ENOSYS: 38,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
};

/** One rule of a policy. */
export interface SeccompRule {
  /** The system call's name (`'ptrace'`). Calls an architecture lacks are skipped there. */
  syscall: string;
  /** Only when this argument test matches (low 32 bits of the argument; a list: all of them); always when absent. */
  when?: ArgTests;
  /** The errno the call fails with (under `onViolation('kill')` the process is killed instead). */
  errno: number;
  /** A compatibility answer (ENOSYS so libc falls back), never a kill. */
  fallback?: boolean;
  /** Dropped from the filter when the spawn keeps this capability (as Docker does). */
  unlessCapability?: CapabilityName;
}

const EPERM = 1;
const ENOSYS = 38;
const CLONE_NAMESPACE_FLAGS =
  0x00020000 /* NEWNS */ |
  0x02000000 /* NEWCGROUP */ |
  0x04000000 /* NEWUTS */ |
  0x08000000 /* NEWIPC */ |
  0x10000000 /* NEWUSER */ |
  0x20000000 /* NEWPID */ |
  0x40000000; /* NEWNET */
const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;
const NETLINK_ROUTE = 0;
const EAFNOSUPPORT = 97;
const EPROTONOSUPPORT = 93;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;
/** personality() values Docker allows: PER_LINUX, PER_LINUX32, UNAME26 variants, and the query 0xffffffff. */
const SAFE_PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

const deny = (names: string[], unlessCapability?: CapabilityName): SeccompRule[] =>
  names.map((syscall) => ({ syscall, errno: EPERM, ...(unlessCapability ? { unlessCapability } : {}) }));

const S_ISUID_ISGID = 0o6000;
/** The open flags under which the kernel reads the mode argument (O_CREAT, __O_TMPFILE; same on x86_64 and aarch64). */
const OPEN_CREATING = 0o100 | 0o20000000;

function setIdModeRules(calls: Array<[string, number]>): SeccompRule[] {
  return calls.map(([syscall, arg]) => ({
    syscall,
    when: { arg, op: 'maskAny', mask: S_ISUID_ISGID },
    errno: EPERM,
    unlessCapability: 'CAP_FSETID',
  }));
}

/** open/openat: the mode counts only when the flags create a file; otherwise the kernel ignores it (junk included). */
function setIdOpenRules(calls: Array<[string, number, number]>): SeccompRule[] {
  return calls.map(([syscall, flags, mode]) => ({
    syscall,
    when: [
      { arg: flags, op: 'maskAny', mask: OPEN_CREATING },
      { arg: mode, op: 'maskAny', mask: S_ISUID_ISGID },
    ],
    errno: EPERM,
    unlessCapability: 'CAP_FSETID',
  }));
}

/** The default policy: what a sandboxed program has no business calling. */
const DEFAULT_RULES: readonly SeccompRule[] = Object.freeze([
  // Namespaces and mounts: the sandbox's own boundaries.
  ...deny(
    [
      'mount',
      'umount',
      'umount2',
      'pivot_root',
      'fsopen',
      'fsconfig',
      'fsmount',
      'fspick',
      'move_mount',
      'open_tree',
      'open_tree_attr',
      'mount_setattr',
      'unshare',
      'setns',
      'quotactl',
      'quotactl_fd',
      'swapon',
      'swapoff',
      'lookup_dcookie',
    ],
    'CAP_SYS_ADMIN'
  ),
  {
    syscall: 'clone',
    when: { arg: 0, op: 'maskAny', mask: CLONE_NAMESPACE_FLAGS },
    errno: EPERM,
    unlessCapability: 'CAP_SYS_ADMIN',
  },
  // clone3 passes its flags in memory, out of a filter's sight: ENOSYS makes libc use clone.
  { syscall: 'clone3', errno: ENOSYS, fallback: true, unlessCapability: 'CAP_SYS_ADMIN' },
  ...deny(['chroot'], 'CAP_SYS_CHROOT'),
  // Kernel keyrings, BPF, perf, userfaultfd, io_uring: large attack surface, no use in a sandbox.
  ...deny(['keyctl', 'add_key', 'request_key', 'userfaultfd']),
  ...deny(['bpf'], 'CAP_BPF'),
  ...deny(['perf_event_open'], 'CAP_PERFMON'),
  ...['io_uring_setup', 'io_uring_enter', 'io_uring_register'].map((syscall) => ({
    syscall,
    errno: ENOSYS,
    fallback: true,
  })),
  // Kernel code and the machine itself.
  ...deny(['kexec_load', 'kexec_file_load', 'reboot'], 'CAP_SYS_BOOT'),
  ...deny(
    ['init_module', 'finit_module', 'delete_module', 'create_module', 'get_kernel_syms', 'query_module'],
    'CAP_SYS_MODULE'
  ),
  ...deny(['iopl', 'ioperm'], 'CAP_SYS_RAWIO'),
  ...deny(['acct'], 'CAP_SYS_PACCT'),
  ...deny(['settimeofday', 'stime', 'clock_settime', 'clock_adjtime', 'adjtimex'], 'CAP_SYS_TIME'),
  ...deny(['syslog'], 'CAP_SYSLOG'),
  ...deny(['vhangup'], 'CAP_SYS_TTY_CONFIG'),
  ...deny(['uselib', 'nfsservctl', '_sysctl', 'vm86', 'vm86old']),
  // File handles bypass path permissions (the shocker attack).
  ...deny(['open_by_handle_at', 'name_to_handle_at'], 'CAP_DAC_READ_SEARCH'),
  // Other processes' memory and fds.
  ...deny(['ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp', 'pidfd_getfd'], 'CAP_SYS_PTRACE'),
  { syscall: 'personality', when: { arg: 0, op: 'notIn', values: SAFE_PERSONALITIES }, errno: EPERM },
  // Socket families: unix, IPv4, IPv6 and netlink's routing protocol (getifaddrs, ip), nothing
  // else (packet, key, vsock, alg, bluetooth, xdp... are rarely needed and often buggy). The
  // errnos are what a kernel without the family or protocol says, so programs that probe fall back.
  {
    syscall: 'socket',
    when: { arg: 0, op: 'notIn', values: [AF_UNIX, AF_INET, AF_INET6, AF_NETLINK] },
    errno: EAFNOSUPPORT,
  },
  {
    syscall: 'socket',
    when: [
      { arg: 0, op: 'in', values: [AF_NETLINK] },
      { arg: 2, op: 'notIn', values: [NETLINK_ROUTE] },
    ],
    errno: EPROTONOSUPPORT,
  },
  { syscall: 'socketpair', when: { arg: 0, op: 'notIn', values: [AF_UNIX] }, errno: EAFNOSUPPORT },
  // No setuid/setgid files: where the sandbox's root is the host's root (a root helper maps
  // 0 to 0), a set-id file written to a writable bind mount would be set-id root on the host.
  ...setIdModeRules([
    ['chmod', 1],
    ['fchmod', 1],
    ['fchmodat', 2],
    ['fchmodat2', 2],
    ['creat', 1],
    ['mknod', 1],
    ['mknodat', 2],
  ]),
  ...setIdOpenRules([
    ['open', 1, 2],
    ['openat', 2, 3],
  ]),
  // openat2 carries its mode in memory: ENOSYS, and libc's callers fall back to openat.
  { syscall: 'openat2', errno: ENOSYS, fallback: true, unlessCapability: 'CAP_FSETID' },
  // Typing into the terminal of whoever reads it.
  { syscall: 'ioctl', when: { arg: 1, op: 'in', values: [TIOCSTI, TIOCLINUX] }, errno: EPERM },
]);

const ALL_NAMES = new Set(Object.values(ARCHES).flatMap((a) => Object.keys(a.table)));

function checkName(name: unknown, field: string): string {
  if (typeof name !== 'string' || !ALL_NAMES.has(name))
    throw new SandboxOptionsError(field, `unknown system call ${JSON.stringify(name)}`);
  return name;
}

/**
 * A seccomp policy: a list of system calls (some only for certain arguments) that fail with an
 * errno, or kill the process under `onViolation('kill')`. Everything else is allowed. Values
 * are immutable: every method returns a new policy. The SDK compiles it to a classic BPF
 * program that the helper loads just before `execve`.
 *
 * Beyond its rules every policy refuses foreign ABIs (i386 `int 0x80` and x32 on x86_64) and
 * answers ENOSYS for call numbers newer than its table.
 *
 * @example
 * new Sandbox({ security: { seccomp: Seccomp.default().allow('ptrace') } });          // gdb inside
 * new Sandbox({ security: { seccomp: Seccomp.default().deny('socket') } });           // no sockets at all
 * new Sandbox({ security: { seccomp: Seccomp.default().onViolation('kill') } });      // status 'security-violation'
 */
export class Seccomp {
  /** What a denied call does: `'errno'` (fail it) or `'kill'` (SECCOMP_RET_KILL_PROCESS). */
  readonly violation: 'errno' | 'kill';
  /** The rules, in the order given. */
  readonly rules: readonly SeccompRule[];

  private constructor(rules: readonly SeccompRule[], violation: 'errno' | 'kill') {
    this.rules = Object.freeze([...rules]);
    this.violation = violation;
  }

  /**
   * sandkit's default policy (Docker's spirit): namespace, mount, module, keyring, BPF, perf,
   * ptrace, clock, reboot... calls and setting setuid/setgid mode bits refused with EPERM;
   * clone3, openat2 and io_uring answered ENOSYS so libc and runtimes fall back.
   */
  static default(): Seccomp {
    return new Seccomp(DEFAULT_RULES, 'errno');
  }

  /** A policy that denies nothing but the foreign ABIs; build your own with {@link Seccomp.deny}. */
  static empty(): Seccomp {
    return new Seccomp([], 'errno');
  }

  /** Removes every rule for these calls: they are allowed whatever their arguments. Allowing `clone3` lets namespace flags through. */
  allow(...syscalls: string[]): Seccomp {
    const names = new Set(syscalls.map((s, i) => checkName(s, `seccomp.allow[${i}]`)));
    return new Seccomp(
      this.rules.filter((r) => !names.has(r.syscall)),
      this.violation
    );
  }

  /** Refuses these calls whatever their arguments, with `errno` (default EPERM). */
  deny(syscalls: string | string[], options: { errno?: SeccompErrno | number } = {}): Seccomp {
    const list = Array.isArray(syscalls) ? syscalls : [syscalls];
    const errno = typeof options.errno === 'number' ? options.errno : ERRNOS[options.errno ?? 'EPERM'];
    if (!Number.isInteger(errno) || errno < 1 || errno > 4095)
      throw new SandboxOptionsError(
        'seccomp.deny.errno',
        `expected an errno name or a number from 1 to 4095, got ${JSON.stringify(options.errno)}`
      );
    const names = list.map((s, i) => checkName(s, `seccomp.deny[${i}]`));
    const kept = this.rules.filter((r) => !names.includes(r.syscall));
    return new Seccomp([...kept, ...names.map((syscall) => ({ syscall, errno }))], this.violation);
  }

  /** `'kill'`: a denied call kills the process (SIGSYS; the result's status is `'security-violation'`). ENOSYS fallbacks stay ENOSYS. */
  onViolation(action: 'errno' | 'kill'): Seccomp {
    if (action !== 'errno' && action !== 'kill')
      throw new SandboxOptionsError('seccomp.onViolation', "expected 'errno' or 'kill'");
    return new Seccomp(this.rules, action);
  }

  /**
   * The `struct sock_filter[]` for `arch` (default: this host's), leaving out rules lifted by
   * the capabilities the spawn keeps.
   */
  compile(arch: SeccompArch | undefined = hostArch(), keptCapabilities: readonly CapabilityName[] = []): Buffer {
    if (!arch)
      throw new SandboxOptionsError(
        'security.seccomp',
        `no seccomp support for ${process.arch}; use seccomp: 'unconfined'`
      );
    const table = ARCHES[arch].table;
    const kept = new Set(keptCapabilities);
    const rules: BpfRule[] = [];
    for (const r of this.rules) {
      const nr = table[r.syscall];
      if (nr === undefined || (r.unlessCapability && kept.has(r.unlessCapability))) continue;
      rules.push({
        nr,
        ...(r.when ? { test: r.when } : {}),
        action: this.violation === 'kill' && !r.fallback ? 'kill' : { errno: r.errno },
      });
    }
    const foreign = this.violation === 'kill' ? 'kill' : { errno: EPERM };
    return encodeProgram(compileRules(arch, rules, foreign, ENOSYS));
  }
}
