import { spawn } from 'node:child_process';
import { describe, expect } from 'vitest';
import { parsePublish } from '../../src/cli/network-commands.js';
import { CliUsageError } from '../../src/cli/command.js';
import { dist } from '../helpers/dist.js';
import { runCli } from '../helpers/cli.js';
import { sandkitLinks } from '../helpers/network.js';
import { isRoot } from '../helpers/require-feature.js';
import { it } from '../helpers/sandboxes.js';

const cli = (args: string[], env: Record<string, string>) => runCli(args, { env });

describe('sandkit CLI: -p and networks', () => {
  it("-p takes Docker's syntax", () => {
    expect(parsePublish('80')).toEqual({ sandbox: 80, host: 0, protocol: 'tcp' });
    expect(parsePublish('8080:80')).toEqual({ sandbox: 80, host: 8080, protocol: 'tcp' });
    expect(parsePublish('127.0.0.1:8080:80/udp')).toEqual({
      sandbox: 80,
      host: 8080,
      protocol: 'udp',
      hostAddress: '127.0.0.1',
    });
    for (const bad of ['', 'x', '80/sctp', '1:2:3:4', '80/tcp/x', ':80', '0', '70000', '70000:80', '8080:0'])
      expect(() => parsePublish(bad), bad).toThrow(CliUsageError);
  });

  it('a bad -p is one usage line naming it, exit 2', async () => {
    for (const bad of ['abc', '70000', '80/sctp']) {
      const res = await cli(['run', '-p', bad, '--', 'true'], {});
      expect(res.status, res.stderr).toBe(2);
      expect(res.stderr).toBe(
        `sandkit run: --publish: expected [host-address:][host-port:]sandbox-port[/tcp|udp], got "${bad}" (see sandkit run --help)\n`
      );
    }
  });

  // As root the real thing; rootless, the typed refusal (a bridge needs root), never a skip.
  if (!isRoot) {
    it('rootless, network create fails naming what it needs', async ({ tempDir }) => {
      const res = await cli(['network', 'create', 'cli-fixtures'], { SANDKIT_STATE_DIR: tempDir() });
      expect(res.status).toBe(125);
      expect(res.stderr).toMatch(/network bridge: Network.create needs root/);
    });
  }

  it.runIf(isRoot)(
    'network create makes a network that outlives the command; run --network joins it; rm removes it',
    async ({ tempDir }) => {
      const env = { SANDKIT_STATE_DIR: tempDir() };
      const created = await cli(['network', 'create', 'cli-fixtures'], env);
      expect(created.status).toBe(0);
      const [name, subnet] = created.stdout.trim().split(' ');
      expect(name).toBe('cli-fixtures');
      const linksBefore = sandkitLinks();
      try {
        const ls = await cli(['network', 'ls', '--json'], env);
        expect(JSON.parse(ls.stdout)).toEqual([
          expect.objectContaining({ name, subnet, persistent: true, sandboxes: 0 }),
        ]);
        const run = await cli(
          ['run', '--network', 'cli-fixtures', '--', 'sh', '-c', 'ip -4 -o addr show eth0 | awk "{print \\$4}"'],
          env
        );
        expect(run.status).toBe(0);
        expect(run.stdout.trim().replace(/\.\d+\//, '.0/')).toBe(subnet);
      } finally {
        const rm = await cli(['network', 'rm', 'cli-fixtures'], env);
        expect(rm.status).toBe(0);
      }
      expect(sandkitLinks().length).toBeLessThan(linksBefore.length); // its bridge went
      expect((await cli(['network', 'rm', 'cli-fixtures'], env)).status).toBe(1);
      expect(JSON.parse((await cli(['network', 'ls', '--json'], env)).stdout)).toEqual([]);
    }
  );

  it('run -p publishes on a free host port, printed, and serves the host until the command ends (no network: loopback only)', async ({
    tempDir,
  }) => {
    const env = { SANDKIT_STATE_DIR: tempDir() };
    const child = spawn(
      process.execPath,
      [dist.cli, 'run', '-p', '8000', '--', 'python3', '-m', 'http.server', '8000', '--bind', '0.0.0.0'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, timeout: 30_000, killSignal: 'SIGKILL' }
    );
    const closed = new Promise<number | null>((resolve) => child.once('close', resolve));
    let stderr = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        const m = /published 127\.0\.0\.1:(\d+) -> 8000\/tcp/.exec(stderr);
        if (m) resolve(Number(m[1]));
      });
      child.once('close', () => reject(new Error(`exited: ${stderr}`)));
    });
    let body = '';
    for (let i = 0; i < 100 && !body; i++) {
      body = await fetch(`http://127.0.0.1:${port}/`).then(
        (r) => r.text(),
        () => ''
      );
      if (!body) await new Promise((r) => setTimeout(r, 100));
    }
    expect(body).toContain('Directory listing');
    child.kill('SIGINT');
    expect(await closed).toBe(0); // http.server ends on SIGINT with status 0, and the CLI returns it
    expect(
      await fetch(`http://127.0.0.1:${port}/`).then(
        () => 'open',
        () => 'closed'
      )
    ).toBe('closed');
  });
});
