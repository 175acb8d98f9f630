import { defineRuntimeViewSuite } from '../helpers/runtime-view-suite.js';

// On this host's cgroups (hybrid: v1 controllers, v2 core); the cgroup-v2 VM runs the same suite.
defineRuntimeViewSuite('host');
