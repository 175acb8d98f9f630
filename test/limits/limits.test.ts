import { defineLimitsSuite, defineRootlessLimitsSuite } from '../helpers/limits-suite.js';
import { isRoot } from '../helpers/require-feature.js';

// On this hybrid host memory, pids and cpu are v1 controllers; freeze and cpu.stat come from the
// core v2 tree. The same suite runs against pure v2 in the VM (test/cgroup-v2). Rootless, there
// is no cgroup to use: that suite checks the typed errors and the limits that need none.
if (isRoot) defineLimitsSuite('v1');
else defineRootlessLimitsSuite();
