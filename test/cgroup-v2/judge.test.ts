import { defineJudgeSuite } from '../helpers/judge-suite.js';

// Runs inside the cgroup-v2 VM (scripts/test.mjs), where every controller is on cgroup v2.
defineJudgeSuite('v2');
