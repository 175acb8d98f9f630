import { defineRuntimeViewSuite } from '../helpers/runtime-view-suite.js';

// Runs inside the cgroup-v2 VM (scripts/test.mjs), where every controller is on cgroup v2.
defineRuntimeViewSuite('v2');
