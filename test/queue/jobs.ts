// The jobs of the cluster tests, each with the verdict it must come back with. Most are shell
// one-liners (cheap); a handful compile C with gcc, as a judge does.
import type { RunJob, RunVerdict } from '../../src/queue/index.js';

export interface JobCase {
  kind: string;
  job: RunJob;
  verdict: RunVerdict;
  /** Needs a memory cgroup (absent rootless here). */
  needsMemoryCgroup?: boolean;
}

const sum = ['sh', '-c', 'read a b; echo $((a + b))'];

const C_SUM =
  '#include <stdio.h>\nint main(void){long a,b;if(scanf("%ld %ld",&a,&b)!=2)return 2;printf("%ld\\n",a+b);return 0;}\n';
const C_SEGV = 'int main(void){volatile int *p = 0; return *p;}\n';
const C_LOOP = 'int main(void){volatile unsigned long n = 0; for(;;) n++;}\n';
const C_HOG =
  '#include <stdlib.h>\n#include <string.h>\nint main(void){for(int i=0;i<64;i++){char *p=malloc(16<<20); if(!p) return 3; memset(p,1,16<<20);} return 0;}\n';

function cJob(source: string, tests: RunJob['tests']): RunJob {
  return {
    files: { '/src/main.c': source },
    steps: [{ cmd: ['gcc', '-O2', '-o', '/src/main', '/src/main.c'], snapshotAfter: true }],
    run: ['/src/main'],
    tests,
  };
}

/** One job of each kind, by name. */
export const CASES: Record<string, () => JobCase> = {
  accepted: () => ({
    kind: 'accepted',
    verdict: 'accepted',
    job: { steps: [{ cmd: ['true'] }], run: sum, tests: [{ stdin: '2 3', expect: '5\n' }] },
  }),
  'steps-only': () => ({ kind: 'steps-only', verdict: 'accepted', job: { steps: [{ cmd: ['sh', '-c', 'echo hi'] }] } }),
  'wrong-answer': () => ({
    kind: 'wrong-answer',
    verdict: 'wrong-answer',
    job: {
      steps: [{ cmd: ['true'] }],
      run: ['sh', '-c', 'read a b; echo $((a * b))'],
      tests: [{ stdin: '2 3', expect: '5' }],
    },
  }),
  'time-limit': () => ({
    kind: 'time-limit',
    verdict: 'time-limit',
    job: { steps: [{ cmd: ['true'] }], run: ['sleep', '30'], tests: [{ limits: { wallTime: '300ms' } }] },
  }),
  'runtime-error': () => ({
    kind: 'runtime-error',
    verdict: 'runtime-error',
    job: { steps: [{ cmd: ['true'] }], run: ['sh', '-c', 'echo partial; exit 3'], tests: [{ stdin: '' }] },
  }),
  'compile-error': () => ({
    kind: 'compile-error',
    verdict: 'compile-error',
    job: {
      steps: [{ cmd: ['sh', '-c', 'echo "main.c:1:1: error: expected ;" >&2; exit 1'] }],
      run: sum,
      tests: [{ stdin: '1 1' }],
    },
  }),
  'memory-limit': () => ({
    kind: 'memory-limit',
    verdict: 'memory-limit',
    needsMemoryCgroup: true,
    job: {
      steps: [{ cmd: ['true'] }],
      run: ['tail', '/dev/zero'],
      tests: [{ limits: { memory: '32M', wallTime: '20s' } }],
    },
  }),
  // A second or so of wall time: keeps jobs in flight when a worker is killed.
  slow: () => ({
    kind: 'slow',
    verdict: 'accepted',
    job: { steps: [{ cmd: ['sleep', '1'] }], run: sum, tests: [{ stdin: '40 2', expect: '42' }] },
  }),
  'c-accepted': () => ({
    kind: 'c-accepted',
    verdict: 'accepted',
    job: cJob(C_SUM, [
      { stdin: '1 2', expect: '3' },
      { stdin: '-5 5', expect: '0' },
      { stdin: '1000000000 1000000000', expect: '2000000000' },
    ]),
  }),
  'c-wrong-answer': () => ({
    kind: 'c-wrong-answer',
    verdict: 'wrong-answer',
    job: cJob(C_SUM, [
      { stdin: '1 2', expect: '3' },
      { stdin: '2 2', expect: '5' },
    ]),
  }),
  'c-compile-error': () => ({
    kind: 'c-compile-error',
    verdict: 'compile-error',
    job: cJob('int main(void) { return 0 }\n', [{ stdin: '' }]),
  }),
  'c-runtime-error': () => ({ kind: 'c-runtime-error', verdict: 'runtime-error', job: cJob(C_SEGV, [{ stdin: '' }]) }),
  'c-time-limit': () => ({
    kind: 'c-time-limit',
    verdict: 'time-limit',
    job: cJob(C_LOOP, [{ limits: { cpuTime: '300ms', wallTime: '20s' } }]),
  }),
  'c-memory-limit': () => ({
    kind: 'c-memory-limit',
    verdict: 'memory-limit',
    needsMemoryCgroup: true,
    job: cJob(C_HOG, [{ limits: { memory: '64M', wallTime: '20s' } }]),
  }),
};

const SHELL_ROTATION = [
  'accepted',
  'steps-only',
  'wrong-answer',
  'accepted',
  'runtime-error',
  'compile-error',
  'accepted',
  'time-limit',
  'wrong-answer',
  'slow',
];
const C_KINDS = [
  'c-accepted',
  'c-wrong-answer',
  'c-compile-error',
  'c-runtime-error',
  'c-time-limit',
  'c-memory-limit',
];

/** `count` jobs: the C kinds spread out once each, memory rows every 25th, shell kinds between. */
export function jobMix(count: number, memoryCgroups: boolean): JobCase[] {
  const out: JobCase[] = [];
  const cEvery = Math.floor(count / C_KINDS.length);
  for (let i = 0; i < count; i++) {
    let kind = SHELL_ROTATION[i % SHELL_ROTATION.length]!;
    if (i % 25 === 12) kind = 'memory-limit';
    if (i % cEvery === 3 && i / cEvery < C_KINDS.length) kind = C_KINDS[Math.floor(i / cEvery)]!;
    const c = CASES[kind]!();
    if (c.needsMemoryCgroup && !memoryCgroups) {
      out.push(CASES.accepted!());
      continue;
    }
    out.push(c);
  }
  return out;
}
