import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, Seccomp } from '../../src/index.js';
import { PROBE, probeMount } from '../helpers/probe.js';
import { attackers, expectRefused, type Outcome } from '../helpers/security-outcomes.js';

// Each row is one harmless call of a dangerous syscall (`probe try-syscall NAME` exits with its
// errno) and the outcomes that count as refused. Several outcomes are allowed only where the
// kernel or the filter legitimately differ; "ok" (the call worked) is never one of them.
const ENOSYS_OR_EPERM: Outcome[] = ['EPERM', 'ENOSYS'];
const rows: Array<{ name: string; attack: string; refused: Outcome[] }> = [
  // The mount family: the sandbox's root must not be able to rearrange its filesystem view.
  { name: 'mount', attack: 'mount a tmpfs on /mnt', refused: ['EPERM'] },
  { name: 'umount', attack: 'umount2(/proc, MNT_DETACH)', refused: ['EPERM'] },
  { name: 'pivot_root', attack: 'pivot_root(/tmp, /tmp)', refused: ['EPERM'] },
  { name: 'chroot', attack: 'chroot(/)', refused: ['EPERM'] },
  // Namespaces: no new ones, no joining (nested user namespaces are where most kernel LPEs start).
  { name: 'unshare-mnt', attack: 'unshare(CLONE_NEWNS)', refused: ['EPERM'] },
  { name: 'unshare-net', attack: 'unshare(CLONE_NEWNET)', refused: ['EPERM'] },
  { name: 'unshare-user', attack: 'unshare(CLONE_NEWUSER)', refused: ['EPERM'] },
  { name: 'clone-newuser', attack: 'clone(CLONE_NEWUSER)', refused: ['EPERM'] },
  // A filter cannot read clone3's flags (they are in memory): it refuses clone3 as a whole, with
  // ENOSYS so that libc falls back to clone, or EPERM.
  { name: 'clone3-newuser', attack: 'clone3(CLONE_NEWUSER)', refused: ENOSYS_OR_EPERM },
  { name: 'setns-mnt', attack: 'setns() into its own mount namespace', refused: ['EPERM'] },
  // PID 1 of the spawn is sandkit's reaper.
  { name: 'ptrace', attack: 'PTRACE_ATTACH to PID 1', refused: ['EPERM'] },
  // Devices: a block device (/dev/sda-like b 8 0) and /dev/mem (c 1 1).
  { name: 'mknod-sda', attack: 'mknod b 8 0', refused: ['EPERM'] },
  { name: 'mknod-mem', attack: 'mknod c 1 1', refused: ['EPERM'] },
  // The "shocker" escape: open a file by a handle, bypassing the mount view.
  { name: 'open_by_handle_at', attack: 'open_by_handle_at(/)', refused: ENOSYS_OR_EPERM },
  // Kernel attack surface no judged program needs.
  { name: 'keyctl', attack: 'keyctl(KEYCTL_GET_KEYRING_ID)', refused: ENOSYS_OR_EPERM },
  { name: 'bpf', attack: 'bpf(BPF_MAP_CREATE)', refused: ENOSYS_OR_EPERM },
  { name: 'perf_event_open', attack: 'perf_event_open', refused: ENOSYS_OR_EPERM },
  { name: 'userfaultfd', attack: 'userfaultfd(0)', refused: ENOSYS_OR_EPERM },
  { name: 'io_uring_setup', attack: 'io_uring_setup(1)', refused: ENOSYS_OR_EPERM },
  { name: 'reboot', attack: 'reboot(CAD_OFF)', refused: ['EPERM'] },
  { name: 'swapon', attack: 'swapon', refused: ['EPERM'] },
  { name: 'kexec_load', attack: 'kexec_load', refused: ENOSYS_OR_EPERM },
  { name: 'init_module', attack: 'init_module', refused: ENOSYS_OR_EPERM },
  { name: 'acct', attack: 'acct(NULL)', refused: ENOSYS_OR_EPERM },
  { name: 'settimeofday', attack: 'settimeofday(NULL, NULL)', refused: ['EPERM'] },
  { name: 'iopl', attack: 'iopl(0)', refused: ENOSYS_OR_EPERM },
  // Other ABIs of the same kernel, which a filter written for x86_64 alone would miss. A kernel
  // without x32 says ENOSYS by itself; a filter refuses (ENOSYS/EPERM) or kills (SIGSYS).
  { name: 'x32-getpid', attack: 'getpid | 0x40000000 (x32 ABI)', refused: ['ENOSYS', 'EPERM', 'signal:SIGSYS'] },
  // i386 getpid through int 0x80: refused by the filter, or killed (SIGSYS by a filter's
  // KILL_PROCESS, SIGSEGV on a kernel without IA32 emulation).
  {
    name: 'int80-getpid',
    attack: 'getpid via int 0x80 (i386 ABI)',
    refused: ['ENOSYS', 'EPERM', 'signal:SIGSYS', 'signal:SIGSEGV'],
  },
  // Socket families beyond unix, IPv4, IPv6 and netlink routing: the filter answers what a
  // kernel without them says (the kernel alone would create most of these, or load a module).
  { name: 'socket-packet', attack: 'socket(AF_PACKET, SOCK_RAW)', refused: ['EAFNOSUPPORT'] },
  { name: 'socket-key', attack: 'socket(AF_KEY)', refused: ['EAFNOSUPPORT'] },
  { name: 'socket-bluetooth', attack: 'socket(AF_BLUETOOTH)', refused: ['EAFNOSUPPORT'] },
  { name: 'socket-alg', attack: 'socket(AF_ALG) (kernel crypto API)', refused: ['EAFNOSUPPORT'] },
  { name: 'socket-vsock', attack: 'socket(AF_VSOCK) (hypervisor sockets)', refused: ['EAFNOSUPPORT'] },
  { name: 'socket-xdp', attack: 'socket(AF_XDP)', refused: ['EAFNOSUPPORT'] },
  { name: 'netlink-audit', attack: 'socket(AF_NETLINK, NETLINK_AUDIT)', refused: ['EPROTONOSUPPORT'] },
  { name: 'netlink-uevent', attack: 'socket(AF_NETLINK, NETLINK_KOBJECT_UEVENT)', refused: ['EPROTONOSUPPORT'] },
  { name: 'netlink-xfrm', attack: 'socket(AF_NETLINK, NETLINK_XFRM)', refused: ['EPROTONOSUPPORT'] },
  { name: 'socketpair-inet', attack: 'socketpair(AF_INET)', refused: ['EAFNOSUPPORT'] },
  { name: 'socketpair-netlink', attack: 'socketpair(AF_NETLINK)', refused: ['EAFNOSUPPORT'] },
  // A set-id file created by open(O_CREAT) (the mode counts only when the call creates).
  { name: 'open-creat-setuid', attack: 'open(O_CREAT, 04755)', refused: ['EPERM'] },
];

