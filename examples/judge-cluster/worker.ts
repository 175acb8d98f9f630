// A worker of the judge cluster: takes jobs from the queue and runs them in sandboxes. Start one
// per machine (or several on one), all pointed at the same Redis.
//   node examples/run.mjs judge-cluster/worker --redis redis://127.0.0.1:6379 --queue judge
import { parseArgs } from 'node:util';
import { RunWorker } from 'sandkit/queue';

const { values } = parseArgs({
  options: {
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    queue: { type: 'string', default: 'judge' },
    concurrency: { type: 'string' },
    id: { type: 'string' },
  },
});

const worker = new RunWorker({
  connection: values.redis!,
  name: values.queue!,
  ...(values.concurrency ? { concurrency: Number(values.concurrency) } : {}),
  ...(values.id ? { id: values.id } : {}),
  // Rootless hosts have no cgroups for the time limits: fall back to rlimits there.
  ...(process.getuid?.() !== 0 ? { limitFallback: 'rlimit' as const } : {}),
});
worker.on('completed', (e) => console.log(`${e.jobId}: ${e.verdict} in ${e.durationMs.toFixed(0)} ms`));
worker.on('failed', (e) => console.log(`${e.jobId}: failed: ${e.reason}`));
worker.on('warning', (e) => console.warn(`warning: ${e.message}`));

// SIGTERM (a deploy, systemd stop): finish the running submissions, take no new one.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    console.log(`${signal}: finishing ${worker.running} running job(s)`);
    worker.close().then(
      () => process.exit(0),
      (err: Error) => {
        console.error(`close: ${err.message}`);
        process.exit(1);
      }
    );
  });
}

const { swept } = await worker.run();
console.log(
  `worker ${worker.info.id} taking jobs from ${values.queue} (concurrency ${worker.concurrency}, swept ${swept} stale session(s))`
);
