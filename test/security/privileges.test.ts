import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect } from 'vitest';
import type { Sandbox } from '../../src/index.js';
import { isRoot } from '../helpers/require-feature.js';
import { PROBE, probePath } from '../helpers/probe.js';
import { it } from '../helpers/sandboxes.js';
import { attackers, capabilitiesOf, outcomeOf } from '../helpers/security-outcomes.js';

const CAP_NET_RAW = 13n;
const CAP_SYS_ADMIN = 21n;
const FILE_CAPS = 'cap_net_raw,cap_sys_admin+ep';
const setcap = ['/usr/sbin/setcap', '/sbin/setcap', '/usr/bin/setcap'].find((p) => existsSync(p));

beforeAll(() => {
  // The rows below need setcap on the host (and, through the host image, inside).
  expect(setcap, 'setcap (libcap2-bin) is needed by this suite').toBeDefined();
});

/**
 * Where a privileged binary comes from: made inside by the sandbox's root (in /tmp, in the
 * overlay's writable layer, in /dev/shm), or prepared on the host by the embedder and bound in.
 * A setuid binary is owned by root inside: uid 0 on a root host, the host user itself rootless
 * (who is root inside). File capabilities need CAP_SETFCAP on the host: only a root host has it.
 */
const origins: Array<[origin: string, dir: string]> = [
  ['made inside in /tmp (tmpfs)', '/tmp'],
  ['made inside in /var/tmp (the overlay)', '/var/tmp'],
  ['made inside in /dev/shm', '/dev/shm'],
  [
    `prepared on the host (${isRoot ? 'setuid root and file capabilities' : 'setuid to the host user, root inside; no file capabilities without root'}), bound in`,
    '/host-bin',
  ],
];

/** Makes `suid` (setuid root) and `fcap` (file capabilities) copies of the probe in `dir` on the host. */
function prepareOnHost(dir: string): void {
  for (const name of ['suid', 'fcap']) copyFileSync(probePath(), join(dir, name));
  chmodSync(join(dir, 'suid'), 0o4755);
  chmodSync(join(dir, 'fcap'), 0o755);
  if (isRoot) execFileSync(setcap!, [FILE_CAPS, join(dir, 'fcap')]);
  chmodSync(dir, 0o755);
}

/**
 * The same, inside, as the sandbox's root; setcap may rightly fail there (no CAP_SETFCAP). The
 * default seccomp policy refuses set-id mode bits, so the setup keeps CAP_FSETID to get the
 * attack in place; the attack itself then runs under the defaults.
 */
async function prepareInside(sb: Sandbox, dir: string): Promise<void> {
  const r = await sb.run(
    [
      'sh',
      '-c',
      `cp ${PROBE} ${dir}/suid && chmod 4755 ${dir}/suid && cp ${PROBE} ${dir}/fcap && { setcap ${FILE_CAPS} ${dir}/fcap || true; }`,
    ],
    { security: { capabilities: ['CAP_FSETID'] } }
  );
  expect(r.exitCode, r.stderr).toBe(0);
}

describe.each(attackers.map((a) => [a.who, a.user] as const))(
  'setuid binaries and file capabilities gain nothing, as %s',
  (_who, user) => {
    it.for(origins)('%s', async ([, dir], { sandbox, tempDir }) => {
      let sb: Sandbox;
      if (dir === '/host-bin') {
        const host = tempDir('sandkit-suid-');
        prepareOnHost(host);
        sb = sandbox({ mounts: [{ source: host, target: dir, readonly: true }] });
      } else {
        sb = sandbox();
        await prepareInside(sb, dir);
      }
      const run = (argv: string[]) => sb.run(argv, { user, limits: { wallTime: '10s' } });
      const listing = await sb.run(['ls', '-ln', `${dir}/suid`]);
      expect(listing.stdout, 'the attack is set up: a setuid-root binary').toMatch(/^-rwsr-xr-x \d+ 0 /);

      const self = capabilitiesOf((await run([PROBE, 'cat', '/proc/self/status'])).stdout);
      const selfRaw = outcomeOf(await run([PROBE, 'try-syscall', 'raw-socket']));
      for (const bin of ['suid', 'fcap']) {
        const ids = await run([`${dir}/${bin}`, 'ids']);
        if (bin === 'fcap' && dir === '/host-bin' && isRoot) {
          // Real file capabilities (effective bit) that exec cannot grant: the kernel refuses to run it.
          expect(ids.execError?.errnoCode, `${bin} ran: ${ids.stdout}`).toBe('EPERM');
          continue;
        }
        expect(ids.stdout, `${bin}: uid and euid stay the caller's`).toMatch(
          new RegExp(`^uid=${user} gid=${user} euid=${user} egid=${user} `)
        );
        const caps = capabilitiesOf((await run([`${dir}/${bin}`, 'cat', '/proc/self/status'])).stdout);
        expect(caps.CapEff & ~self.CapEff, `${bin}: effective capabilities beyond the caller's`).toBe(0n);
        expect(caps.CapPrm & ~self.CapPrm, `${bin}: permitted capabilities beyond the caller's`).toBe(0n);
        expect((caps.CapEff >> CAP_SYS_ADMIN) & 1n, `${bin}: CAP_SYS_ADMIN`).toBe(0n);
        expect(outcomeOf(await run([`${dir}/${bin}`, 'try-syscall', 'raw-socket'])), `${bin}: a raw socket`).toBe(
          selfRaw
        );
      }
      // The uid that cannot open raw sockets by itself still cannot (CAP_NET_RAW from the file).
      if ((self.CapEff >> CAP_NET_RAW) & 1n) return;
      expect(selfRaw).toBe('EPERM');
    });
  }
);

describe.each(attackers.map((a) => [a.who, a.user] as const))(
  'a writable bind mount cannot be used to plant a privileged binary on the host, as %s',
  (_who, user) => {
    it('a setuid binary made inside is not setuid root on the host', async ({ sandbox, tempDir }) => {
      const host = tempDir('sandkit-plant-');
      chmodSync(host, 0o777);
      const sb = sandbox({ mounts: [{ source: host, target: '/data', readonly: false }] });
      await sb.run(['sh', '-c', `cp ${PROBE} /data/suid; chmod 4755 /data/suid`], { user });
      // Only stat it: never run a planted binary on the host.
      const st = statSync(join(host, 'suid'), { throwIfNoEntry: false });
      const plantedRoot = st !== undefined && st.uid === 0 && (st.mode & 0o4000) !== 0;
      expect(plantedRoot, st ? `uid ${st.uid} mode ${st.mode.toString(8)}` : 'absent').toBe(false);
    });
  }
);
