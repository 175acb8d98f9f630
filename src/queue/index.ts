// sandkit/queue: jobs of sandboxed programs across machines, through BullMQ on Redis.
// A subpath of its own so that `import 'sandkit'` never loads bullmq (an optional peer dependency).
export { RunQueue, RunHandle, type RunQueueOptions, type SubmitOptions, type RunHandleEvents } from './run-queue.js';
export { RunWorker, defaultConcurrency, type RunWorkerOptions, type RunWorkerEvents } from './run-worker.js';
export {
  validateJob,
  JOB_BOUNDS,
  type RunJob,
  type RunStep,
  type RunTest,
  type RunJobResult,
  type TestResult,
  type RunVerdict,
  type WorkerInfo,
} from './job.js';
export { verdictOf, type RunProgress } from './job-runner.js';
export type { RedisConnection } from './connection.js';
export { SandboxJobError, SandboxJobCancelledError, type JobErrorReason } from '../errors/sandbox-error.js';
