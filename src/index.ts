export { Sandbox, type SandboxState } from './sandbox/sandbox.js';
export type { SandboxOptions, MountOptions, NetworkMode, ResolvedSandboxOptions } from './sandbox/options.js';
export type { SandboxEvents, ProcessRef } from './sandbox/events.js';
export { SandboxProcess } from './process/sandbox-process.js';
export type { SpawnOptions, UserSpec } from './process/spawn-options.js';
export type { SpawnResult, SpawnStatus, ExecFailure, CpuTime, LimitName } from './process/spawn-result.js';
export type { SandboxLimits, SpawnLimits, ResolvedSandboxLimits, ResolvedSpawnLimits } from './limits/limits.js';
export type { Controller, Placement } from './cgroup/cgroup.js';
export { Image } from './rootfs/image.js';
export { Namespaces, type NamespacesOptions } from './namespaces/namespaces.js';
export {
  SandboxError, SandboxOptionsError, SandboxSetupError, SandboxUnsupportedError,
  SandboxHelperError, SandboxAbortedError, SandboxDestroyedError,
  type SandboxErrorCode, type SetupFailure,
} from './errors/sandbox-error.js';
export { SETUP_STEPS, type SetupStep } from './helper/steps.js';
export { parseBytes, parseDuration, type ByteSize, type Duration } from './limits/units.js';
export { defaultStateDir } from './platform/state-dir.js';
export { probeHost, type HostReport } from './platform/doctor.js';
