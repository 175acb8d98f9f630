import { SandboxOptionsError } from '../errors/sandbox-error.js';

/** Every Linux capability by number (capability.h, up to linux 6.x). */
export const CAPABILITY_NAMES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
] as const;

/** A Linux capability name, e.g. `'CAP_NET_BIND_SERVICE'`. */
export type CapabilityName = (typeof CAPABILITY_NAMES)[number];

const KNOWN = new Set<string>(CAPABILITY_NAMES);

/** Validates a list of capabilities to keep (`'CAP_X'` or `'X'`, any case); returns canonical, de-duplicated names. */
export function resolveCapabilities(value: unknown, field: string): CapabilityName[] {
  if (!Array.isArray(value))
    throw new SandboxOptionsError(field, "expected an array of capability names, e.g. ['CAP_NET_BIND_SERVICE']");
  const out = new Set<CapabilityName>();
  value.forEach((v, i) => {
    if (typeof v !== 'string') throw new SandboxOptionsError(`${field}[${i}]`, 'expected a capability name');
    const name = v.toUpperCase().startsWith('CAP_') ? v.toUpperCase() : `CAP_${v.toUpperCase()}`;
    if (!KNOWN.has(name)) throw new SandboxOptionsError(`${field}[${i}]`, `unknown capability ${JSON.stringify(v)}`);
    out.add(name as CapabilityName);
  });
  return [...out];
}
