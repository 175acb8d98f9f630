// The judge's front end: submits C submissions (compile once, snapshot, then one fresh sandbox
// per test case) and prints each verdict as the results come back from whichever worker ran it.
//   node examples/run.mjs judge-cluster/producer --redis redis://127.0.0.1:6379 --queue judge --count 20
import { parseArgs } from 'node:util';
import { RunQueue, SandboxJobError, type RunJob } from 'sandkit/queue';

const { values } = parseArgs({
  options: {
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    queue: { type: 'string', default: 'judge' },
    count: { type: 'string', default: '20' },
  },
});

const SOLUTIONS: Record<string, string> = {
  correct: '#include <stdio.h>\nint main(void){long a,b;scanf("%ld %ld",&a,&b);printf("%ld\\n",a+b);}\n',
  wrong: '#include <stdio.h>\nint main(void){long a,b;scanf("%ld %ld",&a,&b);printf("%ld\\n",a*b);}\n',
  slow: 'int main(void){volatile unsigned long n=0;for(;;)n++;}\n',
  crash: 'int main(void){volatile int *p=0;return *p;}\n',
  broken: 'int main(void){ return 0 }\n',
};

/** A submission as a job: the source, a compile step, the test cases with their limits. */
function submission(source: string): RunJob {
  const limits = { cpuTime: '1s', wallTime: '3s' };
  return {
    files: { '/src/main.c': source },
    steps: [
      { cmd: ['gcc', '-O2', '-o', '/src/main', '/src/main.c'], limits: { wallTime: '30s' }, snapshotAfter: true },
    ],
    run: ['/src/main'],
    tests: [
      { stdin: '1 2', expect: '3', limits },
      { stdin: '2 2', expect: '4', limits },
      { stdin: '-7 7', expect: '0', limits },
    ],
  };
}

const queue = new RunQueue({ connection: values.redis!, name: values.queue! });
const names = Object.keys(SOLUTIONS);
const t0 = performance.now();
const jobs = await Promise.all(
  Array.from({ length: Number(values.count) }, async (_, i) => {
    const name = names[i % names.length]!;
    return { name, handle: await queue.submit(submission(SOLUTIONS[name]!)) };
  })
);
console.log(`submitted ${jobs.length} submissions to ${values.queue}`);
const byWorker = new Map<string, number>();
await Promise.all(
  jobs.map(async ({ name, handle }) => {
    try {
      const r = await handle.result();
      byWorker.set(r.worker.id, (byWorker.get(r.worker.id) ?? 0) + 1);
      const cpu = r.tests.map((t) => `${t.cpuTimeMs.total.toFixed(0)}ms`).join(' ');
      console.log(`#${handle.id} ${name}: ${r.verdict} on ${r.worker.id}${cpu ? ` (cpu ${cpu})` : ''}`);
    } catch (err) {
      console.log(
        `#${handle.id} ${name}: ${err instanceof SandboxJobError ? `${err.reason}: ${err.message}` : String(err)}`
      );
    }
  })
);
console.log(
  `${jobs.length} results in ${((performance.now() - t0) / 1000).toFixed(1)} s; per worker: ${JSON.stringify(Object.fromEntries(byWorker))}`
);
await queue.close();