describe.each(attackers.map((a) => [a.who, a.user] as const))('dangerous syscalls are refused, as %s', (_who, user) => {
  let sandbox: Sandbox;
  beforeAll(() => {
    sandbox = new Sandbox({ mounts: [probeMount()] });
  });
  afterAll(() => sandbox.destroy());

  it.each(rows.map((row) => [`${row.name}: ${row.attack} → ${row.refused.join(' | ')}`, row] as const))(
    '%s',
    async (_title, { name, refused }) => {
      const r = await sandbox.run([PROBE, 'try-syscall', name], { user, limits: { wallTime: '10s' } });
      expectRefused(r, refused);
    }
  );
});

// What the filter must not refuse: the families ordinary programs use, and open() with junk in
// the mode register when the flags do not create (the kernel ignores it; raw syscall() callers
// leave whatever was there), even under onViolation('kill').
const allowedRows = ['socket-inet6', 'netlink-route', 'socketpair-unix', 'open-junk-mode', 'openat-junk-mode'];

describe.each([
  ['errno', Seccomp.default()],
  ['kill', Seccomp.default().onViolation('kill')],
] as const)('ordinary calls pass the default policy (onViolation %s)', (_mode, seccomp) => {
  let sandbox: Sandbox;
  beforeAll(() => {
    sandbox = new Sandbox({ mounts: [probeMount()], security: { seccomp } });
  });
  afterAll(() => sandbox.destroy());

  it.each(allowedRows)('%s works', async (name) => {
    const r = await sandbox.run([PROBE, 'try-syscall', name], { limits: { wallTime: '10s' } });
    expect({ signal: r.signal, exitCode: r.exitCode, stdout: r.stdout }).toEqual({
      signal: null,
      exitCode: 0,
      stdout: `${name}=ok\n`,
    });
  });
});
