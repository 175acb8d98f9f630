import { defineJudgeSuite } from '../helpers/judge-suite.js';
import { isRoot } from '../helpers/require-feature.js';

// As root, the whole judge table on this hybrid host's cgroup v1 controllers (the cgroup-v2 VM
// runs it on v2: test/cgroup-v2/judge.test.ts). Rootless there is no cgroup: the rows that need
// none (verdicts from exit status, wall time, output, address space, seccomp; CPU from rusage).
defineJudgeSuite(isRoot ? 'v1' : 'none');
