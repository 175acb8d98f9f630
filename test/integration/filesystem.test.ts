import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect } from 'vitest';
import { Image } from '../../src/index.js';
import { PROBE } from '../helpers/probe.js';
import { it, makeProbeImage } from '../helpers/sandboxes.js';

const EROFS = 30;
const ENOENT = 2;

function unique(): string {
  return `sandkit-test-${randomBytes(4).toString('hex')}`;
}

/** Every path under `dir` with its mode, size and content: equal snapshots mean untouched. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true })) {
    const path = join(dir, String(name));
    const st = statSync(path);
    out[relative(dir, path)] = `${st.mode} ${st.size} ${st.isFile() ? readFileSync(path, 'hex') : ''}`;
  }
  return out;
}

describe('writes land in the writable layer only', () => {
  it('writes to /etc and / succeed inside and never reach the host', async ({ sandbox }) => {
    const name = unique();
    const passwd = readFileSync('/etc/passwd', 'utf8');
    const sb = sandbox();
    const result = await sb.run([
      'sh',
      '-c',
      `echo one > /etc/${name} && mkdir /${name} && echo two > /${name}/f && echo x >> /etc/passwd && cat /etc/${name} /${name}/f`,
    ]);
    expect(result).toMatchObject({ exitCode: 0, stdout: 'one\ntwo\n' });
    expect(existsSync(`/etc/${name}`)).toBe(false);
    expect(existsSync(`/${name}`)).toBe(false);
    expect(readFileSync('/etc/passwd', 'utf8')).toBe(passwd);
  });

  it.for(['/usr/NAME', '/usr/bin/NAME', '/bin/NAME', '/usr/bin/env'])(
    'writing %s fails with EROFS',
    async (template, { sandbox }) => {
      const path = template.replace('NAME', unique());
      const result = await sandbox().run([PROBE, 'write', path]);
      expect(result.exitCode).toBe(EROFS);
      expect(result.stderr).toContain('Read-only file system');
      if (template.includes('NAME')) expect(existsSync(path)).toBe(false);
    }
  );

  it('files persist between runs of one sandbox, in /tmp and in the writable layer', async ({ sandbox }) => {
    const sb = sandbox();
    expect((await sb.run(['touch', '/tmp/x', '/etc/y'])).exitCode).toBe(0);
    const listed = await sb.run(['ls', '/tmp/x', '/etc/y']);
    expect(listed).toMatchObject({ exitCode: 0, stdout: '/etc/y\n/tmp/x\n' }); // ls sorts
  });

  it("two sandboxes of the host image do not see each other's writes or deletions", async ({ sandbox }) => {
    const name = unique();
    const a = sandbox();
    const b = sandbox();
    expect((await a.run(['sh', '-c', `echo a > /etc/${name}; echo a > /tmp/${name}; rm /etc/passwd`])).exitCode).toBe(
      0
    );
    const seen = await b.run([
      'sh',
      '-c',
      `test -e /etc/${name} || echo no-etc; test -e /tmp/${name} || echo no-tmp; grep -c ^root: /etc/passwd`,
    ]);
    expect(seen.stdout).toBe('no-etc\nno-tmp\n1\n');
    expect((await a.run(['test', '-e', '/etc/passwd'])).exitCode).toBe(1);
  });

  it('a directory image is never modified', async ({ sandbox, tempDir }) => {
    const dir = makeProbeImage(tempDir('sandkit-image-'));
    const before = snapshot(dir);
    const sb = sandbox({ image: Image.fromDirectory(dir) });
    const probe = (...args: string[]) => sb.run(['/bin/probe', ...args]);
    expect((await probe('write', '/etc/image-marker', 'changed\n')).exitCode).toBe(0);
    expect((await probe('write', '/new-file')).exitCode).toBe(0);
    expect((await probe('cat', '/etc/image-marker')).stdout).toBe('changed\n');
    expect((await probe('cat', '/new-file')).stdout).toBe('probe\n');
    expect(snapshot(dir)).toEqual(before);

    const other = sandbox({ image: Image.fromDirectory(dir) });
    expect((await other.run(['/bin/probe', 'cat', '/etc/image-marker'])).stdout).toBe('from the image\n');
    expect((await other.run(['/bin/probe', 'cat', '/new-file'])).exitCode).toBe(ENOENT);
  });

  it('a directory image holds only what it holds: no host /usr', async ({ sandbox, tempDir }) => {
    const sb = sandbox({ image: Image.fromDirectory(makeProbeImage(tempDir('sandkit-image-'))) });
    const result = await sb.run(['/bin/probe', 'ls', '/']);
    expect(result.stdout.split('\n')).not.toContain('usr');
    const sh = await sb.run(['sh', '-c', 'true']);
    expect(sh.exitCode).toBe(127);
  });

  it.for([
    { readonly: undefined, exitCode: EROFS },
    { readonly: true, exitCode: EROFS },
    { readonly: false, exitCode: 0 },
  ])(
    'a bind mount with readonly: $readonly gives exit $exitCode on write',
    async ({ readonly, exitCode }, { sandbox, tempDir }) => {
      const dir = tempDir('sandkit-mount-');
      writeFileSync(join(dir, 'existing'), 'host\n');
      const sb = sandbox({
        mounts: [{ source: dir, target: '/data', ...(readonly === undefined ? {} : { readonly }) }],
      });
      expect((await sb.run([PROBE, 'cat', '/data/existing'])).stdout).toBe('host\n');
      const result = await sb.run([PROBE, 'write', '/data/from-inside', 'inside\n']);
      expect(result.exitCode).toBe(exitCode);
      expect(existsSync(join(dir, 'from-inside'))).toBe(exitCode === 0);
    }
  );
});
