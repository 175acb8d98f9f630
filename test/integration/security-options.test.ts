import { describe, expect } from 'vitest';
import { Sandbox, Seccomp, SandboxOptionsError } from '../../src/index.js';
import { isRoot, requireFeature } from '../helpers/require-feature.js';
import { it, lines } from '../helpers/sandboxes.js';

// The plumbing of `security` from options to the helper: defaults on, each field overridable
// per sandbox and per spawn. The attacks themselves live in test/security/.
const capLine = (status: string, name: string) =>
  lines(status)
    .find((l) => l.startsWith(`${name}:`))
    ?.split(/\s+/)[1];

describe('security defaults', () => {
  it('a spawn has no capabilities, no_new_privs and a seccomp filter', async ({ sandbox }) => {
    const r = await sandbox().run(['cat', '/proc/self/status']);
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'])
      expect(capLine(r.stdout, set), set).toBe('0000000000000000');
    expect(capLine(r.stdout, 'NoNewPrivs')).toBe('1');
    expect(capLine(r.stdout, 'Seccomp')).toBe('2');
  });

  it('ordinary programs still work: sh, pipes, ps, dd, python3, threads', async ({ sandbox }) => {
    const sb = sandbox();
    const r = await sb.run([
      'sh',
      '-c',
      'echo hi | cat; dd if=/dev/zero of=/tmp/z bs=1k count=4 2>/dev/null && wc -c </tmp/z; ps -o pid= -p $$ | tr -d " "',
    ]);
    expect(r.status).toBe('ok');
    expect(lines(r.stdout)).toEqual(['hi', '4096', expect.stringMatching(/^\d+$/)]);
    const py = await sb.run([
      'sh',
      '-c',
      "command -v python3 >/dev/null || { echo skip; exit 0; }; python3 -c \"import threading, subprocess; t=threading.Thread(target=print, args=('thread',)); t.start(); t.join(); print(subprocess.run(['true']).returncode)\"",
    ]);
    expect(py.status).toBe('ok');
    if (py.stdout !== 'skip\n') expect(py.stdout).toBe('thread\n0\n');
  });

  it("masks Docker's /proc paths and makes /proc/sys read-only", async ({ sandbox }) => {
    const r = await sandbox().run([
      'sh',
      '-c',
      'wc -c </proc/timer_list; ls -A /proc/acpi | wc -l; echo 1 >/proc/sys/kernel/ns_last_pid 2>/dev/null && echo writable || echo ro; cat /proc/sys/kernel/ostype',
    ]);
    expect(lines(r.stdout)).toEqual(['0', '0', 'ro', 'Linux']);
  });
});

describe('security options', () => {
  it('seccomp: unconfined, noNewPrivs: false, a kept capability', async ({ sandbox }) => {
    const sb = sandbox({
      security: { seccomp: 'unconfined', noNewPrivs: false, capabilities: ['CAP_NET_BIND_SERVICE'] },
    });
    const r = await sb.run(['cat', '/proc/self/status']);
    expect(capLine(r.stdout, 'Seccomp')).toBe('0');
    expect(capLine(r.stdout, 'NoNewPrivs')).toBe('0');
    for (const set of ['CapPrm', 'CapEff', 'CapBnd', 'CapAmb'])
      expect(capLine(r.stdout, set), set).toBe('0000000000000400');
  });

  it('a spawn overrides the sandbox field by field', async ({ sandbox }) => {
    const sb = sandbox({ security: { seccomp: 'unconfined' } });
    const a = await sb.run(['cat', '/proc/self/status']);
    const b = await sb.run(['cat', '/proc/self/status'], { security: { seccomp: Seccomp.default() } });
    expect(capLine(a.stdout, 'Seccomp')).toBe('0');
    expect(capLine(b.stdout, 'Seccomp')).toBe('2');
    expect(capLine(b.stdout, 'NoNewPrivs')).toBe('1');
  });

  it('a non-root user keeps a capability through exec (ambient set)', async ({ sandbox, task, skip }) => {
    requireFeature(
      { task, skip } as never,
      isRoot,
      'needs uid 65534 mapped in the sandbox (a rootless helper maps only uid 0)'
    );
    const r = await sandbox().run(['cat', '/proc/self/status'], {
      user: 65534,
      security: { capabilities: ['CAP_NET_BIND_SERVICE'] },
    });
    expect(r.status).toBe('ok');
    expect(capLine(r.stdout, 'Uid')).toBe('65534');
    for (const set of ['CapPrm', 'CapEff', 'CapAmb']) expect(capLine(r.stdout, set), set).toBe('0000000000000400');
  });

  it.for([
    { name: 'errno', policy: Seccomp.default(), status: 'nonzero-exit' },
    { name: 'kill', policy: Seccomp.default().onViolation('kill'), status: 'security-violation' },
  ])('a denied call under $name', async ({ policy, status }, { sandbox }) => {
    const r = await sandbox({ security: { seccomp: policy } }).run(['unshare', '-U', 'true']);
    expect(r.status).toBe(status);
    if (status === 'security-violation') expect(r.signal).toBe('SIGSYS');
  });

  it('deny() and allow() change what the program may call', async ({ sandbox }) => {
    const sb = sandbox();
    const denied = await sb.run(['sh', '-c', 'echo x > /tmp/f && chmod 600 /tmp/f'], {
      security: { seccomp: Seccomp.default().deny(['chmod', 'fchmodat', 'fchmodat2']) },
    });
    expect(denied.status).toBe('nonzero-exit');
    expect(denied.stderr).toMatch(/Operation not permitted/);
    const allowed = await sb.run(['sh', '-c', 'unshare -U true && echo ok'], {
      security: { seccomp: Seccomp.default().allow('unshare') },
    });
    expect(allowed.stdout).toBe('ok\n');
  });

  it('masks can be changed or turned off', async ({ sandbox }) => {
    const sb = sandbox({ security: { maskedPaths: ['/proc/version'], readonlyPaths: [] } });
    const r = await sb.run([
      'sh',
      '-c',
      'wc -c </proc/version; grep -c " /proc/timer_list " /proc/self/mountinfo; grep -c " /proc/sys " /proc/self/mountinfo',
    ]);
    expect(lines(r.stdout)).toEqual(['0', '0', '0']);
  });

  it.for([
    [{ security: { seccomp: 'strict' } }, 'security.seccomp'],
    [{ security: { capabilities: ['CAP_NOPE'] } }, 'security.capabilities[0]'],
    [{ security: { noNewPrivs: 'yes' } }, 'security.noNewPrivs'],
    [{ security: { noNewPrivs: false } }, 'security.noNewPrivs'],
    [{ security: { maskedPaths: ['proc/kcore'] } }, 'security.maskedPaths[0]'],
    [{ security: { bogus: 1 } }, 'security.bogus'],
  ] as const)('%j is rejected naming %s', ([options, field]) => {
    expect(() => new Sandbox(options as never)).toThrowError(SandboxOptionsError);
    try {
      new Sandbox(options as never);
    } catch (err) {
      expect((err as SandboxOptionsError).field).toBe(field);
    }
  });

  it('a bad spawn security option throws synchronously from spawn()', ({ sandbox }) => {
    const sb = sandbox({ security: { seccomp: 'unconfined' } });
    expect(() => sb.spawn(['true'], { security: { capabilities: ['NOPE' as never] } })).toThrowError(
      /security.capabilities\[0\]/
    );
    expect(() => sb.spawn(['true'], { security: { noNewPrivs: false } })).not.toThrow();
  });
});
