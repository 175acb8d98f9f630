export { Sandbox, type SandboxState } from './sandbox/sandbox.js';
export type { SandboxOptions, MountOptions, NetworkMode, ResolvedSandboxOptions } from './sandbox/options.js';
export type { SandboxEvents, ProcessRef } from './sandbox/events.js';
export { SandboxPool, type SandboxPoolStats } from './pool/sandbox-pool.js';
export type { SandboxPoolOptions } from './pool/pool-options.js';
export type { SandboxPoolEvents } from './pool/pool-events.js';
export type { ResourceStats } from './cgroup/stats.js';
export type { SandboxInfo, LogChunk } from './sandbox/control-protocol.js';
export type { ResolvedControlOptions } from './sandbox/control-options.js';
export {
  RemoteSandbox,
  RemoteProcess,
  type RemoteResult,
  type RemoteRunResult,
  type RemoteSpawnOptions,
  type ListOptions,
  type ConnectOptions,
} from './sandbox/control-client.js';
export type { WaitForPortOptions, WaitForLogOptions } from './sandbox/readiness.js';
export { SandboxProcess } from './process/sandbox-process.js';
export type {
  SpawnOptions,
  UserSpec,
  StdinOption,
  OutputOption,
  StdinFile,
  StdinData,
  OutputFile,
  TtySize,
} from './process/spawn-options.js';
export { SandboxPipe, SandboxPipeEnd } from './process/sandbox-pipe.js';
export type {
  SpawnResult,
  SpawnStatus,
  ExecFailure,
  CpuTime,
  LimitName,
  SeccompViolation,
} from './process/spawn-result.js';
export type {
  SandboxLimits,
  SpawnLimits,
  ResolvedSandboxLimits,
  ResolvedSpawnLimits,
  DefaultedLimit,
} from './limits/limits.js';
export type { Controller, Placement } from './cgroup/cgroup.js';
export { Image, type ImageImportOptions, type ImagePullOptions, type StoreOptions } from './images/image.js';
export type { PullOptions, PullProgress } from './images/registry/pull.js';
export type { PushOptions, PushProgress, PushResult, PushedLayer } from './images/registry/push.js';
export type { RegistryAuth, RegistryPassword, RegistryToken } from './images/registry/credentials.js';
export type { HostImageGroup, HostImageOptions, HostImageUser } from './rootfs/host-layer.js';
export { LayerStore, type ImageRecord } from './images/layer-store.js';
export { Snapshot } from './snapshots/snapshot.js';
export type { SnapshotOptions } from './snapshots/take-snapshot.js';
export type { ExportOptions, ExportResult } from './snapshots/snapshot-export.js';
export { SandboxFiles, type FsEntry, type FsStat } from './files/sandbox-files.js';
export type { CopyInOptions, CopyInResult } from './files/copy-in.js';
export type { CopyOutOptions } from './files/copy-out.js';
export type { FilesCallOptions } from './files/files-options.js';
export type { ImageConfig } from './images/image-config.js';
export type { ImportProgress, ImportOptions } from './images/image-import.js';
export { defaultStoreDir } from './platform/state-dir.js';
export { Namespaces, type NamespacesOptions } from './namespaces/namespaces.js';
export { Network, sweepStaleNetworks, type NetworkOptions, type NetworkInfo } from './network/network.js';
export type { NetworkAttachOptions, ResolvedNetworkAttach, UserNetworkOptions } from './network/network-link.js';
export { USER_NETWORK_ADDRESS, USER_NETWORK_GATEWAY, type ResolvedUserNetwork } from './network/user-network.js';
export type { EgressPolicy, EgressRule, ResolvedEgress, ResolvedEgressRule } from './network/egress.js';
export type { PortMapping, ResolvedPortMapping } from './network/port-proxy.js';
export {
  SandboxError,
  SandboxOptionsError,
  SandboxSetupError,
  SandboxUnsupportedError,
  SandboxHelperError,
  SandboxAbortedError,
  SandboxDestroyedError,
  SandboxImageError,
  SandboxFilesError,
  SandboxLineTooLongError,
  SandboxDiedError,
  SandboxNotReadyError,
  SandboxRegistryError,
  type RegistryErrorReason,
  SandboxNameInUseError,
  SandboxNotFoundError,
  type SandboxErrorCode,
  type SetupFailure,
  type ImageErrorReason,
} from './errors/sandbox-error.js';
export { SETUP_STEPS, type SetupStep } from './errors/steps.js';
export { parseBytes, parseDuration, type ByteSize, type Duration } from './limits/units.js';
export { defaultStateDir, type WritableLayerPlacement } from './platform/state-dir.js';
export { probeHost, type HostReport, type HostCheck } from './sandbox/doctor.js';
export { Seccomp, type SeccompRule, type SeccompErrno } from './security/seccomp.js';
export type { SeccompArch, ArgTest, ArgTests } from './security/seccomp-bpf.js';
export { CAPABILITY_NAMES, type CapabilityName } from './security/capabilities.js';
export { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from './security/masks.js';
export type { SecurityOptions, ResolvedSecurityOptions } from './security/security-options.js';
