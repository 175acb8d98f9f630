import { existsSync } from 'node:fs';

let supported: boolean | undefined;

/**
 * Whether the kernel has time namespaces (Linux 5.6+, CONFIG_TIME_NS), which give each sandbox
 * boot and monotonic clocks that start at 0. Without them a sandbox sees the host's uptime.
 */
export function timeNamespaceSupported(): boolean {
  supported ??= existsSync('/proc/self/ns/time');
  return supported;
}
