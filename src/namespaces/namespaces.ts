import { SandboxOptionsError } from '../errors/sandbox-error.js';

/** Which Linux namespaces a sandbox gets. pid and mount are always new. */
export interface NamespacesOptions {
  /** A user namespace. Required when the host process is not root. @defaultValue true */
  user?: boolean;
  /** Own hostname. @defaultValue true */
  uts?: boolean;
  /** Own System V IPC and POSIX message queues. @defaultValue true */
  ipc?: boolean;
  /** Own network stack (loopback only unless a network is attached). @defaultValue true */
  net?: boolean;
  /** Own cgroup root view. @defaultValue true */
  cgroup?: boolean;
}

/**
 * A composable set of namespaces.
 *
 * @example
 * new Sandbox({ namespaces: new Namespaces({ ipc: false }) });
 */
export class Namespaces implements Required<NamespacesOptions> {
  readonly user: boolean;
  readonly uts: boolean;
  readonly ipc: boolean;
  readonly net: boolean;
  readonly cgroup: boolean;
  /** Always true: every sandbox has its own pid namespace with sandkit's init as PID 1. */
  readonly pid = true as const;
  /** Always true: the root filesystem lives in the sandbox's own mount namespace. */
  readonly mount = true as const;

  /** @throws {SandboxOptionsError} for an unknown key, a non-boolean, or `pid`/`mount` false. */
  constructor(options: NamespacesOptions = {}) {
    checkNamespacesOptions(options);
    this.user = options.user ?? true;
    this.uts = options.uts ?? true;
    this.ipc = options.ipc ?? true;
    this.net = options.net ?? true;
    this.cgroup = options.cgroup ?? true;
  }

  /** A copy with some namespaces changed. */
  with(options: NamespacesOptions): Namespaces {
    return new Namespaces({ ...this.toJSON(), ...options });
  }

  /** Every namespace and whether it is on. */
  toJSON(): Required<NamespacesOptions> {
    return { user: this.user, uts: this.uts, ipc: this.ipc, net: this.net, cgroup: this.cgroup };
  }
}

const OPTIONAL = ['user', 'uts', 'ipc', 'net', 'cgroup'];

function checkNamespacesOptions(options: unknown): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new SandboxOptionsError('namespaces', 'expected an object of booleans');
  for (const [key, on] of Object.entries(options)) {
    if (key === 'pid' || key === 'mount') {
      // sandkit's init is PID 1 of the sandbox and its root lives in its own mount namespace.
      if (on !== true)
        throw new SandboxOptionsError(
          `namespaces.${key}`,
          `every sandbox has its own ${key} namespace; it cannot be turned off (got ${JSON.stringify(on)})`
        );
      continue;
    }
    if (!OPTIONAL.includes(key))
      throw new SandboxOptionsError(`namespaces.${key}`, `unknown namespace (expected one of ${OPTIONAL.join(', ')})`);
    if (on !== undefined && typeof on !== 'boolean')
      throw new SandboxOptionsError(`namespaces.${key}`, `expected a boolean, got ${JSON.stringify(on)}`);
  }
}
