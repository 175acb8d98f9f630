import { describe, expect, it } from 'vitest';
import { SandboxJobError } from '../../src/errors/sandbox-error.js';
import { validateJob } from '../../src/queue/job.js';
import { verdictOf } from '../../src/queue/job-runner.js';
import { decodeError, encodeError } from '../../src/queue/connection.js';
import type { SpawnResult } from '../../src/process/spawn-result.js';

function fieldOf(payload: unknown): string | undefined {
  try {
    validateJob(payload);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(SandboxJobError);
    expect((err as SandboxJobError).reason).toBe('invalid');
    return (err as SandboxJobError).field;
  }
}

describe('validateJob', () => {
  it('accepts the judge shape and the minimal one', () => {
    expect(fieldOf({ steps: [{ cmd: ['true'] }] })).toBeUndefined();
    expect(
      fieldOf({
        image: 'gcc-12',
        files: { '/src/a.c': 'int main(){}' },
        steps: [{ cmd: ['gcc', '/src/a.c'], limits: { wallTime: '10s' }, snapshotAfter: true }],
        run: ['/a.out'],
        tests: [{ stdin: '1', expect: '2', limits: { cpuTime: '1s', memory: '64M' } }, { cmd: ['/a.out', 'x'] }],
        limits: { memory: '512M' },
      })
    ).toBeUndefined();
  });

  it('names the field of every kind of bad payload', () => {
    expect(fieldOf(null)).toBe('job');
    expect(fieldOf([])).toBe('job');
    expect(fieldOf({})).toBe('job.steps');
    expect(fieldOf({ steps: [{}] })).toBe('job.steps[0].cmd');
    expect(fieldOf({ steps: [{ cmd: [] }] })).toBe('job.steps[0].cmd');
    expect(fieldOf({ steps: [{ cmd: ['a\0b'] }] })).toBe('job.steps[0].cmd[0]');
    expect(fieldOf({ steps: [{ cmd: ['true'], stdin: 5 }] })).toBe('job.steps[0].stdin');
    expect(fieldOf({ steps: [{ cmd: ['true'], limits: { memory: 'lots' } }] })).toBe('job.steps[0].limits');
    expect(fieldOf({ steps: [{ cmd: ['true'], snapshotAfter: 'yes' }] })).toBe('job.steps[0].snapshotAfter');
    expect(fieldOf({ steps: [{ cmd: ['true'], bogus: 1 }] })).toBe('job.steps[0].bogus');
    expect(fieldOf({ steps: [{ cmd: ['true'] }], files: { '/a/../../etc/x': '' } })).toBe(
      'job.files["/a/../../etc/x"]'
    );
    expect(fieldOf({ steps: [{ cmd: ['true'] }], files: { '/a': 1 } })).toBe('job.files["/a"]');
    expect(fieldOf({ steps: [{ cmd: ['true'] }], tests: [{}] })).toBe('job.tests[0].cmd');
    expect(fieldOf({ steps: [{ cmd: ['true'] }], run: ['x'], tests: [{ expect: 3 }] })).toBe('job.tests[0].expect');
    expect(fieldOf({ steps: [{ cmd: ['true'] }], limits: { pids: -1 } })).toBe('job.limits');
    expect(fieldOf({ steps: [{ cmd: ['true'] }], image: '' })).toBe('job.image');
    expect(fieldOf({ steps: Array.from({ length: 65 }, () => ({ cmd: ['true'] })) })).toBe('job.steps');
  });
});

describe('verdictOf', () => {
  const r = (status: SpawnResult['status'], stdout = '') => ({ status, stdout }) as SpawnResult;
  it('maps statuses and compares output the way judges do', () => {
    expect(verdictOf(r('ok', '3\n'), '3')).toBe('accepted');
    expect(verdictOf(r('ok', '1 2  \n3\n\n'), '1 2\n3')).toBe('accepted');
    expect(verdictOf(r('ok', '4\n'), '3')).toBe('wrong-answer');
    expect(verdictOf(r('ok', 'anything'), undefined)).toBe('accepted');
    expect(verdictOf(r('time-limit'), '3')).toBe('time-limit');
    expect(verdictOf(r('wall-time-limit'), '3')).toBe('time-limit');
    expect(verdictOf(r('memory-limit'), '3')).toBe('memory-limit');
    expect(verdictOf(r('output-limit'), '3')).toBe('output-limit');
    for (const s of ['nonzero-exit', 'signaled', 'security-violation', 'file-size-limit'] as const)
      expect(verdictOf(r(s), '3')).toBe('runtime-error');
  });
});

describe('errors on the wire', () => {
  it('round-trips a typed failure and bounds foreign reasons', () => {
    expect(decodeError(encodeError({ kind: 'invalid', message: 'm', field: 'job.steps' }))).toEqual({
      kind: 'invalid',
      message: 'm',
      field: 'job.steps',
    });
    expect(decodeError('job stalled more than allowable limit')).toEqual({
      kind: 'failed',
      message: 'job stalled more than allowable limit',
    });
    expect(decodeError('sandkit-job-error:{not json').kind).toBe('failed');
    expect(decodeError('x'.repeat(1e6)).message.length).toBe(65536);
  });
});
