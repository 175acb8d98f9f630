import { describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session, isSessionAlive, processStartTime, sweepStaleSessions } from '../../src/platform/session.js';
import { OutputCollector } from '../../src/process/output-collector.js';

describe('sessions', () => {
  it('sweeps sessions whose owner died, keeps live and just-created ones', () => {
    const root = mkdtempSync(join(tmpdir(), 'sandkit-state-'));
    try {
      const dead = join(root, 'sessions', 'dead');
      mkdirSync(join(dead, 'sb-1', 'work', 'work'), { recursive: true });
      chmodSync(join(dead, 'sb-1', 'work', 'work'), 0); // as overlayfs leaves it
      writeFileSync(join(dead, 'owner.json'), JSON.stringify({ pid: 2 ** 22 + 1, startTime: '1' }));
      const reused = join(root, 'sessions', 'reused');
      mkdirSync(reused, { recursive: true });
      writeFileSync(join(reused, 'owner.json'), JSON.stringify({ pid: process.pid, startTime: 'not-ours' }));
      const orphan = join(root, 'sessions', 'orphan');
      mkdirSync(orphan);
      utimesSync(orphan, new Date(0), new Date(0));
      const young = join(root, 'sessions', 'young');
      mkdirSync(young);

      const live = Session.open(root);
      expect(existsSync(dead)).toBe(false);
      expect(existsSync(reused)).toBe(false);
      expect(existsSync(orphan)).toBe(false);
      expect(existsSync(young)).toBe(true);
      expect(existsSync(live.dir)).toBe(true);
      expect(sweepStaleSessions(root)).toBe(0);
      live.removeSync();
      expect(existsSync(live.dir)).toBe(false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('tells live session ids from dead and reused ones, whatever the state directory', () => {
    const root = mkdtempSync(join(tmpdir(), 'sandkit-state-'));
    try {
      const s = Session.open(root);
      expect(s.id).toMatch(new RegExp(`^${process.pid}-\\d+-[0-9a-f]{6}$`));
      expect(isSessionAlive(s.id)).toBe(true);
      // Writable layers live below: nobody else on the host may reach them.
      expect(statSync(join(root, 'sessions')).mode & 0o777).toBe(0o700);
      expect(statSync(s.dir).mode & 0o777).toBe(0o700);
      expect(isSessionAlive(`${process.pid}-1-abcdef`)).toBe(false); // same pid, other start: reused
      expect(isSessionAlive(`${2 ** 22 + 1}-5-abcdef`)).toBe(false);
      s.removeSync();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reads process start times', () => {
    expect(processStartTime(process.pid)).toMatch(/^\d+$/);
    expect(processStartTime(2 ** 22 + 1)).toBeNull();
  });
});

describe('OutputCollector', () => {
  it('keeps the first bytes and counts the rest', () => {
    const c = new OutputCollector(5);
    c.push(Buffer.from('abc'));
    c.push(Buffer.from('defgh'));
    expect(c.text()).toBe('abcde');
    expect(c.truncated).toBe(true);
    expect(c.totalBytes).toBe(8);
    const d = new OutputCollector(10);
    d.push(Buffer.from('é'));
    expect(d.text()).toBe('é');
    expect(d.truncated).toBe(false);
  });
});
